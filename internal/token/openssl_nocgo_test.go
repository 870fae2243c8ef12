//go:build !(cgo && linux)

package token_test

import (
	"strings"
	"testing"

	"github.com/revenue-api/revenue-api/internal/token"
)

// Built without cgo (as the container image is), REVENUE_SIGNER=auto signs
// with Go and says why.
func TestAutoSignsWithGoWithoutCgo(t *testing.T) {
	f := newSignerFixture(t, nil)
	f.prepare(token.BackendGo)
	rec := f.expectOneLog("signing key uses Go", "WARN")
	if err, _ := rec["err"].(string); !strings.Contains(err, "not available in this build") {
		t.Errorf("warning's err = %q, want that this build has no OpenSSL", err)
	}
	f.issueAndVerify()
}
