package auth

import (
	"strings"
	"testing"

	"github.com/revenue-api/revenue-api/internal/apperr"
)

func TestNormalizeEmail(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"ASCII letters are lower-cased", "ALICE@Example.COM", "alice@example.com"},
		{"ASCII white space is trimmed", " \t\r\n\f\valice@example.com\n ", "alice@example.com"},
		{"other white space is kept", "\u00a0alice@example.com\u2003", "\u00a0alice@example.com\u2003"},
		{"dotted capital I is not i", "al\u0130ce@example.com", "al\u0130ce@example.com"},
		{"dotless i is not i", "al\u0131ce@example.com", "al\u0131ce@example.com"},
		{"Kelvin sign becomes a capital K, never k", "\u212aate@example.com", "Kate@example.com"},
		{"non-ASCII capitals keep their case", "\u00c9LODIE@example.com", "\u00c9lodie@example.com"},
		{"fullwidth letters are not folded", "\uff41lice@example.com", "\uff41lice@example.com"},
		{"decomposed letters are composed (NFC)", "rene\u0301@example.com", "ren\u00e9@example.com"},
		{"a capital that composes only once lower-cased", "J\u030cosef@example.com", "\u01f0osef@example.com"},
		{"angstrom sign is the letter \u00c5", "\u212bsa@example.com", "\u00c5sa@example.com"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := NormalizeEmail(tc.in); got != tc.want {
				t.Errorf("NormalizeEmail(%+q) = %+q, want %+q", tc.in, got, tc.want)
			}
		})
	}
}

// Normalizing twice changes nothing, for every character but the Kelvin sign
// (which ValidateEmail refuses): a stored address is its own normal form.
func TestNormalizeEmailIsIdempotent(t *testing.T) {
	for r := rune(0); r <= 0x10ffff; r++ {
		if r == '\u212a' || (0xd800 <= r && r <= 0xdfff) {
			continue
		}
		for _, s := range []string{string(r), "a" + string(r), "A" + string(r) + "b"} {
			once := NormalizeEmail(s)
			if twice := NormalizeEmail(once); twice != once {
				t.Fatalf("NormalizeEmail(%+q) = %+q, and normalizing that gives %+q", s, once, twice)
			}
		}
	}
}

func TestValidateEmailRefusesAnAddressNotInNormalForm(t *testing.T) {
	for _, email := range []string{NormalizeEmail("\u212aate@example.com"), "Alice@example.com"} {
		if err := ValidateEmail(email); apperr.Code(err) != apperr.CodeInvalidParameter || !strings.HasPrefix(err.Error(), "email: ") {
			t.Errorf("ValidateEmail(%+q) = %v, want an invalid email", email, err)
		}
	}
	for _, email := range []string{"alice@example.com", NormalizeEmail("al\u0130ce@example.com"), NormalizeEmail("rene\u0301@example.com")} {
		if err := ValidateEmail(email); err != nil {
			t.Errorf("ValidateEmail(%+q) = %v, want nil", email, err)
		}
	}
}
