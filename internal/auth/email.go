package auth

import (
	"strings"

	"golang.org/x/text/unicode/norm"
)

// asciiSpace is the white space that NormalizeEmail trims: ASCII only, the
// characters of PostgreSQL's btrim(email, E' \t\n\r\f\013') in
// migrations/00002_email_normalization.sql.
const asciiSpace = " \t\n\r\f\v"

// NormalizeEmail returns the one form in which an email address is stored and
// compared, by plain equality: ASCII white space trimmed from both ends,
// the letters A-Z turned into a-z, then Unicode NFC. No other character
// changes case or is folded: İ (U+0130) and ı (U+0131) are not i, and the
// Kelvin sign (U+212A), which NFC turns into the letter K after the
// lower-casing, matches no account, since a stored address holds no A-Z.
//
// The lower-casing comes before NFC on purpose: the other way round the
// Kelvin sign would become k and log in as the ASCII account.
// PostgreSQL's normalize_email(text) (migrations/00002_email_normalization.sql)
// is the same function; a test checks that they agree.
func NormalizeEmail(email string) string {
	email = strings.Trim(email, asciiSpace)
	lower := []byte(email)
	for i, c := range lower {
		if 'A' <= c && c <= 'Z' {
			lower[i] = c + ('a' - 'A')
		}
	}
	return norm.NFC.String(string(lower))
}
