package config

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// verifierEnv is a valid verifier-only configuration, with changes.
func verifierEnv(changes map[string]string) map[string]string {
	m := map[string]string{
		"REVENUE_JWKS_URL":              "https://issuer.example.com/.well-known/jwks.json",
		"REVENUE_ISSUER":                "https://issuer.example.com",
		"REVENUE_REVOCATION_FEED_TOKEN": "0123456789abcdef0123456789abcdef",
	}
	for k, v := range changes {
		m[k] = v
	}
	return m
}

// Credentials do not belong in a URL, which is logged: user info in the
// JWKS or feed URL refuses the start, with a message that names the
// setting and does not repeat the credential, whether the URL parses or not.
func TestURLsWithUserInfoAreRefused(t *testing.T) {
	if _, err := Load(env(verifierEnv(nil))); err != nil {
		t.Fatalf("the verifier configuration without changes: %v", err)
	}
	tests := []struct{ name, value string }{
		{"REVENUE_JWKS_URL", "https://jwksuser:s3cret@issuer.example.com/.well-known/jwks.json"},
		{"REVENUE_JWKS_URL", "https://s3cret@issuer.example.com/.well-known/jwks.json"},
		{"REVENUE_JWKS_URL", "https://jwksuser:s3cret@issuer.example.com/%zz"},
		{"REVENUE_JWKS_URL", "jwksuser:s3cret@issuer.example.com/jwks.json"},
		{"REVENUE_JWKS_URL", "http://jwksuser:s3cret@localhost:8080/.well-known/jwks.json"},
		{"REVENUE_REVOCATION_FEED_URL", "https://jwksuser:s3cret@issuer.example.com/revocations"},
		{"REVENUE_REVOCATION_FEED_URL", "https://jwksuser:s3cret@issuer.example.com/%zz"},
	}
	for _, tt := range tests {
		t.Run(tt.name+"="+tt.value, func(t *testing.T) {
			_, err := Load(env(verifierEnv(map[string]string{tt.name: tt.value})))
			if err == nil || !strings.Contains(err.Error(), tt.name) {
				t.Fatalf("error %v, want one naming %s", err, tt.name)
			}
			if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "jwksuser") {
				t.Errorf("the error repeats the credential: %v", err)
			}
		})
	}
}

// The start log shows the JWKS and feed URLs without user info, even of a
// Config that was not validated.
func TestLogValueShowsNoUserInfo(t *testing.T) {
	c := Config{
		JWKSURL:           "https://jwksuser:s3cret@issuer.example.com/.well-known/jwks.json",
		RevocationFeedURL: "https://feeduser:s3cret@issuer.example.com/revocations",
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("starting", "config", c)
	for _, secret := range []string{"s3cret", "jwksuser", "feeduser"} {
		if strings.Contains(buf.String(), secret) {
			t.Errorf("the log shows %q:\n%s", secret, buf.String())
		}
	}
	for _, u := range []string{"https://issuer.example.com/.well-known/jwks.json", "https://issuer.example.com/revocations"} {
		if !strings.Contains(buf.String(), u) {
			t.Errorf("the log does not show %s:\n%s", u, buf.String())
		}
	}
}
