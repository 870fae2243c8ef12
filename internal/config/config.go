// Package config reads the service's settings from the environment, applies
// defaults and validates them at start, naming the setting that is wrong.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/revenue-api/revenue-api/internal/auth"
)

// Config is every setting of the service. The README's settings table lists
// the same names and defaults; keep the two together.
type Config struct {
	DatabaseURL string // DATABASE_URL; empty: start a private PostgreSQL under DataDir
	HTTPAddr    string // REVENUE_HTTP_ADDR
	KeysDir     string // REVENUE_KEYS_DIR
	DataDir     string // REVENUE_DATA_DIR
	WebDir      string // REVENUE_WEB_DIR
	LogLevel    slog.Level
	AccessLog   bool // REVENUE_ACCESS_LOG

	Issuer         string        // REVENUE_ISSUER
	Audience       string        // REVENUE_AUDIENCE
	AccessTokenTTL time.Duration // REVENUE_ACCESS_TOKEN_TTL
	ClockLeeway    time.Duration // REVENUE_CLOCK_LEEWAY
	JWKSURL        string        // REVENUE_JWKS_URL: verifier-only mode
	JWKSMaxAge     time.Duration // REVENUE_JWKS_MAX_AGE: issuer: Cache-Control max-age of the JWKS; verifier: longest a fetched JWKS is used
	KeysGenerate   bool          // REVENUE_KEYS_GENERATE
	TokenCache     int           // REVENUE_TOKEN_CACHE_SIZE: verified-token cache entries, 0 = off
	Signer         string        // REVENUE_SIGNER: auto (OpenSSL's libcrypto when it loads and passes the probe, else Go) or go

	KeysReloadInterval  time.Duration // REVENUE_KEYS_RELOAD_INTERVAL: how often the issuer checks REVENUE_KEYS_DIR for changes, 0 = only on SIGHUP
	JWKSRefetchInterval time.Duration // REVENUE_JWKS_REFETCH_INTERVAL: verifier: least time between fetches for unknown kids; retry delay
	JWKSFetchTimeout    time.Duration // REVENUE_JWKS_FETCH_TIMEOUT: verifier: bound on one JWKS fetch

	DemoSeed bool // REVENUE_DEMO_SEED

	DatabaseDirectURL   string        // REVENUE_DATABASE_DIRECT_URL: a session-capable connection for LISTEN and the migrations' lock; empty: DATABASE_URL
	DatabasePooler      string        // REVENUE_DATABASE_POOLER: what DATABASE_URL reaches: none (PostgreSQL itself) or transaction (a transaction-mode pooler)
	RevocationPoll      time.Duration // REVENUE_REVOCATION_POLL: replica: catch-up at least this often; verifier: feed poll interval
	RevocationMaxLag    time.Duration // REVENUE_REVOCATION_MAX_LAG: refuse tokens when revocations were last confirmed longer ago; 0: never
	RevocationFeedToken string        // REVENUE_REVOCATION_FEED_TOKEN: the feed's shared bearer secret; issuer: empty = no feed
	RevocationFeedURL   string        // REVENUE_REVOCATION_FEED_URL: verifier: the issuer's feed; "off": revocations not followed

	SessionIdleTimeout time.Duration // REVENUE_SESSION_IDLE_TIMEOUT
	SessionMaxLifetime time.Duration // REVENUE_SESSION_MAX_LIFETIME
	RefreshReuseGrace  time.Duration // REVENUE_REFRESH_REUSE_GRACE
	CookieSecure       bool          // REVENUE_COOKIE_SECURE
	CleanupInterval    time.Duration // REVENUE_CLEANUP_INTERVAL
	AuditRetention     time.Duration // REVENUE_AUDIT_RETENTION: audit rows older than this are deleted; 0 = kept forever

	CORSOrigins    []string // REVENUE_CORS_ORIGINS
	TrustedProxies []string // REVENUE_TRUSTED_PROXIES
	MaxBodyBytes   int64    // REVENUE_MAX_BODY_BYTES
	AuthRate       float64  // REVENUE_AUTH_RATE: requests per second per client address on /login and /token/refresh
	AuthBurst      int      // REVENUE_AUTH_BURST

	LockoutThreshold int           // REVENUE_LOCKOUT_THRESHOLD
	LockoutBase      time.Duration // REVENUE_LOCKOUT_BASE
	LockoutMax       time.Duration // REVENUE_LOCKOUT_MAX

	HashWorkers     int           // REVENUE_HASH_WORKERS
	HashQueue       int           // REVENUE_HASH_QUEUE
	Argon2MemoryKiB uint32        // REVENUE_ARGON2_MEMORY_KIB
	Argon2Time      uint32        // REVENUE_ARGON2_ITERATIONS
	Argon2Threads   uint8         // REVENUE_ARGON2_PARALLELISM
	DBTimeout       time.Duration // REVENUE_DB_TIMEOUT

	MetricsAddr     string        // REVENUE_METRICS_ADDR: the operators' listener of /metrics; empty: none
	MetricsOnMain   bool          // REVENUE_METRICS_ON_MAIN: also serve /metrics on HTTPAddr (opt-in: it tells attackers much)
	ShutdownTimeout time.Duration // REVENUE_SHUTDOWN_TIMEOUT
	MaxConnections  int           // REVENUE_MAX_CONNECTIONS: connections held at once; 0: no cap
}

// AuthPolicy is the session and lockout part of the configuration, in the
// auth domain's terms.
func (c Config) AuthPolicy() auth.Policy {
	return auth.Policy{
		AccessTokenTTL:     c.AccessTokenTTL,
		ClockLeeway:        c.ClockLeeway,
		SessionIdleTimeout: c.SessionIdleTimeout,
		SessionMaxLifetime: c.SessionMaxLifetime,
		RefreshReuseGrace:  c.RefreshReuseGrace,
		AuditRetention:     c.AuditRetention,
		LockoutThreshold:   c.LockoutThreshold,
		LockoutBase:        c.LockoutBase,
		LockoutMax:         c.LockoutMax,
	}
}

// Embedded reports whether the service runs its own private PostgreSQL.
func (c Config) Embedded() bool { return c.DatabaseURL == "" && c.JWKSURL == "" }

// FeedURL is where a verifier-only process polls the issuer's revocations:
// REVENUE_REVOCATION_FEED_URL, or /revocations on the JWKS URL's origin;
// empty when revocations are not followed.
func (c Config) FeedURL() string {
	switch {
	case c.RevocationFeedURL == "off" || !c.VerifierOnly():
		return ""
	case c.RevocationFeedURL != "":
		return c.RevocationFeedURL
	}
	u, err := url.Parse(c.JWKSURL)
	if err != nil {
		return ""
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: "/revocations"}).String()
}

// DirectURL is the database connection for what needs a session of its own
// (LISTEN, the migrations' advisory lock): REVENUE_DATABASE_DIRECT_URL, else
// DATABASE_URL.
func (c Config) DirectURL() string {
	if c.DatabaseDirectURL != "" {
		return c.DatabaseDirectURL
	}
	return c.DatabaseURL
}

// VerifierOnly reports whether the process only verifies tokens with keys
// fetched from an issuer's JWKS, and issues none.
func (c Config) VerifierOnly() bool { return c.JWKSURL != "" }

// LogValue keeps secrets out of logs: the database password is redacted,
// and URLs are shown without user info.
// Durations are written as Go duration strings ("15m0s"), the form the
// settings take, rather than the nanoseconds slog's JSON handler prints.
func (c Config) LogValue() slog.Value {
	duration := func(key string, d time.Duration) slog.Attr { return slog.String(key, d.String()) }
	return slog.GroupValue(
		slog.String("database", RedactURL(c.DatabaseURL)),
		slog.String("http_addr", c.HTTPAddr),
		slog.String("keys_dir", c.KeysDir),
		slog.String("issuer", c.Issuer),
		slog.String("audience", c.Audience),
		duration("access_token_ttl", c.AccessTokenTTL),
		slog.Any("cors_origins", c.CORSOrigins),
		slog.String("jwks_url", shownURL(c.JWKSURL)),
		duration("jwks_max_age", c.JWKSMaxAge),
		duration("keys_reload_interval", c.KeysReloadInterval),
		slog.String("signer", c.Signer),
		duration("revocation_poll", c.RevocationPoll),
		duration("revocation_max_lag", c.RevocationMaxLag),
		slog.Bool("revocation_feed", c.RevocationFeedToken != ""),
		slog.String("revocation_feed_url", shownURL(c.FeedURL())),
	)
}

// RedactURL hides the password of a database URL; keyword/value strings are
// reduced to their host.
func RedactURL(s string) string {
	if s == "" {
		return "private PostgreSQL"
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" {
		return "(keyword/value connection string)"
	}
	return u.Redacted()
}

// shownURL is an issuer URL as the log and messages show it: without its
// user info. One that does not parse, or has no host, is not shown at all,
// since it may hold a credential anyway ("user:password@host" parses as
// scheme "user", "user@host/path" as a path).
func shownURL(s string) string {
	u, err := url.Parse(s)
	switch {
	case s == "":
		return ""
	case err != nil:
		return "(a value that does not parse as a URL)"
	case u.Host == "":
		return "(a value that is not a URL with a host)"
	}
	u.User = nil
	return u.String()
}

// Load reads the configuration from getenv and validates it.
func Load(getenv func(string) string) (Config, error) {
	r := reader{getenv: getenv}
	workers := max(1, runtime.NumCPU()-1)
	c := Config{
		DatabaseURL: r.str("DATABASE_URL", ""),
		HTTPAddr:    r.str("REVENUE_HTTP_ADDR", ":8080"),
		KeysDir:     r.str("REVENUE_KEYS_DIR", "keys"),
		DataDir:     r.str("REVENUE_DATA_DIR", ".data"),
		WebDir:      r.str("REVENUE_WEB_DIR", "web/dist"),
		LogLevel:    r.level("REVENUE_LOG_LEVEL", slog.LevelInfo),
		AccessLog:   r.boolean("REVENUE_ACCESS_LOG", true),

		Issuer:         r.str("REVENUE_ISSUER", "http://localhost:8080"),
		Audience:       r.str("REVENUE_AUDIENCE", "revenue-api"),
		AccessTokenTTL: r.duration("REVENUE_ACCESS_TOKEN_TTL", 15*time.Minute),
		ClockLeeway:    r.duration("REVENUE_CLOCK_LEEWAY", 30*time.Second),
		JWKSURL:        r.str("REVENUE_JWKS_URL", ""),
		JWKSMaxAge:     r.duration("REVENUE_JWKS_MAX_AGE", 5*time.Minute),
		KeysGenerate:   r.boolean("REVENUE_KEYS_GENERATE", false),
		TokenCache:     r.integer("REVENUE_TOKEN_CACHE_SIZE", 10000),
		Signer:         r.str("REVENUE_SIGNER", "auto"),

		KeysReloadInterval:  r.duration("REVENUE_KEYS_RELOAD_INTERVAL", 5*time.Second),
		JWKSRefetchInterval: r.duration("REVENUE_JWKS_REFETCH_INTERVAL", 10*time.Second),
		JWKSFetchTimeout:    r.duration("REVENUE_JWKS_FETCH_TIMEOUT", 5*time.Second),

		DemoSeed: r.boolean("REVENUE_DEMO_SEED", false),

		DatabaseDirectURL:   r.str("REVENUE_DATABASE_DIRECT_URL", ""),
		DatabasePooler:      r.str("REVENUE_DATABASE_POOLER", "none"),
		RevocationPoll:      r.duration("REVENUE_REVOCATION_POLL", time.Second),
		RevocationMaxLag:    r.duration("REVENUE_REVOCATION_MAX_LAG", time.Minute),
		RevocationFeedToken: r.str("REVENUE_REVOCATION_FEED_TOKEN", ""),
		RevocationFeedURL:   r.str("REVENUE_REVOCATION_FEED_URL", ""),

		SessionIdleTimeout: r.duration("REVENUE_SESSION_IDLE_TIMEOUT", 7*24*time.Hour),
		SessionMaxLifetime: r.duration("REVENUE_SESSION_MAX_LIFETIME", 30*24*time.Hour),
		RefreshReuseGrace:  r.duration("REVENUE_REFRESH_REUSE_GRACE", 0),
		CookieSecure:       r.boolean("REVENUE_COOKIE_SECURE", true),
		CleanupInterval:    r.duration("REVENUE_CLEANUP_INTERVAL", 10*time.Minute),
		AuditRetention:     r.duration("REVENUE_AUDIT_RETENTION", 400*24*time.Hour),

		CORSOrigins:    r.list("REVENUE_CORS_ORIGINS"),
		TrustedProxies: r.list("REVENUE_TRUSTED_PROXIES"),
		MaxBodyBytes:   int64(r.integer("REVENUE_MAX_BODY_BYTES", 16<<10)),
		AuthRate:       r.float("REVENUE_AUTH_RATE", 1),
		AuthBurst:      r.integer("REVENUE_AUTH_BURST", 20),

		LockoutThreshold: r.integer("REVENUE_LOCKOUT_THRESHOLD", 5),
		LockoutBase:      r.duration("REVENUE_LOCKOUT_BASE", time.Minute),
		LockoutMax:       r.duration("REVENUE_LOCKOUT_MAX", 15*time.Minute),

		HashWorkers: r.integer("REVENUE_HASH_WORKERS", workers),
		HashQueue:   r.integer("REVENUE_HASH_QUEUE", 32),
		// Bounded before they are narrowed: a wrapped value would pass.
		Argon2MemoryKiB: uint32(r.bounded("REVENUE_ARGON2_MEMORY_KIB", 19456, 8*1024, argon2MaxMemoryKiB)),
		Argon2Time:      uint32(r.bounded("REVENUE_ARGON2_ITERATIONS", 2, 1, argon2MaxIterations)),
		Argon2Threads:   uint8(r.bounded("REVENUE_ARGON2_PARALLELISM", 1, 1, 255)),
		DBTimeout:       r.duration("REVENUE_DB_TIMEOUT", 5*time.Second),

		MetricsAddr:     r.str("REVENUE_METRICS_ADDR", ""),
		MetricsOnMain:   r.boolean("REVENUE_METRICS_ON_MAIN", false),
		ShutdownTimeout: r.duration("REVENUE_SHUTDOWN_TIMEOUT", 20*time.Second),
		MaxConnections:  r.integer("REVENUE_MAX_CONNECTIONS", 10000),
	}
	if err := errors.Join(append(r.errs, c.Validate())...); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Validate checks ranges and combinations; each message names its setting.
func (c Config) Validate() error {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
	}
	if c.AccessTokenTTL < time.Second || c.AccessTokenTTL > 24*time.Hour {
		bad("REVENUE_ACCESS_TOKEN_TTL", "must be between 1s and 24h, got %s", c.AccessTokenTTL)
	}
	if c.ClockLeeway < 0 || c.ClockLeeway > 5*time.Minute {
		bad("REVENUE_CLOCK_LEEWAY", "must be between 0 and 5m, got %s", c.ClockLeeway)
	}
	if c.SessionIdleTimeout < time.Minute {
		bad("REVENUE_SESSION_IDLE_TIMEOUT", "must be at least 1m, got %s", c.SessionIdleTimeout)
	}
	if c.SessionMaxLifetime < c.SessionIdleTimeout {
		bad("REVENUE_SESSION_MAX_LIFETIME", "must be at least REVENUE_SESSION_IDLE_TIMEOUT (%s), got %s", c.SessionIdleTimeout, c.SessionMaxLifetime)
	}
	if c.RefreshReuseGrace < 0 || c.RefreshReuseGrace > time.Minute {
		bad("REVENUE_REFRESH_REUSE_GRACE", "must be between 0 (off) and 1m, got %s", c.RefreshReuseGrace)
	}
	if c.CleanupInterval < time.Second {
		bad("REVENUE_CLEANUP_INTERVAL", "must be at least 1s, got %s", c.CleanupInterval)
	}
	// A live session's login must stay in the audit trail.
	if c.AuditRetention != 0 && c.AuditRetention < c.SessionMaxLifetime {
		bad("REVENUE_AUDIT_RETENTION", "must be 0 (keep forever) or at least REVENUE_SESSION_MAX_LIFETIME (%s), got %s", c.SessionMaxLifetime, c.AuditRetention)
	}
	if c.Issuer == "" {
		bad("REVENUE_ISSUER", "must not be empty")
	}
	if c.Audience == "" {
		bad("REVENUE_AUDIENCE", "must not be empty")
	}
	if !c.CookieSecure && !isLocalhostURL(c.Issuer) {
		bad("REVENUE_COOKIE_SECURE", "may be false only for http://localhost development (REVENUE_ISSUER is %q)", c.Issuer)
	}
	if c.JWKSURL != "" {
		checkIssuerURL(bad, "REVENUE_JWKS_URL", c.JWKSURL, "")
	}
	if c.JWKSMaxAge < 0 || c.JWKSMaxAge > 24*time.Hour {
		bad("REVENUE_JWKS_MAX_AGE", "must be between 0 and 24h, got %s", c.JWKSMaxAge)
	}
	if c.KeysReloadInterval != 0 && (c.KeysReloadInterval < 100*time.Millisecond || c.KeysReloadInterval > time.Hour) {
		bad("REVENUE_KEYS_RELOAD_INTERVAL", "must be 0 (reload only on SIGHUP) or between 100ms and 1h, got %s", c.KeysReloadInterval)
	}
	if c.JWKSRefetchInterval < 100*time.Millisecond || c.JWKSRefetchInterval > time.Hour {
		bad("REVENUE_JWKS_REFETCH_INTERVAL", "must be between 100ms and 1h, got %s", c.JWKSRefetchInterval)
	}
	if c.JWKSFetchTimeout < 100*time.Millisecond || c.JWKSFetchTimeout > time.Minute {
		bad("REVENUE_JWKS_FETCH_TIMEOUT", "must be between 100ms and 1m, got %s", c.JWKSFetchTimeout)
	}
	if c.RevocationPoll < 100*time.Millisecond || c.RevocationPoll > time.Minute {
		bad("REVENUE_REVOCATION_POLL", "must be between 100ms and 1m, got %s", c.RevocationPoll)
	}
	if c.RevocationMaxLag != 0 && c.RevocationMaxLag < 3*c.RevocationPoll {
		bad("REVENUE_REVOCATION_MAX_LAG", "must be 0 (never refuse) or at least 3 × REVENUE_REVOCATION_POLL (%s), got %s", 3*c.RevocationPoll, c.RevocationMaxLag)
	}
	if c.RevocationFeedToken != "" && len(c.RevocationFeedToken) < 32 {
		bad("REVENUE_REVOCATION_FEED_TOKEN", "must be at least 32 characters (e.g. openssl rand -hex 32)")
	}
	if c.VerifierOnly() && c.RevocationFeedURL != "off" {
		if c.RevocationFeedToken == "" {
			bad("REVENUE_REVOCATION_FEED_TOKEN", "is required in verifier-only mode to follow the issuer's revocations (or set REVENUE_REVOCATION_FEED_URL=off to accept revoked tokens until they expire)")
		}
		if c.RevocationFeedURL != "" {
			checkIssuerURL(bad, "REVENUE_REVOCATION_FEED_URL", c.RevocationFeedURL, " or off")
		}
	}
	if c.TokenCache < 0 {
		bad("REVENUE_TOKEN_CACHE_SIZE", "must be 0 (off) or more, got %d", c.TokenCache)
	}
	if c.Signer != "auto" && c.Signer != "go" {
		bad("REVENUE_SIGNER", "must be auto (OpenSSL when it loads and passes its check, else Go) or go, got %q", c.Signer)
	}
	for _, o := range c.CORSOrigins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || o == "*" {
			bad("REVENUE_CORS_ORIGINS", "%q is not an origin like https://app.example.com", o)
		}
	}
	for _, p := range c.TrustedProxies {
		if net.ParseIP(p) == nil {
			if _, _, err := net.ParseCIDR(p); err != nil {
				bad("REVENUE_TRUSTED_PROXIES", "%q is not an IP address or CIDR", p)
			}
		}
	}
	if c.MaxBodyBytes < 1024 || c.MaxBodyBytes > 1<<20 {
		bad("REVENUE_MAX_BODY_BYTES", "must be between 1024 and 1048576, got %d", c.MaxBodyBytes)
	}
	if c.AuthRate <= 0 {
		bad("REVENUE_AUTH_RATE", "must be positive, got %g", c.AuthRate)
	}
	if c.AuthBurst < 1 {
		bad("REVENUE_AUTH_BURST", "must be at least 1, got %d", c.AuthBurst)
	}
	if c.LockoutThreshold < 1 {
		bad("REVENUE_LOCKOUT_THRESHOLD", "must be at least 1, got %d", c.LockoutThreshold)
	}
	if c.LockoutBase <= 0 || c.LockoutMax < c.LockoutBase {
		bad("REVENUE_LOCKOUT_BASE", "must be positive and at most REVENUE_LOCKOUT_MAX (%s), got %s", c.LockoutMax, c.LockoutBase)
	}
	if c.HashWorkers < 1 || c.HashWorkers > 256 {
		bad("REVENUE_HASH_WORKERS", "must be between 1 and 256, got %d", c.HashWorkers)
	}
	if c.HashQueue < 0 {
		bad("REVENUE_HASH_QUEUE", "must be 0 or more, got %d", c.HashQueue)
	}
	if c.MaxConnections < 0 {
		bad("REVENUE_MAX_CONNECTIONS", "must not be negative (0: no cap), got %d", c.MaxConnections)
	}
	if c.ShutdownTimeout < 0 {
		bad("REVENUE_SHUTDOWN_TIMEOUT", "must not be negative, got %s", c.ShutdownTimeout)
	}
	if c.Argon2MemoryKiB < 8*1024 || c.Argon2MemoryKiB > argon2MaxMemoryKiB {
		bad("REVENUE_ARGON2_MEMORY_KIB", "must be from 8192 to %d, got %d", argon2MaxMemoryKiB, c.Argon2MemoryKiB)
	}
	if c.Argon2Time < 1 || c.Argon2Time > argon2MaxIterations {
		bad("REVENUE_ARGON2_ITERATIONS", "must be from 1 to %d, got %d", argon2MaxIterations, c.Argon2Time)
	}
	if c.Argon2Threads < 1 {
		bad("REVENUE_ARGON2_PARALLELISM", "must be at least 1, got %d", c.Argon2Threads)
	}
	if c.DatabasePooler == "transaction" && c.DatabaseDirectURL == "" && !c.VerifierOnly() {
		bad("REVENUE_DATABASE_DIRECT_URL", "is required with REVENUE_DATABASE_POOLER=transaction: LISTEN (revocations) and the migrations' lock need a session of their own, which a transaction pooler does not keep")
	}
	if c.DatabasePooler != "none" && c.DatabasePooler != "transaction" {
		bad("REVENUE_DATABASE_POOLER", "must be none (DATABASE_URL is PostgreSQL) or transaction (a pooler such as PgBouncer with pool_mode = transaction), got %q", c.DatabasePooler)
	}
	if c.DBTimeout < 100*time.Millisecond {
		bad("REVENUE_DB_TIMEOUT", "must be at least 100ms, got %s", c.DBTimeout)
	}
	if c.MetricsAddr != "" && c.MetricsAddr == c.HTTPAddr {
		bad("REVENUE_METRICS_ADDR", "must differ from REVENUE_HTTP_ADDR (%s); to serve /metrics there, set REVENUE_METRICS_ON_MAIN=true instead", c.HTTPAddr)
	}
	return errors.Join(errs...)
}

// checkIssuerURL reports to bad, under the setting's name, a URL of the
// issuer that is not https (http only for localhost; alternatives names
// other values the setting takes), or that carries user info: credentials
// do not belong in a URL, which is logged. No message repeats a credential
// (see shownURL).
func checkIssuerURL(bad func(name, format string, args ...any), name, s, alternatives string) {
	u, err := url.Parse(s)
	switch {
	case err != nil || u.Host == "":
		bad(name, "must be an https URL (http only for localhost)%s; the value is not a URL with a host (not repeated: it may hold a credential)", alternatives)
	case u.User != nil:
		bad(name, "must not carry user info (the user:password@ before the host): credentials do not belong in a URL, which is logged")
	case u.Scheme != "https" && !(u.Scheme == "http" && isLocalhostURL(s)):
		bad(name, "must be an https URL (http only for localhost)%s, got %q", alternatives, shownURL(s))
	}
}

func isLocalhostURL(s string) bool {
	u, err := url.Parse(s)
	if err != nil {
		return false
	}
	switch u.Hostname() {
	case "localhost", "127.0.0.1", "::1":
		return true
	}
	return false
}

// reader parses environment values, collecting one error per bad setting.
type reader struct {
	getenv func(string) string
	errs   []error
}

func (r *reader) str(name, def string) string {
	if v := strings.TrimSpace(r.getenv(name)); v != "" {
		return v
	}
	return def
}

func (r *reader) fail(name, want, got string) {
	r.errs = append(r.errs, fmt.Errorf("%s: want %s, got %q", name, want, got))
}

func (r *reader) duration(name string, def time.Duration) time.Duration {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		r.fail(name, "a Go duration such as 15m or 30s", v)
		return def
	}
	return d
}

func (r *reader) integer(name string, def int) int {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		r.fail(name, "a whole number", v)
		return def
	}
	return n
}

// bounded is integer, refused (naming the setting) outside [lo, hi].
func (r *reader) bounded(name string, def, lo, hi int) int {
	n := r.integer(name, def)
	if n < lo || n > hi {
		r.fail(name, fmt.Sprintf("a whole number from %d to %d", lo, hi), r.str(name, ""))
		return def
	}
	return n
}

// The largest argon2 parameters a stored hash may carry (passwordhash
// refuses more): 4 GiB, 100 passes.
const (
	argon2MaxMemoryKiB  = 4 << 20
	argon2MaxIterations = 100
)

func (r *reader) float(name string, def float64) float64 {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		r.fail(name, "a number", v)
		return def
	}
	return f
}

func (r *reader) boolean(name string, def bool) bool {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.fail(name, "true or false", v)
		return def
	}
	return b
}

func (r *reader) level(name string, def slog.Level) slog.Level {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(v)); err != nil {
		r.fail(name, "debug, info, warn or error", v)
		return def
	}
	return l
}

func (r *reader) list(name string) []string {
	var out []string
	for _, part := range strings.Split(r.getenv(name), ",") {
		if p := strings.TrimSpace(part); p != "" {
			out = append(out, p)
		}
	}
	return out
}
