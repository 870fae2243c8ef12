// Package apitest builds the whole service for tests: real PostgreSQL (a
// fresh database per test), real stores, a real RSA key, the real router,
// and a clock the test controls. Tests talk to it through net/http/httptest.
package apitest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/revenue-api/revenue-api/api"
	"github.com/revenue-api/revenue-api/internal/auth"
	"github.com/revenue-api/revenue-api/internal/config"
	"github.com/revenue-api/revenue-api/internal/httpapi"
	"github.com/revenue-api/revenue-api/internal/passwordhash"
	"github.com/revenue-api/revenue-api/internal/pgtest"
	"github.com/revenue-api/revenue-api/internal/postgres"
	"github.com/revenue-api/revenue-api/internal/revenue"
	"github.com/revenue-api/revenue-api/internal/revocation"
	"github.com/revenue-api/revenue-api/internal/syncbuf"
	"github.com/revenue-api/revenue-api/internal/testclock"
	"github.com/revenue-api/revenue-api/internal/token"
)

// Issuer and Audience of the tokens the test service signs.
const (
	Issuer   = "https://revenue.test"
	Audience = "revenue-api-test"
)

// Demo credentials seeded in every test database.
const (
	AliceEmail    = "alice@example.com"
	AlicePassword = "alice-password-1"
	BobEmail      = "bob@example.com"
	BobPassword   = "bob-password-1"
	CarolEmail    = "carol@example.com" // admin: revenue:read and revenue:write
	CarolPassword = "carol-password-1"
)

// CheapArgon2 keeps tests fast; production uses passwordhash.DefaultParams.
var CheapArgon2 = passwordhash.Params{MemoryKiB: 8 * 1024, Iterations: 1, Parallelism: 1}

// Main is the TestMain of packages using Env: it starts PostgreSQL and
// migrates the template database once.
func Main(m *testing.M) {
	gin.SetMode(gin.ReleaseMode)
	os.Exit(pgtest.Run(m, func(ctx context.Context, connString string) error {
		return postgres.Migrate(ctx, connString)
	}))
}

var (
	keyOnce sync.Once
	testKey *rsa.PrivateKey
)

// SigningKey is one RSA-2048 key shared by the package's tests (generating
// keys is slow).
func SigningKey(t testing.TB) *rsa.PrivateKey {
	keyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		testKey = k
	})
	return testKey
}

// Env is a running service for one test.
type Env struct {
	T        testing.TB
	Config   config.Config
	Clock    *testclock.Clock
	DB       *postgres.DB
	Auth     *auth.Service
	Keyring  *token.Keyring
	Key      *token.Key
	Signer   *token.Signer
	Verifier httpapi.Verifier
	// FullVerifier is the verifier beneath the cache (Verifier itself when
	// the cache is off).
	FullVerifier *token.Verifier
	Handler      http.Handler
	Logs         *syncbuf.Buffer
	Metrics      *httpapi.Metrics
	Revocations  *revocation.Set
	// Feed is the revocation feed the handler serves (nil without a feed
	// token); a test may change its page size.
	Feed *httpapi.RevocationFeed

	deps httpapi.Deps
}

// Option changes the configuration before the service is built.
type Option func(*config.Config)

// New builds the service on a fresh database seeded with the demo data.
func New(t testing.TB, opts ...Option) *Env {
	t.Helper()
	cfg, err := config.Load(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	cfg.Issuer, cfg.Audience = Issuer, Audience
	cfg.AuthRate, cfg.AuthBurst = 1000, 1000
	cfg.WebDir = ""
	cfg.HashWorkers, cfg.HashQueue = 2, 64
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("test configuration: %v", err)
	}

	ctx := context.Background()
	db, err := postgres.Open(ctx, pgtest.NewDatabase(t), 8, cfg.DBTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)

	clock := testclock.New(time.Now().Truncate(time.Second))
	priv := SigningKey(t)
	key := &token.Key{ID: token.Thumbprint(&priv.PublicKey), Public: &priv.PublicKey, Private: priv, Created: clock.Now()}
	keyring := token.NewKeyring(token.NewKeySet([]*token.Key{key}, key))

	hasher, err := passwordhash.New(CheapArgon2, cfg.HashWorkers, cfg.HashQueue)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hasher.Close)
	if err := postgres.SeedDemo(ctx, db, func(pw string) (string, error) { return hasher.Hash(ctx, pw) }, clock.Now()); err != nil {
		t.Fatalf("seed: %v", err)
	}

	logs := &syncbuf.Buffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	metrics := httpapi.NewMetrics(nil)
	signer := token.NewSigner(keyring, cfg.Issuer, cfg.Audience, cfg.AccessTokenTTL, clock.Now, token.WithSigning(cfg.Signer, log))
	// The verifier as production builds it: behind the verified-token cache
	// unless the test turns it off.
	full := token.NewVerifier(keyring, cfg.Issuer, cfg.Audience, cfg.ClockLeeway, clock.Now)
	var verifier httpapi.Verifier = full
	if cfg.TokenCache > 0 {
		verifier = token.NewCachingVerifier(full, keyring, cfg.ClockLeeway, clock.Now, cfg.TokenCache)
	}
	// Revocations as production wires them, less the listener: this process
	// is the only writer, so its commits are all there is to hear. The test
	// clock stands still, so staleness is off.
	revoked := revocation.NewSet(0)
	db.SetRevocationPolicy(postgres.RevocationPolicy{
		TokenLifetime: cfg.AccessTokenTTL + cfg.ClockLeeway,
		Committed:     func(revs []revocation.Revocation) { revoked.Add(clock.Now(), revs...) },
	})
	var feed *httpapi.RevocationFeed
	if cfg.RevocationFeedToken != "" {
		feed = &httpapi.RevocationFeed{Token: cfg.RevocationFeedToken, Sign: signer.SignRevocations, KeyID: signer.KeyID}
	}
	svc := auth.NewService(postgres.NewUserStore(db), postgres.NewSessionStore(db), postgres.NewEventStore(db),
		signer, hasher, cfg.AuthPolicy(), log, clock.Now)
	svc.OnEvent(metrics.AuthEvent)

	// The access log writes each line at once here, so a test reads it
	// right after the request (the batching has its own tests).
	var accessLog *httpapi.AccessLog
	if cfg.AccessLog {
		accessLog = httpapi.NewAccessLog(logs, 0)
	}
	deps := httpapi.Deps{
		Config: httpapi.Config{
			CORSOrigins: cfg.CORSOrigins, TrustedProxies: cfg.TrustedProxies, MaxBodyBytes: cfg.MaxBodyBytes,
			CookieSecure: cfg.CookieSecure, AuthRate: cfg.AuthRate, AuthBurst: cfg.AuthBurst,
			WebDir: cfg.WebDir, JWKSMaxAge: cfg.JWKSMaxAge,
		},
		Log:         log,
		AccessLog:   accessLog,
		Auth:        svc,
		Revenue:     revenue.NewService(postgres.NewRevenueStore(db)),
		Verifier:    verifier,
		Revocations: revoked,
		Feed:        feed,
		Keys:        keyring.Set,
		Checks: map[string]func(context.Context) error{
			"database": db.Ping,
		},
		Metrics:     metrics,
		OpenAPISpec: api.OpenAPI,
		Now:         clock.Now,
	}
	handler, err := httpapi.NewServer(deps)
	if err != nil {
		t.Fatal(err)
	}
	return &Env{deps: deps, T: t, Config: cfg, Clock: clock, DB: db, Auth: svc, Keyring: keyring, Key: key,
		Signer: signer, Verifier: verifier, FullVerifier: full, Handler: handler, Logs: logs, Metrics: metrics,
		Revocations: revoked, Feed: feed}
}

// Request describes one call to the service.
type Request struct {
	Method  string
	Path    string
	Body    any // string or []byte are sent as is; anything else as JSON
	Token   string
	Header  http.Header
	Cookies []*http.Cookie
	Remote  string // RemoteAddr; default 192.0.2.1:1234
}

// Response is a recorded answer.
type Response struct {
	*httptest.ResponseRecorder
}

// JSON decodes the body into a map.
func (r Response) JSON(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body.Bytes(), &m); err != nil {
		t.Fatalf("body is not a JSON object: %v\n%s", err, r.Body.String())
	}
	return m
}

// Code returns the problem code of an error answer.
func (r Response) ProblemCode(t testing.TB) string {
	t.Helper()
	if ct := r.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Fatalf("Content-Type = %q, want application/problem+json (status %d, body %s)", ct, r.Code, r.Body.String())
	}
	code, _ := r.JSON(t)["code"].(string)
	return code
}

// Cookie returns the response cookie called name, or nil.
func (r Response) Cookie(name string) *http.Cookie {
	for _, c := range r.Result().Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// WithRevocations returns a router like Handler that checks tokens
// against set instead of Revocations.
func (e *Env) WithRevocations(set *revocation.Set) http.Handler {
	e.T.Helper()
	d := e.deps
	d.Revocations = set
	h, err := httpapi.NewServer(d)
	if err != nil {
		e.T.Fatal(err)
	}
	return h
}

// Do sends req through the real router.
func (e *Env) Do(req Request) Response {
	e.T.Helper()
	return e.DoWith(e.Handler, req)
}

// DoWith sends req through h.
func (e *Env) DoWith(h http.Handler, req Request) Response {
	e.T.Helper()
	var body io.Reader
	switch b := req.Body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	case []byte:
		body = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			e.T.Fatal(err)
		}
		body = bytes.NewReader(data)
	}
	r := httptest.NewRequest(req.Method, req.Path, body)
	if req.Body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	for k, vs := range req.Header {
		r.Header.Del(k)
		for _, v := range vs {
			r.Header.Add(k, v)
		}
	}
	if req.Token != "" {
		r.Header.Set("Authorization", "Bearer "+req.Token)
	}
	for _, c := range req.Cookies {
		r.AddCookie(c)
	}
	r.RemoteAddr = "192.0.2.1:1234"
	if req.Remote != "" {
		r.RemoteAddr = req.Remote
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return Response{w}
}

// Tokens is a login or refresh answer.
type Tokens struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
}

// Login logs in with JSON delivery and fails the test unless it succeeds.
func (e *Env) Login(email, password string) Tokens {
	e.T.Helper()
	resp := e.Do(Request{Method: http.MethodPost, Path: "/login", Body: map[string]string{"email": email, "password": password}})
	return e.tokens(resp)
}

// Refresh spends refreshToken with JSON delivery and fails the test unless it succeeds.
func (e *Env) Refresh(refreshToken string) Tokens {
	e.T.Helper()
	resp := e.Do(Request{Method: http.MethodPost, Path: "/token/refresh", Body: map[string]string{"refresh_token": refreshToken}})
	return e.tokens(resp)
}

func (e *Env) tokens(resp Response) Tokens {
	e.T.Helper()
	if resp.Code != http.StatusOK {
		e.T.Fatalf("status %d, want 200: %s", resp.Code, resp.Body.String())
	}
	var tok Tokens
	if err := json.Unmarshal(resp.Body.Bytes(), &tok); err != nil {
		e.T.Fatal(err)
	}
	return tok
}

// Events returns the audit event kinds recorded so far, oldest first.
func (e *Env) Events() []string {
	e.T.Helper()
	rows, err := e.DB.Pool.Query(context.Background(), `SELECT kind || CASE WHEN reason <> '' THEN ':' || reason ELSE '' END FROM auth_events ORDER BY id`)
	if err != nil {
		e.T.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			e.T.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}
