package httpapi_test

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/revenue-api/revenue-api/internal/apitest"
)

// promSample is one line of the Prometheus text format.
type promSample struct {
	name   string
	labels map[string]string
	value  float64
}

// scrape reads GET /metrics as the operators' metrics address serves it:
// the main router does not (TestMetricsNotOnTheMainAddressByDefault).
func scrape(t *testing.T, env *apitest.Env) []promSample {
	t.Helper()
	resp := httptest.NewRecorder()
	env.Metrics.Handler().ServeHTTP(resp, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if resp.Code != http.StatusOK {
		t.Fatalf("GET /metrics: status %d, want 200", resp.Code)
	}
	if ct := resp.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("GET /metrics: Content-Type %q, want the Prometheus text format", ct)
	}
	var out []promSample
	sc := bufio.NewScanner(strings.NewReader(resp.Body.String()))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		s, ok := parsePromLine(line)
		if !ok {
			t.Fatalf("unparsable metrics line %q", line)
		}
		out = append(out, s)
	}
	return out
}

// parsePromLine reads `name{k="v",...} value`; label values here never hold
// quotes or commas.
func parsePromLine(line string) (promSample, bool) {
	s := promSample{labels: map[string]string{}}
	head, value, ok := strings.Cut(line, " ")
	if !ok {
		return s, false
	}
	v, err := strconv.ParseFloat(value, 64)
	if err != nil {
		return s, false
	}
	s.value = v
	name, labels, hasLabels := strings.Cut(head, "{")
	s.name = name
	if hasLabels {
		for _, pair := range strings.Split(strings.TrimSuffix(labels, "}"), ",") {
			k, v, ok := strings.Cut(pair, "=")
			if !ok {
				return s, false
			}
			s.labels[k] = strings.Trim(v, `"`)
		}
	}
	return s, true
}

// find returns the value of the one series of name whose labels include
// want, and whether there is one.
func find(samples []promSample, name string, want map[string]string) (float64, bool) {
	for _, s := range samples {
		if s.name != name {
			continue
		}
		match := true
		for k, v := range want {
			if s.labels[k] != v {
				match = false
				break
			}
		}
		if match {
			return s.value, true
		}
	}
	return 0, false
}

func TestMetricsDescribeTheTraffic(t *testing.T) {
	env := apitest.New(t)

	// Traffic of every kind the metrics should tell apart.
	first := env.Login(apitest.AliceEmail, apitest.AlicePassword)
	env.Do(apitest.Request{Method: http.MethodPost, Path: "/login", Body: map[string]string{"email": apitest.AliceEmail, "password": "not-the-password"}})
	env.Do(apitest.Request{Method: http.MethodPost, Path: "/login", Body: map[string]string{"email": "nobody@example.com", "password": "not-the-password"}})
	for range 3 {
		if r := env.Do(apitest.Request{Method: http.MethodGet, Path: "/revenue", Token: first.AccessToken}); r.Code != http.StatusOK {
			t.Fatalf("GET /revenue: %d", r.Code)
		}
	}
	env.Do(apitest.Request{Method: http.MethodGet, Path: "/me"})                       // no token: 401, not a rejection
	env.Do(apitest.Request{Method: http.MethodGet, Path: "/me", Token: "not-a-token"}) // malformed
	env.Do(apitest.Request{Method: http.MethodGet, Path: "/me", Token: first.AccessToken[:len(first.AccessToken)-4] + "AAAA"})
	env.Do(apitest.Request{Method: http.MethodGet, Path: "/no/such/path/" + strings.Repeat("x", 20)})
	env.Do(apitest.Request{Method: "BREW", Path: "/me"})
	env.Do(apitest.Request{Method: "BREW2", Path: "/me"})
	second := env.Refresh(env.Refresh(first.RefreshToken).RefreshToken)                                                                    // the first token's successor is presented
	env.Do(apitest.Request{Method: http.MethodPost, Path: "/token/refresh", Body: map[string]string{"refresh_token": first.RefreshToken}}) // reuse
	env.Clock.Advance(env.Config.AccessTokenTTL + env.Config.ClockLeeway + 1)
	env.Do(apitest.Request{Method: http.MethodGet, Path: "/me", Token: second.AccessToken}) // expired

	samples := scrape(t, env)
	const requests = "revenue_http_request_duration_seconds"
	tests := []struct {
		name    string
		metric  string
		labels  map[string]string
		atLeast float64
	}{
		{"successful revenue reads by route, method and status", requests + "_count", map[string]string{"route": "/revenue", "method": "GET", "status": "200"}, 3},
		{"their latency histogram has buckets", requests + "_bucket", map[string]string{"route": "/revenue", "method": "GET", "status": "200", "le": "+Inf"}, 3},
		{"their latency histogram has a sub-millisecond bucket", requests + "_bucket", map[string]string{"route": "/revenue", "method": "GET", "status": "200", "le": "0.0005"}, 0},
		{"and a sum", requests + "_sum", map[string]string{"route": "/revenue", "method": "GET", "status": "200"}, 0},
		{"refused requests by status", requests + "_count", map[string]string{"route": "/me", "method": "GET", "status": "401"}, 4},
		{"logins by status", requests + "_count", map[string]string{"route": "/login", "method": "POST", "status": "401"}, 2},
		{"unknown paths under one label, not their own", requests + "_count", map[string]string{"route": "unmatched", "method": "GET", "status": "404"}, 1},
		{"invented methods under one label, not their own", requests + "_count", map[string]string{"method": "other"}, 2},
		{"successful logins", "revenue_auth_events_total", map[string]string{"kind": "login_succeeded"}, 1},
		{"failed logins by reason: wrong password", "revenue_auth_events_total", map[string]string{"kind": "login_failed", "reason": "wrong_password"}, 1},
		{"failed logins by reason: unknown email", "revenue_auth_events_total", map[string]string{"kind": "login_failed", "reason": "unknown_email"}, 1},
		{"refreshes", "revenue_auth_events_total", map[string]string{"kind": "token_refreshed"}, 1},
		{"refresh token reuse detections", "revenue_auth_events_total", map[string]string{"kind": "refresh_reuse_detected"}, 1},
		{"token rejections: malformed", "revenue_token_rejections_total", map[string]string{"reason": "malformed"}, 1},
		{"token rejections: bad signature", "revenue_token_rejections_total", map[string]string{"reason": "signature"}, 1},
		{"token rejections: expired", "revenue_token_rejections_total", map[string]string{"reason": "expired"}, 1},
		{"token rejections with none yet are still exported", "revenue_token_rejections_total", map[string]string{"reason": "unknown_kid"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, ok := find(samples, tt.metric, tt.labels)
			if !ok {
				t.Fatalf("no %s%v in /metrics", tt.metric, tt.labels)
			}
			if v < tt.atLeast {
				t.Errorf("%s%v = %v, want at least %v", tt.metric, tt.labels, v, tt.atLeast)
			}
		})
	}

	// No label may carry a raw path or method, a token or an email: that would leak
	// secrets and let clients grow the series without bound.
	for _, s := range samples {
		for k, v := range s.labels {
			if strings.Contains(v, "/no/such") || strings.Contains(v, "BREW") || strings.Contains(v, "@") || strings.Contains(v, first.AccessToken[:20]) {
				t.Errorf("%s has label %s=%q", s.name, k, v)
			}
		}
	}
}
