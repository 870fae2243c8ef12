// Package apperr holds the one error type every layer shares: a stable code
// and a message safe to show a client (benbjohnson/wtf's wtf.Error). Domain
// packages declare their errors as values of it, stores translate storage
// failures into them, and the HTTP layer maps each code to a response in one
// place, so no SQL text or driver detail ever reaches a client.
package apperr

import (
	"errors"
	"fmt"
	"time"
)

// The codes: each is the problem code on the wire, so none may change.
const (
	CodeInvalidJSON            = "invalid_json"
	CodeInvalidRequest         = "invalid_request"
	CodeInvalidParameter       = "invalid_parameter"
	CodeInvalidQuery           = "invalid_query"
	CodeUnknownMember          = "unknown_member"
	CodeDuplicateMember        = "duplicate_member"
	CodeBodyTooLarge           = "body_too_large"
	CodeUnsupportedMediaType   = "unsupported_media_type"
	CodeInvalidCredentials     = "invalid_credentials"
	CodeMissingToken           = "missing_token"
	CodeInvalidToken           = "invalid_token"
	CodeInsufficientScope      = "insufficient_scope"
	CodeInvalidRefreshToken    = "invalid_refresh_token"
	CodeForbiddenOrigin        = "forbidden_origin"
	CodeNotFound               = "not_found"
	CodeMethodNotAllowed       = "method_not_allowed"
	CodeConflict               = "conflict"
	CodePreconditionFailed     = "precondition_failed"
	CodeInvalidCSV             = "invalid_csv"
	CodeRateLimited            = "rate_limited"
	CodeOverloaded             = "overloaded"
	CodeUnavailable            = "unavailable"
	CodeRevocationsUnavailable = "revocations_unavailable"
	CodeInternal               = "internal"
)

// Error is an error with a stable code and a message for the client.
type Error struct {
	// Code says what went wrong, for programs: one of the Code constants.
	Code string
	// Message says it for people, and is sent to the client as it is: it
	// never holds internal detail (wrap the error with fmt.Errorf for the log).
	Message string
	// Reason is a finer code under Code, from a small fixed set safe for
	// metric labels: why an access token was refused (token.Reason).
	Reason string
	// RetryAfter, when set, is how long a client should wait before trying
	// again, in place of the code's usual wait.
	RetryAfter time.Duration
	// Details locate each of several mistakes in one request body (the
	// lines of a CSV file), at most a bounded number of them.
	Details []Detail

	// wrapped is the broader error this one explains (Explain).
	wrapped *Error
}

func (e *Error) Error() string { return e.Message }

// Detail is one mistake in a request body, where it is: a line and a
// column of a file (1-based; Column 0 when the whole line is wrong), and a
// message that says both ("line 7: amount ...").
type Detail struct {
	Line    int
	Column  int
	Message string
}

// Unwrap makes errors.Is(e.Explain(...), e) hold.
func (e *Error) Unwrap() error {
	if e.wrapped == nil {
		return nil
	}
	return e.wrapped
}

// Explain returns a narrower error of e's code whose message is e's, ": "
// and why, which the client sees too (unlike what fmt.Errorf adds, which
// only the log sees); errors.Is still matches e.
func (e *Error) Explain(why string) error {
	return &Error{Code: e.Code, Message: e.Message + ": " + why, Reason: e.Reason, RetryAfter: e.RetryAfter, Details: e.Details, wrapped: e}
}

// New returns an *Error with code and message.
func New(code, message string) *Error { return &Error{Code: code, Message: message} }

// Errorf returns an *Error with code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Code returns the code of err: "" for nil, CodeInternal for an error that
// is not (and wraps no) *Error.
func Code(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	}
	return CodeInternal
}

// Errors every domain shares.
var (
	// ErrNotFound means the thing asked for does not exist, or is not the caller's.
	ErrNotFound = New(CodeNotFound, "The resource does not exist.")
	// ErrConflict means a uniqueness rule would be broken (a duplicate email, say).
	ErrConflict = New(CodeConflict, "The resource already exists.")
	// ErrUnavailable means a dependency (the database) cannot be reached in time.
	ErrUnavailable = New(CodeUnavailable, "A dependency is unavailable. Retry shortly.")
)

// Invalid returns a CodeInvalidParameter error for a client mistake in one
// named field or parameter: "field: reason".
func Invalid(field, reason string) error {
	return New(CodeInvalidParameter, field+": "+reason)
}
