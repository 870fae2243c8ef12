package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/revenue-api/revenue-api/internal/auth"
	"github.com/revenue-api/revenue-api/internal/httpapi"
	"github.com/revenue-api/revenue-api/internal/revocation"
	"github.com/revenue-api/revenue-api/internal/token"
)

// A wait outside 0..10 seconds is refused with one and the same 400,
// however large: a count of seconds that overflows when made a duration
// must not pass for a short (or negative) wait.
func TestRevocationFeedRefusesAWaitOutOfRange(t *testing.T) {
	set := revocation.NewSet(time.Minute)
	set.CatchUp(time.Now(), nil, 1)
	h := newFeedServer(t, set, func(revocation.Page) (string, error) { return "signed", nil })
	ask := func(wait string) (int, httpapi.Problem) {
		req := httptest.NewRequest(http.MethodGet, "/revocations?cursor=0&wait="+wait, nil)
		req.Header.Set("Authorization", "Bearer "+testFeedToken)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var p httpapi.Problem
		if rec.Code != http.StatusOK {
			if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
				t.Fatalf("wait=%s: %d %q is not a problem body: %v", wait, rec.Code, rec.Body, err)
			}
		}
		return rec.Code, p
	}
	_, want := ask("11")
	if want.Code != "invalid_parameter" {
		t.Fatalf("wait=11: problem %+v, want invalid_parameter", want)
	}
	for _, wait := range []string{"-1", "9223372036", "9223372037", "18446744073", "9223372036854775807", "9223372036854775808", "1.5"} {
		t.Run("wait="+wait, func(t *testing.T) {
			code, got := ask(wait)
			if code != http.StatusBadRequest || got.Code != want.Code || got.Detail != want.Detail {
				t.Errorf("got %d %+v, want 400 %q %q as for wait=11", code, got, want.Code, want.Detail)
			}
		})
	}
	for _, wait := range []string{"0", "10"} {
		if code, p := ask(wait); code != http.StatusOK {
			t.Errorf("wait=%s: %d %+v, want 200", wait, code, p)
		}
	}
}

// A verifier whose REVENUE_REVOCATION_MAX_LAG is shorter than the feed's
// longest wait (10 s) stays confirmed while the issuer is healthy and
// nothing is revoked: it asks for a wait that fits its bound, so no token
// is refused as stale between two answers. A real poller against the real
// feed handler, with the settings REVENUE_REVOCATION_POLL=250ms,
// REVENUE_REVOCATION_MAX_LAG=4s, REVENUE_JWKS_FETCH_TIMEOUT=250ms: it asks
// for 1 s, and leaves 3 s for a busy machine.
func TestFeedPollerStaysConfirmedWithAShortMaxLag(t *testing.T) {
	ring, signer := feedKeys(t)
	issuer := revocation.NewSet(time.Minute)
	issuer.CatchUp(time.Now(), nil, 1)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() { // the issuer's listener, confirming its own set
		for ctx.Err() == nil {
			issuer.Confirm(time.Now())
			time.Sleep(100 * time.Millisecond)
		}
	}()
	srv := httptest.NewServer(newFeedServer(t, issuer, signer.SignRevocations))
	t.Cleanup(srv.Close)

	const maxLag = 4 * time.Second
	verifier := revocation.NewSet(maxLag)
	poller := &token.FeedPoller{URL: srv.URL + "/revocations", Token: testFeedToken, Issuer: "https://issuer.example", Keys: ring,
		Set: verifier, Interval: 250 * time.Millisecond, LongPoll: 10 * time.Second, Timeout: 250 * time.Millisecond,
		Leeway: 30 * time.Second, Client: srv.Client(), Log: slog.New(slog.DiscardHandler), Now: time.Now}
	if err := poller.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	go poller.Run(ctx)

	// Longer than maxLag and a wait: with a 10 s wait the set went stale 4 s in.
	var worst time.Duration
	for end := time.Now().Add(maxLag + 2*time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		now := time.Now()
		worst = max(worst, verifier.Lag(now))
		if err := verifier.Check("", "", now, now); errors.Is(err, revocation.ErrStale) {
			t.Fatalf("the verifier refused tokens as stale (lag %s, max %s) while the issuer was healthy", verifier.Lag(now), maxLag)
		}
	}
	t.Logf("largest lag seen: %s (max %s)", worst, maxLag)
}

// feedKeys are an issuer's keyring of one key and its signer.
func feedKeys(t *testing.T) (*token.Keyring, *token.Signer) {
	t.Helper()
	k, err := token.Generate(t.TempDir(), token.MinKeyBits, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ring := token.NewKeyring(token.NewKeySet([]*token.Key{k}, k))
	return ring, token.NewSigner(ring, "https://issuer.example", "revenue-api", 15*time.Minute, time.Now)
}

// newFeedServer is the real router with nothing but the revocation feed of
// set, signed by sign: no database, no token is accepted.
func newFeedServer(t *testing.T, set *revocation.Set, sign func(revocation.Page) (string, error)) http.Handler {
	t.Helper()
	h, err := httpapi.NewServer(httpapi.Deps{Log: slog.New(slog.DiscardHandler), Now: time.Now, Verifier: refuseAll{},
		Revocations: set, Feed: &httpapi.RevocationFeed{Token: testFeedToken, Sign: sign}})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// refuseAll is a verifier that accepts no access token.
type refuseAll struct{}

func (refuseAll) Verify(string) (auth.Principal, error) {
	return auth.Principal{}, errors.New("no access token is accepted here")
}

// TestVerifierTakesTheIssuersLag: a verifier is as fresh as what its
// issuer answers, not as the answer: an issuer that keeps serving with a
// stale set (REVENUE_REVOCATION_MAX_LAG=0: it never refuses for it) says
// how stale in Revocations-Lag, and a verifier with a bound goes stale with
// it instead of vouching for it; one that confirmed just now keeps the
// verifier fresh. Pages and 304s alike.
func TestVerifierTakesTheIssuersLag(t *testing.T) {
	ring, signer := feedKeys(t)
	for _, c := range []struct {
		issuerLag time.Duration
		stale     bool
	}{{0, false}, {90 * time.Second, true}} {
		issuer := revocation.NewSet(0) // never refuses for staleness itself
		issuer.CatchUp(time.Now().Add(-c.issuerLag), nil, 1)
		srv := httptest.NewServer(newFeedServer(t, issuer, signer.SignRevocations))
		verifier := revocation.NewSet(time.Minute)
		poller := &token.FeedPoller{URL: srv.URL + "/revocations", Token: testFeedToken, Issuer: "https://issuer.example", Keys: ring,
			Set: verifier, Interval: time.Second, Timeout: time.Second, Leeway: 30 * time.Second, Client: srv.Client(),
			Log: slog.New(slog.DiscardHandler), Now: time.Now}
		for _, answer := range []string{"a page", "a 304"} {
			if err := poller.Poll(t.Context()); err != nil {
				t.Fatal(err)
			}
			if got := verifier.Stale(time.Now()); got != c.stale {
				t.Errorf("issuer confirmed %s ago, after %s: verifier stale %v (lag %s), want %v",
					c.issuerLag, answer, got, verifier.Lag(time.Now()).Round(time.Second), c.stale)
			}
		}
		srv.Close()
	}
}

// TestVerifierStartsOverWhenTheIssuersDatabaseChanges: after a failover (or
// a crash restart) the issuer's database may commit a revocation under a
// transaction id below a verifier's cursor. The issuer's replica reads it
// (it reads everything on a new connection) and names the database's new
// incarnation in its pages; a verifier whose cursor came from the old one
// reads everything again, and so gets the revocation.
func TestVerifierStartsOverWhenTheIssuersDatabaseChanges(t *testing.T) {
	ring, signer := feedKeys(t)
	issuer := revocation.NewSet(0)
	issuer.SetSource("00000001@before")
	now := time.Now()
	rev := func(id int64, xid uint64, sid string) revocation.Revocation {
		return revocation.Revocation{ID: id, XID: xid, Kind: revocation.KindSession, Subject: sid, Reason: "logout",
			NotBefore: now, RevokedAt: now, ExpiresAt: now.Add(time.Hour)}
	}
	issuer.CatchUp(now, []revocation.Revocation{rev(1, 800, "00000000-0000-4000-8000-000000000001")}, 900)
	srv := httptest.NewServer(newFeedServer(t, issuer, signer.SignRevocations))
	t.Cleanup(srv.Close)
	verifier := revocation.NewSet(time.Minute)
	poller := &token.FeedPoller{URL: srv.URL + "/revocations", Token: testFeedToken, Issuer: "https://issuer.example", Keys: ring,
		Set: verifier, Interval: time.Second, Timeout: time.Second, Leeway: 30 * time.Second, Client: srv.Client(),
		Log: slog.New(slog.DiscardHandler), Now: time.Now}
	if err := poller.CatchUp(t.Context()); err != nil || verifier.Watermark() != 900 {
		t.Fatalf("first catch-up: watermark %d, %v; want 900", verifier.Watermark(), err)
	}

	// The promoted standby: a logout under the reused id 745.
	const reused = "00000000-0000-4000-8000-0000000000aa"
	issuer.SetSource("00000002@after")
	issuer.CatchUp(now, []revocation.Revocation{rev(2, 745, reused)}, 950)
	if err := poller.CatchUp(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := verifier.Check(reused, "u", now, now); !errors.Is(err, revocation.ErrRevoked) {
		t.Errorf("the revocation under a reused id, after the issuer's database changed: %v, want revoked", err)
	}
	if verifier.Watermark() != 950 {
		t.Errorf("verifier watermark %d, want 950", verifier.Watermark())
	}
}

// TestVerifierIgnoresAnOlderSource: behind a load balancer, replicas that
// have not yet reconnected to the new database server still answer with the
// old run's source, and replicas of an older release with none. A verifier
// that has moved to the newer source neither starts over for them (it would
// go back and forth and never finish) nor takes their cursor; one without
// a source on either side goes on as before.
func TestVerifierIgnoresAnOlderSource(t *testing.T) {
	ring, signer := feedKeys(t)
	now := time.Now()
	rev := func(id int64, xid uint64, sid string) revocation.Revocation {
		return revocation.Revocation{ID: id, XID: xid, Kind: revocation.KindSession, Subject: sid, Reason: "logout",
			NotBefore: now, RevokedAt: now, ExpiresAt: now.Add(time.Hour)}
	}
	older, newer, unnamed := revocation.NewSet(0), revocation.NewSet(0), revocation.NewSet(0)
	older.SetSource("00000001@2026-11-27T10:00:00.000000Z")
	newer.SetSource("00000002@2026-11-27T09:00:00.000000Z") // promoted: a later timeline, an earlier start
	older.CatchUp(now, []revocation.Revocation{rev(1, 800, "00000000-0000-4000-8000-000000000001")}, 900)
	newer.CatchUp(now, []revocation.Revocation{rev(2, 745, "00000000-0000-4000-8000-000000000002")}, 950)
	unnamed.CatchUp(now, []revocation.Revocation{rev(2, 745, "00000000-0000-4000-8000-000000000002")}, 950)
	servers := map[string]*httptest.Server{}
	for name, set := range map[string]*revocation.Set{"older": older, "newer": newer, "unnamed": unnamed} {
		servers[name] = httptest.NewServer(newFeedServer(t, set, signer.SignRevocations))
		t.Cleanup(servers[name].Close)
	}
	var next string // which replica the balancer sends the next poll to
	balancer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u := servers[next].URL + r.URL.RequestURI()
		req, _ := http.NewRequestWithContext(r.Context(), r.Method, u, nil)
		req.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	}))
	t.Cleanup(balancer.Close)
	verifier := revocation.NewSet(time.Minute)
	poller := &token.FeedPoller{URL: balancer.URL + "/revocations", Token: testFeedToken, Issuer: "https://issuer.example", Keys: ring,
		Set: verifier, Interval: time.Second, Timeout: time.Second, Leeway: 30 * time.Second, Log: slog.New(slog.DiscardHandler), Now: time.Now}
	poll := func(to string) error { next = to; return poller.Poll(t.Context()) }

	if err := poll("older"); err != nil || verifier.Watermark() != 900 {
		t.Fatalf("from the older replica: watermark %d, %v; want 900", verifier.Watermark(), err)
	}
	_ = poll("newer") // another run: start over...
	if err := poll("newer"); err != nil || verifier.Watermark() != 950 {
		t.Fatalf("from the newer replica: watermark %d, %v; want 950", verifier.Watermark(), err)
	}
	if err := poll("older"); err == nil || verifier.Watermark() != 950 {
		t.Errorf("from the older replica again: watermark %d, %v; want it refused and the cursor kept at 950", verifier.Watermark(), err)
	}
	if err := poll("newer"); err != nil || verifier.Watermark() != 950 {
		t.Errorf("back on the newer replica: watermark %d, %v; want 950 without starting over", verifier.Watermark(), err)
	}
	if err := poll("unnamed"); err != nil || verifier.Watermark() != 950 {
		t.Errorf("from a replica of an older release (no source): watermark %d, %v; want it taken as it comes", verifier.Watermark(), err)
	}
}
