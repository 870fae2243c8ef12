package httpapi_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"maps"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/revenue-api/revenue-api/internal/apitest"
	"github.com/revenue-api/revenue-api/internal/auth"
	"github.com/revenue-api/revenue-api/internal/httpapi"
	"github.com/revenue-api/revenue-api/internal/token"
)

// attack is one way of presenting a forged, altered or misplaced access
// token. Every attack differs from a token the service accepts in one way
// only, so each row tests the one defence that stops it.
type attack struct {
	name string
	// reason is why the token is refused; "" when the request carries no
	// bearer token at all, whose challenge has no error code (RFC 6750 §3.1).
	reason token.Reason
	// description replaces the reason's own error_description.
	description string
	// beforeVerify: refused before the verifier is called, so before any
	// parsing or cryptography.
	beforeVerify bool
	request      func(f *forger) apitest.Request
}

// attacks is the list of known attacks on the access token: a new attack is
// one more row.
var attacks = []attack{
	// The algorithm is pinned to RS256, whatever the header says.
	{name: "alg none, no signature", reason: token.ReasonAlgorithm, request: algNone("none", false)},
	{name: "alg none, with signature", reason: token.ReasonAlgorithm, request: algNone("none", true)},
	{name: "alg None, no signature", reason: token.ReasonAlgorithm, request: algNone("None", false)},
	{name: "alg NONE, with signature", reason: token.ReasonAlgorithm, request: algNone("NONE", true)},
	{name: "alg nOnE, no signature", reason: token.ReasonAlgorithm, request: algNone("nOnE", false)},
	{name: "alg missing", reason: token.ReasonAlgorithm, request: func(f *forger) apitest.Request {
		h := f.header()
		delete(h, "alg")
		return f.bearer(f.sign(h, f.claims(), f.rs256(f.key)))
	}},
	{name: "HS256 keyed with the public key as PKIX PEM", reason: token.ReasonAlgorithm, request: hmacWithPublicKey("HS256", publicPEM)},
	{name: "HS256 keyed with the public key as PKCS#1 PEM", reason: token.ReasonAlgorithm, request: hmacWithPublicKey("HS256", publicPKCS1PEM)},
	{name: "HS256 keyed with the public key as PKIX DER", reason: token.ReasonAlgorithm, request: hmacWithPublicKey("HS256", publicDER)},
	{name: "HS256 keyed with the public key as PKCS#1 DER", reason: token.ReasonAlgorithm, request: hmacWithPublicKey("HS256", publicPKCS1DER)},
	{name: "HS256 keyed with the published JWKS", reason: token.ReasonAlgorithm, request: hmacWithPublicKey("HS256", publishedJWKS)},
	{name: "HS512 keyed with the public key as PKIX PEM", reason: token.ReasonAlgorithm, request: hmacWithPublicKey("HS512", publicPEM)},
	{name: "RS384 signed with the real key", reason: token.ReasonAlgorithm, request: realKeyWith(jwt.SigningMethodRS384)},
	{name: "RS512 signed with the real key", reason: token.ReasonAlgorithm, request: realKeyWith(jwt.SigningMethodRS512)},
	{name: "PS256 signed with the real key", reason: token.ReasonAlgorithm, request: realKeyWith(jwt.SigningMethodPS256)},
	{name: "ES256 signed with an attacker key", reason: token.ReasonAlgorithm, request: func(f *forger) apitest.Request {
		return f.bearer(f.sign(f.header("alg", "ES256"), f.claims(), f.method(jwt.SigningMethodES256, f.attackerEC)))
	}},
	{name: "EdDSA signed with an attacker key", reason: token.ReasonAlgorithm, request: func(f *forger) apitest.Request {
		return f.bearer(f.sign(f.header("alg", "EdDSA"), f.claims(), f.method(jwt.SigningMethodEdDSA, f.attackerEd)))
	}},

	// The key comes from the service's own key set, by kid, and from nowhere else.
	{name: "unknown kid", reason: token.ReasonUnknownKey, request: withKid("2b7d1c7e-unknown")},
	{name: "kid with path traversal", reason: token.ReasonUnknownKey, request: withKid("../../../../../../dev/null")},
	{name: "kid naming a file", reason: token.ReasonUnknownKey, request: withKid("/etc/passwd")},
	{name: "kid with SQL", reason: token.ReasonUnknownKey, request: withKid("x' UNION SELECT 'attacker-secret' --")},
	{name: "kid with SQL tautology", reason: token.ReasonUnknownKey, request: withKid("' OR '1'='1")},
	{name: "kid empty", reason: token.ReasonUnknownKey, request: withKid("")},
	{name: "kid not a string", reason: token.ReasonUnknownKey, request: withKid(map[string]any{"$ne": nil})},
	{name: "kid missing", reason: token.ReasonUnknownKey, request: func(f *forger) apitest.Request {
		h := f.header()
		delete(h, "kid")
		return f.bearer(f.sign(h, f.claims(), f.rs256(f.key)))
	}},
	{name: "kid of the real key with trailing space", reason: token.ReasonUnknownKey, request: func(f *forger) apitest.Request {
		return f.bearer(f.sign(f.header("kid", f.kid+" "), f.claims(), f.rs256(f.key)))
	}},
	{name: "jku pointing at an attacker JWKS", reason: token.ReasonHeader, request: selfKeyed("jku")},
	{name: "x5u pointing at an attacker certificate", reason: token.ReasonHeader, request: selfKeyed("x5u")},
	{name: "jwk embedding an attacker key", reason: token.ReasonHeader, request: selfKeyed("jwk")},
	{name: "x5c embedding an attacker certificate", reason: token.ReasonHeader, request: selfKeyed("x5c")},
	{name: "jku with the real kid", reason: token.ReasonHeader, request: selfKeyedRealKid("jku")},
	{name: "jwk with the real kid", reason: token.ReasonHeader, request: selfKeyedRealKid("jwk")},
	{name: "crit extension", reason: token.ReasonHeader, request: func(f *forger) apitest.Request {
		h := f.header("crit", []string{"b64"})
		h["b64"] = false
		return f.bearer(f.sign(h, f.claims(), f.rs256(f.key)))
	}},
	{name: "another RSA key with the real kid", reason: token.ReasonSignature, request: func(f *forger) apitest.Request {
		return f.bearer(f.sign(f.header(), f.claims(), f.rs256(f.attacker)))
	}},

	// The signature covers every byte of header and claims.
	{name: "tampered payload with the original signature", reason: token.ReasonSignature, request: func(f *forger) apitest.Request {
		h, _, sig := jwtParts(f.valid())
		return f.bearer(h + "." + rawURL64(jsonOf(f.claims("org_id", f.otherOrg))) + "." + sig)
	}},
	{name: "escalated scope with the original signature", reason: token.ReasonSignature, request: func(f *forger) apitest.Request {
		h, _, sig := jwtParts(f.bob)
		claims := decodeClaims(f.t, f.bob)
		claims["scope"], claims["roles"] = auth.ScopeRevenueRead, []string{"admin"}
		return f.bearer(h + "." + rawURL64(jsonOf(claims)) + "." + sig)
	}},
	{name: "stripped signature", reason: token.ReasonSignature, request: func(f *forger) apitest.Request {
		h, c, _ := jwtParts(f.valid())
		return f.bearer(h + "." + c + ".")
	}},
	{name: "signature segment removed", reason: token.ReasonMalformed, request: func(f *forger) apitest.Request {
		h, c, _ := jwtParts(f.valid())
		return f.bearer(h + "." + c)
	}},
	{name: "one signature byte flipped", reason: token.ReasonSignature, request: func(f *forger) apitest.Request {
		h, c, sig := jwtParts(f.valid())
		raw, err := base64.RawURLEncoding.DecodeString(sig)
		if err != nil {
			f.t.Fatal(err)
		}
		raw[len(raw)/2] ^= 0x01
		return f.bearer(h + "." + c + "." + rawURL64(raw))
	}},
	{name: "signature of another token", reason: token.ReasonSignature, request: func(f *forger) apitest.Request {
		h, c, _ := jwtParts(f.valid())
		_, _, sig := jwtParts(f.bob)
		return f.bearer(h + "." + c + "." + sig)
	}},

	// Claims: time, issuer, audience, type.
	{name: "expired", reason: token.ReasonExpired, request: func(f *forger) apitest.Request {
		return f.realSigned(f.claims("exp", f.now().Add(-f.leeway()-time.Second).Unix()))
	}},
	{name: "expired long ago", reason: token.ReasonExpired, request: func(f *forger) apitest.Request {
		return f.realSigned(f.claims("exp", int64(1), "iat", int64(0), "nbf", int64(0)))
	}},
	{name: "nbf in the future", reason: token.ReasonNotYetValid, request: func(f *forger) apitest.Request {
		return f.realSigned(f.claims("nbf", f.now().Add(f.leeway()+time.Minute).Unix()))
	}},
	{name: "nbf so far ahead it overflows", reason: token.ReasonClaims, request: func(f *forger) apitest.Request {
		return f.realSigned(f.claims("nbf", 1e300))
	}},
	{name: "iat in the future beyond the leeway", reason: token.ReasonNotYetValid, request: func(f *forger) apitest.Request {
		return f.realSigned(f.claims("iat", f.now().Add(f.leeway()+time.Minute).Unix()))
	}},
	{name: "exp missing", reason: token.ReasonClaims, request: func(f *forger) apitest.Request {
		c := f.claims()
		delete(c, "exp")
		return f.realSigned(c)
	}},
	{name: "exp as a string", reason: token.ReasonMalformed, request: func(f *forger) apitest.Request {
		return f.realSigned(f.claims("exp", fmt.Sprint(f.now().Add(time.Hour).Unix())))
	}},
	{name: "wrong iss", reason: token.ReasonIssuer, request: func(f *forger) apitest.Request {
		return f.realSigned(f.claims("iss", "https://attacker.example"))
	}},
	{name: "iss with a trailing slash", reason: token.ReasonIssuer, request: func(f *forger) apitest.Request {
		return f.realSigned(f.claims("iss", apitest.Issuer+"/"))
	}},
	{name: "wrong aud", reason: token.ReasonAudience, request: func(f *forger) apitest.Request {
		return f.realSigned(f.claims("aud", []string{"another-api"}))
	}},
	{name: "aud missing", reason: token.ReasonClaims, request: func(f *forger) apitest.Request {
		c := f.claims()
		delete(c, "aud")
		return f.realSigned(c)
	}},
	{name: "sub missing", reason: token.ReasonClaims, request: func(f *forger) apitest.Request {
		c := f.claims()
		delete(c, "sub")
		return f.realSigned(c)
	}},
	{name: "wrong typ", reason: token.ReasonHeader, request: func(f *forger) apitest.Request {
		return f.bearer(f.sign(f.header("typ", "JWT"), f.claims(), f.rs256(f.key)))
	}},
	{name: "typ of an ID token", reason: token.ReasonHeader, request: func(f *forger) apitest.Request {
		return f.bearer(f.sign(f.header("typ", "id_token+jwt"), f.claims(), f.rs256(f.key)))
	}},
	{name: "typ missing", reason: token.ReasonHeader, request: func(f *forger) apitest.Request {
		h := f.header()
		delete(h, "typ")
		return f.bearer(f.sign(h, f.claims(), f.rs256(f.key)))
	}},

	// JSON that parsers read differently.
	{name: "duplicate org_id claim", reason: token.ReasonMalformed, request: func(f *forger) apitest.Request {
		return f.bearer(f.signRaw(string(jsonOf(f.header())), withMember(jsonOf(f.claims()), "org_id", f.otherOrg), f.rs256(f.key)))
	}},
	{name: "org_id claim repeated in another case", reason: token.ReasonMalformed, request: func(f *forger) apitest.Request {
		return f.bearer(f.signRaw(string(jsonOf(f.header())), withMember(jsonOf(f.claims()), "ORG_ID", f.otherOrg), f.rs256(f.key)))
	}},
	{name: "duplicate alg header", reason: token.ReasonHeader, request: func(f *forger) apitest.Request {
		header := `{"alg":"none","kid":` + string(jsonOf(f.kid)) + `,"typ":"at+jwt","alg":"RS256"}`
		return f.bearer(f.signRaw(header, string(jsonOf(f.claims())), f.rs256(f.key)))
	}},

	{name: "alg header repeated in another case", reason: token.ReasonHeader, request: func(f *forger) apitest.Request {
		return f.bearer(f.signRaw(withMember(jsonOf(f.header()), "ALG", "none"), string(jsonOf(f.claims())), f.rs256(f.key)))
	}},
	{name: "kid header repeated, spelt with an escape", reason: token.ReasonHeader, request: func(f *forger) apitest.Request {
		header := strings.TrimSuffix(string(jsonOf(f.header())), "}") + `,"\u006bid":"2b7d1c7e-unknown"}`
		return f.bearer(f.signRaw(header, string(jsonOf(f.claims())), f.rs256(f.key)))
	}},
	{name: "jku spelt with an escape", reason: token.ReasonHeader, request: func(f *forger) apitest.Request {
		header := strings.TrimSuffix(string(jsonOf(f.header())), "}") + `,"\u006aku":` + string(jsonOf(f.attackerAt+"/jwks.json")) + `}`
		return f.bearer(f.signRaw(header, string(jsonOf(f.claims())), f.rs256(f.key)))
	}},
	{name: "org_id claim repeated, spelt with an escape", reason: token.ReasonMalformed, request: func(f *forger) apitest.Request {
		claims := strings.TrimSuffix(string(jsonOf(f.claims())), "}") + `,"org\u005fid":` + string(jsonOf(f.otherOrg)) + `}`
		return f.bearer(f.signRaw(string(jsonOf(f.header())), claims, f.rs256(f.key)))
	}},
	{name: "exp as a string holding a number", reason: token.ReasonMalformed, request: func(f *forger) apitest.Request {
		return f.bearer(f.sign(f.header(), f.claims("exp", strconv.FormatInt(f.now().Add(time.Hour).Unix(), 10)), f.rs256(f.key)))
	}},

	// Encoding.
	{name: "garbage", reason: token.ReasonMalformed, request: bearerOf("!!!.@@@.###")},
	{name: "not base64", reason: token.ReasonMalformed, request: bearerOf("eyJ%%%.eyJ%%%.c2ln%%%")},
	{name: "no dots", reason: token.ReasonMalformed, request: bearerOf("eyJhbGciOiJSUzI1NiJ9")},
	{name: "empty token", reason: token.ReasonMalformed, request: bearerOf("")},
	{name: "standard base64 with padding", reason: token.ReasonMalformed, request: func(f *forger) apitest.Request {
		parts := strings.Split(f.valid(), ".")
		for i, p := range parts {
			raw, _ := base64.RawURLEncoding.DecodeString(p)
			parts[i] = base64.StdEncoding.EncodeToString(raw)
		}
		return f.bearer(strings.Join(parts, "."))
	}},
	{name: "line break inside the signature", reason: token.ReasonMalformed, request: func(f *forger) apitest.Request {
		v := f.valid()
		return f.bearer(v[:len(v)-40] + "\r\n" + v[len(v)-40:])
	}},
	{name: "a fourth segment", reason: token.ReasonMalformed, request: func(f *forger) apitest.Request {
		return f.bearer(f.valid() + ".e30")
	}},
	{name: "header not JSON", reason: token.ReasonMalformed, request: func(f *forger) apitest.Request {
		_, c, sig := jwtParts(f.valid())
		return f.bearer(rawURL64([]byte("RS256")) + "." + c + "." + sig)
	}},

	// Size: refused before any parsing or cryptography.
	{name: "oversized token, validly signed", reason: token.ReasonTooLarge, beforeVerify: true, request: func(f *forger) apitest.Request {
		return f.realSigned(f.claims("pad", strings.Repeat("A", token.MaxTokenBytes)))
	}},
	{name: "oversized header of garbage", reason: token.ReasonTooLarge, beforeVerify: true, request: bearerOf(strings.Repeat("A", 64<<10))},

	// Only the Authorization header carries the token (DESIGN: verification).
	{name: "token in the query string", request: func(f *forger) apitest.Request {
		return apitest.Request{Method: http.MethodGet, Path: "/revenue?access_token=" + f.valid()}
	}},
	{name: "token in a cookie", request: func(f *forger) apitest.Request {
		var cookies []*http.Cookie
		for _, name := range []string{"access_token", "token", "jwt", "Authorization", "revenue_refresh"} {
			cookies = append(cookies, &http.Cookie{Name: name, Value: f.valid()})
		}
		return apitest.Request{Method: http.MethodGet, Path: "/revenue", Cookies: cookies}
	}},
	{name: "token in a form body", request: func(f *forger) apitest.Request {
		return apitest.Request{Method: http.MethodPost, Path: "/logout", Body: "access_token=" + f.valid(),
			Header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}}
	}},
	{name: "token in another header", request: func(f *forger) apitest.Request {
		return apitest.Request{Method: http.MethodGet, Path: "/revenue", Header: http.Header{
			"X-Access-Token": {f.valid()}, "X-Auth-Token": {f.valid()}, "Proxy-Authorization": {"Bearer " + f.valid()},
		}}
	}},
	{name: "token without the Bearer scheme", request: func(f *forger) apitest.Request {
		return apitest.Request{Method: http.MethodGet, Path: "/revenue", Header: http.Header{"Authorization": {f.valid()}}}
	}},
	{name: "two Authorization headers", reason: token.ReasonMalformed, description: "send exactly one Authorization header",
		request: func(f *forger) apitest.Request {
			return apitest.Request{Method: http.MethodGet, Path: "/revenue", Header: http.Header{
				"Authorization": {"Bearer " + f.valid(), "Bearer " + f.valid()},
			}}
		}},
	{name: "two tokens in one Authorization header", reason: token.ReasonMalformed, request: func(f *forger) apitest.Request {
		return apitest.Request{Method: http.MethodGet, Path: "/revenue", Header: http.Header{
			"Authorization": {"Bearer " + f.valid() + ", Bearer " + f.valid()},
		}}
	}},
}

// TestForgedAndBrokenTokensAreRejected sends every attack to GET /revenue
// through the real router.
func TestForgedAndBrokenTokensAreRejected(t *testing.T) {
	env := apitest.New(t)
	f := newForger(t, env)

	// The forger's own token is accepted: the rows differ from it in one way.
	baseline := f.bearer(f.valid())
	resp := env.Do(baseline)
	if months, _ := resp.JSON(t)["months"].([]any); resp.Code != 200 || len(months) == 0 {
		t.Fatalf("the forger's untouched token: %d %s; want 200 with revenue, or the attacks prove nothing", resp.Code, resp.Body)
	}

	// A second router as production wires it, with the verified-token cache,
	// and a count of the tokens that reach the verifier.
	spy := &verifierSpy{}
	counted := newReplica(t, env, replicaSetup{wrapVerifier: func(httpapi.Verifier) httpapi.Verifier {
		spy.next = token.NewCachingVerifier(env.FullVerifier, env.Keyring, env.Config.ClockLeeway, env.Clock.Now, 1000)
		return spy
	}})
	if resp := counted.Do(baseline); resp.Code != 200 {
		t.Fatalf("the forger's untouched token, second router: %d %s", resp.Code, resp.Body)
	}

	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			f := f.in(t)
			req := a.request(f)
			start := time.Now()
			resp := f.env.Do(req)
			elapsed := time.Since(start)

			wantCode := "invalid_token"
			if a.reason == "" {
				wantCode = "missing_token"
			}
			if resp.Code != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401 %s: %s", resp.Code, wantCode, resp.Body)
			}
			if code := resp.ProblemCode(t); code != wantCode {
				t.Errorf("code %q, want %q", code, wantCode)
			}
			want := `Bearer realm="revenue-api"`
			if a.reason != "" {
				description := a.description
				if description == "" {
					description = a.reason.Description()
				}
				want += fmt.Sprintf(`, error="invalid_token", error_description=%q`, description)
			}
			if got := resp.Header().Get("WWW-Authenticate"); got != want {
				t.Errorf("WWW-Authenticate:\n got %s\nwant %s", got, want)
			}
			if elapsed > time.Second {
				t.Errorf("the rejection took %s; it must not wait on anything", elapsed)
			}

			calls := spy.calls.Load()
			again := within(t, counted.Env).Do(req)
			reached := spy.calls.Load() != calls
			if again.Code != http.StatusUnauthorized || again.Header().Get("WWW-Authenticate") != want {
				t.Errorf("second router (with the token cache): %d %q, want 401 %q", again.Code, again.Header().Get("WWW-Authenticate"), want)
			}
			if a.beforeVerify && reached {
				t.Error("the token reached the verifier; it must be refused before any parsing or cryptography")
			}
		})
	}
	if n := f.fetches.Load(); n != 0 {
		t.Errorf("the service fetched %d URLs named by tokens; it must never", n)
	}
}

// verifierSpy counts the tokens that reach the verifier.
type verifierSpy struct {
	next  httpapi.Verifier
	calls atomic.Int64
}

func (s *verifierSpy) Verify(raw string) (auth.Principal, error) {
	s.calls.Add(1)
	return s.next.Verify(raw)
}

// forger makes tokens byte by byte: its own header and claims JSON, its own
// base64url, signed with the real key, an attacker's, or not at all.
type forger struct {
	t        *testing.T
	env      *apitest.Env
	key      *rsa.PrivateKey // the service's signing key
	kid      string
	base     map[string]any // the claims of a real login of alice
	bob      string         // a real token of bob's, who may not read revenue
	otherOrg string         // an organization alice does not belong to

	attacker   *rsa.PrivateKey
	attackerEC *ecdsa.PrivateKey
	attackerEd ed25519.PrivateKey
	attackerAt string // an attacker's server: JWKS and certificate
	fetches    *atomic.Int64
}

var (
	attackerKeyOnce sync.Once
	attackerKey     *rsa.PrivateKey
)

func newForger(t *testing.T, env *apitest.Env) *forger {
	t.Helper()
	attackerKeyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		attackerKey = k
	})
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	f := &forger{t: t, env: env, key: env.Key.Private, kid: env.Key.ID,
		attacker: attackerKey, attackerEC: ec, attackerEd: ed, fetches: &atomic.Int64{}}

	alice := env.Login(apitest.AliceEmail, apitest.AlicePassword)
	f.base = decodeClaims(t, alice.AccessToken)
	f.bob = env.Login(apitest.BobEmail, apitest.BobPassword).AccessToken
	if err := env.DB.Pool.QueryRow(context.Background(),
		`SELECT id::text FROM organizations WHERE id::text <> $1 LIMIT 1`, f.base["org_id"]).Scan(&f.otherOrg); err != nil {
		t.Fatal(err)
	}

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.fetches.Add(1)
		if strings.HasSuffix(r.URL.Path, ".pem") {
			_ = pem.Encode(w, &pem.Block{Type: "CERTIFICATE", Bytes: f.attackerCert()})
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []any{f.attackerJWK()}})
	}))
	t.Cleanup(srv.Close)
	f.attackerAt = srv.URL
	return f
}

// in returns the forger for a subtest.
func (f *forger) in(t *testing.T) *forger {
	g := *f
	e := *f.env
	e.T = t
	g.t, g.env = t, &e
	return &g
}

func (f *forger) now() time.Time        { return f.env.Clock.Now() }
func (f *forger) leeway() time.Duration { return f.env.Config.ClockLeeway }

// header returns the header of a real token, with name/value pairs set.
func (f *forger) header(kv ...any) map[string]any {
	h := map[string]any{"alg": "RS256", "typ": "at+jwt", "kid": f.kid}
	for i := 0; i+1 < len(kv); i += 2 {
		h[kv[i].(string)] = kv[i+1]
	}
	return h
}

// claims returns alice's claims, with name/value pairs set.
func (f *forger) claims(kv ...any) map[string]any {
	c := maps.Clone(f.base)
	for i := 0; i+1 < len(kv); i += 2 {
		c[kv[i].(string)] = kv[i+1]
	}
	return c
}

// valid is a token the service accepts, forged from scratch.
func (f *forger) valid() string { return f.sign(f.header(), f.claims(), f.rs256(f.key)) }

func (f *forger) realSigned(claims map[string]any) apitest.Request {
	return f.bearer(f.sign(f.header(), claims, f.rs256(f.key)))
}

func (f *forger) bearer(tok string) apitest.Request {
	return apitest.Request{Method: http.MethodGet, Path: "/revenue", Header: http.Header{"Authorization": {"Bearer " + tok}}}
}

type signFunc func(input string) []byte

func (f *forger) sign(header, claims map[string]any, sign signFunc) string {
	return f.signRaw(string(jsonOf(header)), string(jsonOf(claims)), sign)
}

// signRaw encodes header and claims exactly as given and signs them; a nil
// signature is an empty third segment.
func (f *forger) signRaw(header, claims string, sign signFunc) string {
	input := rawURL64([]byte(header)) + "." + rawURL64([]byte(claims))
	return input + "." + rawURL64(sign(input))
}

func (f *forger) rs256(key *rsa.PrivateKey) signFunc {
	return func(input string) []byte {
		sum := sha256.Sum256([]byte(input))
		sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, sum[:])
		if err != nil {
			f.t.Fatal(err)
		}
		return sig
	}
}

func (f *forger) method(m jwt.SigningMethod, key any) signFunc {
	return func(input string) []byte {
		sig, err := m.Sign(input, key)
		if err != nil {
			f.t.Fatal(err)
		}
		return sig
	}
}

func (f *forger) attackerCert() []byte {
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: apitest.Issuer},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &f.attacker.PublicKey, f.attacker)
	if err != nil {
		f.t.Fatal(err)
	}
	return der
}

func (f *forger) attackerJWK() map[string]any {
	pub := f.attacker.PublicKey
	return map[string]any{"kty": "RSA", "kid": token.Thumbprint(&pub), "use": "sig", "alg": "RS256",
		"n": rawURL64(pub.N.Bytes()), "e": rawURL64(big.NewInt(int64(pub.E)).Bytes())}
}

// selfKeyed signs with the attacker's key and names that key in the header
// parameter param, under the attacker key's own kid.
func selfKeyed(param string) func(f *forger) apitest.Request {
	return func(f *forger) apitest.Request {
		h := f.header("kid", token.Thumbprint(&f.attacker.PublicKey))
		f.nameAttackerKey(h, param)
		return f.bearer(f.sign(h, f.claims(), f.rs256(f.attacker)))
	}
}

// selfKeyedRealKid is selfKeyed under the real key's kid.
func selfKeyedRealKid(param string) func(f *forger) apitest.Request {
	return func(f *forger) apitest.Request {
		h := f.header()
		f.nameAttackerKey(h, param)
		return f.bearer(f.sign(h, f.claims(), f.rs256(f.attacker)))
	}
}

func (f *forger) nameAttackerKey(h map[string]any, param string) {
	switch param {
	case "jku":
		h["jku"] = f.attackerAt + "/jwks.json"
	case "x5u":
		h["x5u"] = f.attackerAt + "/cert.pem"
	case "jwk":
		h["jwk"] = f.attackerJWK()
	case "x5c":
		h["x5c"] = []string{base64.StdEncoding.EncodeToString(f.attackerCert())}
	default:
		f.t.Fatalf("unknown key parameter %q", param)
	}
}

func algNone(alg string, signed bool) func(f *forger) apitest.Request {
	return func(f *forger) apitest.Request {
		sign := func(string) []byte { return nil }
		if signed {
			sign = f.rs256(f.key)
		}
		return f.bearer(f.sign(f.header("alg", alg), f.claims(), sign))
	}
}

func withKid(value any) func(f *forger) apitest.Request {
	return func(f *forger) apitest.Request {
		return f.bearer(f.sign(f.header("kid", value), f.claims(), f.rs256(f.key)))
	}
}

func realKeyWith(m jwt.SigningMethod) func(f *forger) apitest.Request {
	return func(f *forger) apitest.Request {
		return f.bearer(f.sign(f.header("alg", m.Alg()), f.claims(), f.method(m, f.key)))
	}
}

// hmacWithPublicKey is the algorithm confusion attack: an HMAC keyed with
// the public key, in a form a careless verifier would use as a secret.
func hmacWithPublicKey(alg string, secret func(f *forger) []byte) func(f *forger) apitest.Request {
	return func(f *forger) apitest.Request {
		h := sha256.New
		if alg == "HS512" {
			h = jwt.SigningMethodHS512.Hash.New
		}
		key := secret(f)
		return f.bearer(f.sign(f.header("alg", alg), f.claims(), func(input string) []byte {
			mac := hmac.New(h, key)
			mac.Write([]byte(input))
			return mac.Sum(nil)
		}))
	}
}

func publicDER(f *forger) []byte {
	der, err := x509.MarshalPKIXPublicKey(&f.key.PublicKey)
	if err != nil {
		f.t.Fatal(err)
	}
	return der
}

func publicPKCS1DER(f *forger) []byte { return x509.MarshalPKCS1PublicKey(&f.key.PublicKey) }

func publicPEM(f *forger) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: publicDER(f)})
}

func publicPKCS1PEM(f *forger) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: publicPKCS1DER(f)})
}

func publishedJWKS(f *forger) []byte {
	resp := f.env.Do(apitest.Request{Method: http.MethodGet, Path: "/.well-known/jwks.json"})
	if resp.Code != 200 {
		f.t.Fatalf("JWKS: %d", resp.Code)
	}
	return resp.Body.Bytes()
}

func bearerOf(raw string) func(f *forger) apitest.Request {
	return func(f *forger) apitest.Request { return f.bearer(raw) }
}

func rawURL64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func jsonOf(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// withMember appends "name": value to a JSON object, repeating a name that
// may already be there.
func withMember(object []byte, name string, value any) string {
	s := strings.TrimSuffix(string(object), "}")
	return s + "," + string(jsonOf(name)) + ":" + string(jsonOf(value)) + "}"
}

func jwtParts(tok string) (header, claims, signature string) {
	parts := strings.SplitN(tok, ".", 3)
	if len(parts) != 3 {
		panic("not a JWT: " + tok)
	}
	return parts[0], parts[1], parts[2]
}

func decodeClaims(t *testing.T, tok string) map[string]any {
	t.Helper()
	_, c, _ := jwtParts(tok)
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}
