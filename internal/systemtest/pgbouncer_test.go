package systemtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/revenue-api/revenue-api/internal/pgtest"
)

// TestThroughPgBouncer runs two replicas with DATABASE_URL pointing at
// PgBouncer 1.18 in transaction pooling mode with its stock settings, and
// REVENUE_DATABASE_DIRECT_URL at PostgreSQL for the migrations' lock and
// LISTEN, and goes through every flow that touches the database.
func TestThroughPgBouncer(t *testing.T) {
	bouncer := pgtest.StartPgBouncer(t)
	direct := pgtest.NewDatabase(t)
	env := baseEnv(bouncer.URL(t, direct), t.TempDir())
	env["REVENUE_DATABASE_POOLER"] = "transaction"
	env["REVENUE_DATABASE_DIRECT_URL"] = direct
	// A short cleanup interval runs the advisory-locked session cleanup
	// through PgBouncer during the test.
	env["REVENUE_CLEANUP_INTERVAL"] = "1s"
	defer func() {
		if t.Failed() {
			t.Logf("PgBouncer's log:\n%s", bouncer.Log())
		}
	}()

	replicas := []*server{startServer(t, "replica-1", with(env, "REVENUE_KEYS_GENERATE", "true"))}
	replicas = append(replicas, startServer(t, "replica-2", env))
	first, second := newClient(replicas[0].URL, 8), newClient(replicas[1].URL, 8)
	defer first.close()
	defer second.close()

	mustBe := func(t *testing.T, want int, res call) call {
		t.Helper()
		if res.err != nil || res.status != want {
			t.Fatalf("want %d, got %s %s", want, res, truncate(res.body))
		}
		return res
	}

	t.Run("login, revenue and the session list", func(t *testing.T) {
		tk := mustLogin(t, first)
		mustBe(t, http.StatusOK, first.do(http.MethodGet, "/revenue", tk.AccessToken, nil))
		mustBe(t, http.StatusOK, second.do(http.MethodGet, "/revenue?from=2024-01&to=2024-12", tk.AccessToken, nil))
		res := mustBe(t, http.StatusOK, second.do(http.MethodGet, "/sessions", tk.AccessToken, nil))
		var list struct {
			Sessions []struct {
				ID      string `json:"id"`
				Current bool   `json:"current"`
			} `json:"sessions"`
		}
		if err := json.Unmarshal(res.body, &list); err != nil {
			t.Fatal(err)
		}
		sid := sessionID(t, tk.AccessToken)
		found := false
		for _, s := range list.Sessions {
			found = found || (s.ID == sid && s.Current)
		}
		if !found {
			t.Fatalf("GET /sessions: want the current session %s among %s", sid, res.body)
		}
	})

	t.Run("refresh chains in parallel, alternating replicas", func(t *testing.T) {
		const chains, steps = 6, 10
		var wg sync.WaitGroup
		errs := make(chan error, chains)
		for i := range chains {
			wg.Add(1)
			go func() {
				defer wg.Done()
				clients := []*client{first, second}
				tk, res := clients[i%2].login(aliceEmail, alicePassword)
				if err := want200(res); err != nil {
					errs <- fmt.Errorf("chain %d: login: %w", i, err)
					return
				}
				for step := range steps {
					c := clients[(i+step+1)%2]
					next, res := c.refresh(tk.RefreshToken)
					if err := want200(res); err != nil {
						errs <- fmt.Errorf("chain %d: refresh %d: %w", i, step, err)
						return
					}
					if err := want200(c.do(http.MethodGet, "/revenue", next.AccessToken, nil)); err != nil {
						errs <- fmt.Errorf("chain %d: revenue after refresh %d: %w", i, step, err)
						return
					}
					tk = next
				}
				// The spent token is refused.
				if _, res := clients[i%2].refresh("not-" + tk.RefreshToken); res.status != http.StatusUnauthorized {
					errs <- fmt.Errorf("chain %d: an unknown refresh token: want 401, got %s", i, res)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})

	t.Run("logout on one replica is refused on the other", func(t *testing.T) {
		tk := mustLogin(t, first)
		mustBe(t, http.StatusOK, second.do(http.MethodGet, "/revenue", tk.AccessToken, nil))
		mustBe(t, http.StatusNoContent, first.do(http.MethodPost, "/logout", tk.AccessToken, nil))
		if _, err := eventually(5*time.Second, func() error {
			if res := second.do(http.MethodGet, "/revenue", tk.AccessToken, nil); res.status != http.StatusUnauthorized {
				return fmt.Errorf("the logged-out token on replica-2: want 401, got %s", res)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if _, res := second.refresh(tk.RefreshToken); res.status != http.StatusUnauthorized {
			t.Fatalf("the logged-out session's refresh token: want 401, got %s", res)
		}
	})

	t.Run("ending one session, then all of them", func(t *testing.T) {
		a, b, c := mustLogin(t, first), mustLogin(t, second), mustLogin(t, first)
		mustBe(t, http.StatusNoContent, second.do(http.MethodDelete, "/sessions/"+sessionID(t, b.AccessToken), a.AccessToken, nil))
		mustBe(t, http.StatusNoContent, first.do(http.MethodPost, "/logout/all", a.AccessToken, nil))
		for _, tk := range []tokens{a, b, c} {
			if _, err := eventually(5*time.Second, func() error {
				for _, cl := range []*client{first, second} {
					if res := cl.do(http.MethodGet, "/revenue", tk.AccessToken, nil); res.status != http.StatusUnauthorized {
						return fmt.Errorf("after /logout/all, a token of session %s at %s: want 401, got %s", sessionID(t, tk.AccessToken), cl.base, res)
					}
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		mustLogin(t, second) // the user may log in again
	})

	t.Run("no database error in the replicas' logs", func(t *testing.T) {
		time.Sleep(1500 * time.Millisecond) // a cleanup round through PgBouncer
		for _, r := range replicas {
			for _, bad := range []string{"SQLSTATE", "unsupported startup parameter", "request failed", `"level":"ERROR"`} {
				if tail := r.logTail(10000); strings.Contains(tail, bad) {
					t.Errorf("%s logged %q:\n%s", r.name, bad, grepLines(tail, bad))
				}
			}
		}
	})
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
