package token_test

import (
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/revenue-api/revenue-api/internal/revocation"
	"github.com/revenue-api/revenue-api/internal/syncbuf"
	"github.com/revenue-api/revenue-api/internal/token"
)

// How the signer picks its implementation, in every build: these hold with
// or without cgo. openssl_cgo_test.go has the tests of OpenSSL itself.

// signerFixture is a signer on keys[0] with its log captured.
type signerFixture struct {
	t       *testing.T
	keys    [3]*token.Key
	keyring *token.Keyring
	signer  *token.Signer
	logs    *syncbuf.Buffer
}

func newSignerFixture(t *testing.T, key *token.Key, opts ...token.SignerOption) *signerFixture {
	t.Helper()
	f := &signerFixture{t: t, keys: cacheTestKeys(t), logs: &syncbuf.Buffer{}}
	if key == nil {
		key = f.keys[0]
	}
	log := slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f.keyring = token.NewKeyring(token.NewKeySet([]*token.Key{key}, key))
	opts = append([]token.SignerOption{token.WithSigning(token.SignerAuto, log)}, opts...)
	f.signer = token.NewSigner(f.keyring, cacheIssuer, cacheAudience, cacheTTL, time.Now, opts...)
	t.Cleanup(func() { assertNoKeyMaterial(t, f.logs.String(), key.Private) })
	return f
}

// prepare readies the signing key and checks which implementation it got.
func (f *signerFixture) prepare(want string) {
	f.t.Helper()
	got, err := f.signer.Prepare()
	if err != nil {
		f.t.Fatalf("Prepare: %v", err)
	}
	if got != want {
		f.t.Fatalf("signing key uses %q, want %q; log:\n%s", got, want, f.logs)
	}
}

// issueAndVerify issues a token and checks it with the service's verifier
// and with plain golang-jwt.
func (f *signerFixture) issueAndVerify() string {
	f.t.Helper()
	raw, _, err := f.signer.Issue(alice)
	if err != nil {
		f.t.Fatalf("Issue: %v", err)
	}
	verifyEverywhere(f.t, f.keyring, raw)
	return raw
}

func verifyEverywhere(t testing.TB, keyring *token.Keyring, raw string) {
	t.Helper()
	v := token.NewVerifier(keyring, cacheIssuer, cacheAudience, cacheLeeway, time.Now)
	if _, err := v.Verify(raw); err != nil {
		t.Fatalf("the service's verifier refused the token: %v", err)
	}
	var claims jwt.RegisteredClaims
	_, err := jwt.ParseWithClaims(raw, &claims, func(tok *jwt.Token) (any, error) {
		pub, ok := keyring.Lookup(tok.Header["kid"].(string))
		if !ok {
			t.Fatalf("token names an unknown kid %v", tok.Header["kid"])
		}
		return pub, nil
	}, jwt.WithValidMethods([]string{"RS256"}))
	if err != nil {
		t.Fatalf("golang-jwt refused the token: %v", err)
	}
}

// logRecords returns the log lines whose msg contains substr.
func (f *signerFixture) logRecords(substr string) []map[string]any {
	f.t.Helper()
	var out []map[string]any
	for line := range strings.Lines(f.logs.String()) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			f.t.Fatalf("log line %q: %v", line, err)
		}
		if msg, _ := rec["msg"].(string); strings.Contains(msg, substr) {
			out = append(out, rec)
		}
	}
	return out
}

// expectOneLog checks that exactly one line with msg containing substr was
// logged, at level, and returns it.
func (f *signerFixture) expectOneLog(substr, level string) map[string]any {
	f.t.Helper()
	recs := f.logRecords(substr)
	if len(recs) != 1 || recs[0]["level"] != level {
		f.t.Fatalf("want one %s line %q, got %v; log:\n%s", level, substr, recs, f.logs)
	}
	return recs[0]
}

// assertNoKeyMaterial fails if text holds the private exponent or a prime
// in any of the forms a careless message would print.
func assertNoKeyMaterial(t *testing.T, text string, priv *rsa.PrivateKey) {
	t.Helper()
	for _, n := range append([]*big.Int{priv.D}, priv.Primes...) {
		for _, form := range []string{n.Text(10)[:24], n.Text(16)[:24], base64.StdEncoding.EncodeToString(n.Bytes()[:18]),
			base64.RawURLEncoding.EncodeToString(n.Bytes()[:18])} {
			if strings.Contains(text, form) {
				t.Fatalf("the log holds private key material")
			}
		}
	}
}

func TestSignerGoModeSignsWithGo(t *testing.T) {
	f := newSignerFixture(t, nil, token.WithSigning(token.SignerGo, nil))
	// WithSigning(go, nil) replaced the fixture's logger: nothing is logged.
	f.prepare(token.BackendGo)
	f.issueAndVerify()
	if n := f.signer.OpenSSLKeysLive(); n != 0 {
		t.Errorf("%d keys handed to OpenSSL with REVENUE_SIGNER=go, want none", n)
	}
}

func TestSignerGoModeSaysSoInTheLog(t *testing.T) {
	logs := &syncbuf.Buffer{}
	keys := cacheTestKeys(t)
	keyring := token.NewKeyring(token.NewKeySet([]*token.Key{keys[0]}, keys[0]))
	s := token.NewSigner(keyring, cacheIssuer, cacheAudience, cacheTTL, time.Now,
		token.WithSigning(token.SignerGo, slog.New(slog.NewJSONHandler(logs, nil))))
	if got, err := s.Prepare(); err != nil || got != token.BackendGo {
		t.Fatalf("Prepare = %q, %v; want go", got, err)
	}
	if !strings.Contains(logs.String(), `"signer":"go","reason":"REVENUE_SIGNER=go"`) || !strings.Contains(logs.String(), keys[0].ID) {
		t.Errorf("log %q does not say the key %s signs with Go because of REVENUE_SIGNER", logs, keys[0].ID)
	}
}

func TestSignerWithoutOptionSignsWithGo(t *testing.T) {
	keys := cacheTestKeys(t)
	keyring := token.NewKeyring(token.NewKeySet([]*token.Key{keys[0]}, keys[0]))
	s := token.NewSigner(keyring, cacheIssuer, cacheAudience, cacheTTL, time.Now)
	if got, err := s.Prepare(); err != nil || got != token.BackendGo {
		t.Fatalf("Prepare = %q, %v; want go", got, err)
	}
}

func TestSignerFallsBackToGoWhenTheLibraryCannotBeLoaded(t *testing.T) {
	f := newSignerFixture(t, nil, token.WithLibcrypto("libcrypto-that-does-not-exist.so.0"))
	f.prepare(token.BackendGo)
	rec := f.expectOneLog("signing key uses Go", "WARN")
	if err, _ := rec["err"].(string); !strings.Contains(err, "not") {
		t.Errorf("warning's err = %q, want why OpenSSL is not used", err)
	}
	for range 3 {
		f.issueAndVerify()
	}
	if _, err := f.signer.SignRevocations(revocation.Page{Cursor: 7}); err != nil {
		t.Fatalf("SignRevocations: %v", err)
	}
	if len(f.logRecords("signing key uses")) != 1 {
		t.Errorf("the key's signer was logged more than once:\n%s", f.logs)
	}
}

func TestSignerWithoutSigningKey(t *testing.T) {
	keys := cacheTestKeys(t)
	keyring := token.NewKeyring(token.NewKeySet([]*token.Key{keys[0]}, nil))
	s := token.NewSigner(keyring, cacheIssuer, cacheAudience, cacheTTL, time.Now, token.WithSigning(token.SignerAuto, nil))
	if _, err := s.Prepare(); err == nil {
		t.Error("Prepare without a signing key succeeded")
	}
	if _, _, err := s.Issue(alice); err == nil {
		t.Error("Issue without a signing key succeeded")
	}
}
