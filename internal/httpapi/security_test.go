package httpapi_test

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/revenue-api/revenue-api/api"
	"github.com/revenue-api/revenue-api/internal/apitest"
	"github.com/revenue-api/revenue-api/internal/auth"
	"github.com/revenue-api/revenue-api/internal/config"
	"github.com/revenue-api/revenue-api/internal/httpapi"
	"github.com/revenue-api/revenue-api/internal/passwordhash"
	"github.com/revenue-api/revenue-api/internal/postgres"
	"github.com/revenue-api/revenue-api/internal/revenue"
	"github.com/revenue-api/revenue-api/internal/syncbuf"
)

// replica is a second instance of the service on env's database, keys and
// clock, as another replica behind a load balancer (or the same one after a
// restart) would be: its own router, rate limiter, hashing pool and log.
type replica struct {
	*apitest.Env
	Hasher *passwordhash.Hasher
}

// replicaSetup changes how a replica is built.
type replicaSetup struct {
	argon2          passwordhash.Params // zero: apitest.CheapArgon2
	workers, queue  int                 // zero: env's
	config          func(*config.Config)
	wrapVerifier    func(httpapi.Verifier) httpapi.Verifier
	lockoutDisabled bool // no per-account lockout (for timing many failures)
}

func newReplica(t *testing.T, env *apitest.Env, setup replicaSetup) *replica {
	t.Helper()
	cfg := env.Config
	if setup.config != nil {
		setup.config(&cfg)
	}
	params := setup.argon2
	if params == (passwordhash.Params{}) {
		params = apitest.CheapArgon2
	}
	workers, queue := cfg.HashWorkers, cfg.HashQueue
	if setup.workers > 0 {
		workers, queue = setup.workers, setup.queue
	}
	hasher, err := passwordhash.New(params, workers, queue)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hasher.Close)
	logs := &syncbuf.Buffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	policy := cfg.AuthPolicy()
	if setup.lockoutDisabled {
		policy.LockoutThreshold = math.MaxInt32
	}
	svc := auth.NewService(postgres.NewUserStore(env.DB), postgres.NewSessionStore(env.DB), postgres.NewEventStore(env.DB),
		env.Signer, hasher, policy, log, env.Clock.Now)
	verifier := env.Verifier
	if setup.wrapVerifier != nil {
		verifier = setup.wrapVerifier(verifier)
	}
	metrics := httpapi.NewMetrics(nil)
	handler, err := httpapi.NewServer(httpapi.Deps{
		Config: httpapi.Config{
			CORSOrigins: cfg.CORSOrigins, TrustedProxies: cfg.TrustedProxies, MaxBodyBytes: cfg.MaxBodyBytes,
			CookieSecure: cfg.CookieSecure, AuthRate: cfg.AuthRate, AuthBurst: cfg.AuthBurst, JWKSMaxAge: cfg.JWKSMaxAge,
		},
		Log:         log,
		Auth:        svc,
		Revenue:     revenue.NewService(postgres.NewRevenueStore(env.DB)),
		Verifier:    verifier,
		Keys:        env.Keyring.Set,
		Metrics:     metrics,
		OpenAPISpec: api.OpenAPI,
		Now:         env.Clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	r := *env
	r.T, r.Config, r.Auth, r.Verifier, r.Handler, r.Logs, r.Metrics = t, cfg, svc, verifier, handler, logs, metrics
	return &replica{Env: &r, Hasher: hasher}
}

// settings builds the service from environment settings, as an operator
// would give them, so the tests hold the setting names to their meaning.
func withSettings(t *testing.T, env map[string]string) apitest.Option {
	t.Helper()
	loaded, err := config.Load(func(name string) string { return env[name] })
	if err != nil {
		t.Fatal(err)
	}
	return func(c *config.Config) {
		c.AuthRate, c.AuthBurst, c.TrustedProxies = loaded.AuthRate, loaded.AuthBurst, loaded.TrustedProxies
		c.CORSOrigins = loaded.CORSOrigins
		c.LockoutThreshold, c.LockoutBase, c.LockoutMax = loaded.LockoutThreshold, loaded.LockoutBase, loaded.LockoutMax
		c.MaxBodyBytes = loaded.MaxBodyBytes
	}
}

func loginAs(email, password string) apitest.Request {
	return apitest.Request{Method: http.MethodPost, Path: "/login", Body: map[string]string{"email": email, "password": password}}
}

func fromAddr(req apitest.Request, remote string) apitest.Request {
	req.Remote = remote
	return req
}

func plusHeader(req apitest.Request, name, value string) apitest.Request {
	h := req.Header.Clone()
	if h == nil {
		h = http.Header{}
	}
	h.Add(name, value)
	req.Header = h
	return req
}

// problemBody is a problem answer without its request_id, to compare two
// answers for sameness.
func problemBody(t *testing.T, resp apitest.Response) string {
	t.Helper()
	body := resp.JSON(t)
	delete(body, "request_id")
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func wantStatus(t *testing.T, what string, resp apitest.Response, status int, code string) {
	t.Helper()
	if resp.Code != status {
		t.Fatalf("%s: status %d, want %d %s: %s", what, resp.Code, status, code, resp.Body)
	}
	if code != "" {
		if got := resp.ProblemCode(t); got != code {
			t.Fatalf("%s: code %q, want %q: %s", what, got, code, resp.Body)
		}
	}
}

// wantRetryAfter checks a Retry-After of whole seconds (RFC 9110 §10.2.3)
// and returns it.
func wantRetryAfter(t *testing.T, resp apitest.Response) time.Duration {
	t.Helper()
	v := resp.Header().Get("Retry-After")
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("Retry-After = %q, want a positive number of seconds", v)
	}
	return time.Duration(n) * time.Second
}

func countEvents(env *apitest.Env) int { return len(env.Events()) }

func TestLoginRateLimitPerAddress(t *testing.T) {
	env := apitest.New(t, withSettings(t, map[string]string{"REVENUE_AUTH_RATE": "0.2", "REVENUE_AUTH_BURST": "3"}))
	attempt := loginAs("nobody@example.com", "not-a-password")
	for i := range 3 {
		wantStatus(t, fmt.Sprintf("attempt %d within the burst", i+1), env.Do(fromAddr(attempt, "192.0.2.10:1000")), 401, "invalid_credentials")
	}
	before := countEvents(env)
	limited := env.Do(fromAddr(attempt, "192.0.2.10:1001"))
	wantStatus(t, "attempt beyond the burst", limited, 429, "rate_limited")
	if wait := wantRetryAfter(t, limited); wait != 5*time.Second {
		t.Errorf("Retry-After %s, want 5s: one request per 5 seconds (REVENUE_AUTH_RATE=0.2)", wait)
	}
	if n := countEvents(env); n != before {
		t.Errorf("a refused attempt was processed: %d audit events, want %d", n, before)
	}

	// Other addresses and the refresh route have their own buckets.
	wantStatus(t, "another address", env.Do(fromAddr(attempt, "198.51.100.20:1000")), 401, "invalid_credentials")
	refresh := apitest.Request{Method: http.MethodPost, Path: "/token/refresh", Body: map[string]string{"refresh_token": "rt_x"}}
	wantStatus(t, "refresh from the limited address", env.Do(fromAddr(refresh, "192.0.2.10:1000")), 401, "invalid_refresh_token")

	// Retry-After is honest: after it, one more attempt, and only one.
	env.Clock.Advance(4 * time.Second)
	wantStatus(t, "before Retry-After", env.Do(fromAddr(attempt, "192.0.2.10:1000")), 429, "rate_limited")
	env.Clock.Advance(time.Second)
	wantStatus(t, "after Retry-After", env.Do(fromAddr(attempt, "192.0.2.10:1000")), 401, "invalid_credentials")
	wantStatus(t, "right after that", env.Do(fromAddr(attempt, "192.0.2.10:1000")), 429, "rate_limited")
}

func TestRefreshRateLimitPerAddress(t *testing.T) {
	env := apitest.New(t, withSettings(t, map[string]string{"REVENUE_AUTH_RATE": "1", "REVENUE_AUTH_BURST": "2"}))
	refresh := apitest.Request{Method: http.MethodPost, Path: "/token/refresh", Body: map[string]string{"refresh_token": "rt_guess"}}
	for i := range 2 {
		wantStatus(t, fmt.Sprintf("guess %d", i+1), env.Do(refresh), 401, "invalid_refresh_token")
	}
	resp := env.Do(refresh)
	wantStatus(t, "guess beyond the burst", resp, 429, "rate_limited")
	wantRetryAfter(t, resp)
}

func TestForwardedHeadersCannotDodgeTheRateLimit(t *testing.T) {
	// No REVENUE_TRUSTED_PROXIES: the address is the connection's, whatever
	// the request says about itself.
	for _, header := range []string{"X-Forwarded-For", "X-Real-IP", "Forwarded", "CF-Connecting-IP", "True-Client-IP", "X-Client-IP", "X-Cluster-Client-IP", "Fastly-Client-IP"} {
		t.Run(header, func(t *testing.T) {
			env := apitest.New(t, withSettings(t, map[string]string{"REVENUE_AUTH_RATE": "0.01", "REVENUE_AUTH_BURST": "2"}))
			spoof := func(i int) apitest.Request {
				value := fmt.Sprintf("203.0.113.%d", i)
				if header == "Forwarded" {
					value = "for=" + value
				}
				return plusHeader(loginAs("nobody@example.com", "not-a-password"), header, value)
			}
			for i := range 2 {
				wantStatus(t, "within the burst", env.Do(spoof(i)), 401, "invalid_credentials")
			}
			wantStatus(t, header+" with a fresh address", env.Do(spoof(99)), 429, "rate_limited")
		})
	}
}

func TestTrustedProxyForwardsTheClientAddress(t *testing.T) {
	env := apitest.New(t, withSettings(t, map[string]string{
		"REVENUE_AUTH_RATE": "0.01", "REVENUE_AUTH_BURST": "1", "REVENUE_TRUSTED_PROXIES": "192.0.2.0/24",
	}))
	const proxy = "192.0.2.1:4000"
	viaProxy := func(xff string) apitest.Request {
		return fromAddr(plusHeader(loginAs("nobody@example.com", "not-a-password"), "X-Forwarded-For", xff), proxy)
	}
	wantStatus(t, "client A through the proxy", env.Do(viaProxy("203.0.113.5")), 401, "invalid_credentials")
	wantStatus(t, "client B through the proxy", env.Do(viaProxy("203.0.113.6")), 401, "invalid_credentials")
	wantStatus(t, "client A again", env.Do(viaProxy("203.0.113.5")), 429, "rate_limited")
	// The proxy appends the address it saw; what the client wrote before it is not believed.
	wantStatus(t, "client A with a forged X-Forwarded-For", env.Do(viaProxy("198.51.100.1, 203.0.113.5")), 429, "rate_limited")

	// A peer outside the trusted range is its own client, X-Forwarded-For or not.
	direct := func(xff string) apitest.Request {
		return fromAddr(plusHeader(loginAs("nobody@example.com", "not-a-password"), "X-Forwarded-For", xff), "198.51.100.9:5000")
	}
	wantStatus(t, "untrusted peer", env.Do(direct("203.0.113.50")), 401, "invalid_credentials")
	wantStatus(t, "untrusted peer claiming another address", env.Do(direct("203.0.113.51")), 429, "rate_limited")
}

func TestIPv6ClientsAreLimitedPerSlash64(t *testing.T) {
	env := apitest.New(t, withSettings(t, map[string]string{"REVENUE_AUTH_RATE": "0.01", "REVENUE_AUTH_BURST": "2"}))
	attempt := loginAs("nobody@example.com", "not-a-password")
	wantStatus(t, "first address of the /64", env.Do(fromAddr(attempt, "[2001:db8:1:2::1]:1000")), 401, "invalid_credentials")
	wantStatus(t, "second address of the /64", env.Do(fromAddr(attempt, "[2001:db8:1:2::ffff]:1000")), 401, "invalid_credentials")
	wantStatus(t, "third address of the /64", env.Do(fromAddr(attempt, "[2001:db8:1:2:a:b:c:d]:1000")), 429, "rate_limited")
	wantStatus(t, "another /64", env.Do(fromAddr(attempt, "[2001:db8:1:3::1]:1000")), 401, "invalid_credentials")
	// An IPv4 client seen through an IPv6 socket is the same IPv4 client.
	wantStatus(t, "IPv4", env.Do(fromAddr(attempt, "192.0.2.77:1000")), 401, "invalid_credentials")
	wantStatus(t, "IPv4", env.Do(fromAddr(attempt, "192.0.2.77:1001")), 401, "invalid_credentials")
	wantStatus(t, "the same IPv4, mapped", env.Do(fromAddr(attempt, "[::ffff:192.0.2.77]:1000")), 429, "rate_limited")
}

// lockState reads the per-account throttling state from the database.
func lockState(t *testing.T, env *apitest.Env, email string) (failures int, lockedFor time.Duration) {
	t.Helper()
	var until *time.Time
	err := env.DB.Pool.QueryRow(context.Background(),
		`SELECT failed_logins, locked_until FROM users WHERE email = $1`, email).Scan(&failures, &until)
	if err != nil {
		t.Fatal(err)
	}
	if until != nil {
		lockedFor = until.Sub(env.Clock.Now())
	}
	return failures, lockedFor
}

func TestAccountLockoutGrows(t *testing.T) {
	env := apitest.New(t, withSettings(t, map[string]string{
		"REVENUE_LOCKOUT_THRESHOLD": "5", "REVENUE_LOCKOUT_BASE": "1m", "REVENUE_LOCKOUT_MAX": "15m",
		"REVENUE_AUTH_RATE": "1000", "REVENUE_AUTH_BURST": "1000",
	}))
	wrong := loginAs(apitest.AliceEmail, "not-alice-password")
	right := loginAs(apitest.AliceEmail, apitest.AlicePassword)
	var wrongBody string
	for i := 1; i <= 4; i++ {
		resp := env.Do(wrong)
		wantStatus(t, "wrong password", resp, 401, "invalid_credentials")
		wrongBody = problemBody(t, resp)
		if failures, locked := lockState(t, env, apitest.AliceEmail); failures != i || locked != 0 {
			t.Fatalf("after %d failures: failed_logins=%d, locked for %s; want %d and no lock", i, failures, locked, i)
		}
	}
	// Each failure past the threshold doubles the lock, up to the cap.
	for i, want := range []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 15 * time.Minute, 15 * time.Minute} {
		wantStatus(t, "wrong password", env.Do(wrong), 401, "invalid_credentials")
		if _, locked := lockState(t, env, apitest.AliceEmail); locked != want {
			t.Fatalf("after %d failures: locked for %s, want %s", 5+i, locked, want)
		}
		// While locked, the right password gets the very same answer.
		resp := env.Do(right)
		wantStatus(t, "right password while locked", resp, 401, "invalid_credentials")
		if got := problemBody(t, resp); got != wrongBody {
			t.Fatalf("locked answer differs from a wrong password's:\n%s\n%s", got, wrongBody)
		}
		if resp.Header().Get("Retry-After") != "" {
			t.Fatalf("a locked account's answer carries Retry-After, which tells it is locked")
		}
		env.Clock.Advance(want - time.Second)
		wantStatus(t, "right password a second before the lock ends", env.Do(right), 401, "invalid_credentials")
		env.Clock.Advance(time.Second)
	}
	env.Login(apitest.AliceEmail, apitest.AlicePassword)
	if failures, locked := lockState(t, env, apitest.AliceEmail); failures != 0 || locked != 0 {
		t.Errorf("after a successful login: failed_logins=%d, locked for %s; want both cleared", failures, locked)
	}
}

func TestAccountLockoutHoldsAcrossReplicas(t *testing.T) {
	a := apitest.New(t)
	b := newReplica(t, a, replicaSetup{})
	threshold := a.Config.LockoutThreshold
	// The attacker spreads guesses over replicas and addresses.
	for i := range threshold {
		replica := a
		if i%2 == 1 {
			replica = b.Env
		}
		resp := replica.Do(fromAddr(loginAs(apitest.AliceEmail, "guess-"+strconv.Itoa(i)), fmt.Sprintf("198.51.100.%d:1", i)))
		wantStatus(t, "a guess", resp, 401, "invalid_credentials")
	}
	if failures, locked := lockState(t, a, apitest.AliceEmail); failures != threshold || locked <= 0 {
		t.Fatalf("failed_logins=%d, locked for %s: want %d failures counted across replicas and a lock", failures, locked, threshold)
	}
	restarted := newReplica(t, a, replicaSetup{})
	for name, replica := range map[string]*apitest.Env{"replica A": a, "replica B": b.Env, "a restarted replica": restarted.Env} {
		wantStatus(t, name+": right password while locked", replica.Do(loginAs(apitest.AliceEmail, apitest.AlicePassword)), 401, "invalid_credentials")
	}
	a.Clock.Advance(a.Config.LockoutBase)
	b.Login(apitest.AliceEmail, apitest.AlicePassword)
}

func TestHashingPoolShedsLoad(t *testing.T) {
	env := apitest.New(t)
	// One worker and one waiting place, with a hash slow enough to hold them.
	r := newReplica(t, env, replicaSetup{argon2: passwordhash.Params{MemoryKiB: 64 * 1024, Iterations: 6, Parallelism: 1}, workers: 1, queue: 1})
	alice := env.Login(apitest.AliceEmail, apitest.AlicePassword)

	var wg sync.WaitGroup
	hashTimes := make([]time.Duration, 2)
	for i := range hashTimes {
		wg.Go(func() {
			start := time.Now()
			if _, err := r.Hasher.Hash(context.Background(), "occupying the pool"); err != nil {
				t.Errorf("occupying hash: %v", err)
			}
			hashTimes[i] = time.Since(start)
		})
	}
	deadline := time.Now().Add(10 * time.Second)
	for r.Hasher.QueueDepth() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the pool never filled: one running, one waiting")
		}
		time.Sleep(time.Millisecond)
	}

	var shed time.Duration
	for _, creds := range [][2]string{{apitest.AliceEmail, apitest.AlicePassword}, {"nobody@example.com", "not-a-password"}} {
		start := time.Now()
		resp := r.Do(loginAs(creds[0], creds[1]))
		shed = max(shed, time.Since(start))
		wantStatus(t, "login while the pool is full", resp, 503, "overloaded")
		wantRetryAfter(t, resp)
	}
	// Verifying tokens needs no hashing and goes on.
	if resp := r.Do(apitest.Request{Method: http.MethodGet, Path: "/revenue", Token: alice.AccessToken}); resp.Code != 200 {
		t.Errorf("GET /revenue while the pool is full: %d, want 200", resp.Code)
	}
	wg.Wait()
	// One occupier ran at once; the other waited for it, then ran.
	if hash := min(hashTimes[0], hashTimes[1]); shed > hash/4 {
		t.Errorf("a shed login took %s, a hash %s: it waited for the pool instead of failing fast", shed, hash)
	}
	r.Login(apitest.AliceEmail, apitest.AlicePassword)
}

func TestLoginFailuresDoNotTellAccountsApart(t *testing.T) {
	env := apitest.New(t)
	ctx := context.Background()
	if _, err := env.Auth.CreateUser(ctx, auth.NewUser{Organization: postgres.DemoOrganization, Email: "erin@example.com",
		Password: "erin-password-1", Roles: []string{"finance"}}); err != nil {
		t.Fatal(err)
	}
	if err := env.Auth.SetDisabled(ctx, apitest.BobEmail, true); err != nil {
		t.Fatal(err)
	}
	for range env.Config.LockoutThreshold {
		env.Do(loginAs("erin@example.com", "not-erin-password"))
	}
	if _, locked := lockState(t, env, "erin@example.com"); locked <= 0 {
		t.Fatal("erin is not locked; the locked case would test nothing")
	}
	cases := []struct{ name, email, password string }{
		{"wrong password", apitest.AliceEmail, "not-alice-password"},
		{"unknown email", "nobody@example.com", "some-password-1"},
		{"unknown email, differently cased", "NOBODY@Example.com", apitest.AlicePassword},
		{"disabled user, right password", apitest.BobEmail, apitest.BobPassword},
		{"disabled user, wrong password", apitest.BobEmail, "not-bob-password"},
		{"locked user, right password", "erin@example.com", "erin-password-1"},
		{"locked user, wrong password", "erin@example.com", "not-erin-password"},
	}
	type answer struct {
		status  int
		body    string
		headers string
	}
	var first answer
	for i, c := range cases {
		resp := env.Do(loginAs(c.email, c.password))
		h := resp.Header().Clone()
		h.Del("X-Request-ID")
		var names []string
		for name, values := range h {
			names = append(names, name+": "+strings.Join(values, ", "))
		}
		slices.Sort(names)
		got := answer{resp.Code, problemBody(t, resp), strings.Join(names, "\n")}
		if i == 0 {
			first = got
			if got.status != 401 || !strings.Contains(got.body, `"invalid_credentials"`) {
				t.Fatalf("%s: %d %s, want 401 invalid_credentials", c.name, got.status, got.body)
			}
			continue
		}
		if got != first {
			t.Errorf("%s answers differently from %s:\n%+v\n%+v", c.name, cases[0].name, got, first)
		}
	}
}

// TestLoginTimingDoesNotTellAccountsApart guards the dummy hash: an unknown
// email must cost one real password hash, as a wrong password does. It uses
// the production cost so the hash dominates the timing.
func TestLoginTimingDoesNotTellAccountsApart(t *testing.T) {
	env := apitest.New(t)
	r := newReplica(t, env, replicaSetup{argon2: passwordhash.DefaultParams, workers: 2, queue: 64, lockoutDisabled: true,
		config: func(c *config.Config) { c.AuthRate, c.AuthBurst = 1e6, 1e6 }})
	hash, err := r.Hasher.Hash(context.Background(), apitest.AlicePassword)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.DB.Pool.Exec(context.Background(), `UPDATE users SET password_hash = $2 WHERE email = $1`, apitest.AliceEmail, hash); err != nil {
		t.Fatal(err)
	}
	measure := func(email string) time.Duration {
		start := time.Now()
		resp := r.Do(loginAs(email, "not-the-password"))
		elapsed := time.Since(start)
		wantStatus(t, email, resp, 401, "invalid_credentials")
		return elapsed
	}
	measure(apitest.AliceEmail) // warm up both paths
	measure("nobody@example.com")
	const samples = 15
	var known, unknown []time.Duration
	for i := range samples {
		// Alternate the order so that load from elsewhere hits both alike.
		if i%2 == 0 {
			known = append(known, measure(apitest.AliceEmail))
			unknown = append(unknown, measure("nobody@example.com"))
		} else {
			unknown = append(unknown, measure("nobody@example.com"))
			known = append(known, measure(apitest.AliceEmail))
		}
	}
	median := func(d []time.Duration) time.Duration { slices.Sort(d); return d[len(d)/2] }
	k, u := median(known), median(unknown)
	t.Logf("median login: wrong password %s, unknown email %s", k, u)
	if ratio := float64(u) / float64(k); ratio < 0.5 || ratio > 2 {
		t.Errorf("an unknown email takes %s (median), a wrong password %s: the ratio %.2f is outside [0.5, 2], so timing tells which emails have accounts", u, k, ratio)
	}
}

func TestPasswordHashingDefaults(t *testing.T) {
	cfg, err := config.Load(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	def := passwordhash.DefaultParams
	// OWASP Password Storage Cheat Sheet: argon2id, m >= 19 MiB, t >= 2, p >= 1.
	if def.MemoryKiB < 19*1024 || def.Iterations < 2 || def.Parallelism < 1 {
		t.Errorf("DefaultParams %+v are below OWASP's argon2id minimum (19 MiB, t=2, p=1)", def)
	}
	if got := (passwordhash.Params{MemoryKiB: cfg.Argon2MemoryKiB, Iterations: cfg.Argon2Time, Parallelism: cfg.Argon2Threads}); got != def {
		t.Errorf("the default configuration hashes with %+v, want DefaultParams %+v", got, def)
	}
}

func TestPasswordPolicyLengths(t *testing.T) {
	for _, tt := range []struct {
		password string
		ok       bool
	}{
		{strings.Repeat("a", auth.MinPasswordLen-1), false},
		{strings.Repeat("a", auth.MinPasswordLen), true},
		{strings.Repeat("é", auth.MinPasswordLen), true}, // characters, not bytes
		{strings.Repeat("a", auth.MaxPasswordLen), true},
		{strings.Repeat("a", auth.MaxPasswordLen+1), false},
		{strings.Repeat(" ", auth.MinPasswordLen), false},
	} {
		if err := auth.CheckPasswordPolicy(tt.password); (err == nil) != tt.ok {
			t.Errorf("CheckPasswordPolicy(%d × %q): %v, want ok=%v", len([]rune(tt.password)), string([]rune(tt.password)[0]), err, tt.ok)
		}
	}
	env := apitest.New(t)
	if err := env.Auth.SetPassword(context.Background(), apitest.AliceEmail, "short-pw"); err == nil {
		t.Error("SetPassword accepted an 8-character password")
	}
	// A login never hashes more than the policy allows to be set: an
	// oversized password is refused before any work.
	before := countEvents(env)
	resp := env.Do(loginAs(apitest.AliceEmail, strings.Repeat("p", 4*auth.MaxPasswordLen+1)))
	wantStatus(t, "login with an oversized password", resp, 400, "invalid_request")
	if countEvents(env) != before {
		t.Error("an oversized password was processed as a login attempt")
	}
}

func storedHash(t *testing.T, env *apitest.Env, email string) string {
	t.Helper()
	var hash string
	if err := env.DB.Pool.QueryRow(context.Background(), `SELECT password_hash FROM users WHERE email = $1`, email).Scan(&hash); err != nil {
		t.Fatal(err)
	}
	return hash
}

func hashParams(hash string) string {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 {
		return "not a PHC string: " + hash
	}
	return parts[3]
}

func TestLoginRehashesOnParameterChange(t *testing.T) {
	current := fmt.Sprintf("m=%d,t=%d,p=%d", apitest.CheapArgon2.MemoryKiB, apitest.CheapArgon2.Iterations, apitest.CheapArgon2.Parallelism)
	for _, old := range []passwordhash.Params{
		{MemoryKiB: 9 * 1024, Iterations: 1, Parallelism: 1}, // weaker memory
		{MemoryKiB: 8 * 1024, Iterations: 3, Parallelism: 2}, // stronger, but not the configured cost
	} {
		t.Run(fmt.Sprintf("from m=%d,t=%d,p=%d", old.MemoryKiB, old.Iterations, old.Parallelism), func(t *testing.T) {
			env := apitest.New(t)
			oldHasher, err := passwordhash.New(old, 1, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer oldHasher.Close()
			oldHash, err := oldHasher.Hash(context.Background(), apitest.AlicePassword)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := env.DB.Pool.Exec(context.Background(), `UPDATE users SET password_hash = $2 WHERE email = $1`, apitest.AliceEmail, oldHash); err != nil {
				t.Fatal(err)
			}
			wantStatus(t, "wrong password", env.Do(loginAs(apitest.AliceEmail, "not-alice-password")), 401, "invalid_credentials")
			if storedHash(t, env, apitest.AliceEmail) != oldHash {
				t.Fatal("a failed login changed the stored hash")
			}
			env.Login(apitest.AliceEmail, apitest.AlicePassword)
			rehashed := storedHash(t, env, apitest.AliceEmail)
			if rehashed == oldHash || hashParams(rehashed) != current || !strings.HasPrefix(rehashed, "$argon2id$") {
				t.Fatalf("after login the stored hash is %q, want a new argon2id hash with %s", rehashed, current)
			}
			env.Login(apitest.AliceEmail, apitest.AlicePassword)
			if again := storedHash(t, env, apitest.AliceEmail); again != rehashed {
				t.Error("a login with current parameters rehashed again")
			}
		})
	}
}

func TestBodyLimit(t *testing.T) {
	env := apitest.New(t)
	limit := int(env.Config.MaxBodyBytes)
	over := `{"email":"alice@example.com","password":"` + strings.Repeat("x", limit) + `"}`
	for _, path := range []string{"/login", "/token/refresh"} {
		t.Run(path+" with Content-Length", func(t *testing.T) {
			wantStatus(t, "oversized body", env.Do(apitest.Request{Method: http.MethodPost, Path: path, Body: over}), 413, "body_too_large")
		})
		t.Run(path+" chunked", func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(over))
			req.ContentLength = -1 // no length announced: the reader itself must stop
			req.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			env.Handler.ServeHTTP(w, req)
			wantStatus(t, "oversized chunked body", apitest.Response{ResponseRecorder: w}, 413, "body_too_large")
		})
	}
	// At the limit the body is read (and then judged on its content).
	atLimit := `{"email":"alice@example.com","password":"` + strings.Repeat("x", limit-len(`{"email":"alice@example.com","password":""}`)) + `"}`
	if len(atLimit) != limit {
		t.Fatalf("test body is %d bytes, want %d", len(atLimit), limit)
	}
	wantStatus(t, "body of exactly the limit", env.Do(apitest.Request{Method: http.MethodPost, Path: "/login", Body: atLimit}), 400, "invalid_request")
}

func TestTokenResponsesAreNeverCached(t *testing.T) {
	env := apitest.New(t)
	cookie := http.Header{"X-Refresh-Token-Delivery": {"cookie"}}
	login := env.Do(loginAs(apitest.AliceEmail, apitest.AlicePassword))
	var tok apitest.Tokens
	if err := json.Unmarshal(login.Body.Bytes(), &tok); err != nil || tok.RefreshToken == "" {
		t.Fatalf("login: %d %s", login.Code, login.Body)
	}
	cookieLogin := env.Do(apitest.Request{Method: http.MethodPost, Path: "/login", Header: cookie,
		Body: map[string]string{"email": apitest.AliceEmail, "password": apitest.AlicePassword}})
	rc := cookieLogin.Cookie("revenue_refresh")
	if rc == nil {
		t.Fatalf("cookie login set no refresh cookie: %d %s", cookieLogin.Code, cookieLogin.Body)
	}
	answers := map[string]apitest.Response{
		"login":                login,
		"login, cookie":        cookieLogin,
		"refresh":              env.Do(apitest.Request{Method: http.MethodPost, Path: "/token/refresh", Body: map[string]string{"refresh_token": tok.RefreshToken}}),
		"refresh, cookie":      env.Do(apitest.Request{Method: http.MethodPost, Path: "/token/refresh", Header: cookie, Cookies: []*http.Cookie{rc}}),
		"failed login":         env.Do(loginAs(apitest.AliceEmail, "not-alice-password")),
		"failed refresh":       env.Do(apitest.Request{Method: http.MethodPost, Path: "/token/refresh", Body: map[string]string{"refresh_token": tok.RefreshToken}}),
		"me":                   env.Do(apitest.Request{Method: http.MethodGet, Path: "/me", Token: tok.AccessToken}),
		"revenue":              env.Do(apitest.Request{Method: http.MethodGet, Path: "/revenue", Token: tok.AccessToken}),
		"sessions":             env.Do(apitest.Request{Method: http.MethodGet, Path: "/sessions", Token: tok.AccessToken}),
		"rejected bearer":      env.Do(apitest.Request{Method: http.MethodGet, Path: "/me", Token: "x.y.z"}),
		"logout clears cookie": env.Do(apitest.Request{Method: http.MethodPost, Path: "/logout", Token: tok.AccessToken}),
	}
	for name, resp := range answers {
		if cc := resp.Header().Get("Cache-Control"); cc != "no-store" {
			t.Errorf("%s (%d): Cache-Control %q, want no-store", name, resp.Code, cc)
		}
		// RFC 6749 §5.1: answers of the token endpoints also carry Pragma.
		if strings.Contains(name, "login") || strings.Contains(name, "refresh") {
			if p := resp.Header().Get("Pragma"); p != "no-cache" {
				t.Errorf("%s (%d): Pragma %q, want no-cache for HTTP/1.0 caches", name, resp.Code, p)
			}
		}
	}
	for _, name := range []string{"login", "login, cookie", "refresh", "refresh, cookie"} {
		if answers[name].Code != 200 {
			t.Errorf("%s: status %d, want 200 (the no-store check is about token answers): %s", name, answers[name].Code, answers[name].Body)
		}
	}
}

func TestCORSOnlyForConfiguredOrigins(t *testing.T) {
	const app = "https://app.example.com"
	env := apitest.New(t, withSettings(t, map[string]string{"REVENUE_CORS_ORIGINS": app, "REVENUE_AUTH_RATE": "1000", "REVENUE_AUTH_BURST": "1000"}))
	preflight := func(env *apitest.Env, origin string) apitest.Response {
		return env.Do(apitest.Request{Method: http.MethodOptions, Path: "/login", Header: http.Header{
			"Origin": {origin}, "Access-Control-Request-Method": {"POST"}, "Access-Control-Request-Headers": {"content-type,x-refresh-token-delivery"},
		}})
	}
	resp := preflight(env, app)
	if resp.Code >= 300 || resp.Header().Get("Access-Control-Allow-Origin") != app || resp.Header().Get("Access-Control-Allow-Credentials") != "true" {
		t.Fatalf("preflight from %s: %d, allow-origin %q, allow-credentials %q; want the origin allowed with credentials",
			app, resp.Code, resp.Header().Get("Access-Control-Allow-Origin"), resp.Header().Get("Access-Control-Allow-Credentials"))
	}
	post := env.Do(plusHeader(loginAs(apitest.AliceEmail, apitest.AlicePassword), "Origin", app))
	if post.Code != 200 || post.Header().Get("Access-Control-Allow-Origin") != app || post.Header().Get("Access-Control-Allow-Credentials") != "true" {
		t.Errorf("login from %s: %d, allow-origin %q; want 200 readable by the app", app, post.Code, post.Header().Get("Access-Control-Allow-Origin"))
	}

	foreign := []string{
		"https://evil.example", "null", "http://app.example.com", "https://app.example.com.evil.example",
		"https://evilapp.example.com", "https://app.example.com:8443", "*",
	}
	for _, origin := range foreign {
		for name, resp := range map[string]apitest.Response{
			"preflight": preflight(env, origin),
			"login":     env.Do(plusHeader(loginAs(apitest.AliceEmail, apitest.AlicePassword), "Origin", origin)),
		} {
			if resp.Code == 200 || resp.Code == 204 {
				t.Errorf("%s from %q: %d, want a refusal", name, origin, resp.Code)
			}
			for _, h := range []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Credentials", "Access-Control-Allow-Headers"} {
				if v := resp.Header().Get(h); v != "" {
					t.Errorf("%s from %q: %s: %q, want none", name, origin, h, v)
				}
			}
		}
	}

	// With no REVENUE_CORS_ORIGINS no origin is allowed, not even with credentials left off.
	closed := apitest.New(t)
	for _, origin := range []string{app, "https://evil.example"} {
		resp := preflight(closed, origin)
		if v := resp.Header().Get("Access-Control-Allow-Origin"); v != "" || resp.Header().Get("Access-Control-Allow-Credentials") != "" {
			t.Errorf("no CORS configured, preflight from %s: allow-origin %q, want none", origin, v)
		}
	}
}

func TestSecurityHeadersOnEveryAnswer(t *testing.T) {
	env := apitest.New(t, withSettings(t, map[string]string{"REVENUE_AUTH_RATE": "0.01", "REVENUE_AUTH_BURST": "3"}))
	alice := env.Login(apitest.AliceEmail, apitest.AlicePassword)
	bob := env.Login(apitest.BobEmail, apitest.BobPassword)
	type answer struct {
		name string
		resp apitest.Response
		want int
	}
	answers := []answer{
		{"revenue", env.Do(apitest.Request{Method: http.MethodGet, Path: "/revenue", Token: alice.AccessToken}), 200},
		{"me", env.Do(apitest.Request{Method: http.MethodGet, Path: "/me", Token: alice.AccessToken}), 200},
		{"healthz", env.Do(apitest.Request{Method: http.MethodGet, Path: "/healthz"}), 200},
		{"jwks", env.Do(apitest.Request{Method: http.MethodGet, Path: "/.well-known/jwks.json"}), 200},
		{"bad parameter", env.Do(apitest.Request{Method: http.MethodGet, Path: "/revenue?from=bad", Token: alice.AccessToken}), 400},
		{"no token", env.Do(apitest.Request{Method: http.MethodGet, Path: "/me"}), 401},
		{"no scope", env.Do(apitest.Request{Method: http.MethodGet, Path: "/revenue", Token: bob.AccessToken}), 403},
		{"unknown route", env.Do(apitest.Request{Method: http.MethodGet, Path: "/nope"}), 404},
		{"wrong method", env.Do(apitest.Request{Method: http.MethodPut, Path: "/login"}), 405},
		{"oversized body", env.Do(apitest.Request{Method: http.MethodPost, Path: "/login", Body: strings.Repeat("x", 1<<20)}), 413},
		{"not JSON", env.Do(apitest.Request{Method: http.MethodPost, Path: "/token/refresh", Header: http.Header{"Content-Type": {"text/plain"}}, Body: "x"}), 415},
		{"rate limited", env.Do(loginAs(apitest.AliceEmail, apitest.AlicePassword)), 429},
		{"logout everywhere", env.Do(apitest.Request{Method: http.MethodPost, Path: "/logout/all", Token: alice.AccessToken}), 204},
	}
	want := map[string]string{
		"X-Content-Type-Options": "nosniff",
		"X-Frame-Options":        "DENY",
	}
	for _, a := range answers {
		if a.resp.Code != a.want {
			t.Errorf("%s: status %d, want %d: the table no longer covers that answer", a.name, a.resp.Code, a.want)
		}
		for h, v := range want {
			if got := a.resp.Header().Get(h); got != v {
				t.Errorf("%s (%d): %s %q, want %q", a.name, a.resp.Code, h, got, v)
			}
		}
		csp := a.resp.Header().Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: Content-Security-Policy %q, want default-src 'none' and frame-ancestors 'none'", a.name, csp)
		}
		for _, h := range []string{"Server", "X-Powered-By"} {
			if v := a.resp.Header().Get(h); v != "" {
				t.Errorf("%s: %s %q tells what runs the service", a.name, h, v)
			}
		}
		if ct := a.resp.Header().Get("Content-Type"); a.resp.Code != 204 && !strings.Contains(ct, "json") {
			t.Errorf("%s: Content-Type %q, want JSON", a.name, ct)
		}
	}
}

// The SPA's files are pages a browser renders: on top of the API's headers
// they keep their URL from other sites and their window from openers, under
// a policy that lets them load only their own scripts.
func TestDocumentHeadersOnTheWebApp(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "assets"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"index.html": "<!doctype html><title>app</title>", "assets/app-1a2b.js": "console.log(1)"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := apitest.New(t, func(c *config.Config) { c.WebDir = dir })
	navigation := http.Header{"Accept": {"text/html,application/xhtml+xml,*/*;q=0.8"}}
	for _, path := range []string{"/", "/revenue-report", "/assets/app-1a2b.js"} {
		resp := env.Do(apitest.Request{Method: http.MethodGet, Path: path, Header: navigation})
		if resp.Code != http.StatusOK {
			t.Fatalf("GET %s: %d, want the web app", path, resp.Code)
		}
		for h, v := range map[string]string{
			"X-Content-Type-Options":     "nosniff",
			"X-Frame-Options":            "DENY",
			"Referrer-Policy":            "no-referrer",
			"Cross-Origin-Opener-Policy": "same-origin",
		} {
			if got := resp.Header().Get(h); got != v {
				t.Errorf("GET %s: %s %q, want %q", path, h, got, v)
			}
		}
		csp := resp.Header().Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("GET %s: Content-Security-Policy %q, want the app's own sources only, never framed", path, csp)
		}
	}
}

// privateKeySecrets are the signing key's private parts in every form they
// could leak in: PEM, DER, decimal, hex, base64 and base64url (as a JWK's
// d, p and q would be).
func privateKeySecrets(t *testing.T, env *apitest.Env) map[string]string {
	t.Helper()
	priv := env.Key.Private
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{"PEM marker": "PRIVATE KEY"}
	add := func(name, secret string) { maps.Copy(out, secretsIn(name, secret)) }
	add("private key DER", base64.StdEncoding.EncodeToString(der)[64:]) // past the algorithm identifier
	for name, n := range map[string]*big.Int{"private exponent": priv.D, "prime p": priv.Primes[0], "prime q": priv.Primes[1]} {
		add(name, n.String())
		add(name+" (hex)", n.Text(16))
		add(name+" (base64url)", base64.RawURLEncoding.EncodeToString(n.Bytes()))
		add(name+" (base64)", base64.StdEncoding.EncodeToString(n.Bytes()))
	}
	return out
}

func TestPrivateKeyNeverServed(t *testing.T) {
	env := apitest.New(t)
	alice := env.Login(apitest.AliceEmail, apitest.AlicePassword)
	secrets := privateKeySecrets(t, env)
	jwks := env.Do(apitest.Request{Method: http.MethodGet, Path: "/.well-known/jwks.json"})
	var set struct{ Keys []map[string]any }
	if err := json.Unmarshal(jwks.Body.Bytes(), &set); err != nil || len(set.Keys) == 0 {
		t.Fatalf("JWKS: %d %s", jwks.Code, jwks.Body)
	}
	for _, k := range set.Keys {
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"} {
			if _, ok := k[private]; ok {
				t.Errorf("the JWKS publishes the private member %q", private)
			}
		}
	}
	for _, path := range []string{"/.well-known/jwks.json", "/openapi.yaml", "/healthz", "/readyz", "/metrics", "/me", "/sessions", "/nope"} {
		resp := env.Do(apitest.Request{Method: http.MethodGet, Path: path, Token: alice.AccessToken})
		for name, secret := range secrets {
			if strings.Contains(resp.Body.String(), secret) {
				t.Errorf("GET %s answers with the %s", path, name)
			}
		}
	}
	if logs := env.Logs.String(); strings.Contains(logs, "PRIVATE KEY") {
		t.Error("the log holds a PEM private key")
	}
}

// secretsIn lists what must never appear in a log: the secret itself and
// pieces long enough to recognise it.
func secretsIn(name, secret string) map[string]string {
	out := map[string]string{name: secret}
	const piece, step = 16, 8 // any 23 characters of the secret hold one piece
	for i := 0; i+piece <= len(secret); i += step {
		out[fmt.Sprintf("%s[%d:%d]", name, i, i+piece)] = secret[i : i+piece]
	}
	return out
}

func TestLogsHoldNoSecrets(t *testing.T) {
	env := apitest.New(t)
	secrets := map[string]string{}
	add := func(name, secret string) {
		for k, v := range secretsIn(name, secret) {
			secrets[k] = v
		}
	}
	addToken := func(name, jwt string) {
		parts := strings.Split(jwt, ".")
		if len(parts) != 3 {
			t.Fatalf("%s is not a JWT: %q", name, jwt)
		}
		// The header (alg, typ, kid) is public; the claims and signature are the token.
		add(name+" claims", parts[1])
		add(name+" signature", parts[2])
	}
	cookie := http.Header{"X-Refresh-Token-Delivery": {"cookie"}}

	// A whole session's life, with its failures.
	alice := env.Login(apitest.AliceEmail, apitest.AlicePassword)
	addToken("access token", alice.AccessToken)
	add("refresh token", alice.RefreshToken)
	env.Do(apitest.Request{Method: http.MethodGet, Path: "/revenue", Token: alice.AccessToken})
	env.Do(apitest.Request{Method: http.MethodGet, Path: "/me?access_token=" + alice.AccessToken})
	middle := env.Refresh(alice.RefreshToken)
	add("refreshed refresh token", middle.RefreshToken)
	next := env.Refresh(middle.RefreshToken) // the first token's successor is presented
	addToken("refreshed access token", next.AccessToken)
	add("refreshed again refresh token", next.RefreshToken)
	env.Do(apitest.Request{Method: http.MethodPost, Path: "/token/refresh", Body: map[string]string{"refresh_token": alice.RefreshToken}}) // reuse: revokes
	env.Do(apitest.Request{Method: http.MethodPost, Path: "/token/refresh?refresh_token=" + next.RefreshToken})
	env.Do(apitest.Request{Method: http.MethodGet, Path: "/me", Token: next.AccessToken})

	browser := env.Do(apitest.Request{Method: http.MethodPost, Path: "/login", Header: cookie,
		Body: map[string]string{"email": apitest.BobEmail, "password": apitest.BobPassword}})
	bobCookie := browser.Cookie("revenue_refresh")
	if bobCookie == nil {
		t.Fatalf("browser login set no cookie: %d %s", browser.Code, browser.Body)
	}
	add("cookie refresh token", bobCookie.Value)
	var bob apitest.Tokens
	_ = json.Unmarshal(browser.Body.Bytes(), &bob)
	addToken("bob access token", bob.AccessToken)
	rotated := env.Do(apitest.Request{Method: http.MethodPost, Path: "/token/refresh", Header: cookie, Cookies: []*http.Cookie{bobCookie}})
	if c := rotated.Cookie("revenue_refresh"); c != nil {
		add("rotated cookie refresh token", c.Value)
	}
	env.Do(apitest.Request{Method: http.MethodPost, Path: "/token/refresh", Header: http.Header{"Origin": {"https://evil.example"}, "X-Refresh-Token-Delivery": {"cookie"}}, Cookies: []*http.Cookie{bobCookie}})
	env.Do(apitest.Request{Method: http.MethodPost, Path: "/logout", Token: bob.AccessToken})

	const wrong = "Wr0ng-but-close-to-alice-password-1"
	env.Do(loginAs(apitest.AliceEmail, wrong))
	env.Do(loginAs("nobody@example.com", wrong+"-unknown"))
	env.Do(apitest.Request{Method: http.MethodPost, Path: "/login", Body: `{"email":"alice@example.com","password":"` + wrong + `-syntax"`})
	env.Do(apitest.Request{Method: http.MethodPost, Path: "/login", Body: `{"email":"alice@example.com","password":"` + wrong + `-extra","admin":true}`})
	env.Do(apitest.Request{Method: http.MethodPost, Path: "/login", Body: `{"email":"alice@example.com","password":["` + wrong + `-type"]}`})
	expired := env.Login(apitest.AliceEmail, apitest.AlicePassword)
	addToken("expired access token", expired.AccessToken)
	add("unused refresh token", expired.RefreshToken)
	env.Clock.Advance(env.Config.AccessTokenTTL + env.Config.ClockLeeway + time.Second)
	env.Do(apitest.Request{Method: http.MethodGet, Path: "/revenue", Token: expired.AccessToken})
	env.Do(apitest.Request{Method: http.MethodPost, Path: "/logout/all", Token: expired.AccessToken})
	env.Do(apitest.Request{Method: http.MethodGet, Path: "/me", Header: http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("alice@example.com:"+wrong))}}})

	for _, pw := range []string{apitest.AlicePassword, apitest.BobPassword, wrong} {
		add("password", pw)
	}
	add("basic credentials", base64.StdEncoding.EncodeToString([]byte("alice@example.com:"+wrong)))

	maps.Copy(secrets, privateKeySecrets(t, env))

	logs := env.Logs.String()
	// The audit trail is a log too.
	rows, err := env.DB.Pool.Query(context.Background(), `SELECT row_to_json(e)::text FROM auth_events e`)
	if err != nil {
		t.Fatal(err)
	}
	events, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	haystack := logs + strings.Join(events, "\n")
	if lines := strings.Count(logs, "\n"); lines < 20 || !strings.Contains(logs, "reuse") {
		t.Fatalf("only %d log lines, or no reuse warning: the run did not exercise the logging it checks:\n%s", lines, logs)
	}
	for name, secret := range secrets {
		if i := strings.Index(haystack, secret); i >= 0 {
			start, end := max(0, i-200), min(len(haystack), i+len(secret)+200)
			t.Errorf("the log or audit trail holds the %s: …%s…", name, haystack[start:end])
		}
	}
}
