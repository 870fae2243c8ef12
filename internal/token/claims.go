package token

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"github.com/golang-jwt/jwt/v5"
)

// accessClaims are the claims of an access token (RFC 9068 §2.2 plus the
// service's own sid, org_id, email and roles).
type accessClaims struct {
	jwt.RegisteredClaims
	SessionID string   `json:"sid"`
	OrgID     string   `json:"org_id"`
	Email     string   `json:"email,omitempty"`
	Roles     []string `json:"roles"`
	Scope     string   `json:"scope,omitempty"`
}

var errDuplicateClaim = errors.New("duplicate claim")

// UnmarshalJSON refuses a payload that names a claim twice: parsers disagree
// on which copy wins, and that disagreement is an attack surface.
func (c *accessClaims) UnmarshalJSON(data []byte) error {
	if err := checkMembers(data, true); err != nil {
		return err
	}
	type plain accessClaims // no methods: no recursion
	return json.Unmarshal(data, (*plain)(c))
}

// Validate adds the checks golang-jwt leaves to the application: the claims
// every access token of ours carries must be present, and times in range.
func (c *accessClaims) Validate() error {
	switch {
	case c.Subject == "":
		return missing("sub")
	case c.ID == "":
		return missing("jti")
	case c.IssuedAt == nil:
		return missing("iat")
	case c.SessionID == "":
		return missing("sid")
	case c.OrgID == "":
		return missing("org_id")
	}
	for _, d := range [...]*jwt.NumericDate{c.ExpiresAt, c.NotBefore, c.IssuedAt} {
		// golang-jwt turns a number too large for int64 seconds into the
		// most negative one: a far-future nbf or iat would read as long past.
		if d != nil && (d.Unix() < 0 || d.Unix() > maxNumericDate) {
			return fmt.Errorf("%w: a time claim is out of range", jwt.ErrTokenInvalidClaims)
		}
	}
	return nil
}

// maxNumericDate (in 2514) is far beyond any token's lifetime and far
// within int64 seconds.
const maxNumericDate = 1 << 34

func missing(claim string) error {
	return fmt.Errorf("%w: %s", jwt.ErrTokenRequiredClaimMissing, claim)
}

// claimNames are the JSON names of accessClaims' members, by their
// encoding/json folded form.
var claimNames = func() map[string]string {
	m := map[string]string{}
	for _, n := range [...]string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "sid", "org_id", "email", "roles", "scope"} {
		m[foldName(n)] = n
	}
	return m
}()

// foldName folds a member name the way encoding/json does when it matches
// names to struct fields, so that "ISS", "iss" and "ıss" fold alike.
func foldName(name string) string {
	return strings.Map(func(r rune) rune { return unicode.ToUpper(unicode.ToLower(r)) }, name)
}

// checkMembers checks that the top-level JSON object in data names no member
// twice. For claims (decoded into a struct, whose field names encoding/json
// matches without regard to case) names that fold alike count as the same,
// and a member that fills a claim must spell the claim's name exactly: a
// verifier that compares names exactly must read the same claims as ours.
func checkMembers(data []byte, claims bool) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return errors.New("not a JSON object")
	}
	seen := make(map[string]struct{}, 12)
	var skip json.RawMessage
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		if claims {
			folded := foldName(key)
			if name, ok := claimNames[folded]; ok && name != key {
				return fmt.Errorf("%w: %q stands for %q", errDuplicateClaim, key, name)
			}
			key = folded
		}
		if _, dup := seen[key]; dup {
			return fmt.Errorf("%w %q", errDuplicateClaim, key)
		}
		seen[key] = struct{}{}
		if err := dec.Decode(&skip); err != nil {
			return err
		}
		// golang-jwt also reads a time from a string holding a number; RFC
		// 7519 §2 and stricter verifiers want a JSON number.
		if claims && timeClaims[key] && !isJSONNumber(skip) {
			return fmt.Errorf("%w: %s is not a number", jwt.ErrTokenMalformed, claimNames[key])
		}
	}
	return nil
}

// timeClaims are the NumericDate claims, by folded name.
var timeClaims = map[string]bool{"EXP": true, "NBF": true, "IAT": true}

func isJSONNumber(v json.RawMessage) bool {
	return len(v) > 0 && (v[0] == '-' || '0' <= v[0] && v[0] <= '9')
}
