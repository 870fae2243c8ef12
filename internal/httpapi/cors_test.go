package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/revenue-api/revenue-api/internal/apitest"
	"github.com/revenue-api/revenue-api/internal/config"
)

// The test requests' Host is example.com (httptest.NewRequest), so the
// server's own origin is http://example.com or https://example.com.
const ownOrigin = "http://example.com"

// wantForbiddenOrigin checks the refusal of a disallowed origin: 403 with a
// problem body coded forbidden_origin, and no CORS header that would let a
// page read it.
func wantForbiddenOrigin(t *testing.T, what string, resp apitest.Response) {
	t.Helper()
	if ct := resp.Header().Get("Content-Type"); resp.Code != http.StatusForbidden || !strings.HasPrefix(ct, "application/problem+json") {
		body := resp.Body.String()
		body = body[:min(len(body), 120)]
		t.Errorf("%s: %d, Content-Type %q, body %q; want 403 application/problem+json forbidden_origin", what, resp.Code, ct, body)
		return
	}
	if code := resp.ProblemCode(t); code != "forbidden_origin" {
		t.Errorf("%s: code %q, want forbidden_origin", what, code)
	}
	for _, h := range []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Credentials"} {
		if v := resp.Header().Get(h); v != "" {
			t.Errorf("%s: %s %q, want none", what, h, v)
		}
	}
}

// An origin is the server's own only when it is exactly http:// or
// https:// and the request's Host, the rule of the CORS middleware; any
// other spelling is a foreign origin, refused like any other, with a
// problem body (not the middleware's empty 403).
func TestCORSRefusesOtherSpellingsOfTheOwnOrigin(t *testing.T) {
	const app = "https://app.example.com"
	env := apitest.New(t, withSettings(t, map[string]string{"REVENUE_CORS_ORIGINS": app}))
	carol := env.Login(apitest.CarolEmail, apitest.CarolPassword).AccessToken
	get := func(origin string) apitest.Response {
		return env.Do(apitest.Request{Method: http.MethodGet, Path: "/revenue", Token: carol, Header: http.Header{"Origin": {origin}}})
	}
	preflight := func(origin string) apitest.Response {
		return env.Do(apitest.Request{Method: http.MethodOptions, Path: "/revenue/months/2026-01", Header: http.Header{
			"Origin": {origin}, "Access-Control-Request-Method": {"PUT"}, "Access-Control-Request-Headers": {"authorization,if-match"}}})
	}

	for _, origin := range []string{
		"ws://example.com", "wss://example.com", "ftp://example.com",
		"http://x@example.com", "http://x:y@example.com",
		"http://example.com/", "http://example.com/path", "http://example.com?q", "http://example.com#f",
		"HTTP://example.com", "Https://example.com", "http://EXAMPLE.com",
		"http://example.com:80", "https://example.com:443", " http://example.com",
		"HTTPS://app.example.com", "https://APP.example.com", "https://app.example.com/",
	} {
		wantForbiddenOrigin(t, "GET /revenue from "+origin, get(origin))
		wantForbiddenOrigin(t, "preflight from "+origin, preflight(origin))
	}

	// The server's own origin is no CORS request: answered, no CORS headers.
	for _, origin := range []string{ownOrigin, "https://example.com"} {
		if resp := get(origin); resp.Code != http.StatusOK || resp.Header().Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("GET /revenue from %s: %d, allow-origin %q; want 200 without CORS headers", origin, resp.Code, resp.Header().Get("Access-Control-Allow-Origin"))
		}
	}
	// The configured origin is allowed, with credentials.
	if resp := get(app); resp.Code != http.StatusOK || resp.Header().Get("Access-Control-Allow-Origin") != app {
		t.Errorf("GET /revenue from %s: %d, allow-origin %q; want 200 readable by the app", app, resp.Code, resp.Header().Get("Access-Control-Allow-Origin"))
	}
	if resp := preflight(app); resp.Code != http.StatusNoContent || resp.Header().Get("Access-Control-Allow-Origin") != app ||
		resp.Header().Get("Access-Control-Allow-Credentials") != "true" {
		t.Errorf("preflight from %s: %d, allow-origin %q; want 204 with the origin allowed", app, resp.Code, resp.Header().Get("Access-Control-Allow-Origin"))
	}
}

// An origin configured with capitals is matched as the CORS middleware
// matches it (in lower case), which is how browsers send it.
func TestCORSOriginConfiguredWithCapitals(t *testing.T) {
	env := apitest.New(t, withSettings(t, map[string]string{"REVENUE_CORS_ORIGINS": "https://App.Example.com"}))
	carol := env.Login(apitest.CarolEmail, apitest.CarolPassword).AccessToken
	get := func(origin string) apitest.Response {
		return env.Do(apitest.Request{Method: http.MethodGet, Path: "/revenue", Token: carol, Header: http.Header{"Origin": {origin}}})
	}
	if resp := get("https://app.example.com"); resp.Code != http.StatusOK || resp.Header().Get("Access-Control-Allow-Origin") != "https://app.example.com" {
		t.Errorf("GET /revenue from https://app.example.com: %d, allow-origin %q; want 200 readable by the app",
			resp.Code, resp.Header().Get("Access-Control-Allow-Origin"))
	}
	wantForbiddenOrigin(t, "GET /revenue from https://App.Example.com", get("https://App.Example.com"))
}

// The cookie delivery of the refresh token follows the same rule, with or
// without CORS configured.
func TestRefreshCookieOnlyForTheExactOwnOrigin(t *testing.T) {
	env := apitest.New(t, withSettings(t, map[string]string{"REVENUE_AUTH_RATE": "1000", "REVENUE_AUTH_BURST": "1000"}))
	login := func(origin string) apitest.Response {
		req := plusHeader(loginAs(apitest.AliceEmail, apitest.AlicePassword), "X-Refresh-Token-Delivery", "cookie")
		return env.Do(plusHeader(req, "Origin", origin))
	}
	for _, origin := range []string{"http://x@example.com", "ws://example.com", "http://example.com/", "HTTP://example.com"} {
		resp := login(origin)
		wantForbiddenOrigin(t, "login with the cookie from "+origin, resp)
		if resp.Cookie("revenue_refresh") != nil {
			t.Errorf("login with the cookie from %s: a refresh cookie was set", origin)
		}
	}
	for _, origin := range []string{ownOrigin, "https://example.com"} {
		if resp := login(origin); resp.Code != http.StatusOK || resp.Cookie("revenue_refresh") == nil {
			t.Errorf("login with the cookie from %s: %d, want 200 and the cookie", origin, resp.Code)
		}
	}
}

// varies reports whether the answer's Vary names the request header name.
func varies(resp apitest.Response, name string) bool {
	for _, v := range resp.Header().Values("Vary") {
		for _, f := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(f), name) {
				return true
			}
		}
	}
	return false
}

// With CORS configured, every answer's CORS headers depend on Origin, so
// every answer says so, those to requests without an Origin or from the
// server's own included: a shared cache must not hand an answer without
// Access-Control-Allow-Origin to the allowed origin, nor one with it to
// another.
func TestVaryOriginWhenCORSIsConfigured(t *testing.T) {
	const app = "https://app.example.com"
	web := newBuiltWeb(t, true)
	withWeb := func(c *config.Config) { c.WebDir = web.dir }
	env := apitest.New(t, withSettings(t, map[string]string{"REVENUE_CORS_ORIGINS": app}), withWeb)
	for _, path := range []string{"/openapi.yaml", "/.well-known/jwks.json", "/assets/app-1a2b.js", "/assets/plain-5e6f.css", "/healthz", "/me"} {
		for _, origin := range []string{"", ownOrigin, app, "https://evil.example"} {
			h := http.Header{}
			if origin != "" {
				h.Set("Origin", origin)
			}
			resp := env.Do(apitest.Request{Method: http.MethodGet, Path: path, Header: h})
			if !varies(resp, "Origin") {
				t.Errorf("GET %s, Origin %q: %d, Vary %q; want Origin among them", path, origin, resp.Code, resp.Header().Values("Vary"))
			}
		}
	}
	resp := env.Do(apitest.Request{Method: http.MethodGet, Path: "/assets/app-1a2b.js", Header: http.Header{"Accept-Encoding": {"gzip"}}})
	if !varies(resp, "Origin") || !varies(resp, "Accept-Encoding") {
		t.Errorf("GET an asset with copies: Vary %q, want Origin and Accept-Encoding", resp.Header().Values("Vary"))
	}

	// Without CORS no answer depends on Origin.
	closed := apitest.New(t, withWeb)
	for _, path := range []string{"/openapi.yaml", "/assets/plain-5e6f.css"} {
		if resp := closed.Do(apitest.Request{Method: http.MethodGet, Path: path, Header: http.Header{"Origin": {app}}}); varies(resp, "Origin") {
			t.Errorf("no CORS configured, GET %s: Vary %q, want no Origin", path, resp.Header().Values("Vary"))
		}
	}
}
