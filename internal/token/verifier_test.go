package token_test

import (
	"errors"
	"fmt"
	"strings"
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

// TestVerifyRefusesOtherSpellings: a byte outside base64url inserted into
// any segment of a valid token, including the CR and LF that Go's base64
// decoder skips even in strict mode, makes it malformed; never the same
// token under another spelling.
func TestVerifyRefusesOtherSpellings(t *testing.T) {
	v, key := fuzzVerifier(t)
	valid := fuzzSign(key, fuzzHeader, fuzzPayload)
	if _, err := v.Verify(valid); err != nil {
		t.Fatalf("the valid token is rejected: %v", err)
	}
	dots := []int{strings.Index(valid, "."), strings.LastIndex(valid, ".")}
	segments := map[string]int{"header": dots[0] / 2, "claims": (dots[0] + dots[1]) / 2, "signature": (dots[1] + len(valid)) / 2}
	for _, insert := range []string{"\n", "\r", "\r\n", " ", "\t", "=", "+", "/", "\x00", "\x80", "é"} {
		for segment, at := range segments {
			raw := valid[:at] + insert + valid[at:]
			_, err := v.Verify(raw)
			if r, ok := token.ReasonOf(err); !ok || r != token.ReasonMalformed {
				t.Errorf("%q inserted in the %s: Verify says %v, want reason %q", insert, segment, err, token.ReasonMalformed)
			}
		}
	}
}

// TestVerifyJudgesEveryHeader: the verifier remembers headers that passed
// its member check, and must still judge every other header: a header
// that differs from a remembered one by a repeated or re-cased parameter
// is refused, right after a token with a remembered one.
func TestVerifyJudgesEveryHeader(t *testing.T) {
	v, key := fuzzVerifier(t)
	good := []string{
		fuzzHeader,
		`{"typ":"at+jwt","alg":"RS256","kid":"fuzz-kid"}`,
		`{"alg":"RS256","kid":"fuzz-kid","typ":"at+jwt"}`,
	}
	bad := []string{
		`{"alg":"RS256","typ":"at+jwt","kid":"fuzz-kid","kid":"fuzz-kid"}`,
		`{"alg":"RS256","typ":"at+jwt","kid":"fuzz-kid","KID":"other"}`,
		`{"alg":"RS256","typ":"at+jwt","Kid":"fuzz-kid"}`,
		`{"alg":"none","typ":"at+jwt","kid":"fuzz-kid","alg":"RS256"}`,
	}
	for round := range 2 {
		for _, g := range good {
			if _, err := v.Verify(fuzzSign(key, g, fuzzPayload)); err != nil {
				t.Errorf("round %d, header %s: %v", round, g, err)
			}
			for _, b := range bad {
				_, err := v.Verify(fuzzSign(key, b, fuzzPayload))
				if r, ok := token.ReasonOf(err); !ok || r != token.ReasonHeader {
					t.Errorf("round %d, header %s after %s: Verify says %v, want reason %q", round, b, g, err, token.ReasonHeader)
				}
			}
		}
	}
}
