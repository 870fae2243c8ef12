package token_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/revenue-api/revenue-api/internal/revocation"
	"github.com/revenue-api/revenue-api/internal/token"
)

// A poller reads the pages of a catch-up back to back, but when a page with
// more to follow comes again (a replica that cannot yet go further) it
// waits its interval instead of asking in a tight loop; and it does not
// count its set complete meanwhile.
func TestFeedPollerPacesARepeatedPage(t *testing.T) {
	keys := cacheTestKeys(t)
	keyring := token.NewKeyring(token.NewKeySet([]*token.Key{keys[0]}, keys[0]))
	signer := token.NewSigner(keyring, cacheIssuer, cacheAudience, cacheTTL, time.Now)
	now := time.Now()
	pages := make([]string, 3)
	for i := range pages {
		page := revocation.Page{Cursor: uint64(10 * (i + 1)), More: true, Revocations: []revocation.Revocation{{
			ID: int64(i + 1), XID: uint64(10*i + 5), Kind: revocation.KindSession, Subject: "00000000-0000-4000-8000-00000000000" + string(rune('1'+i)),
			Reason: "logout", NotBefore: now, RevokedAt: now, ExpiresAt: now.Add(time.Hour)}}}
		var err error
		if pages[i], err = signer.SignRevocations(page); err != nil {
			t.Fatal(err)
		}
	}
	var served atomic.Int32
	var mu sync.Mutex
	var at []time.Duration
	start := time.Now()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		at = append(at, time.Since(start))
		mu.Unlock()
		// Two pages in a row, then the last one again and again.
		n := min(int(served.Add(1))-1, len(pages)-1)
		w.Header().Set("ETag", `"page-`+string(rune('0'+n))+`"`)
		w.Header().Set("Content-Type", "application/jwt")
		_, _ = w.Write([]byte(pages[n]))
	}))
	defer srv.Close()

	set := revocation.NewSet(time.Minute)
	poller := &token.FeedPoller{URL: srv.URL, Token: "feed", Issuer: cacheIssuer, Keys: keyring, Set: set,
		Interval: 200 * time.Millisecond, LongPoll: 10 * time.Second, Timeout: time.Second, Leeway: cacheLeeway,
		Client: srv.Client(), Log: slog.New(slog.DiscardHandler), Now: time.Now}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	poller.Run(ctx)

	// 3 pages at once, then about one poll per 200 ms: at most ~8 in the
	// second, where a 10 ms pause would make about a hundred.
	if n := served.Load(); n < 3 || n > 10 {
		t.Fatalf("%d polls in 1 s with a repeating page and a 200 ms interval, want 3 and then about 5", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if at[2] > 150*time.Millisecond {
		t.Fatalf("the three pages of the catch-up were asked for at %v: want them back to back", at[:3])
	}
	if got := len(set.Since(0, time.Now(), 0).Revocations); got != 3 || set.Watermark() != 30 || !set.Stale(time.Now()) {
		t.Fatalf("set: %d revocations, watermark %d, stale %v; want the 3 pages' revocations, 30, and not confirmed",
			got, set.Watermark(), set.Stale(time.Now()))
	}
}
