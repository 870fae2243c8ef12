package token

import (
	"bytes"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
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
	// ReasonRevoked is decided after verification, from the revocations in
	// memory: the token's session ended, or its user's tokens were revoked.
	ReasonRevoked Reason = "revoked"
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
	ReasonRevoked:     "the access token was revoked",
}

// InvalidError is a rejected token.
type InvalidError struct{ Reason Reason }

func (e *InvalidError) Error() string { return descriptions[e.Reason] }

// ErrInvalid is matched by every *InvalidError with errors.Is.
var ErrInvalid = errors.New("invalid access token")

// Is makes errors.Is(err, ErrInvalid) true for every rejection.
func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

func invalid(r Reason) error { return &InvalidError{Reason: r} }

// Verifier checks access tokens with keys held in memory: no database, cache
// or network call per token.
type Verifier struct {
	keys      KeyLookup
	validator *jwt.Validator
	calls     atomic.Uint64
}

// Verifications is how many tokens the verifier has checked (accepted or
// not): with the cache in front, how many were not answered from it.
func (v *Verifier) Verifications() uint64 { return v.calls.Load() }

// NewVerifier builds the claims validator once: issuer, audience, required
// expiry, iat not in the future, a small leeway.
func NewVerifier(keys KeyLookup, issuer, audience string, leeway time.Duration, now func() time.Time) *Verifier {
	return &Verifier{
		keys: keys,
		validator: jwt.NewValidator(
			jwt.WithIssuer(issuer),
			jwt.WithAudience(audience),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(leeway),
			jwt.WithTimeFunc(now),
		),
	}
}

// tokenHeader is the JOSE header of an access token.
type tokenHeader struct {
	Alg string `json:"alg"`
	Typ string `json:"typ"`
	Kid string `json:"kid"`
}

// forbiddenHeaders name keys or certificates for the token to be verified
// with, or extensions the verifier must understand: a token carrying any of
// them is refused outright, never followed.
var forbiddenHeaders = []string{"jku", "x5u", "jwk", "x5c", "x5t", "x5t#S256", "crit"}

var strictB64 = base64.RawURLEncoding.Strict()

// Verify checks raw and returns the principal it asserts, or an error
// matching ErrInvalid whose Reason says why. In order, each step only on
// what the previous ones accepted:
//
//  1. size, and the compact form: three base64url segments, nothing else;
//  2. the header: one JSON object, no repeated or misspelt parameter, no
//     key or certificate of its own, alg exactly RS256, typ at+jwt, and a
//     kid naming a key held in memory;
//  3. the RS256 signature over header and claims (golang-jwt's RS256, that
//     is crypto/rsa PKCS #1 v1.5 with SHA-256): no claim is read before it
//     holds;
//  4. the claims: one JSON object, no repeated or misspelt claim, times as
//     numbers, then golang-jwt's validator (exp required, nbf, iat, iss,
//     aud, with the leeway) and accessClaims.Validate (sub, jti, iat, sid,
//     org_id present, times in range).
func (v *Verifier) Verify(raw string) (auth.Principal, error) {
	p, _, err := v.verify(raw)
	return p, err
}

// verification is what Verify checked beyond the principal, which the
// cache keeps to re-check a hit.
type verification struct {
	kid       string
	key       *rsa.PublicKey
	notBefore time.Time // zero when the token has no nbf
}

// verify is Verify, also returning what it checked.
func (v *Verifier) verify(raw string) (p auth.Principal, d verification, err error) {
	v.calls.Add(1)
	if len(raw) > MaxTokenBytes {
		return p, d, invalid(ReasonTooLarge)
	}
	if !compactJWS(raw) {
		return p, d, invalid(ReasonMalformed)
	}
	header64, rest, ok1 := strings.Cut(raw, ".")
	claims64, sig64, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.Contains(sig64, ".") {
		return p, d, invalid(ReasonMalformed)
	}

	var buf [1024]byte // header and claims, decoded; larger ones allocate
	header, err := decodeInto(buf[:0], header64)
	if err != nil {
		return p, d, invalid(ReasonMalformed)
	}
	pub, kid, reason := v.key(header)
	if reason != "" {
		return p, d, invalid(reason)
	}

	sig, err := strictB64.DecodeString(sig64)
	if err != nil {
		return p, d, invalid(ReasonMalformed)
	}
	if jwt.SigningMethodRS256.Verify(raw[:len(header64)+1+len(claims64)], sig, pub) != nil {
		return p, d, invalid(ReasonSignature)
	}

	payload, err := decodeInto(buf[len(header):len(header)], claims64)
	if err != nil {
		return p, d, invalid(ReasonMalformed)
	}
	var c accessClaims
	if err := c.decode(payload); err != nil {
		return p, d, invalid(ReasonMalformed)
	}
	if err := v.validator.Validate(&c); err != nil {
		return p, d, invalid(classify(err))
	}
	d = verification{kid: kid, key: pub}
	if c.NotBefore != nil {
		d.notBefore = c.NotBefore.Time
	}
	return principalFrom(&c), d, nil
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

// decodeInto appends the strict base64url decoding of seg to dst.
func decodeInto(dst []byte, seg string) ([]byte, error) {
	n := strictB64.DecodedLen(len(seg))
	if cap(dst)-len(dst) < n {
		dst = make([]byte, 0, n)
	}
	out := dst[len(dst) : len(dst)+n]
	m, err := strictB64.Decode(out, []byte(seg))
	return out[:m], err
}

// key checks the header and selects the verification key by kid.
func (v *Verifier) key(header []byte) (*rsa.PublicKey, string, Reason) {
	if err := checkMembers(header, headerNames, nil); err != nil {
		if errors.Is(err, errDuplicateClaim) {
			return nil, "", ReasonHeader
		}
		return nil, "", ReasonMalformed
	}
	var h tokenHeader
	if err := json.Unmarshal(header, &h); err != nil {
		var wrongType *json.UnmarshalTypeError
		if !errors.As(err, &wrongType) {
			return nil, "", ReasonMalformed
		}
		switch wrongType.Field { // what a kid or alg that is no string means
		case "kid":
			return nil, "", ReasonUnknownKey
		case "alg":
			return nil, "", ReasonAlgorithm
		}
		return nil, "", ReasonHeader
	}
	if h.Alg != jwt.SigningMethodRS256.Alg() {
		// none, None, HS256, PS256, a missing alg: pinned to RS256.
		return nil, "", ReasonAlgorithm
	}
	if !strings.EqualFold(h.Typ, TypeAccessToken) && !strings.EqualFold(h.Typ, "application/"+TypeAccessToken) {
		return nil, "", ReasonHeader
	}
	if namesForbidden(header) {
		return nil, "", ReasonHeader
	}
	pub, ok := v.keys.Lookup(h.Kid)
	if h.Kid == "" || !ok {
		return nil, "", ReasonUnknownKey
	}
	return pub, h.Kid, ""
}

// namesForbidden reports whether the JSON object in header, already
// checked by checkMembers, has a member named as one of forbiddenHeaders
// once decoded. Without an escape, a name is spelt as it reads: the common
// case is decided without decoding.
func namesForbidden(header []byte) bool {
	if bytes.IndexByte(header, '\\') < 0 && !slices.ContainsFunc(forbiddenHeaders, func(name string) bool {
		return bytes.Contains(header, []byte(name))
	}) {
		return false
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(header, &m) != nil {
		return true
	}
	return slices.ContainsFunc(forbiddenHeaders, func(name string) bool {
		_, ok := m[name]
		return ok
	})
}

// classify turns the validator's error into a Reason.
func classify(err error) Reason {
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return ReasonExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return ReasonNotYetValid
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return ReasonIssuer
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return ReasonAudience
	}
	return ReasonClaims
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
