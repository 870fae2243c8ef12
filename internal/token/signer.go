package token

import (
	"crypto/rand"
	"errors"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/revenue-api/revenue-api/internal/auth"
)

// TypeAccessToken is the JOSE typ of access tokens (RFC 9068 §2.1).
const TypeAccessToken = "at+jwt"

// Signer issues RS256 access tokens with the keyring's signing key.
type Signer struct {
	keys     *Keyring
	issuer   string
	audience string
	ttl      time.Duration
	now      func() time.Time
}

var _ auth.TokenIssuer = (*Signer)(nil)

// NewSigner returns a Signer for tokens of lifetime ttl.
func NewSigner(keys *Keyring, issuer, audience string, ttl time.Duration, now func() time.Time) *Signer {
	return &Signer{keys: keys, issuer: issuer, audience: audience, ttl: ttl, now: now}
}

// Issue signs an access token for id.
func (s *Signer) Issue(id auth.Identity) (string, time.Time, error) {
	key := s.keys.Set().Signing()
	if key == nil || key.Private == nil {
		return "", time.Time{}, errors.New("no signing key")
	}
	now := s.now().Truncate(time.Second)
	exp := now.Add(s.ttl)
	var jti [16]byte
	_, _ = rand.Read(jti[:])
	roles := id.Roles
	if roles == nil {
		roles = []string{}
	}
	claims := &accessClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    s.issuer,
			Subject:   id.UserID,
			Audience:  jwt.ClaimStrings{s.audience},
			ExpiresAt: jwt.NewNumericDate(exp),
			NotBefore: jwt.NewNumericDate(now),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        b64(jti[:]),
		},
		SessionID: id.SessionID,
		OrgID:     id.OrgID,
		Email:     id.Email,
		Roles:     roles,
		Scope:     strings.Join(id.Scopes, " "),
	}
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	t.Header["kid"] = key.ID
	t.Header["typ"] = TypeAccessToken
	signed, err := t.SignedString(key.Private)
	if err != nil {
		return "", time.Time{}, err
	}
	return signed, exp, nil
}
