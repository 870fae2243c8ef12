// The data-tier bench needs etcd, Patroni and PgBouncer and a few minutes
// of full load: it is built only with -tags ha, which `make
// bench-data-tier` sets.

//go:build ha

package systemtest

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/revenue-api/revenue-api/internal/pgtest"
	"github.com/revenue-api/revenue-api/internal/proctree"
)

const (
	// The load: as in make bench, 16 refresh chains and 4 login
	// connections in parallel, and one chain alone for the latency of a
	// refresh nothing else waits on.
	tierRefreshChains = 16
	tierLoginConns    = 4
	// serverCPU runs the servers, PgBouncer and the PostgreSQL that
	// answers them; loadCPU the test (the load), etcd, Patroni and the
	// standby, which in production runs on a machine of its own.
	serverCPU = 1
	loadCPU   = 0
	clockTick = time.Second / proctree.ClockTicks // the unit of /proc's CPU times
)

// dataTier is one way to the database, with the processes whose CPU time
// counts.
type dataTier struct {
	name    string
	srv     *server
	pg      func() int // the PostgreSQL answering: its postmaster's pid
	standby func() int // the synchronous or asynchronous standby, if any
	bouncer int        // PgBouncer's pid, if any
	sync    *bool      // Patroni's synchronous_mode during this tier's rounds
	primary string     // with sync: a connection string to the primary, for its replication lag
	chains  []string   // the refresh chains' current tokens

	runs map[string][]tierRun // by load
}

// tierRun is one timed run of one load against one tier.
type tierRun struct {
	ok                           int
	elapsed                      time.Duration
	latencies                    []time.Duration
	server, pg, standby, bouncer uint64 // CPU clock ticks
	flushLags                    []time.Duration
}

// TestDataTierCost measures what the data tier costs a refresh and a
// login, against (a) one PostgreSQL, (b) a two-node Patroni cluster in
// synchronous mode (synchronous_commit on: a commit waits for the
// standby's flush), (c) the same cluster with synchronous mode off
// (asynchronous streaming), (d) PgBouncer in transaction mode in front of
// the one PostgreSQL, and (e) the one PostgreSQL directly with the
// statement handling a transaction pooler needs
// (REVENUE_DATABASE_POOLER=transaction), which tells PgBouncer's own cost
// from that handling's. Every PostgreSQL has the same parameters
// (pgParameters: durable, fsync on) and listens on 127.0.0.1, so what (b)
// adds here is the standby's flush, not a network. Each server is a real
// revenue-api process with GOMAXPROCS=1; the servers, PgBouncer and the
// PostgreSQL that answers share CPU 1 (as in make bench), the load, etcd,
// Patroni and the standby CPU 0. Rounds are interleaved, each starting
// with another tier. It prints a table, and fails if any request is not
// answered 200 or the cluster is not in the mode a tier says.
//
// REVENUE_DATA_TIER_ROUNDS (default 3) and REVENUE_DATA_TIER_DURATION
// (default 4s, per load and round) set its length: about four minutes.
func TestDataTierCost(t *testing.T) {
	if runtime.NumCPU() < 2 {
		t.Fatalf("this bench pins the servers to CPU %d and the load to CPU %d: it needs two CPUs, this machine has %d", serverCPU, loadCPU, runtime.NumCPU())
	}
	rounds := envInt(t, "REVENUE_DATA_TIER_ROUNDS", 3)
	duration := envDuration(t, "REVENUE_DATA_TIER_DURATION", 4*time.Second)
	// Everything started from here inherits CPU 0; what serves moves to CPU 1.
	pin(t, os.Getpid(), loadCPU)
	signing := measureSigning(t)

	ha := startHACluster(t)
	primary, standby := ha.primaryAndStandby(t, haDatabase)
	alone := ha.startAlone(t, "pg-alone")
	for _, db := range []string{"revenue", "revenue_pooled", "revenue_describe"} {
		createDatabaseAt(t, alone.url("postgres"), db)
	}
	bouncer := pgtest.StartPgBouncerFor(t, alone.url("postgres"))
	pin(t, postmasterOf(primary.dataDir), serverCPU)
	pin(t, alone.cmd.Process.Pid, serverCPU)
	pin(t, bouncer.Pid(), serverCPU)

	start := func(name, url string, extra map[string]string) *server {
		env := baseEnv(url, t.TempDir())
		env["REVENUE_KEYS_GENERATE"] = "true"
		env["GOMAXPROCS"] = "1"
		for k, v := range extra {
			env[k] = v
		}
		s := startServer(t, name, env)
		pin(t, s.pid(), serverCPU)
		return s
	}
	postmaster := func(n *haNode) func() int { return func() int { return postmasterOf(n.dataDir) } }
	on, off := true, false
	haServer := start("api-patroni", ha.url(haDatabase), nil)
	tiers := []*dataTier{
		{name: "(a) one PostgreSQL", srv: start("api-alone", alone.url("revenue"), nil), pg: postmaster(alone)},
		{name: "(b) Patroni, 2 nodes, synchronous_mode on", srv: haServer, pg: postmaster(primary), standby: postmaster(standby), sync: &on, primary: ha.url("postgres")},
		{name: "(c) Patroni, 2 nodes, synchronous_mode off (async streaming)", srv: haServer, pg: postmaster(primary), standby: postmaster(standby), sync: &off, primary: ha.url("postgres")},
		{name: "(d) PgBouncer (transaction) → one PostgreSQL", pg: postmaster(alone), bouncer: bouncer.Pid(),
			srv: start("api-pgbouncer", bouncer.URL(t, alone.url("revenue_pooled")), map[string]string{
				"REVENUE_DATABASE_POOLER":     "transaction",
				"REVENUE_DATABASE_DIRECT_URL": alone.url("revenue_pooled"),
			})},
		// What (d) costs without PgBouncer: the statement handling a
		// transaction pooler needs (no named prepared statements), direct.
		{name: "(e) one PostgreSQL, REVENUE_DATABASE_POOLER=transaction, no PgBouncer", pg: postmaster(alone),
			srv: start("api-describe", alone.url("revenue_describe"), map[string]string{"REVENUE_DATABASE_POOLER": "transaction",
				"REVENUE_DATABASE_DIRECT_URL": alone.url("revenue_describe")})},
	}
	syncMode := true // startHACluster waits for a synchronous standby
	ensureMode := func(tr *dataTier) {
		if tr.sync == nil {
			return
		}
		if *tr.sync != syncMode {
			ha.setSynchronousMode(t, *tr.sync)
			syncMode = *tr.sync
		}
		want := map[bool]string{true: "sync", false: "async"}[syncMode]
		if got, err := ha.replicationState(); err != nil || got != want {
			t.Fatalf("%s: the primary's standby is %q (%v), want %q", tr.name, got, err, want)
		}
	}

	loads := []struct {
		name    string
		workers int
	}{
		{"refresh", tierRefreshChains},
		{"login", tierLoginConns},
		{"refresh, 1 chain", 1},
	}
	clients := map[*dataTier]*client{}
	for _, tr := range tiers {
		c := newClient(tr.srv.URL, tierRefreshChains)
		defer c.close()
		clients[tr] = c
		tr.runs = map[string][]tierRun{}
	}
	// A warm-up of each load on each tier, then the interleaved rounds.
	for round := -1; round < rounds; round++ {
		d := duration
		if round < 0 {
			d = duration / 2
		}
		for i := range tiers {
			tr := tiers[(i+max(round, 0))%len(tiers)]
			ensureMode(tr)
			for _, l := range loads {
				r := tr.measure(t, clients[tr], l.name, l.workers, d)
				if round >= 0 {
					tr.runs[l.name] = append(tr.runs[l.name], r)
				}
			}
			ensureMode(tr) // still in the mode it was measured in
		}
	}

	if t.Failed() {
		return
	}
	fmt.Print(tierReport(tiers, rounds, duration, signing))
}

// measure runs one load on the tier for d and returns what came of it. A
// refresh chain presents the token its previous refresh returned; chains
// are topped up with logins before the timed part.
func (tr *dataTier) measure(t *testing.T, c *client, load string, workers int, d time.Duration) tierRun {
	t.Helper()
	refresh := strings.HasPrefix(load, "refresh")
	if refresh {
		for len(tr.chains) < workers {
			tr.chains = append(tr.chains, mustLogin(t, c).RefreshToken)
		}
	}
	pids := map[string]int{"server": tr.srv.pid(), "pg": tr.pg(), "bouncer": tr.bouncer}
	if tr.standby != nil {
		pids["standby"] = tr.standby()
	}
	before := map[string]proctree.Tree{}
	for role, pid := range pids {
		before[role] = proctree.CPU(pid)
	}
	var (
		mu  sync.Mutex
		run tierRun
		bad []call
		wg  sync.WaitGroup
	)
	stopSampling := make(chan struct{})
	lags := make(chan []time.Duration, 1)
	if tr.primary != "" {
		go func() { lags <- sampleFlushLag(tr.primary, stopSampling) }()
	}
	began := time.Now()
	deadline := began.Add(d)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat []time.Duration
			ok := 0
			for time.Now().Before(deadline) {
				var res call
				if refresh {
					var next tokens
					next, res = c.refresh(tr.chains[w])
					if res.err == nil && res.status == http.StatusOK {
						tr.chains[w] = next.RefreshToken
					}
				} else {
					_, res = c.login(aliceEmail, alicePassword)
				}
				if res.err != nil || res.status != http.StatusOK {
					mu.Lock()
					bad = append(bad, res)
					mu.Unlock()
					if refresh { // the chain's token may be spent: start it again
						tk, res := c.login(aliceEmail, alicePassword)
						if res.err != nil || res.status != http.StatusOK {
							return
						}
						tr.chains[w] = tk.RefreshToken
					}
					continue
				}
				ok++
				lat = append(lat, res.latency())
			}
			mu.Lock()
			run.ok += ok
			run.latencies = append(run.latencies, lat...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	run.elapsed = time.Since(began)
	close(stopSampling)
	if tr.primary != "" {
		run.flushLags = <-lags
	}
	for role, pid := range pids {
		ticks := proctree.Delta(before[role], proctree.CPU(pid))
		switch role {
		case "server":
			run.server = ticks
		case "pg":
			run.pg = ticks
		case "standby":
			run.standby = ticks
		case "bouncer":
			run.bouncer = ticks
		}
	}
	if len(bad) > 0 {
		t.Errorf("%s, %s: %d of %d requests not answered 200; the first: %s %s", tr.name, load, len(bad), len(bad)+run.ok, bad[0], truncate(bad[0].body))
	}
	if run.ok == 0 {
		t.Errorf("%s, %s: no request answered 200 in %s", tr.name, load, d)
	}
	return run
}

// tierReport is the markdown the bench prints: per load, a row per tier.
func tierReport(tiers []*dataTier, rounds int, d time.Duration, signing time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n## Data tier: %s, %s/%s, %d CPUs; %d interleaved rounds of %s per load; load average %s\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), rounds, d, loadAverage())
	fmt.Fprintf(&b, "RS256 (RSA-2048 PKCS#1 v1.5, crypto/rsa) signature on CPU %d: %.3f ms, %.0f signatures/s per core\n",
		loadCPU, float64(signing)/1e6, float64(time.Second)/float64(signing))
	for _, load := range []string{"refresh", "login", "refresh, 1 chain"} {
		fmt.Fprintf(&b, "\n### POST %s (%s)\n\n", map[bool]string{true: "/token/refresh", false: "/login"}[strings.HasPrefix(load, "refresh")], load)
		b.WriteString("| data tier | req/s (min–max) | × (a) | p50 ms | p99 ms | server CPU µs/op | PostgreSQL CPU µs/op | standby CPU µs/op | PgBouncer CPU µs/op |\n")
		b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, tr := range tiers {
			runs := tr.runs[load]
			var rates, ratios []float64
			var lat []time.Duration
			var ok int
			var server, pg, standby, bouncer uint64
			for i, r := range runs {
				rate := float64(r.ok) / r.elapsed.Seconds()
				rates = append(rates, rate)
				if base := tiers[0].runs[load][i]; base.ok > 0 {
					ratios = append(ratios, rate/(float64(base.ok)/base.elapsed.Seconds()))
				}
				lat = append(lat, r.latencies...)
				ok += r.ok
				server, pg, standby, bouncer = server+r.server, pg+r.pg, standby+r.standby, bouncer+r.bouncer
			}
			slices.Sort(lat)
			perOp := func(ticks uint64, present bool) string {
				if !present || ok == 0 {
					return "–"
				}
				return fmt.Sprintf("%.0f", float64(ticks)*float64(clockTick/time.Microsecond)/float64(ok))
			}
			fmt.Fprintf(&b, "| %s | %.0f (%.0f–%.0f) | %.2f | %.2f | %.2f | %s | %s | %s | %s |\n",
				tr.name, medianOf(rates), slices.Min(rates), slices.Max(rates), medianOf(ratios),
				ms(percentile(lat, 0.50)), ms(percentile(lat, 0.99)),
				perOp(server, true), perOp(pg, true), perOp(standby, tr.standby != nil), perOp(bouncer, tr.bouncer != 0))
		}
	}
	b.WriteString("\nThe standby's flush lag (pg_stat_replication.flush_lag, sampled every 50 ms: what a commit waits for in synchronous mode), p50 / p90:\n\n")
	for _, tr := range tiers {
		if tr.primary == "" {
			continue
		}
		for _, load := range []string{"refresh", "refresh, 1 chain"} {
			var lags []time.Duration
			for _, r := range tr.runs[load] {
				lags = append(lags, r.flushLags...)
			}
			slices.Sort(lags)
			fmt.Fprintf(&b, "- %s, %s: %.2f / %.2f ms (%d samples)\n", tr.name, load, ms(percentile(lags, 0.5)), ms(percentile(lags, 0.9)), len(lags))
		}
	}
	b.WriteString("\nreq/s: median of the rounds; × (a): median of per-round ratios; p50/p99 over every request of every round; CPU: utime+stime from /proc over the runs (the server with its hash workers; PostgreSQL: the postmaster and its processes) per request answered.\n")
	return b.String()
}

// sampleFlushLag reads the primary's flush_lag for its standby
// (pg_stat_replication: from a commit's local flush to the standby's
// report that it has flushed it too, the wait synchronous mode adds to the
// commit) every 50 ms until stop is closed.
func sampleFlushLag(url string, stop <-chan struct{}) []time.Duration {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil
	}
	defer conn.Close(context.Background())
	var lags []time.Duration
	for {
		select {
		case <-stop:
			return lags
		case <-time.After(50 * time.Millisecond):
		}
		var seconds *float64
		if err := conn.QueryRow(ctx, "SELECT extract(epoch FROM flush_lag)::float8 FROM pg_stat_replication LIMIT 1").Scan(&seconds); err == nil && seconds != nil {
			lags = append(lags, time.Duration(*seconds*float64(time.Second)))
		}
	}
}

// measureSigning times RS256 signing as the service signs an access token:
// crypto/rsa PKCS#1 v1.5 over SHA-256, a 2048-bit key: the fastest of ten
// batches of 100 ms, the one least disturbed by other work on the CPU.
func measureSigning(t *testing.T) time.Duration {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte(strings.Repeat("a", 400)))
	best := time.Duration(0)
	for range 10 {
		n, began := 0, time.Now()
		for time.Since(began) < 100*time.Millisecond {
			if _, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, digest[:]); err != nil {
				t.Fatal(err)
			}
			n++
		}
		if per := time.Since(began) / time.Duration(n); best == 0 || per < best {
			best = per
		}
	}
	return best
}

// pin moves pid, every thread of it and every process it started to cpu;
// what they start later inherits it.
func pin(t *testing.T, pid, cpu int) {
	t.Helper()
	for p := range proctree.CPU(pid).Procs {
		out, err := exec.Command("taskset", "-a", "-p", "-c", strconv.Itoa(cpu), strconv.Itoa(p)).CombinedOutput()
		if err != nil && p == pid {
			t.Fatalf("taskset %d to CPU %d: %v %s", pid, cpu, err, out)
		}
	}
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(p*float64(len(sorted))))]
}

func medianOf(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a whole number ≥ 1", name, v)
	}
	return n
}

func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q: want a positive Go duration such as 4s", name, v)
	}
	return d
}
