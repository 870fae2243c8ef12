package auth

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Password policy bounds, in characters. The upper bound keeps a login from
// hashing megabytes.
const (
	MinPasswordLen = 12
	MaxPasswordLen = 256
)

// CheckPasswordPolicy tells whether pw may be set as a new password.
func CheckPasswordPolicy(pw string) error {
	n := utf8.RuneCountInString(pw)
	switch {
	case n < MinPasswordLen:
		return ErrWeakPassword.Explain(fmt.Sprintf("at least %d characters", MinPasswordLen))
	case n > MaxPasswordLen:
		return ErrWeakPassword.Explain(fmt.Sprintf("at most %d characters", MaxPasswordLen))
	case strings.TrimSpace(pw) == "":
		return ErrWeakPassword.Explain("not only spaces")
	}
	return nil
}

// PasswordHasher hashes new passwords and checks given ones against
// stored hashes, a bounded number at a time (package passwordhash): past
// that, both fail at once with an error that is ErrOverloaded.
type PasswordHasher interface {
	// Hash returns the encoded hash of pw, to store.
	Hash(ctx context.Context, pw string) (string, error)
	// Verify checks pw against encoded, a stored hash. An empty or corrupt
	// encoded never matches, and costs the same time as a real check, so
	// that timing does not tell accounts apart. rehash reports that encoded
	// should be replaced by a new Hash of pw (older parameters or algorithm).
	Verify(ctx context.Context, pw, encoded string) (ok, rehash bool, err error)
}
