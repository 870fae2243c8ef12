package token_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/revenue-api/revenue-api/internal/revocation"
	"github.com/revenue-api/revenue-api/internal/token"
)

func TestReasonOf(t *testing.T) {
	if r, ok := token.ReasonOf(revocation.ErrRevoked); !ok || r != token.ReasonRevoked || revocation.ErrRevoked.Error() != r.Description() {
		t.Errorf("ReasonOf(revocation.ErrRevoked) = %q, %v (%q); want %q, true (%q)",
			r, ok, revocation.ErrRevoked.Error(), token.ReasonRevoked, token.ReasonRevoked.Description())
	}
	if r, ok := token.ReasonOf(fmt.Errorf("cache: %w", revocation.ErrRevoked)); !ok || r != token.ReasonRevoked {
		t.Errorf("ReasonOf(wrapped) = %q, %v; want %q, true", r, ok, token.ReasonRevoked)
	}
	for _, err := range []error{nil, errors.New("the access token expired"), revocation.ErrStale} {
		if r, ok := token.ReasonOf(err); ok {
			t.Errorf("ReasonOf(%v) = %q, true; want no reason", err, r)
		}
	}
}
