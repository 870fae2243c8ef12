package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/revenue-api/revenue-api/internal/apperr"
	"github.com/revenue-api/revenue-api/internal/auth"
	"github.com/revenue-api/revenue-api/internal/token"
)

// Problem is an RFC 9457 problem details body with a stable machine code.
type Problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail,omitempty"`
	Code      string `json:"code"`
	RequestID string `json:"request_id,omitempty"`
}

// problemError is an HTTP answer decided by a handler or middleware.
type problemError struct {
	status     int
	code       string
	detail     string
	retryAfter int // seconds; 0: no Retry-After header
}

func (p *problemError) Error() string { return p.code + ": " + p.detail }

func newProblem(status int, code, detail string) *problemError {
	return &problemError{status: status, code: code, detail: detail}
}

// The problems handlers raise directly.
func invalidJSON(detail string) *problemError {
	return newProblem(http.StatusBadRequest, "invalid_json", detail)
}
func invalidRequest(detail string) *problemError {
	return newProblem(http.StatusBadRequest, "invalid_request", detail)
}

var titles = map[string]string{
	"invalid_json":            "Malformed JSON body",
	"invalid_request":         "Invalid request",
	"invalid_parameter":       "Invalid query parameter",
	"invalid_query":           "Query string not understood",
	"unknown_member":          "Unknown member in the JSON body",
	"duplicate_member":        "Member given twice in the JSON body",
	"body_too_large":          "Request body too large",
	"unsupported_media_type":  "Unsupported media type",
	"invalid_credentials":     "Invalid credentials",
	"missing_token":           "Authentication required",
	"invalid_token":           "Invalid access token",
	"insufficient_scope":      "Insufficient scope",
	"invalid_refresh_token":   "Invalid refresh token",
	"forbidden_origin":        "Cross-site request refused",
	"not_found":               "Not found",
	"method_not_allowed":      "Method not allowed",
	"conflict":                "Conflict",
	"rate_limited":            "Too many requests",
	"overloaded":              "Server busy",
	"unavailable":             "Service unavailable",
	"revocations_unavailable": "Revocation state unavailable",
	"internal":                "Internal server error",
}

// toProblem is the one mapping from errors to HTTP answers. Internal details
// stay in the log; the client gets a code and a safe sentence.
func toProblem(err error) *problemError {
	var p *problemError
	var invalid *apperr.InvalidError
	var tokErr *token.InvalidError
	switch {
	case errors.As(err, &p):
		return p
	case errors.As(err, &invalid):
		return newProblem(http.StatusBadRequest, "invalid_parameter", invalid.Error())
	case errors.As(err, &tokErr):
		return newProblem(http.StatusUnauthorized, "invalid_token", tokErr.Error())
	case errors.Is(err, auth.ErrInvalidCredentials):
		return newProblem(http.StatusUnauthorized, "invalid_credentials", "The email or password is incorrect.")
	case errors.Is(err, auth.ErrInvalidRefreshToken):
		return newProblem(http.StatusUnauthorized, "invalid_refresh_token", "The refresh token is missing, expired or no longer valid. Log in again.")
	case errors.Is(err, auth.ErrWeakPassword):
		return invalidRequest(err.Error())
	case errors.Is(err, auth.ErrOverloaded):
		return &problemError{status: http.StatusServiceUnavailable, code: "overloaded", detail: "Too many logins are being processed. Retry shortly.", retryAfter: 1}
	case errors.Is(err, apperr.ErrNotFound):
		return newProblem(http.StatusNotFound, "not_found", "The resource does not exist.")
	case errors.Is(err, apperr.ErrConflict):
		return newProblem(http.StatusConflict, "conflict", "The resource already exists.")
	case errors.Is(err, apperr.ErrUnavailable):
		return &problemError{status: http.StatusServiceUnavailable, code: "unavailable", detail: "A dependency is unavailable. Retry shortly.", retryAfter: 2}
	}
	return newProblem(http.StatusInternalServerError, "internal", "An unexpected error occurred.")
}

// fail answers c with the problem for err and stops the handler chain.
func (s *Server) fail(c *gin.Context, err error) {
	p := toProblem(err)
	if p.status >= 500 {
		s.log.ErrorContext(c.Request.Context(), "request failed", "code", p.code, "err", err)
	} else if _, ok := err.(*problemError); !ok {
		c.Set(ctxErrorKey, err) // for the access log; never sent
	}
	writeProblem(c, p)
}

func writeProblem(c *gin.Context, p *problemError) {
	if p.retryAfter > 0 {
		c.Header("Retry-After", strconv.Itoa(p.retryAfter))
	}
	body := Problem{
		Type:      "urn:revenue-api:problem:" + p.code,
		Title:     titles[p.code],
		Status:    p.status,
		Detail:    p.detail,
		Code:      p.code,
		RequestID: requestIDOf(c),
	}
	c.Header("Content-Type", "application/problem+json")
	c.Abort()
	respond(c, p.status, body)
}

// bearerChallenge builds the RFC 6750 §3 WWW-Authenticate value.
func bearerChallenge(code, description, scope string) string {
	v := `Bearer realm="revenue-api"`
	if code != "" {
		v += fmt.Sprintf(`, error=%q`, code)
	}
	if description != "" {
		v += fmt.Sprintf(`, error_description=%q`, description)
	}
	if scope != "" {
		v += fmt.Sprintf(`, scope=%q`, scope)
	}
	return v
}

// respond writes v as JSON with a trailing newline (so curl output stays
// readable), without HTML escaping, and with a JSON content type unless one
// (application/problem+json) was already set.
func respond(c *gin.Context, status int, v any) {
	h := c.Writer.Header()
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", "application/json; charset=utf-8")
	}
	c.Status(status)
	enc := json.NewEncoder(c.Writer)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		_ = c.Error(err)
	}
}
