package systemtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// requestTimeout is the most any one request may take before the client
// gives up and the test calls it a hang.
const requestTimeout = 20 * time.Second

// The demo user the servers seed (REVENUE_DEMO_SEED=true).
const (
	aliceEmail    = "alice@example.com"
	alicePassword = "alice-password-1"
)

// client talks to one base URL: a server or the load balancer.
type client struct {
	base string
	hc   *http.Client
}

func newClient(base string, conns int) *client {
	tr := &http.Transport{
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     30 * time.Second,
	}
	return &client{base: base, hc: &http.Client{Transport: tr, Timeout: requestTimeout}}
}

// close drops the client's idle connections.
func (c *client) close() { c.hc.CloseIdleConnections() }

// call is one request and what came of it.
type call struct {
	route  string // e.g. "GET /revenue"
	expect int    // the status asExpected wants; 0 means 200
	start  time.Time
	end    time.Time
	status int    // 0 when err is set
	code   string // the problem code of an error answer
	err    error  // a transport error or timeout
	header http.Header
	body   []byte
}

func (c call) latency() time.Duration { return c.end.Sub(c.start) }

func (c call) String() string {
	if c.err != nil {
		return fmt.Sprintf("%s at %s: %v after %s", c.route, c.start.Format("15:04:05.000"), c.err, c.latency().Round(time.Millisecond))
	}
	return fmt.Sprintf("%s at %s: %d %s after %s", c.route, c.start.Format("15:04:05.000"), c.status, c.code, c.latency().Round(time.Millisecond))
}

// do sends one request; body, if not nil, is sent as JSON.
func (c *client) do(method, path, bearer string, body any) call {
	route := method + " " + path
	if i := strings.IndexByte(route, '?'); i >= 0 {
		route = route[:i]
	}
	res := call{route: route, start: time.Now()}
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			panic(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, r)
	if err != nil {
		panic(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		res.end, res.err = time.Now(), err
		return res
	}
	res.body, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	res.end = time.Now()
	if err != nil {
		res.err = err
		return res
	}
	res.status, res.header = resp.StatusCode, resp.Header
	if resp.StatusCode >= 400 {
		var p struct {
			Code string `json:"code"`
		}
		if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") && json.Unmarshal(res.body, &p) == nil {
			res.code = p.Code
		} else {
			res.code = "(not a problem body)"
		}
	}
	return res
}

// tokens is the answer of /login and /token/refresh.
type tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

func (c *client) login(email, password string) (tokens, call) {
	res := c.do(http.MethodPost, "/login", "", map[string]string{"email": email, "password": password})
	return decodeTokens(res)
}

func (c *client) refresh(refreshToken string) (tokens, call) {
	res := c.do(http.MethodPost, "/token/refresh", "", map[string]string{"refresh_token": refreshToken})
	return decodeTokens(res)
}

func decodeTokens(res call) (tokens, call) {
	var tk tokens
	if res.status == http.StatusOK {
		if err := json.Unmarshal(res.body, &tk); err != nil || tk.AccessToken == "" || tk.RefreshToken == "" {
			res.err = fmt.Errorf("a 200 without tokens: %s", res.body)
		}
	}
	return tk, res
}

// mustLogin logs alice in or ends the test.
func mustLogin(t *testing.T, c *client) tokens {
	t.Helper()
	tk, res := c.login(aliceEmail, alicePassword)
	if res.err != nil || res.status != http.StatusOK {
		t.Fatalf("login at %s: want 200 with tokens, got %s %s", c.base, res, res.body)
	}
	return tk
}

// want200 returns an error unless res is a 200.
func want200(res call) error {
	if res.err != nil || res.status != http.StatusOK {
		return fmt.Errorf("want 200, got %s %s", res, truncate(res.body))
	}
	return nil
}

// asExpected returns an error unless res has the status it expects.
func asExpected(res call) error {
	want := res.expect
	if want == 0 {
		want = http.StatusOK
	}
	if res.err != nil || res.status != want {
		return fmt.Errorf("want %d, got %s %s", want, res, truncate(res.body))
	}
	return nil
}

// expecting returns res expecting status want.
func expecting(want int, res call) call {
	res.expect = want
	return res
}

func truncate(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}

// load runs request loops in goroutines until halted and records every call.
type load struct {
	stopping chan struct{}
	wg       sync.WaitGroup
	keep     bool // keep every call, not only the tallies

	mu      sync.Mutex
	calls   []call
	tally   map[string]map[int]int // route → status (0: transport error) → calls
	slowest map[string]time.Duration
	odd     []call // the first few calls that check rejected
	oddN    int
}

// newLoad returns a load that keeps every call when keep is set (for
// timelines), otherwise only tallies and the unexpected ones.
func newLoad(keep bool) *load {
	return &load{stopping: make(chan struct{}), keep: keep, tally: map[string]map[int]int{}, slowest: map[string]time.Duration{}}
}

// loop runs next, then pauses, until the load halts. check, if not nil,
// says what is wrong with a call; such calls are counted as unexpected.
func (l *load) loop(pause time.Duration, next func() call, check func(call) error) {
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		for {
			select {
			case <-l.stopping:
				return
			default:
			}
			c := next()
			l.record(c, check)
			if pause > 0 {
				select {
				case <-l.stopping:
					return
				case <-time.After(pause):
				}
			}
		}
	}()
}

// repeat runs next n times in a goroutine of its own; wait waits for it.
func (l *load) repeat(n int, next func() call, check func(call) error) {
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		for range n {
			l.record(next(), check)
		}
	}()
}

// wait waits for the loops to end (repeat's end by themselves).
func (l *load) wait() { l.wg.Wait() }

func (l *load) record(c call, check func(call) error) {
	bad := check != nil && check(c) != nil
	if !l.keep {
		c.body = nil // keep memory flat in long runs
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.keep {
		l.calls = append(l.calls, c)
	}
	byStatus := l.tally[c.route]
	if byStatus == nil {
		byStatus = map[int]int{}
		l.tally[c.route] = byStatus
	}
	byStatus[c.status]++
	l.slowest[c.route] = max(l.slowest[c.route], c.latency())
	if bad {
		l.oddN++
		if len(l.odd) < 10 {
			l.odd = append(l.odd, c)
		}
	}
}

// halt stops the loops and waits for their last calls.
func (l *load) halt() {
	select {
	case <-l.stopping:
	default:
		close(l.stopping)
	}
	l.wg.Wait()
}

// snapshot returns the calls recorded so far, by start time.
func (l *load) snapshot() []call {
	l.mu.Lock()
	calls := slices.Clone(l.calls)
	l.mu.Unlock()
	slices.SortFunc(calls, func(a, b call) int { return a.start.Compare(b.start) })
	return calls
}

// total returns how many calls to route were recorded with status (any
// status when status is -1).
func (l *load) total(route string, status int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for st, c := range l.tally[route] {
		if status == -1 || st == status {
			n += c
		}
	}
	return n
}

// summary prints the tallies and slowest calls, one route a line.
func (l *load) summary() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var routes []string
	for r := range l.tally {
		routes = append(routes, r)
	}
	slices.Sort(routes)
	var b strings.Builder
	for _, r := range routes {
		fmt.Fprintf(&b, "  %-20s", r)
		var statuses []int
		for st := range l.tally[r] {
			statuses = append(statuses, st)
		}
		slices.Sort(statuses)
		for _, st := range statuses {
			name := fmt.Sprint(st)
			if st == 0 {
				name = "error"
			}
			fmt.Fprintf(&b, " %s×%d", name, l.tally[r][st])
		}
		fmt.Fprintf(&b, "  slowest %s\n", l.slowest[r].Round(time.Millisecond))
	}
	return b.String()
}

// unexpected returns how many calls check rejected and the first of them.
func (l *load) unexpected() (int, []call) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.oddN, slices.Clone(l.odd)
}
