package httpapi_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/revenue-api/revenue-api/internal/apitest"
	"github.com/revenue-api/revenue-api/internal/config"
	"github.com/revenue-api/revenue-api/internal/revocation"
	"github.com/revenue-api/revenue-api/internal/token"
)

const testFeedToken = "feed-token-for-the-httpapi-tests-0123456789"

func withFeed(c *config.Config) { c.RevocationFeedToken = testFeedToken }

// wantRevoked checks a 401 that says the token was revoked (RFC 6750
// error_description), and nothing more.
func wantRevoked(t *testing.T, resp apitest.Response, what string) {
	t.Helper()
	if resp.Code != http.StatusUnauthorized {
		t.Fatalf("%s: got %d %s, want 401", what, resp.Code, resp.Body.String())
	}
	challenge := resp.Header().Get("WWW-Authenticate")
	if !strings.Contains(challenge, `error="invalid_token"`) || !strings.Contains(challenge, `error_description="the access token was revoked"`) {
		t.Fatalf("%s: WWW-Authenticate %q, want invalid_token saying it was revoked", what, challenge)
	}
	if code := resp.ProblemCode(t); code != "invalid_token" {
		t.Fatalf("%s: problem code %q, want invalid_token", what, code)
	}
}

func TestRevokedTokensAreRefused(t *testing.T) {
	for _, cache := range []int{0, 1000} {
		name := "cache off"
		if cache > 0 {
			name = "cache on: a cached token whose session ended is refused"
		}
		t.Run(name, func(t *testing.T) {
			env := apitest.New(t, func(c *config.Config) { c.TokenCache = cache })
			me := func(tok string) apitest.Response {
				return env.Do(apitest.Request{Method: http.MethodGet, Path: "/me", Token: tok})
			}
			t.Run("logout", func(t *testing.T) {
				tk := env.Login(apitest.AliceEmail, apitest.AlicePassword)
				other := env.Login(apitest.AliceEmail, apitest.AlicePassword)
				for range 2 { // with the cache on, the second is a hit
					if resp := me(tk.AccessToken); resp.Code != 200 {
						t.Fatalf("a fresh token: %d, want 200", resp.Code)
					}
				}
				env.Do(apitest.Request{Method: http.MethodPost, Path: "/logout", Token: tk.AccessToken})
				wantRevoked(t, me(tk.AccessToken), "after logout")
				if resp := me(other.AccessToken); resp.Code != 200 {
					t.Fatalf("another session of the same user: %d, want 200", resp.Code)
				}
			})
			t.Run("end one session", func(t *testing.T) {
				victim := env.Login(apitest.AliceEmail, apitest.AlicePassword)
				other := env.Login(apitest.AliceEmail, apitest.AlicePassword)
				me(victim.AccessToken)
				sid := sessionOf(t, env, victim.AccessToken)
				if resp := env.Do(apitest.Request{Method: http.MethodDelete, Path: "/sessions/" + sid, Token: other.AccessToken}); resp.Code != 204 {
					t.Fatalf("delete session: %d %s", resp.Code, resp.Body)
				}
				wantRevoked(t, me(victim.AccessToken), "after DELETE /sessions/{id}")
				if resp := me(other.AccessToken); resp.Code != 200 {
					t.Fatalf("the session that ended the other: %d, want 200", resp.Code)
				}
				// An operator ends one session by its id.
				if _, err := env.Auth.EndSessionsOf(context.Background(), apitest.AliceEmail, sessionOf(t, env, other.AccessToken)); err != nil {
					t.Fatal(err)
				}
				wantRevoked(t, me(other.AccessToken), "after an operator ended the session")
				alices := env.Login(apitest.AliceEmail, apitest.AlicePassword)
				if _, err := env.Auth.EndSessionsOf(context.Background(), apitest.BobEmail, sessionOf(t, env, alices.AccessToken)); err == nil {
					t.Fatal("ending alice's session as bob's must fail")
				}
				if resp := me(alices.AccessToken); resp.Code != 200 {
					t.Fatalf("alice's session after a refused end: %d, want 200", resp.Code)
				}
			})
			t.Run("refresh token reuse", func(t *testing.T) {
				tk := env.Login(apitest.BobEmail, apitest.BobPassword)
				next := env.Refresh(env.Refresh(tk.RefreshToken).RefreshToken) // the first token's successor is presented
				me(next.AccessToken)
				if resp := env.Do(apitest.Request{Method: http.MethodPost, Path: "/token/refresh",
					Body: map[string]string{"refresh_token": tk.RefreshToken}}); resp.Code != 401 {
					t.Fatalf("reuse: %d, want 401", resp.Code)
				}
				wantRevoked(t, me(next.AccessToken), "after reuse detection")
			})
			t.Run("logout everywhere revokes every token of the user, and a new login works", func(t *testing.T) {
				a := env.Login(apitest.AliceEmail, apitest.AlicePassword)
				b := env.Login(apitest.AliceEmail, apitest.AlicePassword)
				bob := env.Login(apitest.BobEmail, apitest.BobPassword)
				me(a.AccessToken)
				if resp := env.Do(apitest.Request{Method: http.MethodPost, Path: "/logout/all", Token: b.AccessToken}); resp.Code != 204 {
					t.Fatalf("logout/all: %d", resp.Code)
				}
				wantRevoked(t, me(a.AccessToken), "first session after logout/all")
				wantRevoked(t, me(b.AccessToken), "second session after logout/all")
				if resp := me(bob.AccessToken); resp.Code != 200 {
					t.Fatalf("another user's token: %d, want 200", resp.Code)
				}
				// The revocation holds for tokens issued before its whole
				// second; a login after it gets a good token.
				env.Clock.Advance(time.Second)
				fresh := env.Login(apitest.AliceEmail, apitest.AlicePassword)
				if resp := me(fresh.AccessToken); resp.Code != 200 {
					t.Fatalf("a login after logout/all: %d %s, want 200", resp.Code, resp.Body)
				}
			})
			t.Run("disable, password and roles changes revoke the user's tokens", func(t *testing.T) {
				ctx := context.Background()
				for _, change := range []struct {
					name string
					do   func() error
				}{
					{"roles", func() error { return env.Auth.SetRoles(ctx, apitest.AliceEmail, []string{"finance"}) }},
					{"password", func() error { return env.Auth.SetPassword(ctx, apitest.AliceEmail, apitest.AlicePassword) }},
					{"operator logout", func() error { _, err := env.Auth.EndSessionsOf(ctx, apitest.AliceEmail, ""); return err }},
					{"disable", func() error { return env.Auth.SetDisabled(ctx, apitest.AliceEmail, true) }},
				} {
					env.Clock.Advance(time.Second)
					tk := env.Login(apitest.AliceEmail, apitest.AlicePassword)
					me(tk.AccessToken)
					if err := change.do(); err != nil {
						t.Fatalf("%s: %v", change.name, err)
					}
					wantRevoked(t, me(tk.AccessToken), "after the "+change.name+" change")
				}
			})
		})
	}
}

func TestRevocationsExpireWithTheTokensTheyRefuse(t *testing.T) {
	env := apitest.New(t)
	tk := env.Login(apitest.AliceEmail, apitest.AlicePassword)
	env.Do(apitest.Request{Method: http.MethodPost, Path: "/logout", Token: tk.AccessToken})
	if env.Revocations.Len() != 1 {
		t.Fatalf("live revocations: %d, want 1", env.Revocations.Len())
	}
	life := env.Config.AccessTokenTTL + env.Config.ClockLeeway
	if n := env.Revocations.Prune(env.Clock.Now().Add(life)); n != 0 {
		t.Fatalf("pruned %d before the token could have expired, want 0", n)
	}
	env.Clock.Advance(life + 2*time.Minute)
	if n := env.Revocations.Prune(env.Clock.Now()); n != 1 || env.Revocations.Len() != 0 {
		t.Fatalf("pruned %d (live %d) after every token expired, want 1 (0)", n, env.Revocations.Len())
	}
	if n, err := env.DB.PruneRevocations(context.Background(), env.Clock.Now()); err != nil || n != 1 {
		t.Fatalf("database prune: %d, %v; want 1 row", n, err)
	}
}

func TestStaleRevocationStateRefusesTokens(t *testing.T) {
	env := apitest.New(t)
	tk := env.Login(apitest.AliceEmail, apitest.AlicePassword)
	stale := revocation.NewSet(10 * time.Second) // never confirmed
	h := env.WithRevocations(stale)
	resp := env.DoWith(h, apitest.Request{Method: http.MethodGet, Path: "/me", Token: tk.AccessToken})
	if resp.Code != http.StatusServiceUnavailable || resp.ProblemCode(t) != "revocations_unavailable" || resp.Header().Get("Retry-After") == "" {
		t.Fatalf("stale state: got %d %s (Retry-After %q), want 503 revocations_unavailable with Retry-After",
			resp.Code, resp.Body, resp.Header().Get("Retry-After"))
	}
	stale.CatchUp(env.Clock.Now(), nil, 1)
	if resp := env.DoWith(h, apitest.Request{Method: http.MethodGet, Path: "/me", Token: tk.AccessToken}); resp.Code != 200 {
		t.Fatalf("confirmed state: got %d, want 200", resp.Code)
	}
}

func TestRevocationFeed(t *testing.T) {
	env := apitest.New(t, withFeed)
	feed := func(bearer, query string) apitest.Response {
		return env.Do(apitest.Request{Method: http.MethodGet, Path: "/revocations" + query, Token: bearer})
	}
	t.Run("refuses readers without the feed token", func(t *testing.T) {
		tk := env.Login(apitest.AliceEmail, apitest.AlicePassword)
		for _, bearer := range []string{"", "wrong", tk.AccessToken, testFeedToken + "x"} {
			if resp := feed(bearer, ""); resp.Code != 401 || resp.ProblemCode(t) != "invalid_token" {
				t.Fatalf("bearer %.10q: got %d %s, want 401 invalid_token", bearer, resp.Code, resp.Body)
			}
		}
	})
	t.Run("a malformed cursor is a 400", func(t *testing.T) {
		for _, q := range []string{"?cursor=x", "?cursor=-1", "?cursor=99999999999999999999999"} {
			if resp := feed(testFeedToken, q); resp.Code != 400 {
				t.Fatalf("%s: got %d, want 400", q, resp.Code)
			}
		}
	})
	t.Run("pages are signed by the issuer and carry the revocations", func(t *testing.T) {
		tk := env.Login(apitest.AliceEmail, apitest.AlicePassword)
		sid := sessionOf(t, env, tk.AccessToken)
		env.Do(apitest.Request{Method: http.MethodPost, Path: "/logout", Token: tk.AccessToken})
		resp := feed(testFeedToken, "?cursor=0")
		if resp.Code != 200 || resp.Header().Get("Content-Type") != "application/jwt" || resp.Header().Get("Cache-Control") != "no-store" {
			t.Fatalf("feed: %d %q %q", resp.Code, resp.Header().Get("Content-Type"), resp.Header().Get("Cache-Control"))
		}
		page, err := token.ParseRevocations(resp.Body.String(), env.Keyring, env.Config.Issuer, env.Config.ClockLeeway, env.Clock.Now)
		if err != nil {
			t.Fatalf("the page does not verify with the issuer's keys: %v", err)
		}
		found := false
		for _, r := range page.Revocations {
			found = found || (r.Kind == revocation.KindSession && r.Subject == sid)
		}
		if !found {
			t.Fatalf("the logout's session %s is not in the page: %+v", sid, page.Revocations)
		}
		// Signed for another issuer, or altered, it is refused.
		if _, err := token.ParseRevocations(resp.Body.String(), env.Keyring, "https://other.example", env.Config.ClockLeeway, env.Clock.Now); err == nil {
			t.Fatal("a page from another issuer must be refused")
		}
		if _, err := token.ParseRevocations(resp.Body.String()+"x", env.Keyring, env.Config.Issuer, env.Config.ClockLeeway, env.Clock.Now); err == nil {
			t.Fatal("an altered page must be refused")
		}
		// An access token is not a feed page, whatever its signature.
		if _, err := token.ParseRevocations(tk.AccessToken, env.Keyring, env.Config.Issuer, env.Config.ClockLeeway, env.Clock.Now); err == nil {
			t.Fatal("an access token must not pass for a feed page")
		}
	})
	t.Run("a long poll answers 304 when nothing changes and wakes at a revocation", func(t *testing.T) {
		first := feed(testFeedToken, "?cursor=0")
		tag := first.Header().Get("ETag")
		if first.Code != 200 || tag == "" {
			t.Fatalf("first page: %d, ETag %q", first.Code, tag)
		}
		poll := func(query string) apitest.Response {
			return env.Do(apitest.Request{Method: http.MethodGet, Path: "/revocations" + query, Token: testFeedToken,
				Header: http.Header{"If-None-Match": {tag}}})
		}
		if resp := poll("?cursor=0"); resp.Code != http.StatusNotModified || resp.Body.Len() != 0 {
			t.Fatalf("same page without wait: %d (%d bytes), want an empty 304", resp.Code, resp.Body.Len())
		}
		start := time.Now()
		if resp := poll("?cursor=0&wait=1"); resp.Code != http.StatusNotModified || time.Since(start) < 900*time.Millisecond {
			t.Fatalf("same page with wait=1: %d after %s, want 304 after about 1s", resp.Code, time.Since(start))
		}
		tk := env.Login(apitest.AliceEmail, apitest.AlicePassword)
		answered := make(chan apitest.Response, 1)
		start = time.Now()
		go func() { answered <- poll("?cursor=0&wait=10") }()
		time.Sleep(200 * time.Millisecond)
		env.Do(apitest.Request{Method: http.MethodPost, Path: "/logout", Token: tk.AccessToken})
		select {
		case resp := <-answered:
			if resp.Code != 200 || resp.Header().Get("ETag") == tag {
				t.Fatalf("after a logout: %d, ETag %q; want a new page", resp.Code, resp.Header().Get("ETag"))
			}
			if waited := time.Since(start); waited > 2*time.Second {
				t.Fatalf("the long poll answered %s after it began: it did not wake at the revocation", waited)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the long poll did not wake at a revocation")
		}
		for _, q := range []string{"?wait=11", "?wait=-1", "?wait=x"} {
			if resp := feed(testFeedToken, q); resp.Code != 400 {
				t.Fatalf("%s: %d, want 400", q, resp.Code)
			}
		}
	})
	t.Run("without a feed token configured there is no feed", func(t *testing.T) {
		plain := apitest.New(t)
		if resp := plain.Do(apitest.Request{Method: http.MethodGet, Path: "/revocations", Token: testFeedToken}); resp.Code != 404 {
			t.Fatalf("got %d, want 404", resp.Code)
		}
	})
}

// A verifier that starts while more revocations are live than a page holds
// reads them in pages, and its set counts as complete only after the last.
func TestRevocationFeedInPages(t *testing.T) {
	env := apitest.New(t, withFeed)
	env.Feed.PageSize = 4
	now := env.Clock.Now()
	const n = 22
	var revs []revocation.Revocation
	for i := range n {
		revs = append(revs, revocation.Revocation{ID: int64(1000 + i), XID: uint64(5000 + i), Kind: revocation.KindSession,
			Subject: fmt.Sprintf("%08x-0000-4000-8000-00000000feed", i), Reason: "logout",
			NotBefore: now, RevokedAt: now, ExpiresAt: now.Add(time.Hour)})
	}
	env.Revocations.CatchUp(now, revs, 6000)

	srv := httptest.NewServer(env.Handler)
	t.Cleanup(srv.Close)
	reader := revocation.NewSet(time.Minute)
	poller := &token.FeedPoller{URL: srv.URL + "/revocations", Token: testFeedToken, Issuer: env.Config.Issuer, Keys: env.Keyring,
		Set: reader, Interval: time.Second, LongPoll: 10 * time.Second, Timeout: 5 * time.Second, Leeway: env.Config.ClockLeeway,
		Client: srv.Client(), Log: slog.New(slog.DiscardHandler), Now: env.Clock.Now}

	if err := poller.Poll(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := len(reader.Since(0, now, 0).Revocations); got != 4 || !reader.Stale(now) {
		t.Fatalf("after the first page: %d revocations, stale %v; want 4 and not yet confirmed", got, reader.Stale(now))
	}
	if err := poller.CatchUp(t.Context()); err != nil {
		t.Fatal(err)
	}
	page := reader.Since(0, now, 0)
	if len(page.Revocations) != n || page.Cursor != 6000 || reader.Stale(now) {
		t.Fatalf("after the catch-up: %d revocations up to %d, stale %v; want all %d up to 6000, confirmed",
			len(page.Revocations), page.Cursor, reader.Stale(now), n)
	}
	for _, r := range revs {
		if err := reader.Check(r.Subject, "0b1f1d7e-6b1c-4a0c-8d8f-2f3c0e9b7a55", now, now); !errors.Is(err, revocation.ErrRevoked) {
			t.Fatalf("session %s: %v, want revoked", r.Subject, err)
		}
	}

	// A page with more to follow is never answered 304, which would
	// confirm a reader that lacks the rest: named again, it comes again.
	first := env.Do(apitest.Request{Method: http.MethodGet, Path: "/revocations?cursor=0", Token: testFeedToken})
	got, err := token.ParseRevocations(first.Body.String(), env.Keyring, env.Config.Issuer, env.Config.ClockLeeway, env.Clock.Now)
	if err != nil || !got.More || len(got.Revocations) != 4 {
		t.Fatalf("first page: %+v, %v; want 4 revocations and more", got, err)
	}
	again := env.Do(apitest.Request{Method: http.MethodGet, Path: "/revocations?cursor=0", Token: testFeedToken,
		Header: http.Header{"If-None-Match": {first.Header().Get("ETag")}}})
	if again.Code != http.StatusOK || again.Header().Get("ETag") != first.Header().Get("ETag") {
		t.Fatalf("the same page with more to follow, named in If-None-Match: %d, want 200 and the same page", again.Code)
	}
}

// Verifiers that wake at the same revocation ask for the same page: it is
// signed once for all of them, and again once the reuse period is over.
func TestRevocationFeedSignsAPageOnce(t *testing.T) {
	env := apitest.New(t, withFeed)
	var signatures atomic.Int32
	sign := env.Feed.Sign
	env.Feed.Sign = func(p revocation.Page) (string, error) {
		signatures.Add(1)
		return sign(p)
	}
	read := func() apitest.Response {
		return env.Do(apitest.Request{Method: http.MethodGet, Path: "/revocations?cursor=0", Token: testFeedToken})
	}
	tk := env.Login(apitest.AliceEmail, apitest.AlicePassword)
	env.Do(apitest.Request{Method: http.MethodPost, Path: "/logout", Token: tk.AccessToken})

	const readers = 20
	answers := make(chan apitest.Response, readers)
	var wg sync.WaitGroup
	for range readers {
		wg.Go(func() { answers <- read() })
	}
	wg.Wait()
	close(answers)
	var body string
	for resp := range answers {
		if resp.Code != 200 || (body != "" && resp.Body.String() != body) {
			t.Fatalf("reader: %d; want 200 and the same page as the others", resp.Code)
		}
		body = resp.Body.String()
	}
	if n := signatures.Load(); n != 1 {
		t.Fatalf("%d readers of the same page: %d signatures, want 1", readers, n)
	}
	// A new revocation makes a new page, signed once.
	tk = env.Login(apitest.AliceEmail, apitest.AlicePassword)
	env.Do(apitest.Request{Method: http.MethodPost, Path: "/logout", Token: tk.AccessToken})
	if resp := read(); resp.Code != 200 || resp.Body.String() == body || signatures.Load() != 2 {
		t.Fatalf("after another logout: %d, %d signatures; want a new page, 2 signatures", resp.Code, signatures.Load())
	}
	body = read().Body.String()
	// Past the reuse period the same page is signed again, with a new iat.
	env.Clock.Advance(11 * time.Second)
	if resp := read(); resp.Code != 200 || resp.Body.String() == body || signatures.Load() != 3 {
		t.Fatalf("11 s later: %d, %d signatures; want the page signed again (3)", resp.Code, signatures.Load())
	}
	// A new signing key signs the same page anew at once: the old key may
	// be on its way out of the JWKS.
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	next := &token.Key{ID: token.Thumbprint(&priv.PublicKey), Public: &priv.PublicKey, Private: priv}
	env.Keyring.Replace(token.NewKeySet([]*token.Key{env.Key, next}, next))
	resp := read()
	var header struct{ Kid string }
	head, _, _ := strings.Cut(resp.Body.String(), ".")
	if raw, err := base64.RawURLEncoding.DecodeString(head); err != nil || json.Unmarshal(raw, &header) != nil {
		t.Fatalf("page %q: no JOSE header", resp.Body.String())
	}
	if resp.Code != 200 || header.Kid != next.ID || signatures.Load() != 4 {
		t.Fatalf("after a key rotation: %d, kid %q, %d signatures; want the page signed with the new key %q (4)",
			resp.Code, header.Kid, signatures.Load(), next.ID)
	}
}

// A replica whose revocation state goes stale while it holds a long poll
// says so when the wait ends, instead of vouching for the reader's page.
func TestRevocationFeedLongPollEndsStale(t *testing.T) {
	env := apitest.New(t, withFeed)
	set := revocation.NewSet(2 * time.Second)
	set.CatchUp(env.Clock.Now(), nil, 10)
	h := env.WithRevocations(set)
	first := env.DoWith(h, apitest.Request{Method: http.MethodGet, Path: "/revocations?cursor=10", Token: testFeedToken})
	if first.Code != 200 {
		t.Fatalf("first page: %d", first.Code)
	}
	go func() {
		time.Sleep(200 * time.Millisecond)
		env.Clock.Advance(5 * time.Second) // no confirmation comes meanwhile
	}()
	resp := env.DoWith(h, apitest.Request{Method: http.MethodGet, Path: "/revocations?cursor=10&wait=1", Token: testFeedToken,
		Header: http.Header{"If-None-Match": {first.Header().Get("ETag")}}})
	if resp.Code != http.StatusServiceUnavailable || resp.ProblemCode(t) != "revocations_unavailable" {
		t.Fatalf("long poll that outlived the replica's confirmation: %d %s, want 503 revocations_unavailable", resp.Code, resp.Body.String())
	}
}

// sessionOf returns the sid of an access token, as the verifier reads it.
func sessionOf(t *testing.T, env *apitest.Env, access string) string {
	t.Helper()
	p, err := env.FullVerifier.Verify(access)
	if err != nil {
		t.Fatal(err)
	}
	return p.SessionID
}
