package config

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaults(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != ":8080" || c.KeysDir != "keys" || c.AccessTokenTTL != 15*time.Minute ||
		c.SessionIdleTimeout != 7*24*time.Hour || c.SessionMaxLifetime != 30*24*time.Hour || c.RefreshReuseGrace != 0 ||
		c.AuditRetention != 400*24*time.Hour || c.Signer != "auto" ||
		!c.CookieSecure || !c.Embedded() || c.VerifierOnly() {
		t.Errorf("defaults = %+v", c)
	}
}

func TestInvalidSettingsAreNamed(t *testing.T) {
	tests := map[string]string{
		"REVENUE_ACCESS_TOKEN_TTL":      "fifteen",
		"REVENUE_SESSION_IDLE_TIMEOUT":  "1s",
		"REVENUE_REFRESH_REUSE_GRACE":   "-1s",
		"REVENUE_CORS_ORIGINS":          "*",
		"REVENUE_TRUSTED_PROXIES":       "not-an-ip",
		"REVENUE_MAX_BODY_BYTES":        "10",
		"REVENUE_DEMO_SEED":             "maybe",
		"REVENUE_JWKS_URL":              "http://issuer.example.com/jwks.json",
		"REVENUE_HASH_WORKERS":          "0",
		"REVENUE_REVOCATION_POLL":       "10ms",
		"REVENUE_REVOCATION_MAX_LAG":    "2s",
		"REVENUE_REVOCATION_FEED_TOKEN": "too-short",
		"REVENUE_AUDIT_RETENTION":       "24h",
		"REVENUE_SIGNER":                "openssl",
	}
	for name, value := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := Load(env(map[string]string{name: value}))
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Errorf("%s=%q: error %v, want one naming the setting", name, value, err)
			}
		})
	}
}

func TestSignerSetting(t *testing.T) {
	for _, v := range []string{"auto", "go"} {
		c, err := Load(env(map[string]string{"REVENUE_SIGNER": v}))
		if err != nil || c.Signer != v {
			t.Errorf("REVENUE_SIGNER=%s: signer %q, error %v; want it accepted", v, c.Signer, err)
		}
	}
}

func TestRevocationFeedSettings(t *testing.T) {
	const jwks = "https://issuer.example.com/.well-known/jwks.json"
	const secret = "0123456789abcdef0123456789abcdef"
	if _, err := Load(env(map[string]string{"REVENUE_JWKS_URL": jwks})); err == nil || !strings.Contains(err.Error(), "REVENUE_REVOCATION_FEED_TOKEN") {
		t.Errorf("verifier-only without a feed token: %v, want refused naming REVENUE_REVOCATION_FEED_TOKEN", err)
	}
	c, err := Load(env(map[string]string{"REVENUE_JWKS_URL": jwks, "REVENUE_REVOCATION_FEED_TOKEN": secret}))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.FeedURL(); got != "https://issuer.example.com/revocations" {
		t.Errorf("default feed URL: %q, want the JWKS origin's /revocations", got)
	}
	c, err = Load(env(map[string]string{"REVENUE_JWKS_URL": jwks, "REVENUE_REVOCATION_FEED_URL": "off"}))
	if err != nil || c.FeedURL() != "" {
		t.Errorf("feed off: %v, feed URL %q; want accepted with no feed", err, c.FeedURL())
	}
	if _, err := Load(env(map[string]string{"REVENUE_JWKS_URL": jwks, "REVENUE_REVOCATION_FEED_TOKEN": secret,
		"REVENUE_REVOCATION_FEED_URL": "http://issuer.example.com/revocations"})); err == nil {
		t.Error("a plain-http feed URL off localhost must be refused")
	}
	c, err = Load(env(nil))
	if err != nil || c.RevocationMaxLag != time.Minute || c.RevocationPoll != time.Second || c.FeedURL() != "" {
		t.Errorf("issuer defaults: max lag %s, poll %s, feed URL %q, err %v", c.RevocationMaxLag, c.RevocationPoll, c.FeedURL(), err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "config", Config{RevocationFeedToken: secret})
	if strings.Contains(buf.String(), secret) {
		t.Errorf("the feed token reached the log: %s", buf.String())
	}
}

func TestInsecureCookieOnlyForLocalhost(t *testing.T) {
	if _, err := Load(env(map[string]string{"REVENUE_COOKIE_SECURE": "false"})); err != nil {
		t.Errorf("localhost issuer with insecure cookie: %v", err)
	}
	_, err := Load(env(map[string]string{"REVENUE_COOKIE_SECURE": "false", "REVENUE_ISSUER": "https://revenue.example.com"}))
	if err == nil || !strings.Contains(err.Error(), "REVENUE_COOKIE_SECURE") {
		t.Errorf("public issuer with insecure cookie: %v, want refused", err)
	}
}

func TestLogValueRedactsTheDatabasePassword(t *testing.T) {
	c, err := Load(env(map[string]string{"DATABASE_URL": "postgres://app:s3cret-pw@db:5432/revenue"}))
	if err != nil {
		t.Fatal(err)
	}
	if s := c.LogValue().String(); strings.Contains(s, "s3cret-pw") {
		t.Errorf("log value %q holds the password", s)
	}
}

func TestLogValueWritesDurationsAsGoDurations(t *testing.T) {
	c, err := Load(env(map[string]string{"REVENUE_JWKS_MAX_AGE": "90s"}))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("starting", "config", c)
	var line struct {
		Config map[string]any `json:"config"`
	}
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("the log line %q is not JSON: %v", buf.String(), err)
	}
	for key, want := range map[string]string{
		"access_token_ttl":     "15m0s",
		"jwks_max_age":         "1m30s",
		"keys_reload_interval": "5s",
	} {
		if got := line.Config[key]; got != want {
			t.Errorf("config.%s logged as %v (%T), want %q", key, got, got, want)
		}
	}
}

// TestOutOfRangeNumbersAreNamed: a number outside what its setting can
// hold is refused naming the setting, never wrapped into range (argon2's
// parallelism is one byte: -1 was read as 255 lanes, 257 as 1).
func TestOutOfRangeNumbersAreNamed(t *testing.T) {
	for _, c := range []struct{ name, value string }{
		{"REVENUE_ARGON2_PARALLELISM", "-1"}, {"REVENUE_ARGON2_PARALLELISM", "0"}, {"REVENUE_ARGON2_PARALLELISM", "256"},
		{"REVENUE_ARGON2_PARALLELISM", "257"},
		{"REVENUE_ARGON2_MEMORY_KIB", "-1"}, {"REVENUE_ARGON2_MEMORY_KIB", "8191"}, {"REVENUE_ARGON2_MEMORY_KIB", "4194305"},
		{"REVENUE_ARGON2_MEMORY_KIB", "4294967297"},
		{"REVENUE_ARGON2_ITERATIONS", "-1"}, {"REVENUE_ARGON2_ITERATIONS", "0"}, {"REVENUE_ARGON2_ITERATIONS", "101"},
		{"REVENUE_ARGON2_ITERATIONS", "4294967297"},
		{"REVENUE_SHUTDOWN_TIMEOUT", "-1s"},
	} {
		_, err := Load(env(map[string]string{c.name: c.value}))
		if err == nil || !strings.Contains(err.Error(), c.name) {
			t.Errorf("%s=%q: error %v, want one naming the setting", c.name, c.value, err)
		}
	}
	cfg, err := Load(env(map[string]string{"REVENUE_ARGON2_PARALLELISM": "255", "REVENUE_ARGON2_MEMORY_KIB": "4194304",
		"REVENUE_ARGON2_ITERATIONS": "100"}))
	if err != nil || cfg.Argon2Threads != 255 || cfg.Argon2MemoryKiB != 4194304 || cfg.Argon2Time != 100 {
		t.Errorf("the largest argon2 settings: %+v, %v; want them read as given", cfg, err)
	}
}
