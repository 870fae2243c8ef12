package token_test

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/revenue-api/revenue-api/internal/token"
)

// The fuzz targets verify with a fixed clock, issuer, audience and kid, so
// that the committed corpus (testdata/fuzz) means the same on every run;
// only the RSA key is made afresh in each process.
//
//	go test -run='^$' -fuzz='^FuzzVerify$' -fuzztime=10s ./internal/token
//	go test -run='^$' -fuzz='^FuzzVerifySigned$' -fuzztime=10s ./internal/token
const (
	fuzzIssuer   = "https://issuer.fuzz.test"
	fuzzAudience = "fuzz-audience"
	fuzzKid      = "fuzz-kid"
	fuzzLeeway   = 30 * time.Second
	fuzzHeader   = `{"alg":"RS256","typ":"at+jwt","kid":"fuzz-kid"}`
	fuzzPayload  = `{"iss":"https://issuer.fuzz.test","sub":"user-1","aud":["fuzz-audience"],` +
		`"exp":1900000900,"nbf":1900000000,"iat":1900000000,"jti":"jti-1","sid":"session-1",` +
		`"org_id":"org-1","email":"a@example.com","roles":["finance"],"scope":"revenue:read"}`
)

// fuzzNow is the fuzz clock: fuzzPayload's iat.
var fuzzNow = time.Unix(1_900_000_000, 0)

type fuzzKeys map[string]*rsa.PublicKey

func (k fuzzKeys) Lookup(kid string) (*rsa.PublicKey, bool) {
	pub, ok := k[kid]
	return pub, ok
}

var (
	fuzzKeyOnce sync.Once
	fuzzKey     *rsa.PrivateKey
)

// fuzzVerifier returns the verifier under test and the key it trusts.
func fuzzVerifier(tb testing.TB) (*token.Verifier, *rsa.PrivateKey) {
	tb.Helper()
	fuzzKeyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		fuzzKey = k
	})
	v := token.NewVerifier(fuzzKeys{fuzzKid: &fuzzKey.PublicKey}, fuzzIssuer, fuzzAudience, fuzzLeeway,
		func() time.Time { return fuzzNow })
	return v, fuzzKey
}

func fuzzB64(s []byte) string { return base64.RawURLEncoding.EncodeToString(s) }

// fuzzSign makes a compact JWS of header and payload, exactly as given,
// with a valid RS256 signature by key.
func fuzzSign(key *rsa.PrivateKey, header, payload string) string {
	input := fuzzB64([]byte(header)) + "." + fuzzB64([]byte(payload))
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, sum[:])
	if err != nil {
		panic(err)
	}
	return input + "." + fuzzB64(sig)
}

// FuzzVerify feeds arbitrary strings to the verifier. It must never panic,
// must reject with one of its documented reasons, and must accept no string
// but the one token the key signed: no other spelling of it, no forgery.
func FuzzVerify(f *testing.F) {
	v, key := fuzzVerifier(f)
	valid := fuzzSign(key, fuzzHeader, fuzzPayload)
	if _, err := v.Verify(valid); err != nil {
		f.Fatalf("the seed token is rejected (%v); the fuzz target tests nothing", err)
	}
	head, rest, _ := strings.Cut(valid, ".")
	payload, sig, _ := strings.Cut(rest, ".")
	f.Add(valid)
	f.Add(head + "." + payload + ".")                                // stripped signature
	f.Add(head + "." + payload + "." + sig[:20] + "\r\n" + sig[20:]) // same signature bytes, another spelling
	f.Add(head + "=." + payload + "." + sig)                         // padding
	f.Add(valid + ".")
	f.Add(strings.ToUpper(valid))
	f.Fuzz(func(t *testing.T, raw string) {
		_, err := v.Verify(raw)
		if err == nil {
			if raw != valid {
				t.Fatalf("accepted %q, which is not the token the key signed", raw)
			}
			return
		}
		checkRejection(t, err)
	})
}

// FuzzVerifySigned signs whatever header and payload the fuzzer makes with
// the trusted key, so that every check after the signature runs. What the
// verifier accepts must read the same to any verifier that decodes JSON
// exactly (first or last duplicate, case-sensitive names) and must be a
// valid RS256 access token for this issuer and audience, now.
func FuzzVerifySigned(f *testing.F) {
	v, key := fuzzVerifier(f)
	if _, err := v.Verify(fuzzSign(key, fuzzHeader, fuzzPayload)); err != nil {
		f.Fatalf("the seed token is rejected (%v); the fuzz target tests nothing", err)
	}
	f.Add(fuzzHeader, fuzzPayload)
	f.Fuzz(func(t *testing.T, header, payload string) {
		p, err := v.Verify(fuzzSign(key, header, payload))
		if err != nil {
			checkRejection(t, err)
			return
		}
		checkHeader(t, header)
		checkClaims(t, payload, p.UserID, p.SessionID, p.OrgID, p.TokenID, p.Email, p.Roles, p.Scopes, p.ExpiresAt, p.IssuedAt)
	})
}

var fuzzReasons = []token.Reason{
	token.ReasonMalformed, token.ReasonTooLarge, token.ReasonAlgorithm, token.ReasonHeader,
	token.ReasonUnknownKey, token.ReasonSignature, token.ReasonExpired, token.ReasonNotYetValid,
	token.ReasonIssuer, token.ReasonAudience, token.ReasonClaims,
}

func checkRejection(t *testing.T, err error) {
	t.Helper()
	reason, ok := token.ReasonOf(err)
	if !ok {
		t.Fatalf("rejected with %T %v, want an invalid_token error with a reason", err, err)
	}
	if !slices.Contains(fuzzReasons, reason) || err.Error() == "" || err.Error() != reason.Description() {
		t.Fatalf("rejected with reason %q (%q), want a documented one", reason, err.Error())
	}
}

// members decodes a JSON object's top level the plain way (exact names,
// last duplicate wins) and reports whether any name repeats exactly.
func members(t *testing.T, data string) (map[string]json.RawMessage, bool) {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(data), &m); err != nil {
		t.Fatalf("accepted a token whose JSON %q does not decode: %v", data, err)
	}
	dec := json.NewDecoder(strings.NewReader(data))
	_, _ = dec.Token()
	seen := map[string]bool{}
	for dec.More() {
		tok, _ := dec.Token()
		name, _ := tok.(string)
		if seen[name] {
			return m, true
		}
		seen[name] = true
		var skip json.RawMessage
		_ = dec.Decode(&skip)
	}
	return m, false
}

func str(m map[string]json.RawMessage, name string) (string, bool) {
	var s string
	err := json.Unmarshal(m[name], &s)
	return s, err == nil
}

func num(m map[string]json.RawMessage, name string) (float64, bool) {
	var n float64
	err := json.Unmarshal(m[name], &n)
	return n, err == nil && !math.IsInf(n, 0)
}

func checkHeader(t *testing.T, header string) {
	t.Helper()
	h, dup := members(t, header)
	if dup {
		t.Fatalf("accepted a header naming a parameter twice: %s", header)
	}
	if alg, _ := str(h, "alg"); alg != "RS256" {
		t.Fatalf("accepted alg %q, want only RS256: %s", alg, header)
	}
	if kid, _ := str(h, "kid"); kid != fuzzKid {
		t.Fatalf("accepted kid %q: %s", kid, header)
	}
	if typ, _ := str(h, "typ"); !strings.EqualFold(typ, "at+jwt") && !strings.EqualFold(typ, "application/at+jwt") {
		t.Fatalf("accepted typ %q, want at+jwt (RFC 9068): %s", typ, header)
	}
	for _, name := range []string{"jku", "x5u", "jwk", "x5c", "x5t", "x5t#S256", "crit"} {
		if _, ok := h[name]; ok {
			t.Fatalf("accepted a header naming its own key or extensions (%s): %s", name, header)
		}
	}
}

func checkClaims(t *testing.T, payload, sub, sid, org, jti, email string, roles, scopes []string, exp, iat time.Time) {
	t.Helper()
	c, dup := members(t, payload)
	if dup {
		t.Fatalf("accepted claims naming a member twice: %s", payload)
	}
	for name, got := range map[string]string{"sub": sub, "sid": sid, "org_id": org, "jti": jti} {
		if want, ok := str(c, name); !ok || want == "" || want != got {
			t.Fatalf("%s: the verifier read %q, an exact reading gives %q: %s", name, got, want, payload)
		}
	}
	if want, _ := str(c, "email"); want != email {
		t.Fatalf("email: the verifier read %q, an exact reading gives %q: %s", email, want, payload)
	}
	if iss, _ := str(c, "iss"); iss != fuzzIssuer {
		t.Fatalf("accepted iss %q: %s", iss, payload)
	}
	var aud []string
	if one, ok := str(c, "aud"); ok {
		aud = []string{one}
	} else if err := json.Unmarshal(c["aud"], &aud); err != nil {
		t.Fatalf("accepted an aud that is neither a string nor strings: %s", payload)
	}
	if !slices.Contains(aud, fuzzAudience) {
		t.Fatalf("accepted aud %q: %s", aud, payload)
	}
	now, leeway := float64(fuzzNow.Unix()), fuzzLeeway.Seconds()
	e, ok := num(c, "exp")
	if !ok || e+leeway <= now || exp.Unix() != int64(math.Floor(e)) {
		t.Fatalf("accepted exp %s (read as %v) at %v: %s", c["exp"], exp, fuzzNow, payload)
	}
	i, ok := num(c, "iat")
	if !ok || i < 0 || i > now+leeway || iat.Unix() != int64(math.Floor(i)) {
		t.Fatalf("accepted iat %s (read as %v) at %v: %s", c["iat"], iat, fuzzNow, payload)
	}
	if _, present := c["nbf"]; present {
		if n, ok := num(c, "nbf"); !ok || n < 0 || n > now+leeway {
			t.Fatalf("accepted nbf %s at %v: %s", c["nbf"], fuzzNow, payload)
		}
	}
	var wantRoles []string
	if raw, ok := c["roles"]; ok && !bytes.Equal(raw, []byte("null")) {
		if err := json.Unmarshal(raw, &wantRoles); err != nil {
			t.Fatalf("accepted roles %s: %s", raw, payload)
		}
	}
	if !slices.Equal(roles, wantRoles) {
		t.Fatalf("roles: the verifier read %q, an exact reading gives %q: %s", roles, wantRoles, payload)
	}
	scope, _ := str(c, "scope")
	if want := strings.Fields(scope); !slices.Equal(scopes, want) {
		t.Fatalf("scopes: the verifier read %q, an exact reading gives %q: %s", scopes, want, payload)
	}
}
