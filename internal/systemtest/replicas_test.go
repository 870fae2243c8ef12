package systemtest

import (
	"fmt"
	"maps"
	"net/http"
	"testing"
	"time"

	"github.com/revenue-api/revenue-api/internal/pgtest"
)

// with returns a copy of env with one more setting.
func with(env map[string]string, key, value string) map[string]string {
	e := maps.Clone(env)
	e[key] = value
	return e
}

// TestReplicasBehindLoadBalancer runs three replicas that share nothing but
// the database and the key directory behind nginx round robin, with no
// sticky sessions: any replica verifies a token another issued, a refresh
// token rotated by one is spent for all, and a replica can leave under load
// without a client noticing.
func TestReplicasBehindLoadBalancer(t *testing.T) {
	nginx := requireNginx(t)
	env := baseEnv(pgtest.NewDatabase(t), t.TempDir())

	// The first replica generates the one signing key the others load.
	replicas := []*server{startServer(t, "replica-1", with(env, "REVENUE_KEYS_GENERATE", "true"))}
	// The other two start at once: both migrate and seed the shared database.
	replicas = append(replicas, launch(t, "replica-2", env), launch(t, "replica-3", env))
	var upstreams []string
	for _, r := range replicas {
		r.waitListening(t)
		upstreams = append(upstreams, r.Addr)
	}
	lb := newClient(startNginx(t, nginx, upstreams), 16)
	defer lb.close()
	login := mustLogin(t, lb)

	t.Run("hundreds of revenue requests land on every replica and all succeed", func(t *testing.T) {
		const workers, perWorker = 6, 100
		before := servedBy(replicas, "/revenue", http.StatusOK)
		l := newLoad(false)
		for range workers {
			l.repeat(perWorker, func() call { return lb.do(http.MethodGet, "/revenue", login.AccessToken, nil) }, want200)
		}
		l.wait()
		if n, odd := l.unexpected(); n > 0 {
			t.Fatalf("%d of the revenue requests failed; the first: %v", n, odd)
		}
		sent := l.total("GET /revenue", http.StatusOK)
		if sent < workers*perWorker {
			t.Fatalf("want %d successful revenue requests, got %d", workers*perWorker, sent)
		}
		// Each replica writes its access log lines within 100 ms (in batches).
		var per []int
		if _, err := eventually(5*time.Second, func() error {
			per = diff(servedBy(replicas, "/revenue", http.StatusOK), before)
			if sum(per) != sent {
				return fmt.Errorf("the replicas logged %d successful revenue requests (%v), the client made %d", sum(per), per, sent)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		for i, n := range per {
			if n < sent/6 { // round robin gives each about a third
				t.Errorf("%s served %d of %d revenue requests; want at least %d (round robin): %v", replicas[i].name, n, sent, sent/6, per)
			}
		}
		t.Logf("%d revenue requests through nginx, served by the replicas as %v", sent, per)
	})

	t.Run("a refresh served by one replica and the next by another both work", func(t *testing.T) {
		direct := make([]*client, len(replicas))
		for i, r := range replicas {
			direct[i] = newClient(r.URL, 2)
			defer direct[i].close()
		}
		tk := mustLogin(t, lb)
		var spent []string
		for i := range 2 * len(replicas) {
			at, next := direct[i%len(replicas)], direct[(i+1)%len(replicas)]
			spent = append(spent, tk.RefreshToken)
			got, res := at.refresh(tk.RefreshToken)
			if err := want200(res); err != nil {
				t.Fatalf("refresh #%d at %s: %v", i+1, at.base, err)
			}
			// The new access token, signed by one replica, is good at another.
			if err := want200(next.do(http.MethodGet, "/revenue", got.AccessToken, nil)); err != nil {
				t.Fatalf("revenue at %s with the access token %s issued: %v", next.base, at.base, err)
			}
			tk = got
		}

		// Through the balancer, consecutive refreshes go round the replicas.
		before := servedBy(replicas, "/token/refresh", http.StatusOK)
		for i := range 6 {
			spent = append(spent, tk.RefreshToken)
			got, res := lb.refresh(tk.RefreshToken)
			if err := want200(res); err != nil {
				t.Fatalf("refresh #%d through nginx: %v", i+1, err)
			}
			tk = got
		}
		var per []int
		_, _ = eventually(5*time.Second, func() error {
			per = diff(servedBy(replicas, "/token/refresh", http.StatusOK), before)
			if sum(per) < 6 {
				return fmt.Errorf("only %d logged", sum(per))
			}
			return nil
		})
		if nonzero(per) < 2 {
			t.Errorf("six refreshes through nginx were served by %v; want at least two replicas", per)
		}

		// A token spent at one replica is spent for all: presented again at
		// another, it is refused, and its whole session ends with it.
		reused, res := direct[2].refresh(spent[1])
		if res.status != http.StatusUnauthorized || res.code != "invalid_refresh_token" {
			t.Fatalf("a refresh token spent at %s, presented again at %s: want 401 invalid_refresh_token, got %s (%v)",
				direct[1].base, direct[2].base, res, reused)
		}
		if _, res := direct[0].refresh(tk.RefreshToken); res.status != http.StatusUnauthorized {
			t.Fatalf("after reuse was detected, the session's newest refresh token: want 401, got %s", res)
		}
	})

	t.Run("a replica stopped under load costs the clients no request", func(t *testing.T) {
		l := newLoad(false)
		for range 8 {
			l.loop(0, func() call { return lb.do(http.MethodGet, "/revenue", login.AccessToken, nil) }, want200)
		}
		for range 2 {
			l.loop(0, func() call { return lb.do(http.MethodGet, "/me", login.AccessToken, nil) }, want200)
		}
		defer l.halt()
		time.Sleep(2 * time.Second)
		leaving := replicas[1]
		began := time.Now()
		if err := leaving.terminate(); err != nil {
			t.Errorf("%s on SIGTERM: want a graceful exit with status 0, got %v", leaving.name, err)
		}
		took := time.Since(began)
		stayed := []*server{replicas[0], replicas[2]}
		atStop := servedBy(stayed, "/revenue", 0)
		callsAtStop := l.total("GET /revenue", -1)
		time.Sleep(3 * time.Second)
		l.halt()

		if n, odd := l.unexpected(); n > 0 {
			t.Errorf("%d requests failed while %s stopped; the first: %v", n, leaving.name, odd)
		}
		after := l.total("GET /revenue", -1) - callsAtStop
		if after < 100 {
			t.Errorf("only %d revenue requests were made after %s stopped; want the load to go on", after, leaving.name)
		}
		for i, n := range diff(servedBy(stayed, "/revenue", 0), atStop) {
			if n == 0 {
				t.Errorf("%s served no request after %s stopped", stayed[i].name, leaving.name)
			}
		}
		if err := want200(lb.do(http.MethodGet, "/readyz", "", nil)); err != nil {
			t.Errorf("readyz through nginx with two replicas left: %v", err)
		}
		t.Logf("%s left in %s under load; clients:\n%s", leaving.name, took.Round(time.Millisecond), l.summary())
	})
}

// servedBy returns how many requests to route each server logged with status.
func servedBy(servers []*server, route string, status int) []int {
	n := make([]int, len(servers))
	for i, s := range servers {
		n[i] = s.served(route, status)
	}
	return n
}

func diff(a, b []int) []int {
	d := make([]int, len(a))
	for i := range a {
		d[i] = a[i] - b[i]
	}
	return d
}

func sum(a []int) int {
	s := 0
	for _, v := range a {
		s += v
	}
	return s
}

func nonzero(a []int) int {
	n := 0
	for _, v := range a {
		if v != 0 {
			n++
		}
	}
	return n
}
