package apperr_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/revenue-api/revenue-api/internal/apperr"
)

func TestCode(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
		want string
	}{
		{"no error has no code", nil, ""},
		{"an error says its code", apperr.ErrNotFound, apperr.CodeNotFound},
		{"a wrapped error says its code", fmt.Errorf("users_email_key: %w", apperr.ErrConflict), apperr.CodeConflict},
		{"an error without a code is internal", errors.New("boom"), apperr.CodeInternal},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := apperr.Code(tt.err); got != tt.want {
				t.Errorf("Code(%v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}

func TestExplainKeepsTheCodeAndTheSentinel(t *testing.T) {
	weak := apperr.New(apperr.CodeInvalidRequest, "password does not meet the policy")
	err := weak.Explain("at least 12 characters")
	if got, want := err.Error(), "password does not meet the policy: at least 12 characters"; got != want {
		t.Errorf("message %q, want %q", got, want)
	}
	if !errors.Is(err, weak) || apperr.Code(err) != apperr.CodeInvalidRequest {
		t.Errorf("%v: errors.Is = %v, code %q; want true, %q", err, errors.Is(err, weak), apperr.Code(err), apperr.CodeInvalidRequest)
	}
	if errors.Is(err, apperr.New(apperr.CodeInvalidRequest, "password does not meet the policy")) {
		t.Error("errors.Is matched another error with the same code and message; want identity")
	}
}

func TestInvalidNamesTheField(t *testing.T) {
	err := apperr.Invalid("from", "must not be after to")
	if got, want := err.Error(), "from: must not be after to"; got != want || apperr.Code(err) != apperr.CodeInvalidParameter {
		t.Errorf("Invalid: %q (code %q), want %q (code %q)", got, apperr.Code(err), want, apperr.CodeInvalidParameter)
	}
}
