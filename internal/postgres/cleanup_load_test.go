//go:build cleanupload

package postgres_test

import (
	"context"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/revenue-api/revenue-api/internal/apitest"
	"github.com/revenue-api/revenue-api/internal/auth"
	"github.com/revenue-api/revenue-api/internal/postgres"
)

// Cleaning up a backlog of ended sessions must not slow refreshes down much
// (issue 15: refresh p99 at most 2× while cleanup runs). Generates
// REVENUE_CLEANUP_LOAD_SESSIONS ended sessions with two
// refresh tokens each, the second the first's successor, then measures the
// p99 of parallel refresh chains first alone, then while Cleanup deletes
// the backlog. The default, 200,000, keeps the test within a minute on two
// cores; a million takes about two (half of it generating the rows). Slow,
// so built only with -tags cleanupload (make test-cleanup-load).
func TestCleanupUnderRefreshLoad(t *testing.T) {
	backlog := 200_000
	if v := os.Getenv("REVENUE_CLEANUP_LOAD_SESSIONS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("REVENUE_CLEANUP_LOAD_SESSIONS: want a positive number, got %q", v)
		}
		backlog = n
	}
	const (
		chains   = 4
		baseline = 10 * time.Second
		longest  = 40 * time.Second // of the phase with cleanup running
	)
	env := apitest.New(t)
	ctx := context.Background()
	now := env.Clock.Now()

	start := time.Now()
	generateEndedSessions(t, env, backlog, now.Add(-time.Hour))
	t.Logf("generated %d ended sessions with %d refresh tokens in %s", backlog, 2*backlog, time.Since(start).Round(time.Millisecond))

	tokens := make([]string, chains)
	for i := range tokens {
		tokens[i] = env.Login(apitest.AliceEmail, apitest.AlicePassword).RefreshToken
	}
	// measure runs the refresh chains until stop is closed and returns
	// every refresh's latency.
	measure := func(stop <-chan struct{}) []time.Duration {
		var (
			mu  sync.Mutex
			all []time.Duration
			wg  sync.WaitGroup
		)
		for i := range tokens {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var mine []time.Duration
				for {
					select {
					case <-stop:
						mu.Lock()
						all = append(all, mine...)
						mu.Unlock()
						return
					default:
					}
					t0 := time.Now()
					got, err := env.Auth.Refresh(ctx, tokens[i], auth.Client{IP: "192.0.2.1", UserAgent: "cleanup-load"})
					mine = append(mine, time.Since(t0))
					if err != nil {
						t.Errorf("chain %d: refresh: %v", i, err)
						mu.Lock()
						all = append(all, mine...)
						mu.Unlock()
						return
					}
					tokens[i] = got.RefreshToken
				}
			}()
		}
		wg.Wait()
		return all
	}

	stop := make(chan struct{})
	time.AfterFunc(baseline, func() { close(stop) })
	quiet := measure(stop)

	sessions := postgres.NewSessionStore(env.DB)
	stop = make(chan struct{})
	var (
		deleted  int64
		cleanErr error
		took     time.Duration
	)
	go func() {
		defer close(stop)
		cctx, cancel := context.WithTimeout(ctx, longest)
		defer cancel()
		t0 := time.Now()
		deleted, cleanErr = sessions.Cleanup(cctx, now, 15*time.Minute)
		took = time.Since(t0)
		if cctx.Err() != nil {
			cleanErr = nil // the backlog is larger than longest allows
		}
	}()
	busy := measure(stop)
	if cleanErr != nil {
		t.Fatalf("cleanup: %v", cleanErr)
	}

	pq, pb := percentile(quiet, 0.99), percentile(busy, 0.99)
	t.Logf("cleanup deleted %d of %d sessions in %s (%.0f/s)", deleted, backlog, took.Round(time.Millisecond), float64(deleted)/took.Seconds())
	t.Logf("refresh, %d chains: without cleanup %d refreshes, p50 %s p99 %s; during cleanup %d refreshes, p50 %s p99 %s (%.2f×)",
		chains, len(quiet), percentile(quiet, 0.5), pq, len(busy), percentile(busy, 0.5), pb, float64(pb)/float64(pq))
	if pb > 2*pq {
		t.Errorf("refresh p99 during cleanup is %s, want at most 2 × %s", pb, pq)
	}
}

// generateEndedSessions inserts n sessions of Alice that ended at endedAt,
// each with a spent refresh token and its successor, in a few statements.
func generateEndedSessions(t *testing.T, env *apitest.Env, n int, endedAt time.Time) {
	t.Helper()
	ctx := context.Background()
	conn, err := env.DB.Pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SET statement_timeout = 0`); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO sessions (user_id, created_at, last_used_at, idle_expires_at, expires_at, ended_at, end_reason)
			SELECT u.id, $2::timestamptz - interval '1 day', $2, $2::timestamptz + interval '7 days', $2::timestamptz + interval '30 days', $2, 'logout'
			FROM users u, generate_series(1, $1) WHERE u.email = 'alice@example.com'`,
		`INSERT INTO refresh_tokens (token_hash, session_id, created_at, used_at)
			SELECT sha256(convert_to(id::text || '/1', 'UTF8')), id, created_at, $2 FROM sessions WHERE ended_at IS NOT NULL AND $1 > 0`,
		`INSERT INTO refresh_tokens (token_hash, session_id, parent_id, created_at)
			SELECT sha256(convert_to(session_id::text || '/2', 'UTF8')), session_id, id, $2 FROM refresh_tokens WHERE $1 > 0`,
	} {
		if _, err := conn.Exec(ctx, q, n, endedAt); err != nil {
			t.Fatalf("generating sessions: %v", err)
		}
	}
	// The checkpoint writes the generated rows out now, not during the
	// baseline, which it would slow down.
	for _, q := range []string{`VACUUM ANALYZE sessions, refresh_tokens`, `CHECKPOINT`, `RESET statement_timeout`} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
}

// percentile is the q-quantile of ds (nearest rank).
func percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))].Round(10 * time.Microsecond)
}
