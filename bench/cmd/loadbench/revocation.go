package main

// What revoking access tokens costs: GET /me on servers holding no and
// many live revocations (variants of the HTTP table, on databases that
// differ only in the revocations table), and how long a logout answered by
// one replica takes to be refused by another replica and by a verifier-only
// process.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/revenue-api/revenue-api/internal/pgcluster"
)

// The databases cloned from the seeded one (CREATE DATABASE … TEMPLATE), so
// that servers on them differ from each other only in what is added after.
const (
	dbNoRevocations   = "revenue_rev0"
	dbManyRevocations = "revenue_revmany"
	dbLogouts         = "revenue_logouts"
)

// feedToken is the revocation feed's shared secret, set on the replicas
// and on the verifier-only process.
const feedToken = "loadbench-revocation-feed-secret-0123456789"

// cloneDatabases makes the databases above from the seeded one, and fills
// dbManyRevocations with n live revocations, a tenth of them of users.
func (h *harness) cloneDatabases(ctx context.Context, n int) error {
	admin := h.cluster.ConnString("postgres")
	for _, name := range []string{dbNoRevocations, dbManyRevocations, dbLogouts} {
		if err := pgcluster.CreateDatabase(ctx, admin, name, "revenue"); err != nil {
			return err
		}
	}
	conn, err := pgx.Connect(ctx, h.cluster.ConnString(dbManyRevocations))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	// Live for two hours: longer than any run, so pruning keeps them.
	_, err = conn.Exec(ctx, `INSERT INTO revocations (kind, subject, reason, not_before, revoked_at, expires_at)
		SELECT CASE WHEN i % 10 = 0 THEN 'user' ELSE 'session' END, gen_random_uuid(), 'bench', now(), now(), now() + interval '2 hours'
		FROM generate_series(1, $1::int) AS i`, n)
	return err
}

// expectRevocations reads p's start-up log line "revocations loaded" and
// wants it to say want live revocations.
func expectRevocations(p *proc, want int) error {
	f, err := os.Open(p.log)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		var line struct {
			Msg  string `json:"msg"`
			Live *int   `json:"live"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "revocations loaded" && line.Live != nil {
			if *line.Live != want {
				return fmt.Errorf("%s holds %d live revocations, want %d (see %s)", p.name, *line.Live, want, p.log)
			}
			return nil
		}
	}
	return fmt.Errorf("%s: no \"revocations loaded\" line in %s", p.name, p.log)
}

// logoutServers are the processes of the propagation test: two replicas of
// one database and a verifier-only process following the first one's feed.
type logoutServers struct {
	issuer, replica, verifier *proc
}

func (h *harness) startLogoutServers(ctx context.Context) (logoutServers, error) {
	var s logoutServers
	var err error
	db := "DATABASE_URL=" + h.cluster.ConnString(dbLogouts)
	if s.issuer, err = h.startAPI(ctx, "api-logout-a", db, "REVENUE_REVOCATION_FEED_TOKEN="+feedToken); err != nil {
		return s, err
	}
	if s.replica, err = h.startAPI(ctx, "api-logout-b", db, "REVENUE_REVOCATION_FEED_TOKEN="+feedToken); err != nil {
		return s, err
	}
	s.verifier, err = h.startAPI(ctx, "api-logout-verifier", "REVENUE_JWKS_URL="+s.issuer.url+"/.well-known/jwks.json",
		"REVENUE_REVOCATION_FEED_TOKEN="+feedToken, "REVENUE_REVOCATION_POLL="+verifierPoll.String())
	return s, err
}

// verifierPoll is the verifier-only process's REVENUE_REVOCATION_POLL (the
// service's default: its retry delay after a failed feed long poll), and the
// spread of the random waits before the logouts it is timed for.
const verifierPoll = time.Second

// propagationResult is, per logout, how long after POST /logout was answered
// the token was first refused: by the other replica and by the verifier.
type propagationResult struct {
	Replica, Verifier []time.Duration
	// ReplicaFirst and VerifierFirst count the logouts already refused on
	// the first poll.
	ReplicaFirst, VerifierFirst int
	Every                       time.Duration
	Failures                    []string
}

// propagation runs `loadbench logouts` pinned to the load generator's CPU,
// so the polling client does not share a CPU with the servers.
func (h *harness) propagation(ctx context.Context, s logoutServers) (*propagationResult, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "taskset", "-c", strconv.Itoa(h.o.loadCPU), self, "logouts",
		"-issuer", s.issuer.url, "-replica", s.replica.url, "-verifier", s.verifier.url, "-n", strconv.Itoa(h.o.logouts),
		"-jitter", verifierPoll.String())
	cmd.Env = cleanEnv()
	cmd.Stderr = h.log
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("loadbench logouts: %w", err)
	}
	var res propagationResult
	if err := json.Unmarshal(out, &res); err != nil {
		return nil, fmt.Errorf("loadbench logouts printed %q: %w", out, err)
	}
	return &res, nil
}

// logoutsCommand logs in on the issuer n times; each time it makes sure the
// replica (and, every -verifier-every logouts, the verifier) accept the
// token (so it is in their token caches), logs out on the issuer, then polls
// GET /me on them every -every until each answers 401. It prints a
// propagationResult as JSON.
//
// The verifier polls its feed on a ticker: a logout made right after the
// previous refusal would fall at the same phase of it every time, so each
// logout the verifier is timed for waits a random part of -jitter first.
func logoutsCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("logouts", flag.ContinueOnError)
	fs.SetOutput(stderr)
	issuer := fs.String("issuer", "", "base URL of the replica that logs in and out")
	replica := fs.String("replica", "", "base URL of another replica of the same database")
	verifier := fs.String("verifier", "", "base URL of a verifier-only process (optional)")
	n := fs.Int("n", 200, "logouts")
	every := fs.Duration("every", time.Millisecond, "poll interval after each logout")
	timeout := fs.Duration("timeout", 10*time.Second, "give up on a refusal after this long")
	verifierEvery := fs.Int("verifier-every", 4, "time the verifier on every this many logouts")
	jitter := fs.Duration("jitter", verifierPoll, "the verifier's poll interval: the random wait before the logouts it is timed for")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *issuer == "" || *replica == "" {
		return errors.New("-issuer and -replica are required")
	}
	client := &http.Client{Timeout: 10 * time.Second}
	res := propagationResult{Every: *every}
	for i := range *n {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		tok, err := loginToken(ctx, client, *issuer)
		if err != nil {
			return err
		}
		targets := []string{*replica}
		if *verifier != "" && i%max(1, *verifierEvery) == 0 {
			targets = append(targets, *verifier)
			time.Sleep(rand.N(*jitter))
		}
		for _, t := range targets {
			if err := waitStatus(ctx, client, t, tok, http.StatusOK, time.Now(), *every, *timeout); err != nil {
				return fmt.Errorf("before logout %d: %w", i+1, err)
			}
		}
		if st, err := call(ctx, client, http.MethodPost, *issuer+"/logout", tok); err != nil || st != http.StatusNoContent {
			return fmt.Errorf("logout %d: status %d (%v)", i+1, st, err)
		}
		answered := time.Now()
		took := make([]time.Duration, len(targets))
		first := make([]bool, len(targets))
		errs := make([]error, len(targets))
		var wg sync.WaitGroup
		for j, t := range targets {
			wg.Go(func() {
				var polls int
				errs[j] = waitStatus(ctx, client, t, tok, http.StatusUnauthorized, answered, *every, *timeout, &polls)
				took[j], first[j] = time.Since(answered), polls == 1
			})
		}
		wg.Wait()
		for j, t := range targets {
			if errs[j] != nil {
				res.Failures = append(res.Failures, fmt.Sprintf("logout %d, %s: %v", i+1, t, errs[j]))
				continue
			}
			dst, firstCount := &res.Replica, &res.ReplicaFirst
			if j == 1 {
				dst, firstCount = &res.Verifier, &res.VerifierFirst
			}
			*dst = append(*dst, took[j])
			if first[j] {
				*firstCount++
			}
		}
		if (i+1)%50 == 0 {
			fmt.Fprintf(stderr, "loadbench: %d of %d logouts\n", i+1, *n)
		}
	}
	return json.NewEncoder(stdout).Encode(res)
}

// waitStatus sends GET /me with tok to base every `every` from start until
// it answers want, for at most timeout; polls, when given, counts the
// requests sent.
func waitStatus(ctx context.Context, client *http.Client, base, tok string, want int, start time.Time, every, timeout time.Duration, polls ...*int) error {
	var last int
	for next := start; time.Since(start) < timeout; next = next.Add(every) {
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
		st, err := call(ctx, client, http.MethodGet, base+"/me", tok)
		for _, p := range polls {
			*p++
		}
		if err != nil {
			return err
		}
		if st == want {
			return nil
		}
		last = st
	}
	return fmt.Errorf("%s/me: still %d after %s, want %d", base, last, timeout, want)
}

// call sends one bearer request and returns its status.
func call(ctx context.Context, client *http.Client, method, url, tok string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// percentile is the nearest-rank percentile q (0–100) of ds.
func percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(q/100*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func fmtMs(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 1, 64)
}

// revocationLabel names a revocation variant for the table.
func revocationLabel(cache string, n int) string {
	return fmt.Sprintf("revenue-api, token cache %s, %s live revocations", cache, groupThousands(n))
}

// groupThousands writes n with commas: 100,000.
func groupThousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
