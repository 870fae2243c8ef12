package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/revenue-api/revenue-api/internal/auth"
	"github.com/revenue-api/revenue-api/internal/syncbuf"
	"github.com/revenue-api/revenue-api/internal/token"
)

// serveLogs collects a server's JSON log lines from concurrent writers.
type serveLogs struct{ syncbuf.Buffer }

// find returns the first log line whose msg is msg, decoded.
func (l *serveLogs) find(msg string) map[string]any {
	sc := bufio.NewScanner(strings.NewReader(l.String()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == msg {
			return m
		}
	}
	return nil
}

// servedProcess is `revenue-api serve` running in-process with its own
// environment, as a separate process would.
type servedProcess struct {
	URL  string
	Logs *serveLogs
}

// startServeProcess runs serve with env until the test ends, and waits until it
// listens.
func startServeProcess(t *testing.T, env map[string]string) *servedProcess {
	t.Helper()
	env["REVENUE_HTTP_ADDR"] = "127.0.0.1:0"
	getenv := func(k string) string { return env[k] }
	ctx, cancel := context.WithCancel(context.Background())
	logs := &serveLogs{}
	errc := make(chan error, 1)
	go func() { errc <- run(ctx, []string{"serve"}, getenv, strings.NewReader(""), io.Discard, logs) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("serve ended with %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Error("serve did not stop within 60s of its context ending")
		}
	})
	deadline := time.After(2 * time.Minute)
	for {
		if m := logs.find("listening"); m != nil {
			return &servedProcess{URL: "http://" + m["addr"].(string), Logs: logs}
		}
		select {
		case err := <-errc:
			errc <- err
			t.Fatalf("serve stopped before listening: %v\n%s", err, logs)
		case <-deadline:
			t.Fatalf("serve not listening after 2m:\n%s", logs)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// answer is one HTTP exchange, read whole.
type answer struct {
	Status int
	Header http.Header
	Body   string
}

func httpCall(t *testing.T, method, url, bearer string, body any) answer {
	t.Helper()
	var rd io.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return answer{Status: resp.StatusCode, Header: resp.Header, Body: string(data)}
}

// jwksIssuer is a stand-in for the issuer's JWKS endpoint, counting fetches.
type jwksIssuer struct {
	*httptest.Server
	mu      sync.Mutex
	body    []byte
	status  int
	fetches int
}

func newJWKSIssuer(t *testing.T) *jwksIssuer {
	j := &jwksIssuer{status: http.StatusServiceUnavailable}
	j.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		j.mu.Lock()
		defer j.mu.Unlock()
		j.fetches++
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.WriteHeader(j.status)
		_, _ = w.Write(j.body)
	}))
	t.Cleanup(j.Close)
	return j
}

func (j *jwksIssuer) publish(keys ...*token.Key) {
	body, err := token.MarshalJWKS(token.NewKeySet(keys, nil))
	if err != nil {
		panic(err)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.body, j.status = body, http.StatusOK
}

func (j *jwksIssuer) count() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.fetches
}

func verifierTestKey(t *testing.T) *token.Key {
	t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return &token.Key{ID: token.Thumbprint(&priv.PublicKey), Public: &priv.PublicKey, Private: priv}
}

// TestVerifierOnlyMode: with REVENUE_JWKS_URL the process verifies tokens
// with the fetched keys and does nothing else: no login, no revenue, no
// JWKS of its own, no database; ready only once it holds a key set; a
// flood of forged kids does not reach the issuer.
func TestVerifierOnlyMode(t *testing.T) {
	issuer := newJWKSIssuer(t) // down at first
	key := verifierTestKey(t)
	dataDir := t.TempDir()
	metricsAddr := freeAddr(t)
	v := startServeProcess(t, map[string]string{
		"REVENUE_METRICS_ADDR":          metricsAddr,
		"REVENUE_JWKS_URL":              issuer.URL + "/.well-known/jwks.json",
		"REVENUE_JWKS_REFETCH_INTERVAL": "300ms",
		"REVENUE_REVOCATION_FEED_URL":   "off", // a JWKS-only issuer: TestIssuerAndVerifierSideBySide follows a real feed
		"REVENUE_DATA_DIR":              dataDir,
		"REVENUE_KEYS_DIR":              dataDir + "/keys",
		"REVENUE_ISSUER":                "https://issuer.test",
		"REVENUE_AUDIENCE":              "revenue-api",
	})

	if a := httpCall(t, "GET", v.URL+"/readyz", "", nil); a.Status != http.StatusServiceUnavailable {
		t.Errorf("readyz with the issuer down: %d, want 503: %s", a.Status, a.Body)
	}
	if a := httpCall(t, "GET", v.URL+"/healthz", "", nil); a.Status != http.StatusOK {
		t.Errorf("healthz: %d, want 200", a.Status)
	}

	issuer.publish(key)
	deadline := time.Now().Add(10 * time.Second)
	for httpCall(t, "GET", v.URL+"/readyz", "", nil).Status != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatalf("not ready 10s after the issuer came up:\n%s", v.Logs)
		}
		time.Sleep(50 * time.Millisecond)
	}

	ring := token.NewKeyring(token.NewKeySet([]*token.Key{key}, key))
	signer := token.NewSigner(ring, "https://issuer.test", "revenue-api", time.Minute, time.Now)
	raw, _, err := signer.Issue(auth.Identity{UserID: "u1", Email: "alice@example.com", OrgID: "o1", SessionID: "s1", Roles: []string{"finance"}})
	if err != nil {
		t.Fatal(err)
	}
	me := httpCall(t, "GET", v.URL+"/me", raw, nil)
	if me.Status != http.StatusOK || !strings.Contains(me.Body, `"email":"alice@example.com"`) {
		t.Errorf("/me with a token of the issuer's key: %d %s, want 200 with the claims", me.Status, me.Body)
	}

	for _, route := range []struct{ method, path string }{
		{"POST", "/login"}, {"POST", "/token/refresh"}, {"GET", "/revenue"}, {"GET", "/sessions"}, {"GET", "/.well-known/jwks.json"},
	} {
		if a := httpCall(t, route.method, v.URL+route.path, raw, map[string]string{}); a.Status != http.StatusNotFound {
			t.Errorf("%s %s in verifier-only mode: %d, want 404", route.method, route.path, a.Status)
		}
	}
	if a := httpCall(t, "GET", v.URL+"/metrics", "", nil); a.Status != http.StatusNotFound {
		t.Errorf("/metrics on the main address: %d, want 404", a.Status)
	}
	if a := httpCall(t, "GET", "http://"+metricsAddr+"/metrics", "", nil); a.Status != http.StatusOK {
		t.Errorf("/metrics on REVENUE_METRICS_ADDR: %d, want 200", a.Status)
	}
	if entries, _ := os.ReadDir(dataDir); len(entries) != 0 {
		t.Errorf("verifier-only mode wrote to REVENUE_DATA_DIR (%d entries): it must start no database and need no keys", len(entries))
	}

	// Forged kids: at most one fetch per refetch interval.
	before := issuer.count()
	start := time.Now()
	for i := range 200 {
		forged := forgeKid(t, raw, fmt.Sprintf("forged-%d", i))
		if a := httpCall(t, "GET", v.URL+"/me", forged, nil); a.Status != http.StatusUnauthorized {
			t.Fatalf("token with a forged kid: %d, want 401", a.Status)
		}
	}
	elapsed := time.Since(start)
	allowed := int(elapsed/(300*time.Millisecond)) + 1
	if got := issuer.count() - before; got > allowed {
		t.Errorf("200 forged kids over %s caused %d JWKS fetches, want at most %d (one per 300ms)", elapsed, got, allowed)
	}
	if a := httpCall(t, "GET", v.URL+"/me", raw, nil); a.Status != http.StatusOK {
		t.Errorf("a good token after the flood: %d, want 200", a.Status)
	}
}

// forgeKid swaps the kid in the token's header (the signature then fails,
// but only after the key lookup).
func forgeKid(t *testing.T, raw, kid string) string {
	t.Helper()
	header, rest, _ := strings.Cut(raw, ".")
	data, err := base64.RawURLEncoding.DecodeString(header)
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(data, &h); err != nil {
		t.Fatal(err)
	}
	h["kid"] = kid
	data, _ = json.Marshal(h)
	return base64.RawURLEncoding.EncodeToString(data) + "." + rest
}

// TestVerifierOnlyKeepsServingWhenTheIssuerGoesDown: a failed refresh
// keeps the last good set; tokens still verify.
func TestVerifierOnlyKeepsServingWhenTheIssuerGoesDown(t *testing.T) {
	key := verifierTestKey(t)
	var mu sync.Mutex
	up := true
	issuer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if !up {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		body, _ := token.MarshalJWKS(token.NewKeySet([]*token.Key{key}, nil))
		w.Header().Set("Cache-Control", "max-age=1")
		_, _ = w.Write(body)
	}))
	t.Cleanup(issuer.Close)
	v := startServeProcess(t, map[string]string{
		"REVENUE_JWKS_URL":              issuer.URL,
		"REVENUE_JWKS_REFETCH_INTERVAL": "200ms",
		"REVENUE_REVOCATION_FEED_URL":   "off",
	})
	ring := token.NewKeyring(token.NewKeySet([]*token.Key{key}, key))
	signer := token.NewSigner(ring, "http://localhost:8080", "revenue-api", time.Minute, time.Now)
	raw, _, err := signer.Issue(auth.Identity{UserID: "u1", OrgID: "o1", SessionID: "s1"})
	if err != nil {
		t.Fatal(err)
	}
	if a := httpCall(t, "GET", v.URL+"/me", raw, nil); a.Status != http.StatusOK {
		t.Fatalf("/me: %d %s", a.Status, a.Body)
	}
	mu.Lock()
	up = false
	mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(v.Logs.String(), "keeping the last good key set") {
		if time.Now().After(deadline) {
			t.Fatalf("no failed refresh logged within 10s:\n%s", v.Logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(v.Logs.String(), "status 502") {
		t.Errorf("the failed refresh's reason is not logged:\n%s", v.Logs)
	}
	if a := httpCall(t, "GET", v.URL+"/me", raw, nil); a.Status != http.StatusOK {
		t.Errorf("/me with the issuer down: %d, want 200 with the last good keys", a.Status)
	}
	if a := httpCall(t, "GET", v.URL+"/readyz", "", nil); a.Status != http.StatusOK {
		t.Errorf("/readyz with the issuer down but keys held: %d, want 200", a.Status)
	}
}

// TestVerifierRefusesWithoutItsRevocationFeed: a verifier that cannot read
// the issuer's revocation feed cannot tell a revoked token from a good one,
// so by default (REVENUE_REVOCATION_MAX_LAG) it refuses tokens with a 503
// and is not ready; with REVENUE_REVOCATION_MAX_LAG=0 it serves on.
func TestVerifierRefusesWithoutItsRevocationFeed(t *testing.T) {
	issuer := newJWKSIssuer(t) // serves keys, and 404 where the feed would be
	key := verifierTestKey(t)
	issuer.publish(key)
	ring := token.NewKeyring(token.NewKeySet([]*token.Key{key}, key))
	signer := token.NewSigner(ring, "https://issuer.test", "revenue-api", time.Minute, time.Now)
	raw, _, err := signer.Issue(auth.Identity{UserID: "u1", OrgID: "o1", SessionID: "s1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		maxLag    string
		wantMe    int
		wantReady int
	}{
		{"", http.StatusServiceUnavailable, http.StatusServiceUnavailable},
		{"0", http.StatusOK, http.StatusOK},
	} {
		t.Run("REVENUE_REVOCATION_MAX_LAG="+tt.maxLag, func(t *testing.T) {
			v := startServeProcess(t, map[string]string{
				"REVENUE_JWKS_URL":              issuer.URL + "/.well-known/jwks.json",
				"REVENUE_ISSUER":                "https://issuer.test",
				"REVENUE_REVOCATION_FEED_TOKEN": "verifier-test-feed-token-0123456789abcdef",
				"REVENUE_REVOCATION_MAX_LAG":    tt.maxLag,
			})
			me := httpCall(t, "GET", v.URL+"/me", raw, nil)
			if me.Status != tt.wantMe {
				t.Errorf("/me without the feed: %d %s, want %d", me.Status, me.Body, tt.wantMe)
			}
			if tt.wantMe == http.StatusServiceUnavailable && !strings.Contains(me.Body, `"code":"revocations_unavailable"`) {
				t.Errorf("/me without the feed: %s, want the revocations_unavailable problem", me.Body)
			}
			ready := httpCall(t, "GET", v.URL+"/readyz", "", nil)
			if ready.Status != tt.wantReady {
				t.Errorf("/readyz without the feed: %d %s, want %d", ready.Status, ready.Body, tt.wantReady)
			}
			if tt.wantReady != http.StatusOK && !strings.Contains(ready.Body, `"revocations":"failing"`) {
				t.Errorf("/readyz without the feed: %s, want the revocations check failing", ready.Body)
			}
		})
	}
}
