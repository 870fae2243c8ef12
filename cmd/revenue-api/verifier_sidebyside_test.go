package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/revenue-api/revenue-api/internal/pgtest"
	"github.com/revenue-api/revenue-api/internal/token"
)

// sideBySideFeedToken is the revocation feed secret the issuer and the verifier share.
const sideBySideFeedToken = "side-by-side-feed-token-0123456789abcdef"

// TestIssuerAndVerifierSideBySide runs an issuer and a verifier-only
// process as separate services would run: log in at one, call the other;
// rotate keys at the issuer while requests flow, and the verifier follows
// with no failed request. Short settings keep it to a few seconds of real
// time: JWKS max-age 1s, reload poll 200ms, token lifetime 4s, no leeway.
func TestIssuerAndVerifierSideBySide(t *testing.T) {
	keysDir := filepath.Join(t.TempDir(), "keys")
	issuerEnv := map[string]string{
		"DATABASE_URL":                  pgtest.NewDatabase(t),
		"REVENUE_DEMO_SEED":             "true",
		"REVENUE_KEYS_DIR":              keysDir,
		"REVENUE_WEB_DIR":               "",
		"REVENUE_JWKS_MAX_AGE":          "1s",
		"REVENUE_KEYS_RELOAD_INTERVAL":  "200ms",
		"REVENUE_ACCESS_TOKEN_TTL":      "4s",
		"REVENUE_CLOCK_LEEWAY":          "0s",
		"REVENUE_AUTH_RATE":             "1000",
		"REVENUE_AUTH_BURST":            "1000",
		"REVENUE_ARGON2_MEMORY_KIB":     "8192",
		"REVENUE_ARGON2_ITERATIONS":     "1",
		"REVENUE_REVOCATION_FEED_TOKEN": sideBySideFeedToken,
	}
	keys := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := keysCommandAt(context.Background(), args, func(k string) string { return issuerEnv[k] }, &out, time.Now)
		return out.String(), err
	}
	if out, err := keys("generate"); err != nil {
		t.Fatalf("keys generate: %v\n%s", err, out)
	}
	k1 := onlyKey(t, keysDir, token.StateCurrent)

	issuer := startServeProcess(t, issuerEnv)
	verifier := startServeProcess(t, map[string]string{
		"REVENUE_JWKS_URL":              issuer.URL + "/.well-known/jwks.json",
		"REVENUE_CLOCK_LEEWAY":          "0s",
		"REVENUE_REVOCATION_FEED_TOKEN": sideBySideFeedToken,
	})

	// Log in at the issuer, call the verifier.
	login := httpCall(t, "POST", issuer.URL+"/login", "", map[string]string{"email": "alice@example.com", "password": "alice-password-1"})
	if login.Status != http.StatusOK {
		t.Fatalf("login at the issuer: %d %s", login.Status, login.Body)
	}
	var tokens struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal([]byte(login.Body), &tokens); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the verifier accepts the issuer's token", func() bool {
		return httpCall(t, "GET", verifier.URL+"/readyz", "", nil).Status == http.StatusOK
	})
	if me := httpCall(t, "GET", verifier.URL+"/me", tokens.AccessToken, nil); me.Status != http.StatusOK || !strings.Contains(me.Body, "alice@example.com") {
		t.Fatalf("/me at the verifier with a token from the issuer: %d %s", me.Status, me.Body)
	}

	// Traffic runs through the whole rotation: each round refreshes at the
	// issuer and calls /me at both processes with the new token.
	traffic := startTraffic(t, issuer.URL, verifier.URL, tokens.RefreshToken)

	// 1. Publish: a next key appears in the issuer's JWKS, tokens still k1's.
	if out, err := keys("generate"); err != nil || !strings.Contains(out, "as next") {
		t.Fatalf("keys generate: %v\n%s", err, out)
	}
	k2 := onlyKey(t, keysDir, token.StateNext)
	eventually(t, 5*time.Second, "the issuer publishes the next key", func() bool {
		return slices.Contains(jwksKidsAt(t, issuer.URL), k2.ID)
	})
	if kid := tokenKid(t, traffic.refresh()); kid != k1.ID {
		t.Errorf("with a next key published, tokens are signed by %s, want %s", kid, k1.ID)
	}
	jwks := httpCall(t, "GET", issuer.URL+"/.well-known/jwks.json", "", nil)
	if cc := jwks.Header.Get("Cache-Control"); cc != "public, max-age=1" || jwks.Header.Get("ETag") == "" {
		t.Errorf("JWKS Cache-Control %q, ETag %q; want public, max-age=1 (REVENUE_JWKS_MAX_AGE) and an ETag", cc, jwks.Header.Get("ETag"))
	}
	req, _ := http.NewRequest(http.MethodGet, issuer.URL+"/.well-known/jwks.json", nil)
	req.Header.Set("If-None-Match", jwks.Header.Get("ETag"))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusNotModified {
		t.Errorf("JWKS revalidated with its ETag: %v %v, want 304", resp.StatusCode, err)
	} else {
		resp.Body.Close()
	}

	// 2. Sign: rotate refuses until the next key has been published for the
	// JWKS max-age (plus the reload interval), then promotes it.
	if _, err := keys("rotate"); !errors.Is(err, token.ErrTooEarly) {
		t.Fatalf("rotate right after publishing: %v, want ErrTooEarly", err)
	}
	time.Sleep(time.Until(k2.Since.Add(2 * time.Second)))
	signedBefore := traffic.refresh()
	if out, err := keys("rotate"); err != nil {
		t.Fatalf("keys rotate: %v\n%s", err, out)
	}
	rotatedAt := time.Now()
	eventually(t, 5*time.Second, "the issuer signs with the new key", func() bool {
		return tokenKid(t, traffic.refresh()) == k2.ID
	})
	if got, want := jwksKidsAt(t, issuer.URL), sorted(k1.ID, k2.ID); !slices.Equal(got, want) {
		t.Errorf("JWKS after rotation lists %v, want %v (current and retired)", got, want)
	}

	// A token signed before the rotation stays valid until it expires.
	if tokenKid(t, signedBefore) != k1.ID {
		t.Fatal("the token taken before rotation is not k1's")
	}
	for name, url := range map[string]string{"issuer": issuer.URL, "verifier": verifier.URL} {
		if a := httpCall(t, "GET", url+"/me", signedBefore, nil); a.Status != http.StatusOK {
			t.Errorf("token signed before rotation at the %s: %d %s, want 200", name, a.Status, a.Header.Get("WWW-Authenticate"))
		}
	}

	// 3. Retire: the retired key is kept until its tokens have expired.
	if out, err := keys("prune"); err != nil || !strings.Contains(out, "nothing to prune") {
		t.Fatalf("prune right after rotation: %v\n%s", err, out)
	}
	time.Sleep(time.Until(rotatedAt.Add(4*time.Second + 200*time.Millisecond + time.Second)))
	if a := httpCall(t, "GET", verifier.URL+"/me", signedBefore, nil); a.Status != http.StatusUnauthorized || !strings.Contains(a.Header.Get("WWW-Authenticate"), "expired") {
		t.Errorf("k1's token after its expiry at the verifier: %d %q, want 401 expired", a.Status, a.Header.Get("WWW-Authenticate"))
	}

	// 4. Prune: k1 leaves the JWKS, and its tokens are refused for the key.
	if out, err := keys("prune"); err != nil || !strings.Contains(out, "pruned kid "+k1.ID) {
		t.Fatalf("prune once due: %v\n%s", err, out)
	}
	eventually(t, 5*time.Second, "the issuer stops publishing the pruned key", func() bool {
		return slices.Equal(jwksKidsAt(t, issuer.URL), []string{k2.ID})
	})
	for name, url := range map[string]string{"issuer": issuer.URL, "verifier": verifier.URL} {
		eventually(t, 5*time.Second, "the "+name+" refuses the pruned key's token for its key", func() bool {
			a := httpCall(t, "GET", url+"/me", signedBefore, nil)
			return a.Status == http.StatusUnauthorized && strings.Contains(a.Header.Get("WWW-Authenticate"), "unknown key")
		})
	}

	traffic.stopAndCheck(k1.ID, k2.ID)

	// SIGHUP reloads the issuer's keys at once.
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "SIGHUP reloads the keys", func() bool {
		return strings.Contains(issuer.Logs.String(), `"trigger":"signal"`)
	})
	if strings.Contains(verifier.Logs.String(), "JWKS fetch failed") {
		t.Errorf("the verifier failed to fetch the JWKS:\n%s", verifier.Logs)
	}
}

// traffic refreshes at the issuer and calls /me at the issuer and the
// verifier in a loop, recording every failure and every kid it saw.
type traffic struct {
	t                    *testing.T
	issuerURL, verifyURL string
	mu                   sync.Mutex
	refreshToken         string
	rounds               int
	failures             []string
	kids                 map[string]int
	stop                 chan struct{}
	done                 chan struct{}
}

func startTraffic(t *testing.T, issuerURL, verifyURL, refreshToken string) *traffic {
	tr := &traffic{t: t, issuerURL: issuerURL, verifyURL: verifyURL, refreshToken: refreshToken,
		kids: map[string]int{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(tr.done)
		for {
			select {
			case <-tr.stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			tr.round()
		}
	}()
	t.Cleanup(func() {
		select {
		case <-tr.stop:
		default:
			close(tr.stop)
		}
		<-tr.done
	})
	return tr
}

// refresh spends the session's refresh token and returns a new access token.
func (tr *traffic) refresh() string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.refreshLocked()
}

func (tr *traffic) refreshLocked() string {
	body, _ := json.Marshal(map[string]string{"refresh_token": tr.refreshToken})
	resp, err := http.Post(tr.issuerURL+"/token/refresh", "application/json", bytes.NewReader(body))
	if err != nil {
		tr.failures = append(tr.failures, "refresh: "+err.Error())
		return ""
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&out) != nil {
		tr.failures = append(tr.failures, fmt.Sprintf("refresh: status %d", resp.StatusCode))
		return ""
	}
	tr.refreshToken = out.RefreshToken
	return out.AccessToken
}

func (tr *traffic) round() {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	access := tr.refreshLocked()
	if access == "" {
		return
	}
	tr.rounds++
	tr.kids[tokenKid(tr.t, access)]++
	for name, url := range map[string]string{"issuer": tr.issuerURL, "verifier": tr.verifyURL} {
		req, _ := http.NewRequest(http.MethodGet, url+"/me", nil)
		req.Header.Set("Authorization", "Bearer "+access)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			tr.failures = append(tr.failures, name+" /me: "+err.Error())
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			tr.failures = append(tr.failures, fmt.Sprintf("%s /me with kid %s: %d %s", name, tokenKid(tr.t, access), resp.StatusCode, resp.Header.Get("WWW-Authenticate")))
		}
	}
}

// stopAndCheck ends the traffic and fails the test on any failed request,
// or if the traffic did not span both keys.
func (tr *traffic) stopAndCheck(kids ...string) {
	tr.t.Helper()
	close(tr.stop)
	<-tr.done
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if len(tr.failures) > 0 {
		tr.t.Errorf("%d of %d rounds failed during the rotation, want none; the first:\n%s",
			len(tr.failures), tr.rounds, strings.Join(tr.failures[:min(10, len(tr.failures))], "\n"))
	}
	for _, kid := range kids {
		if tr.kids[kid] == 0 {
			tr.t.Errorf("no traffic with tokens of kid %s (saw %v): the traffic did not span the rotation", kid, tr.kids)
		}
	}
}

func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func jwksKidsAt(t *testing.T, base string) []string {
	t.Helper()
	a := httpCall(t, "GET", base+"/.well-known/jwks.json", "", nil)
	if a.Status != http.StatusOK {
		t.Fatalf("JWKS: %d", a.Status)
	}
	ks, err := token.ParseJWKS([]byte(a.Body))
	if err != nil {
		t.Fatalf("the issuer's JWKS: %v", err)
	}
	var out []string
	for _, k := range ks.Keys() {
		out = append(out, k.ID)
	}
	slices.Sort(out)
	return out
}

func sorted(s ...string) []string {
	slices.Sort(s)
	return s
}

// tokenKid reads the kid from a token's header.
func tokenKid(t *testing.T, raw string) string {
	header, _, _ := strings.Cut(raw, ".")
	data, err := base64.RawURLEncoding.DecodeString(header)
	if err != nil {
		t.Errorf("token header: %v", err)
		return ""
	}
	var h struct {
		Kid string `json:"kid"`
	}
	_ = json.Unmarshal(data, &h)
	return h.Kid
}
