package token_test

import (
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/revenue-api/revenue-api/internal/auth"
	"github.com/revenue-api/revenue-api/internal/token"
)

// fakeIssuer serves a JWKS answer the test changes at will, and counts
// the requests.
type fakeIssuer struct {
	*httptest.Server
	mu       sync.Mutex
	answer   http.HandlerFunc
	requests int
	inm      []string // If-None-Match of each request
}

func newFakeIssuer(t *testing.T, answer http.HandlerFunc) *fakeIssuer {
	t.Helper()
	f := &fakeIssuer{answer: answer}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.requests++
		f.inm = append(f.inm, r.Header.Get("If-None-Match"))
		answer := f.answer
		f.mu.Unlock()
		answer(w, r)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeIssuer) set(answer http.HandlerFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answer = answer
}

func (f *fakeIssuer) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests
}

// jwkOf is the JWK of key as our issuer publishes it, as a map to tamper with.
func jwkOf(key *rsa.PrivateKey) map[string]any {
	return map[string]any{
		"kty": "RSA", "kid": token.Thumbprint(&key.PublicKey), "use": "sig", "alg": "RS256",
		"n": base64.RawURLEncoding.EncodeToString(key.N.Bytes()), "e": "AQAB",
	}
}

func jwksBody(jwks ...map[string]any) []byte {
	body, err := json.Marshal(map[string]any{"keys": jwks})
	if err != nil {
		panic(err)
	}
	return body
}

func with(j map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range j {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

func serveJWKS(body []byte, cacheControl string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if cacheControl != "" {
			w.Header().Set("Cache-Control", cacheControl)
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}
}

const (
	remoteTimeout = 300 * time.Millisecond
	remoteMaxAge  = 5 * time.Minute
	remoteRefetch = 10 * time.Second
)

func newRemote(t *testing.T, url string, clock *stepClock) (*token.RemoteKeys, *syncBuffer) {
	t.Helper()
	log, logs := testLogger()
	return token.NewRemoteKeys(token.RemoteOptions{
		URL: url, Timeout: remoteTimeout, MaxAge: remoteMaxAge, RefetchInterval: remoteRefetch,
		Log: log, Now: clock.Now,
	}), logs
}

// TestBadJWKSAnswersAreRefused: each bad answer is refused with a logged
// reason, and the last good set stays in use.
func TestBadJWKSAnswersAreRefused(t *testing.T) {
	keys := keyFileTestKeys(t)
	good := jwkOf(keys[0])
	other := jwkOf(keys[1])
	smallN := make([]byte, 128) // a 1024-bit modulus
	smallN[0] = 0xc1
	smallN[127] = 0x01

	tests := []struct {
		name   string
		answer http.HandlerFunc
		want   string
	}{
		{"malformed JSON", serveJWKS([]byte(`{"keys": [`), ""), "not a JSON object with a keys array"},
		{"not an object", serveJWKS([]byte(`[1, 2]`), ""), "not a JSON object with a keys array"},
		{"an HTML page", serveJWKS([]byte(`<html>maintenance</html>`), ""), "not a JSON object"},
		{"trailing garbage", serveJWKS(append(jwksBody(good), "xx"...), ""), "not a JSON object"},
		{"no keys", serveJWKS([]byte(`{"keys": []}`), ""), "holds no keys"},
		{"too large, streamed", func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write(jwksBody(good)[:10])
			_, _ = w.Write([]byte(strings.Repeat(" ", token.MaxJWKSBytes)))
		}, "larger than 65536 bytes"},
		{"too large, announced", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", fmt.Sprint(token.MaxJWKSBytes+1))
			_, _ = w.Write([]byte(strings.Repeat(" ", token.MaxJWKSBytes+1)))
		}, "65537 bytes is larger"},
		{"slow to answer", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}, "no complete JWKS answer within 300ms"},
		{"slow body", func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write(jwksBody(good)[:10])
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}, "read JWKS answer: no complete JWKS answer within 300ms"},
		{"server error", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusServiceUnavailable) }, "status 503"},
		{"redirect", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "https://elsewhere.example/jwks.json", http.StatusFound)
		}, "status 302"},
		{"wrong kty", serveJWKS(jwksBody(good, map[string]any{"kty": "EC", "kid": "ec1", "crv": "P-256", "x": "AA", "y": "AA"}), ""), `kty "EC", want RSA`},
		{"symmetric key", serveJWKS(jwksBody(map[string]any{"kty": "oct", "kid": "h1", "k": "c2VjcmV0"}), ""), `kty "oct"`},
		{"small key", serveJWKS(jwksBody(with(good, "kid", "small", "n", base64.RawURLEncoding.EncodeToString(smallN))), ""), "1024 bits"},
		{"wrong alg", serveJWKS(jwksBody(with(good, "alg", "HS256")), ""), `alg "HS256", want RS256`},
		{"wrong use", serveJWKS(jwksBody(with(good, "use", "enc")), ""), `use "enc", want sig`},
		{"private members", serveJWKS(jwksBody(with(good, "d", "AQAB")), ""), "private key members"},
		{"no kid", serveJWKS(jwksBody(with(good, "kid", nil)), ""), "kid missing"},
		{"duplicate kid", serveJWKS(jwksBody(good, with(other, "kid", good["kid"])), ""), "appears twice"},
		{"n not base64url", serveJWKS(jwksBody(with(good, "n", "+/=")), ""), "n is not base64url"},
		{"even exponent", serveJWKS(jwksBody(with(good, "e", "AQAA")), ""), "exponent"},
		{"kty not a string", serveJWKS(jwksBody(with(good, "kty", 5)), ""), "not a valid JWK"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newStepClock()
			issuer := newFakeIssuer(t, serveJWKS(jwksBody(good), "max-age=60"))
			remote, logs := newRemote(t, issuer.URL, clock)
			if err := remote.Refresh(t.Context()); err != nil {
				t.Fatalf("first fetch: %v", err)
			}
			lastGood := remote.Set()

			issuer.set(tt.answer)
			clock.Advance(time.Minute)
			start := time.Now()
			err := remote.Refresh(t.Context())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("refresh with a bad answer: err %v, want one containing %q", err, tt.want)
			}
			if elapsed := time.Since(start); elapsed > remoteTimeout+time.Second {
				t.Errorf("refusing took %s, want it bounded by the %s timeout", elapsed, remoteTimeout)
			}
			if remote.Set() != lastGood {
				t.Error("the key set changed, want the last good one kept")
			}
			if _, ok := remote.Lookup(good["kid"].(string)); !ok {
				t.Error("the last good key no longer verifies")
			}
			if remote.Ready() != nil {
				t.Errorf("Ready() = %v after a failed refresh with a good set, want ready", remote.Ready())
			}
			quoted, _ := json.Marshal(tt.want) // the log is JSON
			if out := logs.String(); !strings.Contains(out, "keeping the last good key set") || !strings.Contains(out, string(quoted[1:len(quoted)-1])) {
				t.Errorf("log lacks the refusal and its reason %q:\n%s", tt.want, out)
			}
			if next, want := remote.NextRefresh(), clock.Now().Add(remoteRefetch); !next.Equal(want) {
				t.Errorf("after a failure the next refresh is at %s, want %s (the refetch interval)", next, want)
			}
		})
	}
}

// TestUnknownKidRefetchIsRateLimited: a flood of forged kids causes at most
// one fetch per refetch interval, a known kid none, and a key the issuer
// added is found by the refetch.
func TestUnknownKidRefetchIsRateLimited(t *testing.T) {
	keys := keyFileTestKeys(t)
	clock := newStepClock()
	issuer := newFakeIssuer(t, serveJWKS(jwksBody(jwkOf(keys[0])), "max-age=300"))
	remote, _ := newRemote(t, issuer.URL, clock)
	if err := remote.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	known := token.Thumbprint(&keys[0].PublicKey)
	forge := func(n int) {
		for i := range n {
			if _, ok := remote.Lookup(fmt.Sprintf("forged-%d", i)); ok {
				t.Fatal("a forged kid was found")
			}
			remote.RefetchAskedFor(t.Context()) // what Run does in the background
		}
	}
	expect := func(want int, what string) {
		t.Helper()
		if got := issuer.count(); got != want {
			t.Fatalf("%s: %d fetches in all, want %d", what, got, want)
		}
	}

	for range 100 {
		if _, ok := remote.Lookup(known); !ok {
			t.Fatal("known kid not found")
		}
		if remote.RefetchAskedFor(t.Context()) {
			t.Fatal("a known kid asked for a refetch")
		}
	}
	expect(1, "100 lookups of a known kid")
	forge(100)
	expect(1, "forged kids right after a fetch")
	clock.Advance(remoteRefetch - time.Millisecond)
	forge(100)
	expect(1, "forged kids 1ms before the refetch interval has passed")
	clock.Advance(time.Millisecond)
	forge(100)
	expect(2, "100 forged kids once the interval has passed")
	clock.Advance(remoteRefetch / 2)
	forge(100)
	expect(2, "forged kids half an interval later")

	// The issuer publishes a new key: the first token with its kid is
	// refused at once (no request waits for the network) and asks for one
	// refetch, after which it verifies.
	issuer.set(serveJWKS(jwksBody(jwkOf(keys[0]), jwkOf(keys[1])), "max-age=300"))
	clock.Advance(remoteRefetch / 2)
	newKey := &token.Key{ID: token.Thumbprint(&keys[1].PublicKey), Public: &keys[1].PublicKey, Private: keys[1]}
	ring := token.NewKeyring(token.NewKeySet([]*token.Key{newKey}, newKey))
	signer := token.NewSigner(ring, lcIssuer, lcAudience, lcTTL, clock.Now)
	raw := issue(t, signer, auth.Identity{UserID: "u1", OrgID: "o1", SessionID: "s1"})
	verifier := token.NewVerifier(remote, lcIssuer, lcAudience, lcLeeway, clock.Now)
	if _, err := verifier.Verify(raw); err == nil {
		t.Fatal("a token with a kid not fetched yet was accepted before any refetch")
	}
	expect(2, "a token with the new kid, before the background refetch")
	if !remote.RefetchAskedFor(t.Context()) {
		t.Fatal("the unknown kid asked for no refetch")
	}
	if _, err := verifier.Verify(raw); err != nil {
		t.Fatalf("token signed by a newly published key: %v, want accepted after one refetch", err)
	}
	expect(3, "a token with the new kid")
	if _, err := verifier.Verify(raw); err != nil {
		t.Fatal(err)
	}
	expect(3, "the same token again")
}

// TestUnknownKidsNeverWaitForTheNetwork: lookups of an unknown kid answer
// at once, even while a refetch is under way, and many of them ask for one
// refetch only.
func TestUnknownKidsNeverWaitForTheNetwork(t *testing.T) {
	keys := keyFileTestKeys(t)
	clock := newStepClock()
	issuer := newFakeIssuer(t, serveJWKS(jwksBody(jwkOf(keys[0])), "max-age=300"))
	remote, _ := newRemote(t, issuer.URL, clock)
	if err := remote.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	issuer.set(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
		serveJWKS(jwksBody(jwkOf(keys[0]), jwkOf(keys[1])), "max-age=300")(w, r)
	})
	clock.Advance(remoteRefetch)
	kid := token.Thumbprint(&keys[1].PublicKey)
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, ok := remote.Lookup(kid); ok {
				t.Error("an unknown kid was found before any refetch")
			}
		}()
	}
	wg.Wait()
	done := make(chan struct{})
	go func() { defer close(done); remote.RefetchAskedFor(t.Context()) }()
	<-entered // the refetch is under way, and stuck at the issuer
	start := time.Now()
	if _, ok := remote.Lookup(kid); ok {
		t.Error("the kid was found while its fetch is still under way")
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("a lookup during a fetch took %s: it waited for the network", d)
	}
	close(release)
	<-done
	if _, ok := remote.Lookup(kid); !ok {
		t.Error("the new key is not found after the refetch")
	}
	if got := issuer.count(); got != 2 {
		t.Errorf("%d fetches, want 2 (the first, then one for 20 lookups)", got)
	}
}

// TestJWKSLifetimeFollowsCacheControlWithinBounds: the issuer's max-age,
// less the Age a cache in between says the answer already has (RFC 9111
// §4.2.3: a CDN's copy is not fresh from the issuer), within
// [MinJWKSLifetime, MaxAge].
func TestJWKSLifetimeFollowsCacheControlWithinBounds(t *testing.T) {
	keys := keyFileTestKeys(t)
	tests := []struct {
		cacheControl, age string
		want              time.Duration
	}{
		{"public, max-age=60", "", time.Minute},
		{"max-age=1", "", time.Second},
		{"max-age=0", "", token.MinJWKSLifetime},
		{"no-store", "", token.MinJWKSLifetime},
		{"no-cache, max-age=60", "", token.MinJWKSLifetime},
		{"", "", remoteMaxAge},
		{"max-age=oops", "", remoteMaxAge},
		{"public, max-age=31536000", "", remoteMaxAge},
		{"public, max-age=60", "45", 15 * time.Second},
		{"public, max-age=60", "90", token.MinJWKSLifetime},
		{"", "120", remoteMaxAge - 2*time.Minute},
		{"public, max-age=31536000", "120", remoteMaxAge - 2*time.Minute},
		{"public, max-age=60", "oops", time.Minute},
		{"public, max-age=60", "-5", time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.cacheControl+" age "+tt.age, func(t *testing.T) {
			clock := newStepClock()
			serve := serveJWKS(jwksBody(jwkOf(keys[0])), tt.cacheControl)
			issuer := newFakeIssuer(t, func(w http.ResponseWriter, r *http.Request) {
				if tt.age != "" {
					w.Header().Set("Age", tt.age)
				}
				serve(w, r)
			})
			remote, _ := newRemote(t, issuer.URL, clock)
			if err := remote.Refresh(t.Context()); err != nil {
				t.Fatal(err)
			}
			if got := remote.NextRefresh().Sub(clock.Now()); got != tt.want {
				t.Errorf("Cache-Control %q, Age %q: cached for %s, want %s", tt.cacheControl, tt.age, got, tt.want)
			}
		})
	}
}

func TestJWKSRevalidatesWithETag(t *testing.T) {
	keys := keyFileTestKeys(t)
	body := jwksBody(jwkOf(keys[0]))
	clock := newStepClock()
	issuer := newFakeIssuer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Cache-Control", "max-age=60")
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		_, _ = w.Write(body)
	})
	remote, _ := newRemote(t, issuer.URL, clock)
	if err := remote.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	set := remote.Set()
	clock.Advance(time.Minute)
	if err := remote.Refresh(t.Context()); err != nil {
		t.Fatalf("refresh answered 304: %v", err)
	}
	if remote.Set() != set {
		t.Error("304 Not Modified replaced the set")
	}
	if issuer.inm[1] != `"v1"` {
		t.Errorf("second request sent If-None-Match %q, want the ETag", issuer.inm[1])
	}
	if got, want := remote.NextRefresh(), clock.Now().Add(time.Minute); !got.Equal(want) {
		t.Errorf("after 304 the set is cached until %s, want %s", got, want)
	}
}

func TestRemoteKeysReadyOnlyWithAKeySet(t *testing.T) {
	keys := keyFileTestKeys(t)
	clock := newStepClock()
	issuer := newFakeIssuer(t, func(w http.ResponseWriter, r *http.Request) { http.Error(w, "starting", http.StatusServiceUnavailable) })
	remote, _ := newRemote(t, issuer.URL, clock)
	if remote.Ready() == nil {
		t.Error("ready before any fetch")
	}
	if _, ok := remote.Lookup("any"); ok {
		t.Error("a kid was found with no key set")
	}
	remote.RefetchAskedFor(t.Context()) // the miss asks Run for a fetch; it fails
	if err := remote.Ready(); err == nil || !strings.Contains(err.Error(), "status 503") {
		t.Errorf("Ready after a failed fetch = %v, want the reason", err)
	}
	issuer.set(serveJWKS(jwksBody(jwkOf(keys[0])), ""))
	clock.Advance(remoteRefetch)
	if err := remote.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := remote.Ready(); err != nil {
		t.Errorf("Ready with a key set = %v", err)
	}
}

// TestRemoteKeysRunRefreshesWhenTheLifetimeEnds uses real time: Run
// fetches again when the issuer's max-age has passed.
func TestRemoteKeysRunRefreshesWhenTheLifetimeEnds(t *testing.T) {
	keys := keyFileTestKeys(t)
	issuer := newFakeIssuer(t, serveJWKS(jwksBody(jwkOf(keys[0])), "max-age=1"))
	log, _ := testLogger()
	remote := token.NewRemoteKeys(token.RemoteOptions{
		URL: issuer.URL, Timeout: remoteTimeout, MaxAge: remoteMaxAge, RefetchInterval: remoteRefetch, Log: log, Now: time.Now,
	})
	if err := remote.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	issuer.set(serveJWKS(jwksBody(jwkOf(keys[0]), jwkOf(keys[1])), "max-age=1"))
	go remote.Run(t.Context())
	deadline := time.Now().Add(5 * time.Second)
	for len(remote.Set().Keys()) != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("after 5s the set has %d keys, want the issuer's new key fetched after max-age=1", len(remote.Set().Keys()))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := issuer.count(); n > 4 {
		t.Errorf("%d fetches in a few seconds with max-age=1, want about one a second", n)
	}
}

// TestRemoteKeysRefetchesAnUnknownKidAskedTooSoon: a token naming a kid
// the set lacks, less than RefetchInterval after the last fetch, is refused
// at once and its refetch waits out the interval, then happens without
// another such token: the key is known when the interval ends.
func TestRemoteKeysRefetchesAnUnknownKidAskedTooSoon(t *testing.T) {
	keys := keyFileTestKeys(t)
	issuer := newFakeIssuer(t, serveJWKS(jwksBody(jwkOf(keys[0])), "max-age=300"))
	log, _ := testLogger()
	const interval = 500 * time.Millisecond
	remote := token.NewRemoteKeys(token.RemoteOptions{
		URL: issuer.URL, Timeout: remoteTimeout, MaxAge: remoteMaxAge, RefetchInterval: interval, Log: log, Now: time.Now,
	})
	if err := remote.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	go remote.Run(t.Context())
	issuer.set(serveJWKS(jwksBody(jwkOf(keys[0]), jwkOf(keys[1])), "max-age=300"))
	newKid := token.Thumbprint(&keys[1].PublicKey)
	if _, ok := remote.Lookup(newKid); ok { // just after the first fetch: too soon
		t.Fatal("the new key is known before any refetch")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if set := remote.Set(); set != nil {
			if _, ok := set.Lookup(newKid); ok {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("5 s after a too-soon unknown kid (refetch interval %s), the key is still unknown: %d fetches", interval, issuer.count())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := issuer.count(); n != 2 {
		t.Errorf("%d fetches, want 2 (the first, then one when the interval ended)", n)
	}
}
