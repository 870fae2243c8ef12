package systemtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/revenue-api/revenue-api/internal/pgcluster"
	"github.com/revenue-api/revenue-api/internal/pgtest"
)

const (
	// dbTimeout is the server's REVENUE_DB_TIMEOUT in this test: shorter
	// than the default 5s, so that one outage holds several timeouts.
	dbTimeout = 2 * time.Second
	// answerBound is the most any request may take while the database is
	// away: the database timeout and a generous margin. A statement left
	// waiting on an unresponsive database takes the whole outage.
	answerBound = dbTimeout + 3*time.Second
	// outageHold is how long the database stays away: longer than
	// answerBound, so that a request that waits for the database to come
	// back, rather than for its timeout, is caught.
	outageHold = 3 * dbTimeout
	// recoveryBound is how soon after the database is back every route
	// must answer 200 again.
	recoveryBound = 10 * time.Second
)

// The routes whose answers need the database.
var databaseRoutes = []string{"GET /revenue", "GET /sessions", "POST /login", "POST /token/refresh"}

// outage is a way for the database to go away and come back.
type outage struct {
	name  string
	begin func(ctx context.Context) error
	end   func(ctx context.Context) error
}

// TestDatabaseOutage takes PostgreSQL away from a running server under load,
// first stopped (connections refused), then frozen (connections hang, as
// in a network partition). Throughout, GET /me needs no database and
// answers 200; the routes that need it answer 503 unavailable within the
// database timeout, never hang and never 500; /readyz says not ready; and
// when the database is back, everything answers 200 again within seconds,
// with the same server process.
func TestDatabaseOutage(t *testing.T) {
	cluster := pgtest.Cluster()
	if cluster == nil {
		t.Fatal("this test stops and restarts PostgreSQL, so it needs the private server that pgtest starts: unset TEST_DATABASE_URL")
	}
	env := baseEnv(pgtest.NewDatabase(t), t.TempDir())
	env["REVENUE_KEYS_GENERATE"] = "true"
	env["REVENUE_DB_TIMEOUT"] = dbTimeout.String()
	srv := startServer(t, "server", env)

	outages := []outage{
		{
			name: "stopped",
			begin: func(ctx context.Context) error {
				return cluster.Stop(ctx)
			},
			end: cluster.Start,
		},
		{
			name: "frozen",
			begin: func(context.Context) error {
				return signalPostgres(cluster, syscall.SIGSTOP)
			},
			end: func(context.Context) error {
				return signalPostgres(cluster, syscall.SIGCONT)
			},
		},
	}
	// Whatever happens, the later tests get their database back.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = signalPostgres(cluster, syscall.SIGCONT)
		if err := cluster.Start(ctx); err != nil {
			t.Errorf("restart PostgreSQL: %v", err)
		}
	})

	for _, o := range outages {
		t.Run("database "+o.name, func(t *testing.T) {
			testOutage(t, srv, o)
			if !srv.running() {
				t.Fatalf("the server did not survive the outage: %s", srv.exitStatus())
			}
		})
	}
}

// testOutage runs a mixed load against srv, takes the database away for
// outageHold, brings it back, and checks every answer against the moment it
// was asked.
func testOutage(t *testing.T, srv *server, o outage) {
	c := newClient(srv.URL, 16)
	defer c.close()
	login := mustLogin(t, c)
	chains := []tokens{mustLogin(t, c), mustLogin(t, c)}

	l := newLoad(true)
	defer l.halt()
	for range 2 {
		l.loop(0, func() call { return c.do(http.MethodGet, "/me", login.AccessToken, nil) }, want200)
		l.loop(5*time.Millisecond, func() call { return c.do(http.MethodGet, "/revenue", login.AccessToken, nil) }, nil)
	}
	l.loop(50*time.Millisecond, func() call { return c.do(http.MethodGet, "/sessions", login.AccessToken, nil) }, nil)
	l.loop(100*time.Millisecond, func() call { _, res := c.login(aliceEmail, alicePassword); return res }, nil)
	for i := range chains {
		// A refresh that fails keeps its token: the next attempt uses it again,
		// and once the database is back it must still be good.
		l.loop(20*time.Millisecond, func() call {
			next, res := c.refresh(chains[i].RefreshToken)
			if res.status == http.StatusOK && res.err == nil {
				chains[i] = next
			}
			return res
		}, nil)
	}
	l.loop(100*time.Millisecond, func() call { return c.do(http.MethodGet, "/readyz", "", nil) }, nil)

	time.Sleep(2 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	away := time.Now()
	if err := o.begin(ctx); err != nil {
		t.Fatalf("taking the database away (%s): %v", o.name, err)
	}
	gone := time.Now()
	time.Sleep(outageHold)
	back := time.Now()
	if err := o.end(ctx); err != nil {
		t.Fatalf("bringing the database back (%s): %v", o.name, err)
	}
	returned := time.Now()

	// Recovered: every route that needs the database has answered 200 to a
	// request asked after the database returned.
	var recovered time.Time
	took, err := eventually(recoveryBound, func() error {
		calls := l.snapshot()
		recovered = returned
		for _, route := range append(databaseRoutes, "GET /readyz") {
			first, ok := firstSuccess(calls, route, returned)
			if !ok {
				return fmt.Errorf("%s has not answered 200 since", route)
			}
			if first.end.After(recovered) {
				recovered = first.end
			}
		}
		return nil
	})
	if err != nil {
		l.halt()
		t.Fatalf("after the database came back, the service did not recover: %v; the calls:\n%s", err, l.summary())
	}
	time.Sleep(3 * time.Second)
	l.halt()
	calls := l.snapshot()

	if n, odd := l.unexpected(); n > 0 {
		t.Errorf("GET /me needs no database, yet %d of its requests did not answer 200; the first: %v", n, odd)
	}

	for _, c := range calls {
		if c.err != nil {
			t.Errorf("a request failed outright (a hang or a broken connection): %s", c)
		} else if c.latency() > answerBound {
			t.Errorf("a request took longer than %s: %s", answerBound, c)
		} else if c.status == http.StatusInternalServerError {
			t.Errorf("a 500: %s %s", c, c.body)
		}
	}
	during := func(c call) bool { return !c.start.Before(gone) && !c.end.After(back) }
	for _, route := range databaseRoutes {
		n := 0
		for _, c := range calls {
			switch {
			case c.route != route:
			case during(c):
				n++
				if c.status != http.StatusServiceUnavailable || c.code != "unavailable" || c.header.Get("Retry-After") == "" {
					t.Errorf("with the database %s: want 503 unavailable with Retry-After, got %s %s", o.name, c, c.body)
				}
			case !c.start.Before(recovered):
				if c.status != http.StatusOK {
					t.Errorf("after recovery: want 200, got %s %s", c, c.body)
				}
			case c.status != http.StatusOK && c.code != "unavailable":
				// While the database goes or comes, a request may succeed or
				// find it unavailable, and nothing else.
				t.Errorf("while the database was going or coming: want 200 or 503 unavailable, got %s %s", c, c.body)
			}
		}
		if n == 0 {
			t.Errorf("no %s request was made while the database was %s", route, o.name)
		}
	}
	readyDuring := 0
	for _, c := range calls {
		if c.route == "GET /readyz" && during(c) {
			readyDuring++
			if c.status != http.StatusServiceUnavailable || !bytes.Contains(c.body, []byte(`"database":"failing"`)) {
				t.Errorf("readyz with the database %s: want 503 with the database check failing, got %s %s", o.name, c, c.body)
			}
		}
	}
	if readyDuring == 0 {
		t.Errorf("no readyz request was made while the database was %s", o.name)
	}
	t.Logf("database %s for %s; every route answered 200 again %s after it was back; the calls:\n%s",
		o.name, back.Sub(away).Round(time.Millisecond), took.Round(time.Millisecond), slowestDuring(calls, during)+l.summary())
}

// firstSuccess returns the first 200 to route among calls asked at or after since.
func firstSuccess(calls []call, route string, since time.Time) (call, bool) {
	for _, c := range calls {
		if c.route == route && !c.start.Before(since) && c.err == nil && c.status == http.StatusOK {
			return c, true
		}
	}
	return call{}, false
}

// slowestDuring describes the slowest answer per route among the calls that
// during selects.
func slowestDuring(calls []call, during func(call) bool) string {
	slowest := map[string]time.Duration{}
	var routes []string
	for _, c := range calls {
		if !during(c) {
			continue
		}
		if _, ok := slowest[c.route]; !ok {
			routes = append(routes, c.route)
		}
		slowest[c.route] = max(slowest[c.route], c.latency())
	}
	var b strings.Builder
	b.WriteString("  slowest answers during the outage:")
	for _, r := range routes {
		fmt.Fprintf(&b, " %s %s;", r, slowest[r].Round(time.Millisecond))
	}
	b.WriteString("\n")
	return b.String()
}

// signalPostgres sends sig to the PostgreSQL server and every process it
// started. The postmaster's pid is the first line of postmaster.pid in the
// data dir (the parent of the log directory); its children each lead a
// session of their own, so they are found through /proc. The postmaster
// goes first: stopped, it forks no more children.
func signalPostgres(c *pgcluster.Cluster, sig syscall.Signal) error {
	dataDir := filepath.Dir(filepath.Dir(c.LogPath()))
	b, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return err
	}
	first, _, _ := strings.Cut(string(b), "\n")
	postmaster, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || postmaster <= 1 {
		return errors.New("postmaster.pid: no pid on its first line")
	}
	if err := syscall.Kill(postmaster, sig); err != nil {
		return err
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		status, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue // it has exited
		}
		if bytes.Contains(status, []byte("\nPPid:\t"+strconv.Itoa(postmaster)+"\n")) {
			_ = syscall.Kill(pid, sig) // it may have exited since
		}
	}
	return nil
}
