package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/net/netutil"

	"github.com/revenue-api/revenue-api/api"
	"github.com/revenue-api/revenue-api/internal/auth"
	"github.com/revenue-api/revenue-api/internal/config"
	"github.com/revenue-api/revenue-api/internal/httpapi"
	"github.com/revenue-api/revenue-api/internal/postgres"
	"github.com/revenue-api/revenue-api/internal/revenue"
	"github.com/revenue-api/revenue-api/internal/revocation"
	"github.com/revenue-api/revenue-api/internal/token"
)

// accessLogFlushEvery is how late an access log line may reach the output:
// writing lines in batches spares every request a write(2).
const accessLogFlushEvery = 100 * time.Millisecond

func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}

// serve runs the HTTP service until ctx ends, then shuts down in order:
// in-flight requests finish, then the pool and the private PostgreSQL close.
func serve(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("serve takes no arguments (settings are environment variables), got %q", args)
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	log := newLogger(stderr, cfg.LogLevel)
	log.Info("starting", "config", cfg)
	gin.SetMode(gin.ReleaseMode)
	setGCPace(getenv)
	now := time.Now
	var accessLog *httpapi.AccessLog
	if cfg.AccessLog && log.Enabled(ctx, slog.LevelInfo) {
		accessLog = httpapi.NewAccessLog(stderr, accessLogFlushEvery)
		defer accessLog.Close()
	}

	if cfg.VerifierOnly() {
		return serveVerifierOnly(ctx, cfg, log, accessLog, now)
	}

	keys, err := loadKeys(cfg, log, now)
	if err != nil {
		return err
	}
	keyring := keys.Keyring()

	b, err := openBackend(ctx, cfg, log)
	if err != nil {
		return poolerHint(err)
	}
	defer b.close(ctx)
	if cfg.Embedded() || cfg.DemoSeed {
		if err := b.seedDemo(ctx, now()); err != nil {
			return poolerHint(fmt.Errorf("seed demo data: %w", err))
		}
		if cfg.Embedded() {
			for _, u := range postgres.DemoUsers {
				log.Info("demo user (development only)", "email", u.Email, "roles", u.Roles)
			}
		}
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	b.db.RegisterMetrics(reg)
	b.hasher.RegisterMetrics(reg)
	metrics := httpapi.NewMetrics(reg)

	signer := token.NewSigner(keyring, cfg.Issuer, cfg.Audience, cfg.AccessTokenTTL, now, token.WithSigning(cfg.Signer, log))
	// Readied now, so that the start log says which implementation signs
	// (a key that comes with a rotation is readied, and logged, at its first
	// signature).
	if _, err := signer.Prepare(); err != nil {
		return fmt.Errorf("signing key: %w", err)
	}
	verifier := newVerifier(cfg, keyring, reg, now)

	// Revocations: this replica's own commits reach its set at once, every
	// other replica's through LISTEN/NOTIFY and the catch-up by cursor. The
	// first catch-up happens before the listener opens, so a replica started
	// after a revocation refuses the token from its first request.
	revoked := revocation.NewSet(cfg.RevocationMaxLag)
	b.db.SetRevocationPolicy(postgres.RevocationPolicy{
		TokenLifetime: cfg.AccessTokenTTL + cfg.ClockLeeway,
		Committed:     func(revs []revocation.Revocation) { revoked.Add(now(), revs...) },
	})
	direct := cfg.DatabaseDirectURL
	if direct == "" {
		direct = b.connStr
	}
	listener := &postgres.RevocationListener{ConnString: direct, Set: revoked, Poll: cfg.RevocationPoll, Log: log, Now: now}
	if err := listener.CatchUp(ctx); err != nil {
		return fmt.Errorf("read revocations: %w", err)
	}
	log.Info("revocations loaded", "live", revoked.Len())
	go listener.Run(ctx)
	go revoked.RunPruning(ctx, cfg.CleanupInterval, b.db, log, now)
	revoked.RegisterMetrics(reg, now)
	var feed *httpapi.RevocationFeed
	if cfg.RevocationFeedToken != "" {
		feed = &httpapi.RevocationFeed{Token: cfg.RevocationFeedToken, Sign: signer.SignRevocations, KeyID: signer.KeyID}
	}
	authSvc := auth.NewService(
		postgres.NewUserStore(b.db), postgres.NewSessionStore(b.db), postgres.NewEventStore(b.db),
		signer, b.hasher, cfg.AuthPolicy(), log, now)
	authSvc.OnEvent(metrics.AuthEvent)

	handler, err := httpapi.NewServer(httpapi.Deps{
		Config:      httpConfig(cfg),
		Log:         log,
		AccessLog:   accessLog,
		Auth:        authSvc,
		Revenue:     revenue.NewService(postgres.NewRevenueStore(b.db)),
		Verifier:    verifier,
		Revocations: revoked,
		Feed:        feed,
		Keys:        keyring.Set,
		Checks: map[string]func(context.Context) error{
			"database":    b.db.Ping,
			"keys":        func(context.Context) error { return keysReady(keyring) },
			"revocations": func(context.Context) error { return revocationsReady(revoked, now) },
		},
		Metrics:     metrics,
		OpenAPISpec: api.OpenAPI,
		Now:         now,
	})
	if err != nil {
		return err
	}

	// A key rotation is picked up without a restart: on SIGHUP, and when
	// polling sees REVENUE_KEYS_DIR change.
	reloadCtx, stopReload := context.WithCancel(ctx)
	defer stopReload()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go keys.Run(reloadCtx, cfg.KeysReloadInterval, hup)

	go authSvc.RunCleanup(ctx, cfg.CleanupInterval)
	return listenAndServe(ctx, cfg, handler, metrics.Handler(), log)
}

// serveVerifierOnly runs a process that verifies tokens with the public keys
// of the issuer's JWKS at REVENUE_JWKS_URL, and issues none: /me, /healthz,
// /readyz (ready once a key set is fetched) and /metrics; no /login, no
// database, no private key. The JWKS is fetched at start, again when the
// issuer's cache lifetime ends, and for an unknown kid at most once per
// REVENUE_JWKS_REFETCH_INTERVAL; never per request.
func serveVerifierOnly(ctx context.Context, cfg config.Config, log *slog.Logger, accessLog *httpapi.AccessLog, now func() time.Time) error {
	if cfg.DatabaseURL != "" {
		log.Info("verifier-only mode: DATABASE_URL is not used")
	}
	remote := token.NewRemoteKeys(token.RemoteOptions{
		URL:             cfg.JWKSURL,
		Timeout:         cfg.JWKSFetchTimeout,
		MaxAge:          cfg.JWKSMaxAge,
		RefetchInterval: cfg.JWKSRefetchInterval,
		Log:             log,
		Now:             now,
	})
	if err := remote.Refresh(ctx); err != nil {
		log.Warn("no keys yet: not ready until the JWKS can be fetched", "url", cfg.JWKSURL, "err", err)
	}
	refreshCtx, stopRefresh := context.WithCancel(ctx)
	defer stopRefresh()
	go remote.Run(refreshCtx)

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := httpapi.NewMetrics(reg)

	// The issuer's revocations, polled from its feed and verified with its
	// keys; with REVENUE_REVOCATION_FEED_URL=off tokens stay valid until
	// they expire.
	checks := map[string]func(context.Context) error{
		"keys": func(context.Context) error { return remote.Ready() },
	}
	var revoked *revocation.Set
	if feedURL := cfg.FeedURL(); feedURL != "" {
		revoked = revocation.NewSet(cfg.RevocationMaxLag)
		poller := &token.FeedPoller{URL: feedURL, Token: cfg.RevocationFeedToken, Issuer: cfg.Issuer, Keys: remote,
			Set: revoked, Interval: cfg.RevocationPoll, LongPoll: feedLongPoll, Timeout: cfg.JWKSFetchTimeout, Leeway: cfg.ClockLeeway,
			Log: log, Now: now}
		if err := poller.CatchUp(ctx); err != nil {
			log.Warn("no revocations yet: tokens are refused until the feed answers", "url", feedURL, "err", err)
		}
		go poller.Run(refreshCtx)
		go revoked.RunPruning(refreshCtx, time.Minute, nil, log, now)
		revoked.RegisterMetrics(reg, now)
		checks["revocations"] = func(context.Context) error { return revocationsReady(revoked, now) }
	} else {
		log.Warn("verifier-only mode without the revocation feed: a revoked token is accepted until it expires")
	}
	hc := httpConfig(cfg)
	hc.WebDir = "" // the SPA talks to the issuer
	handler, err := httpapi.NewServer(httpapi.Deps{
		Config:      hc,
		Log:         log,
		AccessLog:   accessLog,
		Verifier:    newVerifier(cfg, remote, reg, now),
		Revocations: revoked,
		Checks:      checks,
		Metrics:     metrics,
		Now:         now,
	})
	if err != nil {
		return err
	}
	return listenAndServe(ctx, cfg, handler, metrics.Handler(), log)
}

// newVerifier builds the access-token verifier, behind the verified-token
// cache unless REVENUE_TOKEN_CACHE_SIZE is 0, and registers the cache's
// metrics on reg.
func newVerifier(cfg config.Config, keys token.KeyLookup, reg prometheus.Registerer, now func() time.Time) httpapi.Verifier {
	v := token.NewVerifier(keys, cfg.Issuer, cfg.Audience, cfg.ClockLeeway, now)
	if cfg.TokenCache == 0 {
		return v
	}
	c := token.NewCachingVerifier(v, keys, cfg.ClockLeeway, now, cfg.TokenCache)
	c.RegisterMetrics(reg)
	return c
}

func httpConfig(cfg config.Config) httpapi.Config {
	return httpapi.Config{
		CORSOrigins:    cfg.CORSOrigins,
		TrustedProxies: cfg.TrustedProxies,
		MaxBodyBytes:   cfg.MaxBodyBytes,
		CookieSecure:   cfg.CookieSecure,
		AuthRate:       cfg.AuthRate,
		AuthBurst:      cfg.AuthBurst,
		WebDir:         cfg.WebDir,
		JWKSMaxAge:     cfg.JWKSMaxAge,
		MetricsOnMain:  cfg.MetricsOnMain,
	}
}

// loadKeys loads REVENUE_KEYS_DIR, first generating a current key when the
// service runs in development mode (private PostgreSQL) or
// REVENUE_KEYS_GENERATE asks and the directory holds none. A missing,
// unreadable, weak, wrong-type or group/world-readable key refuses the start.
func loadKeys(cfg config.Config, log *slog.Logger, now func() time.Time) (*token.DirReloader, error) {
	if cfg.Embedded() || cfg.KeysGenerate {
		k, generated, err := token.EnsureKey(cfg.KeysDir, token.MinKeyBits, now())
		if err != nil {
			return nil, fmt.Errorf("REVENUE_KEYS_DIR: %w", err)
		}
		if generated {
			log.Info("generated signing key", "file", k.File, "kid", k.ID)
		}
	}
	r, err := token.NewDirReloader(cfg.KeysDir, log)
	if err != nil {
		return nil, err
	}
	ks := r.Keyring().Set()
	log.Info("keys loaded", "count", len(ks.Keys()), "signing_kid", ks.Signing().ID)
	return r, nil
}

func keysReady(r *token.Keyring) error {
	if s := r.Set().Signing(); s == nil || s.Private == nil {
		return errors.New("no signing key")
	}
	return nil
}

// poolerHint names the setting an operator most likely missed when
// PgBouncer refuses the connection's startup parameters.
func poolerHint(err error) error {
	if strings.Contains(err.Error(), "unsupported startup parameter") {
		return fmt.Errorf("%w\n(is DATABASE_URL a transaction-mode pooler such as PgBouncer? set REVENUE_DATABASE_POOLER=transaction and REVENUE_DATABASE_DIRECT_URL)", err)
	}
	return err
}

// feedLongPoll is the longest a verifier lets the issuer hold a feed poll,
// below the issuer's write timeout. The poller asks for less when
// REVENUE_REVOCATION_MAX_LAG is short: each answer confirms the state, and
// the wait must leave room for a failed poll and its retry within the lag.
const feedLongPoll = 10 * time.Second

// revocationsReady fails while the revocation state is older than
// REVENUE_REVOCATION_MAX_LAG, so load balancers route around the replica.
func revocationsReady(set *revocation.Set, now func() time.Time) error {
	if set.Stale(now()) {
		return fmt.Errorf("revocations last confirmed more than %s ago", set.MaxLag())
	}
	return nil
}

func listenAndServe(ctx context.Context, cfg config.Config, handler, metrics http.Handler, log *slog.Logger) error {
	srv := newHTTPServer(handler, log)
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("REVENUE_HTTP_ADDR: %w", err)
	}
	if n := connectionCap(cfg.MaxConnections, log); n > 0 {
		ln = netutil.LimitListener(ln, n)
	}
	servers := []*http.Server{srv}
	errc := make(chan error, 2)
	if cfg.MetricsAddr != "" {
		mln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("REVENUE_METRICS_ADDR: %w (set REVENUE_METRICS_ADDR= for no metrics listener)", err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", metrics)
		msrv := newHTTPServer(mux, log)
		servers = append(servers, msrv)
		always(ctx, log, "metrics listening", "addr", mln.Addr().String())
		go func() { errc <- msrv.Serve(mln) }()
	}
	// Written whatever REVENUE_LOG_LEVEL: with port 0 it is the only way
	// to learn the port.
	always(ctx, log, "listening", "addr", ln.Addr().String(), "pid", os.Getpid())
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing in-flight requests")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	for _, s := range servers {
		if err := s.Shutdown(sctx); err != nil {
			return fmt.Errorf("shutdown: %w", err)
		}
	}
	log.Info("stopped")
	return nil
}

// fdReserve is what the connection cap leaves of the open-file limit for
// the rest: the database pool and the revocation listener, the password
// hashing workers' pipes, key and state files, the metrics listener.
const fdReserve = 512

// connectionCap is how many connections the server holds at once: max
// (REVENUE_MAX_CONNECTIONS; 0: no cap), and never so many that the process
// runs out of file descriptors. Beyond it, a new connection waits in the
// kernel's queue until one closes: a client holding thousands of idle
// keep-alive connections otherwise exhausted them, and logins failed (no
// pipe for a hash worker) while the service looked ready.
func connectionCap(max int, log *slog.Logger) int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err == nil && rl.Cur > fdReserve*2 && rl.Cur < 1<<31 {
		if fit := int(rl.Cur) - fdReserve; max == 0 || fit < max {
			log.Warn("connections capped below REVENUE_MAX_CONNECTIONS by the open-file limit",
				"max_connections", fit, "open_file_limit", rl.Cur)
			return fit
		}
	}
	return max
}

// always writes an info line whatever the logger's level: a line an
// operator needs (where the service listens) is not one to filter out.
func always(ctx context.Context, log *slog.Logger, msg string, args ...any) {
	r := slog.NewRecord(time.Now(), slog.LevelInfo, msg, 0)
	r.Add(args...)
	_ = log.Handler().Handle(ctx, r)
}

// newHTTPServer bounds every phase of a connection, so slow or idle clients
// cannot hold the server's resources.
func newHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}
