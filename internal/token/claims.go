package token

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

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
	if err := rejectDuplicateKeys(data); err != nil {
		return err
	}
	type plain accessClaims // no methods: no recursion
	return json.Unmarshal(data, (*plain)(c))
}

// Validate adds the checks golang-jwt leaves to the application: the claims
// every access token of ours carries must be present.
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
	return nil
}

func missing(claim string) error {
	return fmt.Errorf("%w: %s", jwt.ErrTokenRequiredClaimMissing, claim)
}

// rejectDuplicateKeys checks that the top-level JSON object has no key twice.
func rejectDuplicateKeys(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return errors.New("claims are not a JSON object")
	}
	seen := make(map[string]struct{}, 12)
	var skip json.RawMessage
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		if _, dup := seen[key]; dup {
			return fmt.Errorf("%w %q", errDuplicateClaim, key)
		}
		seen[key] = struct{}{}
		if err := dec.Decode(&skip); err != nil {
			return err
		}
	}
	return nil
}
