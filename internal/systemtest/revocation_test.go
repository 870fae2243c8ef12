package systemtest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/revenue-api/revenue-api/internal/pgtest"
)

// The bounds the product promises: a revocation is in force on every
// replica within a second and on every verifier-only service within two.
const (
	replicaBound  = time.Second
	verifierBound = 2 * time.Second
)

// feedToken is the revocation feed's shared secret in these tests.
const feedToken = "systemtest-feed-token-0123456789abcdef"

// revocationRounds is how many revocations of each kind the test makes:
// REVENUE_REVOCATION_ROUNDS (make test-revocation sets 50), else 5.
func revocationRounds(t *testing.T) int {
	if v := os.Getenv("REVENUE_REVOCATION_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("REVENUE_REVOCATION_ROUNDS=%q: want a positive number", v)
		}
		return n
	}
	return 5
}

// revocationCluster is three replicas on one database and one verifier-only
// process following the first replica's feed.
type revocationCluster struct {
	env      map[string]string
	dbURL    string
	replicas []*server
	verifier *server
	clients  []*client // one per replica, then the verifier
}

func (rc *revocationCluster) names() []string {
	var out []string
	for _, r := range rc.replicas {
		out = append(out, r.name)
	}
	return append(out, rc.verifier.name)
}

func startRevocationCluster(t *testing.T) *revocationCluster {
	t.Helper()
	rc := &revocationCluster{dbURL: pgtest.NewDatabase(t)}
	rc.env = baseEnv(rc.dbURL, t.TempDir())
	rc.env["REVENUE_REVOCATION_FEED_TOKEN"] = feedToken
	rc.replicas = []*server{startServer(t, "replica-1", with(rc.env, "REVENUE_KEYS_GENERATE", "true"))}
	rc.replicas = append(rc.replicas, launch(t, "replica-2", rc.env), launch(t, "replica-3", rc.env))
	for _, r := range rc.replicas {
		r.waitListening(t)
	}
	rc.verifier = startServer(t, "verifier", map[string]string{
		"REVENUE_HTTP_ADDR":             "127.0.0.1:0",
		"REVENUE_ISSUER":                rc.env["REVENUE_ISSUER"],
		"REVENUE_JWKS_URL":              rc.replicas[0].URL + "/.well-known/jwks.json",
		"REVENUE_REVOCATION_FEED_TOKEN": feedToken,
		"REVENUE_LOG_LEVEL":             "info",
	})
	for _, s := range append(slices.Clone(rc.replicas), rc.verifier) {
		c := newClient(s.URL, 4)
		t.Cleanup(c.close)
		rc.clients = append(rc.clients, c)
	}
	// The verifier is ready once it has the keys and a first page of the feed.
	if _, err := eventually(10*time.Second, func() error {
		if res := rc.clients[3].do(http.MethodGet, "/readyz", "", nil); res.status != http.StatusOK {
			return fmt.Errorf("verifier /readyz: %s %s", res, truncate(res.body))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return rc
}

// admin runs a revenue-api admin command against the cluster's database.
func (rc *revocationCluster) admin(t *testing.T, stdin string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = environ(rc.env)
	cmd.Stdin = strings.NewReader(stdin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("revenue-api %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// addUsers creates n users of alice's organization with alice's password,
// named prefix-N@example.com, by copying her row.
func (rc *revocationCluster) addUsers(t *testing.T, prefix string, n int) []string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, rc.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var emails []string
	for i := range n {
		email := fmt.Sprintf("%s-%d@example.com", prefix, i)
		if _, err := conn.Exec(ctx, `INSERT INTO users (organization_id, email, password_hash, roles)
			SELECT organization_id, $1, password_hash, roles FROM users WHERE email = $2`, email, aliceEmail); err != nil {
			t.Fatal(err)
		}
		emails = append(emails, email)
	}
	return emails
}

// timesToRefusal polls GET /me with access on every process until each
// refuses it as revoked, and returns how long each took from start. A
// process that still accepts the token after its bound (plus slack for the
// polling itself) fails the test.
func (rc *revocationCluster) timesToRefusal(t *testing.T, access string, start time.Time) []time.Duration {
	t.Helper()
	out := make([]time.Duration, len(rc.clients))
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	for i, c := range rc.clients {
		bound := replicaBound
		if i == len(rc.replicas) {
			bound = verifierBound
		}
		wg.Go(func() {
			for {
				res := c.do(http.MethodGet, "/me", access, nil)
				if res.status == http.StatusUnauthorized {
					out[i] = time.Since(start)
					if !strings.Contains(res.header.Get("WWW-Authenticate"), "revoked") {
						mu.Lock()
						failures = append(failures, fmt.Sprintf("%s: a 401 that does not say revoked: %q", rc.names()[i], res.header.Get("WWW-Authenticate")))
						mu.Unlock()
					}
					return
				}
				if res.status != http.StatusOK || time.Since(start) > bound+250*time.Millisecond {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("%s: still %s %s after %s (bound %s)",
						rc.names()[i], res, truncate(res.body), time.Since(start).Round(time.Millisecond), bound))
					mu.Unlock()
					return
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("a revoked token was not refused in time:\n%s", strings.Join(failures, "\n"))
	}
	return out
}

// sessionID reads the sid claim of an access token (already verified by
// the server that issued it).
func sessionID(t *testing.T, access string) string {
	t.Helper()
	parts := strings.Split(access, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		SID string `json:"sid"`
	}
	if err := json.Unmarshal(payload, &c); err != nil || c.SID == "" {
		t.Fatalf("no sid in the access token: %v", err)
	}
	return c.SID
}

// revocationKind is one way to revoke a token: prepare returns the token to
// watch and the action that revokes it.
type revocationKind struct {
	name    string
	prepare func(t *testing.T, i int) (access string, revoke func())
}

// TestRevocationReachesEveryProcess revokes tokens in every way the product
// offers, on one replica or from the command line, and measures how long
// each of three replicas and a verifier-only process keeps accepting the
// token: at most a second on replicas, two on the verifier.
func TestRevocationReachesEveryProcess(t *testing.T) {
	rc := startRevocationCluster(t)
	rounds := revocationRounds(t)
	first := rc.clients[0]
	second := rc.clients[1]
	login := func(t *testing.T, c *client, email string) tokens {
		t.Helper()
		tk, res := c.login(email, alicePassword)
		if res.status != http.StatusOK {
			t.Fatalf("login %s: %s %s", email, res, truncate(res.body))
		}
		return tk
	}
	mustStatus := func(t *testing.T, want int, res call) {
		t.Helper()
		if res.status != want {
			t.Fatalf("%s: want %d, got %s %s", res.route, want, res, truncate(res.body))
		}
	}
	disabled := rc.addUsers(t, "disabled", rounds)
	passwd := rc.addUsers(t, "passwd", rounds)
	roles := rc.addUsers(t, "roles", rounds)

	kinds := []revocationKind{
		{"logout", func(t *testing.T, i int) (string, func()) {
			tk := login(t, first, aliceEmail)
			return tk.AccessToken, func() { mustStatus(t, 204, first.do(http.MethodPost, "/logout", tk.AccessToken, nil)) }
		}},
		{"end one session", func(t *testing.T, i int) (string, func()) {
			victim, other := login(t, first, aliceEmail), login(t, second, aliceEmail)
			sid := sessionID(t, victim.AccessToken)
			return victim.AccessToken, func() {
				mustStatus(t, 204, second.do(http.MethodDelete, "/sessions/"+sid, other.AccessToken, nil))
			}
		}},
		{"logout everywhere", func(t *testing.T, i int) (string, func()) {
			victim, other := login(t, first, aliceEmail), login(t, second, aliceEmail)
			return victim.AccessToken, func() { mustStatus(t, 204, second.do(http.MethodPost, "/logout/all", other.AccessToken, nil)) }
		}},
		{"refresh token reuse", func(t *testing.T, i int) (string, func()) {
			tk := login(t, first, aliceEmail)
			next, res := second.refresh(tk.RefreshToken)
			mustStatus(t, 200, res)
			last, res := first.refresh(next.RefreshToken) // the successor is presented
			mustStatus(t, 200, res)
			return last.AccessToken, func() {
				_, res := first.refresh(tk.RefreshToken) // the first, spent one again: the session ends
				mustStatus(t, 401, res)
			}
		}},
		{"users disable", func(t *testing.T, i int) (string, func()) {
			tk := login(t, first, disabled[i])
			return tk.AccessToken, func() { rc.admin(t, "", "users", "disable", "-email", disabled[i]) }
		}},
		{"users passwd", func(t *testing.T, i int) (string, func()) {
			tk := login(t, first, passwd[i])
			return tk.AccessToken, func() { rc.admin(t, "another-password-42\n", "users", "passwd", "-email", passwd[i]) }
		}},
		{"users logout -session", func(t *testing.T, i int) (string, func()) {
			tk := login(t, first, aliceEmail)
			sid := sessionID(t, tk.AccessToken)
			return tk.AccessToken, func() { rc.admin(t, "", "users", "logout", "-email", aliceEmail, "-session", sid) }
		}},
		{"users roles", func(t *testing.T, i int) (string, func()) {
			tk := login(t, first, roles[i])
			return tk.AccessToken, func() { rc.admin(t, "", "users", "roles", "-email", roles[i], "-roles", "member") }
		}},
	}
	var report []string
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			per := make([][]time.Duration, len(rc.clients))
			for i := range rounds {
				access, revoke := k.prepare(t, i)
				for _, c := range rc.clients {
					mustStatus(t, 200, c.do(http.MethodGet, "/me", access, nil))
				}
				revoke()
				for j, d := range rc.timesToRefusal(t, access, time.Now()) {
					per[j] = append(per[j], d)
				}
			}
			line := fmt.Sprintf("%-20s", k.name)
			for j, name := range rc.names() {
				line += fmt.Sprintf(" | %s %s", name, percentiles(per[j]))
			}
			report = append(report, line)
		})
	}
	t.Logf("time from the revoking answer to a refused token, %d revocations of each kind (p50 / p99 / max):\n%s",
		rounds, strings.Join(report, "\n"))

	t.Run("roles change keeps the session: a refresh gets a token with the new roles", func(t *testing.T) {
		email := rc.addUsers(t, "promoted", 1)[0]
		tk := login(t, first, email)
		rc.admin(t, "", "users", "roles", "-email", email, "-roles", "member")
		next, res := second.refresh(tk.RefreshToken)
		mustStatus(t, 200, res)
		res = rc.clients[2].do(http.MethodGet, "/me", next.AccessToken, nil)
		mustStatus(t, 200, res)
		if !strings.Contains(string(res.body), `"roles":["member"]`) {
			t.Fatalf("the refreshed token should carry the new roles: %s", res.body)
		}
		mustStatus(t, 403, rc.clients[2].do(http.MethodGet, "/revenue", next.AccessToken, nil))
	})

	t.Run("a replica started after the revocation refuses the token from its first request", func(t *testing.T) {
		tk := login(t, first, aliceEmail)
		mustStatus(t, 204, first.do(http.MethodPost, "/logout", tk.AccessToken, nil))
		late := startServer(t, "replica-4", rc.env)
		c := newClient(late.URL, 1)
		defer c.close()
		mustStatus(t, 401, c.do(http.MethodGet, "/me", tk.AccessToken, nil))
	})

	t.Run("parallel logouts and refreshes neither deadlock nor lose a revocation", func(t *testing.T) {
		const chains = 12
		var wg sync.WaitGroup
		revoked := make([]string, chains)
		errs := make(chan error, chains)
		for i := range chains {
			wg.Go(func() {
				c := rc.clients[i%len(rc.replicas)]
				tk, res := c.login(aliceEmail, alicePassword)
				if res.status != 200 {
					errs <- fmt.Errorf("login: %s", res)
					return
				}
				for range 5 {
					next, res := rc.clients[(i+1)%len(rc.replicas)].refresh(tk.RefreshToken)
					if res.status != 200 {
						errs <- fmt.Errorf("refresh: %s %s", res, truncate(res.body))
						return
					}
					tk = next
				}
				if res := c.do(http.MethodPost, "/logout", tk.AccessToken, nil); res.status != 204 {
					errs <- fmt.Errorf("logout: %s", res)
					return
				}
				revoked[i] = tk.AccessToken
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		start := time.Now()
		for _, access := range revoked {
			rc.timesToRefusal(t, access, start)
		}
	})

	t.Run("the feed refuses a reader without the feed token", func(t *testing.T) {
		res := first.do(http.MethodGet, "/revocations", "", nil)
		mustStatus(t, 401, res)
		res = first.do(http.MethodGet, "/revocations", "not-the-feed-token", nil)
		mustStatus(t, 401, res)
		res = first.do(http.MethodGet, "/revocations?cursor=0", feedToken, nil)
		mustStatus(t, 200, res)
		if ct := res.header.Get("Content-Type"); ct != "application/jwt" {
			t.Fatalf("feed Content-Type: got %q, want application/jwt", ct)
		}
	})
}

// TestRevocationSurvivesPostgresRestart freezes a replica, logs out on
// another, restarts PostgreSQL (the frozen replica's LISTEN connection and
// any notification queued for it are lost), and thaws it: its catch-up by
// cursor must still bring the revocation.
func TestRevocationSurvivesPostgresRestart(t *testing.T) {
	cluster := pgtest.Cluster()
	if cluster == nil {
		t.Fatal("this test restarts PostgreSQL, so it needs the private server that pgtest starts: unset TEST_DATABASE_URL")
	}
	env := baseEnv(pgtest.NewDatabase(t), t.TempDir())
	a := startServer(t, "replica-a", with(env, "REVENUE_KEYS_GENERATE", "true"))
	b := startServer(t, "replica-b", env)
	ca, cb := newClient(a.URL, 2), newClient(b.URL, 2)
	defer ca.close()
	defer cb.close()
	t.Cleanup(func() {
		_ = b.cmd.Process.Signal(syscall.SIGCONT)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := cluster.Start(ctx); err != nil {
			t.Errorf("restart PostgreSQL: %v", err)
		}
	})
	tk := mustLogin(t, ca)
	if res := cb.do(http.MethodGet, "/me", tk.AccessToken, nil); res.status != 200 {
		t.Fatalf("before: %s", res)
	}

	if err := b.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	if res := ca.do(http.MethodPost, "/logout", tk.AccessToken, nil); res.status != 204 {
		t.Fatalf("logout: %s", res)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := cluster.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := cluster.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	took, err := eventually(10*time.Second, func() error {
		if res := cb.do(http.MethodGet, "/me", tk.AccessToken, nil); res.status != http.StatusUnauthorized {
			return fmt.Errorf("the thawed replica still answers %s", res)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("the revocation did not reach the replica after PostgreSQL restarted: %v\n%s", err, b.logTail(20))
	}
	t.Logf("the thawed replica refused the token %s after it resumed", took.Round(time.Millisecond))
}

// A verifier-only process that starts while more revocations are live than
// one page of the feed holds reads them page after page, and only then
// counts itself ready: the revocation in the last page is in force from
// its first request.
func TestVerifierCatchesUpInPages(t *testing.T) {
	const transactions, perTransaction = 5, 5_000 // 25,000 live revocations: three pages
	env := baseEnv(pgtest.NewDatabase(t), t.TempDir())
	env["REVENUE_REVOCATION_FEED_TOKEN"] = feedToken
	issuer := startServer(t, "issuer", with(env, "REVENUE_KEYS_GENERATE", "true"))
	ci := newClient(issuer.URL, 2)
	defer ci.close()
	tk := mustLogin(t, ci)

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, env["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for range transactions {
		if _, err := conn.Exec(ctx, `INSERT INTO revocations (kind, subject, reason, not_before, revoked_at, expires_at)
			SELECT 'session', gen_random_uuid(), 'logout', now(), now(), now() + interval '1 hour'
			FROM generate_series(1, $1)`, perTransaction); err != nil {
			t.Fatal(err)
		}
	}
	// The last revocation: alice's session, in the feed's last page.
	if res := ci.do(http.MethodPost, "/logout", tk.AccessToken, nil); res.status != http.StatusNoContent {
		t.Fatalf("logout: %s", res)
	}
	if _, err := eventually(10*time.Second, func() error {
		if res := ci.do(http.MethodGet, "/revocations?cursor=0", feedToken, nil); !strings.Contains(string(res.body), ".") {
			return fmt.Errorf("feed: %s", res)
		}
		if res := ci.do(http.MethodGet, "/me", tk.AccessToken, nil); res.status != http.StatusUnauthorized {
			return fmt.Errorf("the issuer still accepts the token: %s", res)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// The feed from the start is cut into pages.
	first := ci.do(http.MethodGet, "/revocations?cursor=0", feedToken, nil)
	parts := strings.Split(string(first.body), ".")
	if first.status != http.StatusOK || len(parts) != 3 {
		t.Fatalf("first page: %s", first)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		More   bool              `json:"more"`
		Events []json.RawMessage `json:"events"`
	}
	if err := json.Unmarshal(raw, &claims); err != nil || !claims.More || len(claims.Events) < 5_000 || len(claims.Events) > 15_000 {
		t.Fatalf("first page: more %v, %d events (%v); want more, one page of about 10,000", claims.More, len(claims.Events), err)
	}

	start := time.Now()
	verifier := startServer(t, "verifier", map[string]string{
		"REVENUE_HTTP_ADDR":             "127.0.0.1:0",
		"REVENUE_ISSUER":                env["REVENUE_ISSUER"],
		"REVENUE_JWKS_URL":              issuer.URL + "/.well-known/jwks.json",
		"REVENUE_REVOCATION_FEED_TOKEN": feedToken,
		"REVENUE_LOG_LEVEL":             "info",
	})
	cv := newClient(verifier.URL, 2)
	defer cv.close()
	if res := cv.do(http.MethodGet, "/me", tk.AccessToken, nil); res.status != http.StatusUnauthorized || res.code != "invalid_token" {
		t.Fatalf("the verifier's first answer to the revoked token: %s, want 401 invalid_token\n%s", res, verifier.logTail(20))
	}
	if !strings.Contains(string(cv.do(http.MethodGet, "/me", tk.AccessToken, nil).header.Get("WWW-Authenticate")), "revoked") {
		t.Fatalf("the verifier refuses the token, but not as revoked\n%s", verifier.logTail(20))
	}
	if res := cv.do(http.MethodGet, "/readyz", "", nil); res.status != http.StatusOK {
		t.Fatalf("verifier /readyz after its catch-up: %s %s", res, truncate(res.body))
	}
	t.Logf("a verifier started with %d live revocations was ready and refusing the last one %s after it was launched",
		transactions*perTransaction+1, time.Since(start).Round(time.Millisecond))
}

// percentiles formats p50 / p99 / max of ds.
func percentiles(ds []time.Duration) string {
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(q float64) time.Duration { return s[min(len(s)-1, int(q*float64(len(s))))] }
	ms := func(d time.Duration) string { return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 1, 64) }
	return fmt.Sprintf("%s/%s/%s ms", ms(at(0.5)), ms(at(0.99)), ms(s[len(s)-1]))
}
