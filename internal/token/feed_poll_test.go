package token_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/revenue-api/revenue-api/internal/revocation"
	"github.com/revenue-api/revenue-api/internal/token"
)

// feedRequests is a feed that answers 304 at once and keeps what each
// request asked for and carried.
type feedRequests struct {
	*httptest.Server
	mu       sync.Mutex
	requests []*http.Request
}

func newFeedRequests(t *testing.T, answer http.HandlerFunc) *feedRequests {
	t.Helper()
	f := &feedRequests{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.requests = append(f.requests, r)
		f.mu.Unlock()
		answer(w, r)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *feedRequests) all() []*http.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*http.Request(nil), f.requests...)
}

func notModified(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNotModified) }

// The poller asks the issuer to hold a poll only as long as its set's
// MaxLag leaves room for: a poll that hangs until its timeout, the pause
// after it and a retry held the whole wait still confirm the set within
// MaxLag (2 × wait + Timeout + Interval ≤ MaxLag), in whole seconds, and no
// wait at all (a poll every Interval) when not even a second fits.
func TestFeedPollerWaitFitsTheMaxLag(t *testing.T) {
	tests := []struct {
		name              string
		maxLag            time.Duration
		interval, timeout time.Duration
		want              string // the wait parameter; "" for none
	}{
		{"the defaults: 1m, poll 1s, timeout 5s", time.Minute, time.Second, 5 * time.Second, "10"},
		{"no bound (MAX_LAG=0)", 0, time.Second, 5 * time.Second, "10"},
		{"20s, poll 1s, timeout 5s", 20 * time.Second, time.Second, 5 * time.Second, "7"},
		{"5s, poll 1s, timeout 1s", 5 * time.Second, time.Second, time.Second, "1"},
		{"5s, poll 1s, timeout 5s", 5 * time.Second, time.Second, 5 * time.Second, ""},
		{"3s, poll 1s, timeout 500ms", 3 * time.Second, time.Second, 500 * time.Millisecond, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			feed := newFeedRequests(t, notModified)
			p := &token.FeedPoller{URL: feed.URL + "/revocations", Token: "feed", Issuer: cacheIssuer,
				Set: revocation.NewSet(tt.maxLag), Interval: tt.interval, LongPoll: 10 * time.Second, Timeout: tt.timeout,
				Log: slog.New(slog.DiscardHandler), Now: time.Now}
			if err := p.Poll(t.Context()); err != nil {
				t.Fatal(err)
			}
			q := feed.all()[0].URL.Query()
			if got := q.Get("wait"); got != tt.want || q.Has("wait") != (tt.want != "") {
				t.Errorf("asked for wait=%q (present %v), want %q", got, q.Has("wait"), tt.want)
			}
		})
	}
}

// The feed token is a bearer credential for the configured URL only: a
// redirect is not followed (whatever client the poller is given), the
// server it points to never sees the token, and the poll fails without
// confirming the set.
func TestFeedPollerFollowsNoRedirect(t *testing.T) {
	elsewhere := newFeedRequests(t, notModified)
	for _, status := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		for name, client := range map[string]*http.Client{"default client": nil, "a client that follows redirects": {}} {
			t.Run(http.StatusText(status)+", "+name, func(t *testing.T) {
				issuer := newFeedRequests(t, func(w http.ResponseWriter, r *http.Request) {
					http.Redirect(w, r, elsewhere.URL+"/revocations", status)
				})
				set := revocation.NewSet(time.Minute)
				p := &token.FeedPoller{URL: issuer.URL + "/revocations", Token: "feed-secret", Issuer: cacheIssuer,
					Set: set, Interval: time.Second, Timeout: time.Second, Client: client,
					Log: slog.New(slog.DiscardHandler), Now: time.Now}
				err := p.Poll(t.Context())
				if err == nil || !strings.Contains(err.Error(), "redirect") {
					t.Errorf("poll answered %d: error %v, want a failure that names the redirect", status, err)
				}
				for _, r := range elsewhere.all() {
					t.Errorf("the redirect was followed: the other server got Authorization %q", r.Header.Get("Authorization"))
				}
				if !set.Stale(time.Now()) {
					t.Error("a redirected poll confirmed the set")
				}
			})
		}
	}
}

// User info in the feed URL (refused by the configuration) is neither
// sent nor logged.
func TestFeedPollerKeepsUserInfoOutOfRequestsAndLogs(t *testing.T) {
	feed := newFeedRequests(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusInternalServerError) })
	log, logs := testLogger()
	p := &token.FeedPoller{URL: strings.Replace(feed.URL, "://", "://feeduser:s3cret@", 1) + "/revocations", Token: "feed",
		Issuer: cacheIssuer, Set: revocation.NewSet(time.Minute), Interval: time.Hour, Timeout: time.Second,
		Log: log, Now: time.Now}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); p.Run(ctx) }()
	for len(feed.all()) == 0 || !strings.Contains(logs.String(), "poll failed") {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	if r := feed.all()[0]; r.Header.Get("Authorization") != "Bearer feed" {
		t.Errorf("the feed got Authorization %q, want the feed token alone", r.Header.Get("Authorization"))
	}
	if strings.Contains(logs.String(), "s3cret") || strings.Contains(logs.String(), "feeduser") {
		t.Errorf("the log shows the URL's user info:\n%s", logs)
	}
	if !strings.Contains(logs.String(), feed.URL+"/revocations") {
		t.Errorf("the log does not name the feed URL %s:\n%s", feed.URL+"/revocations", logs)
	}
}
