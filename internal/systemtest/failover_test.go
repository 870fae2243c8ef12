// The failover test needs etcd and Patroni (scripts/install-ha-deps.sh) and
// about a minute: it is built only with -tags ha, which `make test-ha` sets.

//go:build ha

package systemtest

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	// failoverDBTimeout is the replicas' REVENUE_DB_TIMEOUT: the default,
	// which on two shared, busy cores leaves the start-up's connections room.
	failoverDBTimeout = 5 * time.Second
	// failoverAnswerBound is the most any request may take during the
	// failover: the database timeout and a margin for the scheduler.
	failoverAnswerBound = failoverDBTimeout + time.Second
	// promotionBound: Patroni promotes the standby once the dead leader's
	// key expires (ttl), within a loop or two.
	promotionBound = 3 * patroniTTL * time.Second
	// failoverRecoveryBound is how soon after the promotion every chain and
	// every database route must have answered 200.
	failoverRecoveryBound = 20 * time.Second
	failoverChains        = 8
)

// chain is one client's refresh chain: it always presents the last refresh
// token it received. A refresh that fails without an answer from the
// service about the token (503, a transport error) keeps the token, and the
// next attempt presents it again.
type chain struct {
	mu       sync.Mutex
	token    string
	rotated  int       // successful refreshes
	broken   call      // the 401 that broke it, if one did
	brokenAt time.Time // zero while the chain is whole
	lastOK   time.Time // end of the last successful refresh
	failures []call    // the refreshes that did not rotate, in order
}

// TestFailover runs two replicas on a Patroni cluster of two PostgreSQL
// nodes in synchronous mode, under a continuous load of logins, refresh
// chains, logouts, GET /revenue and GET /me, and SIGKILLs the primary (its
// PostgreSQL and its Patroni). Patroni promotes the synchronous standby;
// the replicas, whose DATABASE_URL lists both nodes with
// target_session_attrs=read-write, carry on against it without a restart.
// No refresh chain breaks: a rotation the service answered 200 to was
// committed on the standby too, and one it answered 503 to either did not
// commit (its token still works) or committed with its answer lost (its
// token, presented again, is a retry: its successor was never presented). GET /me, which needs no database, answers 200
// throughout; the database routes answer 200 or 503 unavailable with
// Retry-After, never a 500, never slower than the database timeout allows.
func TestFailover(t *testing.T) {
	ha := startHACluster(t)
	primary, standby := ha.primaryAndStandby(t, haDatabase)
	t.Logf("Patroni: %s primary, %s synchronous standby; DATABASE_URL %s", primary.name, standby.name, ha.url(haDatabase))

	env := baseEnv(ha.url(haDatabase), t.TempDir())
	env["REVENUE_DB_TIMEOUT"] = failoverDBTimeout.String()
	// REVENUE_HA_REUSE_GRACE (e.g. 30s) runs the replicas with that
	// REVENUE_REFRESH_REUSE_GRACE: the remedy for a rotation committed on
	// the standby while its client was answered 503 (docs/scaling.md).
	if grace := os.Getenv("REVENUE_HA_REUSE_GRACE"); grace != "" {
		env["REVENUE_REFRESH_REUSE_GRACE"] = grace
		t.Logf("REVENUE_REFRESH_REUSE_GRACE=%s", grace)
	}
	replicas := []*server{startServer(t, "api-1", with(env, "REVENUE_KEYS_GENERATE", "true"))}
	replicas = append(replicas, startServer(t, "api-2", env))
	pids := []int{replicas[0].pid(), replicas[1].pid()}
	var clients []*client
	for _, r := range replicas {
		c := newClient(r.URL, 32)
		defer c.close()
		clients = append(clients, c)
	}
	// Round robin over the two replicas, as a balancer would.
	var rr struct {
		sync.Mutex
		n int
	}
	pick := func() *client {
		rr.Lock()
		defer rr.Unlock()
		rr.n++
		return clients[rr.n%len(clients)]
	}

	bearer := mustLogin(t, clients[0])
	chains := make([]*chain, failoverChains)
	for i := range chains {
		chains[i] = &chain{token: mustLogin(t, clients[i%2]).RefreshToken}
	}

	l := newLoad(true)
	defer l.halt()
	for _, c := range clients {
		l.loop(5*time.Millisecond, func() call { return c.do(http.MethodGet, "/me", bearer.AccessToken, nil) }, want200)
		l.loop(20*time.Millisecond, func() call { return c.do(http.MethodGet, "/revenue", bearer.AccessToken, nil) }, nil)
	}
	for _, ch := range chains {
		l.loop(25*time.Millisecond, func() call {
			ch.mu.Lock()
			defer ch.mu.Unlock()
			if !ch.brokenAt.IsZero() {
				return call{route: "(broken chain)", start: time.Now(), end: time.Now(), status: -1}
			}
			next, res := pick().refresh(ch.token)
			switch {
			case res.err == nil && res.status == http.StatusOK:
				ch.token, ch.rotated, ch.lastOK = next.RefreshToken, ch.rotated+1, res.end
			case res.status == http.StatusUnauthorized:
				ch.broken, ch.brokenAt = res, res.end
				ch.failures = append(ch.failures, res)
			default:
				ch.failures = append(ch.failures, res)
			}
			return res
		}, nil)
	}
	// A login, then a logout with the access token it returned.
	l.loop(150*time.Millisecond, func() call {
		c := pick()
		tk, res := c.login(aliceEmail, alicePassword)
		if res.err != nil || res.status != http.StatusOK {
			return res
		}
		l.record(res, nil)
		return c.do(http.MethodPost, "/logout", tk.AccessToken, nil)
	}, nil)

	time.Sleep(3 * time.Second)
	for i, ch := range chains {
		ch.mu.Lock()
		if ch.rotated == 0 {
			t.Errorf("chain %d made no refresh before the failover", i)
		}
		ch.mu.Unlock()
	}

	// The failover.
	killed := time.Now()
	primary.kill()
	if err := primary.waitDead(10 * time.Second); err != nil {
		t.Fatalf("after SIGKILL: %v", err)
	}
	// From here on, no request can reach the old primary.
	dead := time.Now()
	t.Logf("SIGKILLed %s (Patroni and PostgreSQL) at %s; gone %s later", primary.name, killed.Format("15:04:05.000"), dead.Sub(killed).Round(time.Millisecond))
	var promoted time.Time
	if _, err := eventually(promotionBound, func() error {
		// The moment the standby takes the leader key, it promotes itself.
		if lock, err := ha.etcdGet("/service/" + ha.scope + "/leader"); err != nil || string(lock) != standby.name {
			return fmt.Errorf("leader key %q (%v)", lock, err)
		}
		promoted = time.Now()
		return nil
	}); err != nil {
		l.halt()
		t.Fatalf("Patroni did not promote %s: %v; the end of its log:\n%s", standby.name, err, tail(standby.logPath, 40))
	}

	// Recovered: every chain has rotated, and every database route has
	// answered 200, to a request asked after the promotion.
	var recovered time.Time
	if _, err := eventually(failoverRecoveryBound, func() error {
		calls := l.snapshot()
		recovered = promoted
		for _, route := range []string{"GET /revenue", "POST /login", "POST /token/refresh", "POST /logout"} {
			first, ok := firstSuccessOrNoContent(calls, route, promoted)
			if !ok {
				return fmt.Errorf("%s has not succeeded since the promotion", route)
			}
			recovered = later(recovered, first.end)
		}
		for i, ch := range chains {
			ch.mu.Lock()
			last, broken := ch.lastOK, !ch.brokenAt.IsZero()
			ch.mu.Unlock()
			if broken {
				return nil // reported below
			}
			if last.Before(promoted) {
				return fmt.Errorf("chain %d has not refreshed since the promotion", i)
			}
			recovered = later(recovered, last)
		}
		return nil
	}); err != nil {
		l.halt()
		t.Fatalf("the replicas did not recover on the new primary: %v; the calls:\n%s", err, l.summary())
	}
	time.Sleep(3 * time.Second)
	l.halt()
	calls := l.snapshot()

	// The kill to the first refresh answered 200 by the new primary.
	var firstRefresh time.Time
	for _, c := range calls {
		if c.route == "POST /token/refresh" && c.status == http.StatusOK && c.start.After(dead) {
			if firstRefresh.IsZero() || c.end.Before(firstRefresh) {
				firstRefresh = c.end
			}
		}
	}

	if firstRefresh.IsZero() {
		t.Fatalf("no refresh answered 200 after the kill; the calls:\n%s", l.summary())
	}

	// Every chain, whole.
	lost := 0
	for i, ch := range chains {
		if ch.brokenAt.IsZero() {
			continue
		}
		lost++
		first := ch.failures[0]
		t.Errorf("chain %d broke: %s %s, after %d rotations and %d failed refreshes, the first %s; %s",
			i, ch.broken, truncate(ch.broken.body), ch.rotated, len(ch.failures)-1, first, ha.tokenHistory(ch.token))
	}
	for _, r := range replicas {
		if n := strings.Count(readFile(r.logPath), "refresh token reuse detected"); n > 0 {
			t.Errorf("%s logged %d refresh token reuse(s): a rotation the client never received was committed", r.name, n)
		}
	}

	// GET /me throughout.
	meOK, meAll := l.total("GET /me", http.StatusOK), l.total("GET /me", -1)
	if n, odd := l.unexpected(); n > 0 {
		t.Errorf("GET /me needs no database, yet %d of its requests did not answer 200; the first: %v", n, odd)
	}

	// The database routes: 200 (204 for a logout), or 503 unavailable with
	// Retry-After; never a 500, a transport error or a hang.
	gap := 0
	var slowest call
	for _, c := range calls {
		if c.latency() > slowest.latency() {
			slowest = c
		}
		switch {
		case c.route == "GET /me" || c.route == "(broken chain)":
		case c.err != nil:
			t.Errorf("a request failed outright (a hang or a broken connection): %s", c)
		case c.latency() > failoverAnswerBound:
			t.Errorf("a request took longer than %s: %s", failoverAnswerBound, c)
		case c.status == http.StatusOK, c.status == http.StatusNoContent:
		case c.status == http.StatusServiceUnavailable && c.code == "unavailable" && c.header.Get("Retry-After") != "":
			gap++
			if c.end.Before(killed) || c.start.After(recovered) {
				t.Errorf("a 503 outside the failover (killed %s, recovered %s): %s", killed.Format("15:04:05.000"), recovered.Format("15:04:05.000"), c)
			}
		case c.route == "POST /token/refresh" && c.status == http.StatusUnauthorized:
			// A broken chain, reported above.
		default:
			t.Errorf("want 200 or 503 unavailable with Retry-After, got %s %s", c, truncate(c.body))
		}
	}
	if gap == 0 {
		t.Errorf("no database route answered 503 unavailable between the kill and the recovery: did the failover happen?")
	}

	// The revocation feed (LISTEN, reconnected to the new primary) works: a
	// logout on one replica revokes the access token on the other.
	tk := mustLogin(t, clients[0])
	if res := clients[1].do(http.MethodGet, "/me", tk.AccessToken, nil); res.status != http.StatusOK {
		t.Errorf("a fresh token on the other replica: want 200, got %s", res)
	}
	if res := clients[0].do(http.MethodPost, "/logout", tk.AccessToken, nil); res.status != http.StatusNoContent {
		t.Errorf("logout after the failover: want 204, got %s %s", res, truncate(res.body))
	}
	if took, err := eventually(5*time.Second, func() error {
		if res := clients[1].do(http.MethodGet, "/me", tk.AccessToken, nil); res.status != http.StatusUnauthorized {
			return fmt.Errorf("want 401, got %s", res)
		}
		return nil
	}); err != nil {
		t.Errorf("after the failover, a logout on %s did not revoke the token on %s: %v", replicas[0].name, replicas[1].name, err)
	} else {
		t.Logf("after the failover, a logout on %s revoked the token on %s within %s", replicas[0].name, replicas[1].name, took.Round(time.Millisecond))
	}

	// The same processes, not restarted.
	for i, r := range replicas {
		if !r.running() || r.pid() != pids[i] {
			t.Errorf("%s did not survive the failover: %s", r.name, r.exitStatus())
		}
	}
	if leader, _, err := ha.roles(); err != nil || leader != standby.name {
		t.Errorf("after the failover Patroni's leader is %q (%v), want %s", leader, err, standby.name)
	}

	t.Logf("kill → promotion %s, → first refresh 200 %s, → every chain and route 200 again %s; %d answers 503 unavailable in the gap; slowest answer %s\n%s",
		promoted.Sub(killed).Round(time.Millisecond), firstRefresh.Sub(killed).Round(time.Millisecond),
		recovered.Sub(killed).Round(time.Millisecond), gap, slowest, l.summary())
	for _, r := range replicas {
		t.Logf("%s: its warnings and errors, by message:\n%s", r.name, logDigest(r.logPath))
	}
	if n, err := ha.count(`SELECT count(*) FROM auth_events WHERE reason IN ('reuse_within_grace', 'retry_unanswered_rotation')`); err == nil && n > 0 {
		t.Logf("%d refresh(es) presented a token already spent whose successor nobody had presented: rotations committed while their clients were answered 503, retried", n)
	}
	fmt.Printf("failover: %d refresh chains, %d lost, GET /me %d/%d, recovered in %.1f s\n",
		len(chains), lost, meOK, meAll, firstRefresh.Sub(killed).Seconds())
}

// firstSuccessOrNoContent returns the first 200 or 204 to route among calls
// asked at or after since.
func firstSuccessOrNoContent(calls []call, route string, since time.Time) (call, bool) {
	for _, c := range calls {
		if c.route == route && !c.start.Before(since) && c.err == nil && (c.status == http.StatusOK || c.status == http.StatusNoContent) {
			return c, true
		}
	}
	return call{}, false
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// logDigest counts a server log's WARN and ERROR lines by message, with the
// first of each as an example.
func logDigest(path string) string {
	type kind struct{ level, msg string }
	counts := map[kind]int{}
	first := map[kind]string{}
	var order []kind
	for _, line := range strings.Split(readFile(path), "\n") {
		var l struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
		}
		if json.Unmarshal([]byte(line), &l) != nil || (l.Level != "WARN" && l.Level != "ERROR") || l.Msg == "request" {
			continue
		}
		k := kind{l.Level, l.Msg}
		if counts[k] == 0 {
			order = append(order, k)
			first[k] = line
		}
		counts[k]++
	}
	if len(order) == 0 {
		return "  none"
	}
	var b strings.Builder
	for _, k := range order {
		fmt.Fprintf(&b, "  %s %q ×%d, the first: %s\n", k.level, k.msg, counts[k], truncate([]byte(first[k])))
	}
	return strings.TrimRight(b.String(), "\n")
}

// tokenHistory says, from the new primary, when the refresh token was
// spent and its successor issued: a rotation committed while its client
// was told 503 shows here.
func (c *haCluster) tokenHistory(token string) string {
	sum := sha256.Sum256([]byte(token))
	var usedAt, childAt *time.Time
	err := c.queryRow(haDatabase, `SELECT r.used_at, (SELECT min(c.created_at) FROM refresh_tokens c WHERE c.parent_id = r.id)
		FROM refresh_tokens r WHERE r.token_hash = $1`, []any{sum[:]}, &usedAt, &childAt)
	if err != nil {
		return fmt.Sprintf("(token history: %v)", err)
	}
	at := func(t *time.Time) string {
		if t == nil {
			return "never"
		}
		return t.Local().Format("15:04:05.000000")
	}
	return fmt.Sprintf("on the new primary, the token the client held was spent at %s and its successor issued at %s", at(usedAt), at(childAt))
}

// count runs a count query on the current primary.
func (c *haCluster) count(query string) (int, error) {
	var n int
	err := c.queryRow(haDatabase, query, nil, &n)
	return n, err
}
