package apperr

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxQuoted is how many bytes of a client's value an error message may
// quote: enough to recognise the value, too few to make an answer echo a
// large request back (or a whole header, cookie or token pasted by mistake).
const MaxQuoted = 64

// Quote is a client's value as an error message may show it: in double
// quotes, at most MaxQuoted bytes of it (cut on a rune boundary, "…" marks
// the cut), with control characters and invalid UTF-8 escaped. Every
// message that quotes client input into a problem detail goes through it.
func Quote(v string) string {
	cut := len(v) > MaxQuoted
	if cut {
		n := MaxQuoted
		for n > MaxQuoted-utf8.UTFMax && !utf8.RuneStart(v[n]) {
			n--
		}
		v = v[:n]
	}
	q := strconv.Quote(strings.ToValidUTF8(v, "\uFFFD"))
	if cut {
		q = q[:len(q)-1] + `…"`
	}
	return q
}
