package httpapi

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/revenue-api/revenue-api/internal/apperr"
)

// Problem is an RFC 9457 problem details body with a stable machine code.
type Problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail,omitempty"`
	Code      string `json:"code"`
	RequestID string `json:"request_id,omitempty"`
	// Errors locate each mistake in a request body (the lines of a CSV
	// file), when there are several to tell.
	Errors []problemError `json:"errors,omitempty"`
}

// problemError is one mistake in a request body, where it is.
type problemError struct {
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
	Message string `json:"message"`
}

// The problems handlers raise directly.
func invalidJSON(detail string) *apperr.Error {
	return apperr.New(apperr.CodeInvalidJSON, detail)
}
func invalidRequest(detail string) *apperr.Error {
	return apperr.New(apperr.CodeInvalidRequest, detail)
}

// answer is how a code is answered: the status, the problem title, and how
// long to ask the client to wait before a retry (an error's own RetryAfter
// takes precedence; 0: no Retry-After header).
type answer struct {
	status     int
	title      string
	retryAfter time.Duration
}

// answers is the one map from codes to HTTP answers.
var answers = map[string]answer{
	apperr.CodeInvalidJSON:            {http.StatusBadRequest, "Malformed JSON body", 0},
	apperr.CodeInvalidRequest:         {http.StatusBadRequest, "Invalid request", 0},
	apperr.CodeInvalidParameter:       {http.StatusBadRequest, "Invalid parameter", 0},
	apperr.CodeInvalidQuery:           {http.StatusBadRequest, "Query string not understood", 0},
	apperr.CodeUnknownMember:          {http.StatusBadRequest, "Unknown member in the JSON body", 0},
	apperr.CodeDuplicateMember:        {http.StatusBadRequest, "Member given twice in the JSON body", 0},
	apperr.CodeBodyTooLarge:           {http.StatusRequestEntityTooLarge, "Request body too large", 0},
	apperr.CodeUnsupportedMediaType:   {http.StatusUnsupportedMediaType, "Unsupported media type", 0},
	apperr.CodeInvalidCredentials:     {http.StatusUnauthorized, "Invalid credentials", 0},
	apperr.CodeMissingToken:           {http.StatusUnauthorized, "Authentication required", 0},
	apperr.CodeInvalidToken:           {http.StatusUnauthorized, "Invalid access token", 0},
	apperr.CodeInsufficientScope:      {http.StatusForbidden, "Insufficient scope", 0},
	apperr.CodeInvalidRefreshToken:    {http.StatusUnauthorized, "Invalid refresh token", 0},
	apperr.CodeForbiddenOrigin:        {http.StatusForbidden, "Cross-site request refused", 0},
	apperr.CodeNotFound:               {http.StatusNotFound, "Not found", 0},
	apperr.CodeMethodNotAllowed:       {http.StatusMethodNotAllowed, "Method not allowed", 0},
	apperr.CodeConflict:               {http.StatusConflict, "Conflict", 0},
	apperr.CodePreconditionFailed:     {http.StatusPreconditionFailed, "Precondition failed", 0},
	apperr.CodeInvalidCSV:             {http.StatusBadRequest, "Invalid CSV file", 0},
	apperr.CodeRateLimited:            {http.StatusTooManyRequests, "Too many requests", 0},
	apperr.CodeOverloaded:             {http.StatusServiceUnavailable, "Server busy", time.Second},
	apperr.CodeUnavailable:            {http.StatusServiceUnavailable, "Service unavailable", 2 * time.Second},
	apperr.CodeRevocationsUnavailable: {http.StatusServiceUnavailable, "Revocation state unavailable", 5 * time.Second},
	apperr.CodeInternal:               {http.StatusInternalServerError, "Internal server error", 0},
}

// errInternal is the answer to every error without a known code.
var errInternal = apperr.New(apperr.CodeInternal, "An unexpected error occurred.")

// problemOf is the *apperr.Error err is answered with and its answer.
// Internal details stay in the log; the client gets a code and a safe sentence.
func problemOf(err error) (*apperr.Error, answer) {
	var e *apperr.Error
	if errors.As(err, &e) {
		if a, ok := answers[e.Code]; ok {
			return e, a
		}
	}
	return errInternal, answers[apperr.CodeInternal]
}

// fail answers c with the problem for err and stops the handler chain.
func (s *Server) fail(c *gin.Context, err error) {
	if e, a := problemOf(err); a.status >= 500 {
		s.log.ErrorContext(c.Request.Context(), "request failed", "code", e.Code, "err", err)
	} else {
		c.Set(ctxErrorKey, err) // for the access log
	}
	writeProblem(c, err)
}

// writeProblem answers c with the problem for err (problemOf): its status,
// Retry-After, and an RFC 9457 body; it stops the handler chain.
func writeProblem(c *gin.Context, err error) {
	e, a := problemOf(err)
	if wait := cmp.Or(e.RetryAfter, a.retryAfter); wait > 0 {
		c.Header("Retry-After", strconv.FormatInt(int64(math.Ceil(wait.Seconds())), 10))
	}
	body := Problem{
		Type:      "urn:revenue-api:problem:" + e.Code,
		Title:     a.title,
		Status:    a.status,
		Detail:    e.Message,
		Code:      e.Code,
		RequestID: requestIDOf(c),
	}
	for _, d := range e.Details {
		body.Errors = append(body.Errors, problemError{Line: d.Line, Column: d.Column, Message: d.Message})
	}
	c.Header("Content-Type", "application/problem+json")
	c.Abort()
	respond(c, a.status, body)
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
