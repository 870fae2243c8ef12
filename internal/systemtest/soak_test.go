package systemtest

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/revenue-api/revenue-api/internal/pgtest"
)

const (
	// soakEnv names the setting for a long soak (`make soak`): a Go duration.
	soakEnv = "REVENUE_SOAK"
	// minSoak is the shortest long soak: its warm-up and enough samples after.
	minSoak = 30 * time.Second
	// smokeBudget bounds the soak's share of an ordinary test run.
	smokeBudget = 10 * time.Second
	// Growth allowed between the start and the end of the measured part of
	// the soak, in absolute terms or relative to the start, whichever is
	// larger: generous, since the heap settles in steps.
	rssGrowthBytes     = 16 << 20
	rssGrowthRatio     = 0.25
	goroutineGrowth    = 10
	goroutineRatio     = 0.20
	goroutineIdleSlack = 5
)

// soakPlan is how long the soak loads the server, how much of that is a
// warm-up left out of the measure, how often it samples, and the size of the
// verified-token cache: small enough to fill during the warm-up, so that the
// measured part sees it evicting rather than growing.
type soakPlan struct {
	duration, warmUp, interval time.Duration
	tokenCache                 int
}

// smoke is the soak of an ordinary test run (`make test`): the same load
// and checks, for seconds, which catches a server that fails or leaks fast
// under mixed load; slow growth needs the long soak of `make soak`.
var smoke = soakPlan{duration: 6 * time.Second, warmUp: 2 * time.Second, interval: 200 * time.Millisecond, tokenCache: 100}

// planSoak reads REVENUE_SOAK: unset, the smoke; set, a long soak of that
// duration, sampled every second.
func planSoak(getenv func(string) string) (soakPlan, error) {
	v := getenv(soakEnv)
	if v == "" {
		return smoke, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < minSoak {
		return soakPlan{}, fmt.Errorf("%s: want a Go duration of at least %s, such as 5m, got %q", soakEnv, minSoak, v)
	}
	return soakPlan{duration: d, warmUp: max(15*time.Second, d/6), interval: time.Second, tokenCache: 1000}, nil
}

// TestSoak runs a mixed load (token-only and database routes, logins and
// logouts, rotations, refused tokens, new connections) against one server,
// for seconds (the smoke) or for REVENUE_SOAK, samples its resident memory
// and its goroutines, and finds no growth beyond a generous bound once
// warmed up; when the load stops and the clients hang up, the goroutines
// return to where they were before it.
func TestSoak(t *testing.T) {
	started := time.Now()
	plan, err := planSoak(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	duration, warmUp := plan.duration, plan.warmUp

	env := baseEnv(pgtest.NewDatabase(t), t.TempDir())
	env["REVENUE_KEYS_GENERATE"] = "true"
	env["REVENUE_TOKEN_CACHE_SIZE"] = strconv.Itoa(plan.tokenCache)
	// The soak reads the server's goroutines from /metrics.
	env["REVENUE_METRICS_ON_MAIN"] = "true"
	srv := startServer(t, "server", env)
	c := newClient(srv.URL, 16)
	defer c.close()
	probe := newClient(srv.URL, 1)
	defer probe.close()
	fresh := newClient(srv.URL, 0)
	fresh.hc.Transport.(*http.Transport).DisableKeepAlives = true

	alice := mustLogin(t, c)
	bob, res := c.login("bob@example.com", "bob-password-1")
	if err := want200(res); err != nil {
		t.Fatalf("login as bob: %v", err)
	}
	idle, err := goroutines(probe)
	if err != nil {
		t.Fatal(err)
	}

	l := newLoad(false)
	defer l.halt()
	for range 2 {
		l.loop(0, func() call { return c.do(http.MethodGet, "/me", alice.AccessToken, nil) }, want200)
	}
	months := []string{"", "?from=2020-01", "?to=2030-12", "?from=2021-01&to=2021-12"}
	n := 0
	l.loop(2*time.Millisecond, func() call {
		n++
		return c.do(http.MethodGet, "/revenue"+months[n%len(months)], alice.AccessToken, nil)
	}, want200)
	// A session rotated again and again; each new access token is used once,
	// so the verified-token cache sees a stream of new tokens.
	chain := mustLogin(t, c)
	useNext := false
	l.loop(5*time.Millisecond, func() call {
		useNext = !useNext
		if useNext {
			return c.do(http.MethodGet, "/me", chain.AccessToken, nil)
		}
		next, res := c.refresh(chain.RefreshToken)
		if res.status == http.StatusOK {
			chain = next
		}
		return res
	}, want200)
	// Sessions that start and end.
	var session tokens
	l.loop(100*time.Millisecond, func() call {
		if session.AccessToken == "" {
			var res call
			session, res = c.login(aliceEmail, alicePassword)
			return res
		}
		res := c.do(http.MethodPost, "/logout", session.AccessToken, nil)
		session = tokens{}
		return expecting(http.StatusNoContent, res)
	}, asExpected)
	// Refusals: a forged token, a missing scope, a wrong password.
	forged := alice.AccessToken[:len(alice.AccessToken)-4] + "AAAA"
	k := 0
	l.loop(10*time.Millisecond, func() call {
		k++
		switch k % 3 {
		case 0:
			return expecting(http.StatusUnauthorized, c.do(http.MethodGet, "/revenue", forged, nil))
		case 1:
			return expecting(http.StatusForbidden, c.do(http.MethodGet, "/revenue", bob.AccessToken, nil))
		default:
			_, res := c.login("nobody@example.com", "not-a-password")
			return expecting(http.StatusUnauthorized, res)
		}
	}, asExpected)
	// A new connection for every request.
	l.loop(20*time.Millisecond, func() call { return fresh.do(http.MethodGet, "/me", alice.AccessToken, nil) }, want200)
	// What operators poll.
	l.loop(200*time.Millisecond, func() call { return c.do(http.MethodGet, "/readyz", "", nil) }, want200)

	type sample struct {
		at         time.Duration
		rss        int64
		goroutines int
	}
	var samples []sample
	start := time.Now()
	tick := time.NewTicker(plan.interval)
	defer tick.Stop()
	for range tick.C {
		at := time.Since(start)
		if at > duration {
			break
		}
		rss, err := rssBytes(srv.pid())
		if err != nil {
			t.Fatalf("read the server's memory: %v", err)
		}
		g, err := goroutines(probe)
		if err != nil {
			t.Fatalf("read the server's goroutines: %v", err)
		}
		samples = append(samples, sample{at, rss, g})
		if n, odd := l.unexpected(); n > 0 {
			t.Fatalf("%d requests got an unexpected answer in the soak; the first: %v\n%s", n, odd, l.summary())
		}
	}
	l.halt()
	c.close()
	fresh.close()
	if n, odd := l.unexpected(); n > 0 {
		t.Fatalf("%d requests got an unexpected answer in the soak; the first: %v\n%s", n, odd, l.summary())
	}

	var measured []sample
	for _, s := range samples {
		if s.at >= warmUp {
			measured = append(measured, s)
		}
	}
	if len(measured) < 9 {
		t.Fatalf("only %d samples after the warm-up of %s", len(measured), warmUp)
	}
	third := len(measured) / 3
	early, late := measured[:third], measured[len(measured)-third:]
	rssOf := func(ss []sample) int64 {
		return median(ss, func(s sample) int64 { return s.rss })
	}
	gOf := func(ss []sample) int64 {
		return median(ss, func(s sample) int64 { return int64(s.goroutines) })
	}
	rssEarly, rssLate := rssOf(early), rssOf(late)
	gEarly, gLate := gOf(early), gOf(late)
	peak := slices.MaxFunc(samples, func(a, b sample) int { return int(a.rss - b.rss) })
	t.Logf("soak of %s (warm-up %s), %d samples; resident memory median %.1f MiB early, %.1f MiB late, peak %.1f MiB; "+
		"goroutines median %d early, %d late, %d idle before; the calls:\n%s",
		duration, warmUp, len(samples), mib(rssEarly), mib(rssLate), mib(peak.rss), gEarly, gLate, idle, l.summary())

	if limit := rssEarly + max(rssGrowthBytes, int64(float64(rssEarly)*rssGrowthRatio)); rssLate > limit {
		t.Errorf("resident memory grew from %.1f MiB to %.1f MiB over the soak; want at most %.1f MiB",
			mib(rssEarly), mib(rssLate), mib(limit))
	}
	if limit := gEarly + max(goroutineGrowth, int64(float64(gEarly)*goroutineRatio)); gLate > limit {
		t.Errorf("goroutines grew from %d to %d over the soak; want at most %d", gEarly, gLate, limit)
	}
	// Once the clients have hung up, what the load started has ended.
	var after int
	if _, err := eventually(10*time.Second, func() error {
		var err error
		if after, err = goroutines(probe); err != nil {
			return err
		}
		if after > idle+goroutineIdleSlack {
			return fmt.Errorf("%d goroutines, %d before the load", after, idle)
		}
		return nil
	}); err != nil {
		t.Errorf("after the load, the server's goroutines did not return to the idle count: %v", err)
	}
	t.Logf("the soak took %s in all, start and stop included", time.Since(started).Round(10*time.Millisecond))
}

func TestSoakPlan(t *testing.T) {
	getenv := func(v string) func(string) string {
		return func(k string) string {
			if k == soakEnv {
				return v
			}
			return ""
		}
	}

	t.Run("an ordinary run has a smoke of seconds, with enough samples", func(t *testing.T) {
		p, err := planSoak(getenv(""))
		if err != nil {
			t.Fatal(err)
		}
		// Starting and stopping the server takes a second or two more.
		if p.duration > smokeBudget-2*time.Second {
			t.Errorf("the soak of an ordinary run loads the server for %s; want at most %s, so that it takes at most %s",
				p.duration, smokeBudget-2*time.Second, smokeBudget)
		}
		if n := int((p.duration - p.warmUp) / p.interval); n < 15 {
			t.Errorf("the smoke takes %d samples after its warm-up; want at least 15 for medians of thirds", n)
		}
	})

	t.Run("REVENUE_SOAK sets a long soak sampled every second", func(t *testing.T) {
		p, err := planSoak(getenv("5m"))
		if err != nil {
			t.Fatal(err)
		}
		want := soakPlan{duration: 5 * time.Minute, warmUp: 50 * time.Second, interval: time.Second, tokenCache: 1000}
		if p != want {
			t.Errorf("REVENUE_SOAK=5m: plan %+v, want %+v", p, want)
		}
	})

	for _, v := range []string{"10s", "five minutes"} {
		t.Run("REVENUE_SOAK="+v+" is refused", func(t *testing.T) {
			if _, err := planSoak(getenv(v)); err == nil || !strings.Contains(err.Error(), soakEnv) {
				t.Errorf("REVENUE_SOAK=%q: %v, want an error naming %s", v, err, soakEnv)
			}
		})
	}
}

// goroutines reads go_goroutines from the server's /metrics.
func goroutines(c *client) (int, error) {
	res := c.do(http.MethodGet, "/metrics", "", nil)
	if err := want200(res); err != nil {
		return 0, fmt.Errorf("GET /metrics: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(res.body))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return int(f), err
		}
	}
	return 0, fmt.Errorf("no go_goroutines in /metrics")
}

func median[S any](ss []S, value func(S) int64) int64 {
	v := make([]int64, len(ss))
	for i, s := range ss {
		v[i] = value(s)
	}
	slices.Sort(v)
	return v[len(v)/2]
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
