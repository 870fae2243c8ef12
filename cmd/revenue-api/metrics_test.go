package main

import (
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/revenue-api/revenue-api/internal/pgtest"
)

// The series serve wires itself (the database pool, the password-hash
// queue, the verified-token cache) are on /metrics next to the HTTP layer's;
// internal/httpapi's metrics test covers the HTTP and auth series by label.
func TestServeExportsPoolQueueAndCacheMetrics(t *testing.T) {
	for _, tt := range []struct {
		name      string
		cacheSize string
		wantCache bool
	}{
		{"token cache on", "", true},
		{"token cache off", "0", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			metricsAddr := freeAddr(t)
			base, _ := startServe(t, map[string]string{
				"REVENUE_METRICS_ADDR":     metricsAddr,
				"DATABASE_URL":             pgtest.NewDatabase(t),
				"REVENUE_DEMO_SEED":        "true",
				"REVENUE_KEYS_DIR":         filepath.Join(t.TempDir(), "keys"),
				"REVENUE_KEYS_GENERATE":    "true",
				"REVENUE_WEB_DIR":          "",
				"REVENUE_TOKEN_CACHE_SIZE": tt.cacheSize,
			})
			status, tok := login(t, base, "alice@example.com", "alice-password-1")
			if status != http.StatusOK {
				t.Fatalf("login: %d", status)
			}
			for range 3 {
				if got := get(t, base+"/me", tok["access_token"].(string)); got != http.StatusOK {
					t.Fatalf("GET /me: %d", got)
				}
			}
			// A logout makes one live revocation, and its token a refusal.
			if got := post(t, base+"/logout", tok["access_token"].(string)); got != http.StatusNoContent {
				t.Fatalf("POST /logout: %d", got)
			}
			if got := get(t, base+"/me", tok["access_token"].(string)); got != http.StatusUnauthorized {
				t.Fatalf("GET /me after logout: %d, want 401", got)
			}
			resp, err := http.Get("http://" + metricsAddr + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()

			// series (literal) and value (a regular expression), and whether
			// the line should be there.
			for _, w := range []struct {
				series, value string
				present       bool
			}{
				{`revenue_db_pool_acquired_connections`, `\d+`, true},
				{`revenue_db_pool_total_connections`, `[1-9]\d*`, true},
				{`revenue_db_pool_max_connections`, `[1-9]\d*`, true},
				{`revenue_password_hash_queue_depth`, `\d+`, true},
				{`revenue_http_request_duration_seconds_count{method="GET",route="/me",status="200"}`, `3`, true},
				{`revenue_auth_events_total{kind="login_succeeded",reason=""}`, `1`, true},
				{`revenue_token_cache_hits_total`, `4`, tt.wantCache}, // two /me, the logout, and the /me refused as revoked
				{`revenue_token_cache_misses_total`, `1`, tt.wantCache},
				{`revenue_token_cache_entries`, `1`, tt.wantCache},
				{`revenue_revocations_live`, `1`, true},
				{`revenue_revocation_lag_seconds`, `0(\.\d+)?(e-\d+)?|[0-9.]+e-\d+|[1-4](\.\d+)?`, true},
				{`revenue_token_rejections_total{reason="revoked"}`, `1`, true},
				{`go_goroutines`, `\d+`, true},
				{`process_resident_memory_bytes`, `\S+`, true},
			} {
				re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(w.series) + ` ` + w.value + `$`)
				if got := re.Match(body); got != w.present {
					t.Errorf("/metrics has %s %s: %v, want %v", w.series, w.value, got, w.present)
				}
			}
		})
	}
}
