package token

import (
	"crypto/rand"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/revenue-api/revenue-api/internal/auth"
)

// TypeAccessToken is the JOSE typ of access tokens (RFC 9068 §2.1).
const TypeAccessToken = "at+jwt"

// Signer issues RS256 access tokens (and revocation feed pages) with the
// keyring's signing key, with Go's crypto/rsa or the system's OpenSSL (see
// WithSigning).
type Signer struct {
	keys     *Keyring
	issuer   string
	audience string
	ttl      time.Duration
	now      func() time.Time
	opts     signerOptions

	libOnce   sync.Once
	lib       *libcrypto // nil until loaded, and when it cannot be
	libErr    error
	prepareMu sync.Mutex // one preparation of a new signing key at a time
	current   atomic.Pointer[rs256Key]
	fallbacks atomic.Uint64
}

var _ auth.TokenIssuer = (*Signer)(nil)

// NewSigner returns a Signer for tokens of lifetime ttl.
func NewSigner(keys *Keyring, issuer, audience string, ttl time.Duration, now func() time.Time, opts ...SignerOption) *Signer {
	s := &Signer{keys: keys, issuer: issuer, audience: audience, ttl: ttl, now: now, opts: signerOptions{mode: SignerGo}}
	for _, o := range opts {
		o(&s.opts)
	}
	return s
}

// Issue signs an access token for id.
func (s *Signer) Issue(id auth.Identity) (string, time.Time, error) {
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
	signed, err := s.sign(claims, TypeAccessToken)
	if err != nil {
		return "", time.Time{}, err
	}
	return signed, exp, nil
}

// KeyID is the kid of the key the signer signs with now ("" with none).
func (s *Signer) KeyID() string {
	if k := s.keys.Set().Signing(); k != nil {
		return k.ID
	}
	return ""
}

// sign makes a JWS of claims with typ and the signing key's kid.
func (s *Signer) sign(claims jwt.Claims, typ string) (string, error) {
	k, err := s.signingKey()
	if err != nil {
		return "", err
	}
	t := jwt.NewWithClaims(k, claims)
	t.Header["kid"] = k.key.ID
	t.Header["typ"] = typ
	return t.SignedString(k.key.Private)
}
