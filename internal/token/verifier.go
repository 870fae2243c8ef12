package token

import (
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/revenue-api/revenue-api/internal/auth"
)

// MaxTokenBytes bounds an access token; a longer one is refused before any
// parsing or cryptography.
const MaxTokenBytes = 4096

// KeyLookup finds a verification key by kid.
type KeyLookup interface {
	Lookup(kid string) (*rsa.PublicKey, bool)
}

// Reason is why a token was rejected: a fixed, small set, safe to show to
// clients and to use as a metric label.
type Reason string

// The rejection reasons.
const (
	ReasonMalformed   Reason = "malformed"
	ReasonTooLarge    Reason = "too_large"
	ReasonAlgorithm   Reason = "algorithm"
	ReasonHeader      Reason = "header"
	ReasonUnknownKey  Reason = "unknown_kid"
	ReasonSignature   Reason = "signature"
	ReasonExpired     Reason = "expired"
	ReasonNotYetValid Reason = "not_yet_valid"
	ReasonIssuer      Reason = "issuer"
	ReasonAudience    Reason = "audience"
	ReasonClaims      Reason = "claims"
)

// descriptions are sent to clients as RFC 6750 error_description.
var descriptions = map[Reason]string{
	ReasonMalformed:   "the access token is malformed",
	ReasonTooLarge:    "the access token is too large",
	ReasonAlgorithm:   "the access token is not signed with RS256",
	ReasonHeader:      "the access token header is not acceptable",
	ReasonUnknownKey:  "the access token is signed with an unknown key",
	ReasonSignature:   "the access token signature is invalid",
	ReasonExpired:     "the access token expired",
	ReasonNotYetValid: "the access token is not valid yet",
	ReasonIssuer:      "the access token has the wrong issuer",
	ReasonAudience:    "the access token has the wrong audience",
	ReasonClaims:      "the access token lacks required claims",
}

// InvalidError is a rejected token.
type InvalidError struct{ Reason Reason }

func (e *InvalidError) Error() string { return descriptions[e.Reason] }

// ErrInvalid is matched by every *InvalidError with errors.Is.
var ErrInvalid = errors.New("invalid access token")

// Is makes errors.Is(err, ErrInvalid) true for every rejection.
func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

func invalid(r Reason) error { return &InvalidError{Reason: r} }

// Header-level errors from the key function, told apart in classify.
var (
	errUnknownKey = errors.New("unknown kid")
	errBadHeader  = errors.New("unacceptable header")
)

// Verifier checks access tokens with keys held in memory: no database, cache
// or network call per token.
type Verifier struct {
	parser *jwt.Parser
	keys   KeyLookup
}

// NewVerifier builds the parser once: RS256 only, issuer, audience, required
// expiry, iat not in the future, a small leeway, strict base64.
func NewVerifier(keys KeyLookup, issuer, audience string, leeway time.Duration, now func() time.Time) *Verifier {
	return &Verifier{
		keys: keys,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodRS256.Alg()}),
			jwt.WithIssuer(issuer),
			jwt.WithAudience(audience),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(leeway),
			jwt.WithTimeFunc(now),
			jwt.WithStrictDecoding(),
		),
	}
}

// Verify checks raw and returns the principal it asserts, or an error
// matching ErrInvalid whose Reason says why.
func (v *Verifier) Verify(raw string) (auth.Principal, error) {
	if len(raw) > MaxTokenBytes {
		return auth.Principal{}, invalid(ReasonTooLarge)
	}
	if !compactJWS(raw) {
		return auth.Principal{}, invalid(ReasonMalformed)
	}
	var c accessClaims
	if t, err := v.parser.ParseWithClaims(raw, &c, v.key); err != nil {
		return auth.Principal{}, invalid(classify(t, err))
	}
	return principalFrom(&c), nil
}

// compactJWS reports whether raw holds only base64url characters and dots.
// Go's base64 decoder skips CR and LF even in strict mode, so without this
// check a token with line breaks in its signature would verify as the same
// token under another spelling.
func compactJWS(raw string) bool {
	for i := 0; i < len(raw); i++ {
		switch b := raw[i]; {
		case 'A' <= b && b <= 'Z', 'a' <= b && b <= 'z', '0' <= b && b <= '9', b == '-', b == '_', b == '.':
		default:
			return false
		}
	}
	return true
}

// key selects the verification key by kid after checking the header. Keys
// named by the token itself (jku, x5u, jwk, x5c) are never used: a token
// carrying them is refused outright, as is any critical extension.
func (v *Verifier) key(t *jwt.Token) (any, error) {
	typ, _ := t.Header["typ"].(string)
	if !strings.EqualFold(typ, TypeAccessToken) && !strings.EqualFold(typ, "application/"+TypeAccessToken) {
		return nil, fmt.Errorf("%w: typ", errBadHeader)
	}
	for _, h := range [...]string{"jku", "x5u", "jwk", "x5c", "x5t", "x5t#S256", "crit"} {
		if _, ok := t.Header[h]; ok {
			return nil, fmt.Errorf("%w: %s", errBadHeader, h)
		}
	}
	// The header map kept the last of repeated names; a verifier that keeps
	// the first would read another alg or kid from the same bytes.
	segment, _, _ := strings.Cut(t.Raw, ".")
	header, err := base64.RawURLEncoding.Strict().DecodeString(segment)
	if err != nil || checkMembers(header, false) != nil {
		return nil, fmt.Errorf("%w: repeated parameter", errBadHeader)
	}
	kid, ok := t.Header["kid"].(string)
	if !ok {
		return nil, errUnknownKey
	}
	pub, ok := v.keys.Lookup(kid)
	if !ok {
		return nil, errUnknownKey
	}
	return pub, nil
}

// classify turns a parse error into a Reason. t is what the parser read
// before it failed (nil when the token did not split into three parts).
func classify(t *jwt.Token, err error) Reason {
	alg := ""
	if t != nil {
		alg, _ = t.Header["alg"].(string)
	}
	switch {
	case errors.Is(err, errUnknownKey):
		return ReasonUnknownKey
	case errors.Is(err, errBadHeader):
		return ReasonHeader
	case errors.Is(err, jwt.ErrTokenMalformed):
		return ReasonMalformed
	case alg != jwt.SigningMethodRS256.Alg():
		// none, None, HS256, PS256, a missing alg: pinned to RS256.
		return ReasonAlgorithm
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return ReasonSignature
	case errors.Is(err, jwt.ErrTokenExpired):
		return ReasonExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return ReasonNotYetValid
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return ReasonIssuer
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return ReasonAudience
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing), errors.Is(err, jwt.ErrTokenInvalidClaims):
		return ReasonClaims
	}
	return ReasonMalformed
}

func principalFrom(c *accessClaims) auth.Principal {
	var scopes []string
	if c.Scope != "" {
		scopes = strings.Fields(c.Scope)
	}
	p := auth.Principal{
		Identity: auth.Identity{
			UserID:    c.Subject,
			Email:     c.Email,
			OrgID:     c.OrgID,
			Roles:     c.Roles,
			Scopes:    scopes,
			SessionID: c.SessionID,
		},
		TokenID:   c.ID,
		ExpiresAt: c.ExpiresAt.Time,
	}
	if c.IssuedAt != nil {
		p.IssuedAt = c.IssuedAt.Time
	}
	return p
}
