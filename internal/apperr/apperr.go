// Package apperr holds the errors every domain shares. Stores translate
// storage failures into them; the HTTP layer maps them to responses in one
// place, so no SQL text or driver detail ever reaches a client.
package apperr

import "errors"

var (
	// ErrNotFound means the thing asked for does not exist, or is not the caller's.
	ErrNotFound = errors.New("not found")
	// ErrConflict means a uniqueness rule would be broken (a duplicate email, say).
	ErrConflict = errors.New("conflict")
	// ErrUnavailable means a dependency (the database) cannot be reached in time.
	ErrUnavailable = errors.New("service unavailable")
)

// InvalidError is a client mistake in one named field or parameter.
type InvalidError struct {
	Field  string
	Reason string
}

func (e *InvalidError) Error() string { return e.Field + ": " + e.Reason }

// Invalid returns an *InvalidError for field.
func Invalid(field, reason string) error { return &InvalidError{Field: field, Reason: reason} }
