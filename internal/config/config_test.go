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
		!c.CookieSecure || !c.Embedded() || c.VerifierOnly() {
		t.Errorf("defaults = %+v", c)
	}
}

func TestInvalidSettingsAreNamed(t *testing.T) {
	tests := map[string]string{
		"REVENUE_ACCESS_TOKEN_TTL":     "fifteen",
		"REVENUE_SESSION_IDLE_TIMEOUT": "1s",
		"REVENUE_REFRESH_REUSE_GRACE":  "-1s",
		"REVENUE_CORS_ORIGINS":         "*",
		"REVENUE_TRUSTED_PROXIES":      "not-an-ip",
		"REVENUE_MAX_BODY_BYTES":       "10",
		"REVENUE_DEMO_SEED":            "maybe",
		"REVENUE_JWKS_URL":             "http://issuer.example.com/jwks.json",
		"REVENUE_HASH_WORKERS":         "0",
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
