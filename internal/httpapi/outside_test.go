package httpapi_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/revenue-api/revenue-api/api"
	"github.com/revenue-api/revenue-api/internal/apitest"
	"github.com/revenue-api/revenue-api/internal/apperr"
	"github.com/revenue-api/revenue-api/internal/config"
	"github.com/revenue-api/revenue-api/internal/httpapi"
)

// What an outsider sees of the service from its main address (issue 12).

// publicGETs are the routes anyone may GET on the main address, with the
// unknown ones an outsider would try.
var publicGETs = []string{"/healthz", "/readyz", "/.well-known/jwks.json", "/openapi.yaml", "/metrics", "/", "/no-such-path"}

// requestIDs matches the request id in a problem body, the one part of a
// body that differs from one request to the next.
var requestIDs = regexp.MustCompile(`"request_id":"[^"]*"`)

// sameAnswer says how two answers differ, ignoring the request id and the
// date, or "" when they do not.
func sameAnswer(a, b apitest.Response) string {
	if a.Code != b.Code {
		return "statuses differ"
	}
	if requestIDs.ReplaceAllString(a.Body.String(), "") != requestIDs.ReplaceAllString(b.Body.String(), "") {
		return "bodies differ:\n" + a.Body.String() + "\n" + b.Body.String()
	}
	ha, hb := a.Header().Clone(), b.Header().Clone()
	for _, h := range []http.Header{ha, hb} {
		h.Del("X-Request-Id")
		h.Del("Date")
	}
	for k := range ha {
		if !slices.Equal(ha[k], hb[k]) {
			return "header " + k + " differs: " + strings.Join(ha[k], ", ") + " / " + strings.Join(hb[k], ", ")
		}
	}
	for k := range hb {
		if _, ok := ha[k]; !ok {
			return "header " + k + " only on one"
		}
	}
	return ""
}

// An outsider cannot tell from the main address whether an email has an
// account: after a failed login of each kind (in two services, each from
// nothing), the login answers and every public GET answer are the same.
// The metrics, which count failed logins by reason, are not among them.
func TestOutsiderCannotTellUnknownEmailFromWrongPassword(t *testing.T) {
	logins := map[string]map[string]string{
		"wrong password": {"email": apitest.AliceEmail, "password": "not-her-password"},
		"unknown email":  {"email": "nobody@example.com", "password": "not-her-password"},
	}
	answers := map[string]map[string]apitest.Response{}
	for kind, body := range logins {
		env := apitest.New(t)
		answers[kind] = map[string]apitest.Response{
			"POST /login": env.Do(apitest.Request{Method: http.MethodPost, Path: "/login", Body: body}),
		}
		for _, path := range publicGETs {
			answers[kind]["GET "+path] = env.Do(apitest.Request{Method: http.MethodGet, Path: path})
		}
	}
	if got := answers["unknown email"]["POST /login"].Code; got != http.StatusUnauthorized {
		t.Fatalf("failed login: %d, want 401", got)
	}
	if got := answers["unknown email"]["GET /metrics"].Code; got != http.StatusNotFound {
		t.Errorf("GET /metrics on the main address: %d, want 404", got)
	}
	for what, a := range answers["wrong password"] {
		if diff := sameAnswer(a, answers["unknown email"][what]); diff != "" {
			t.Errorf("%s after a wrong password and after an unknown email: %s", what, diff)
		}
	}
}

// withMetricsOnMain builds env's service again with the operator's opt-in
// REVENUE_METRICS_ON_MAIN=true (apitest builds it without).
func withMetricsOnMain(t *testing.T, env *apitest.Env) (http.Handler, string) {
	t.Helper()
	logs := &strings.Builder{}
	h, err := httpapi.NewServer(httpapi.Deps{
		Config:      httpapi.Config{MaxBodyBytes: env.Config.MaxBodyBytes, AuthRate: 1000, AuthBurst: 1000, MetricsOnMain: true},
		Log:         slogTo(logs),
		Auth:        env.Auth,
		Verifier:    env.Verifier,
		Keys:        env.Keyring.Set,
		Checks:      map[string]func(context.Context) error{},
		Metrics:     env.Metrics,
		OpenAPISpec: api.OpenAPI,
		Now:         env.Clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return h, logs.String()
}

func TestMetricsOnTheMainAddressOnlyWhenAskedFor(t *testing.T) {
	env := apitest.New(t)
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		resp := env.Do(apitest.Request{Method: method, Path: "/metrics"})
		if resp.Code != http.StatusNotFound {
			t.Errorf("%s /metrics by default: %d, want 404", method, resp.Code)
		}
	}
	if resp := env.Do(apitest.Request{Method: http.MethodGet, Path: "/metrics"}); resp.ProblemCode(t) != "not_found" {
		t.Errorf("GET /metrics by default: code %q, want not_found", resp.ProblemCode(t))
	}

	h, logs := withMetricsOnMain(t, env)
	opted := *env
	opted.Handler = h
	resp := opted.Do(apitest.Request{Method: http.MethodGet, Path: "/metrics"})
	if resp.Code != http.StatusOK || !strings.Contains(resp.Body.String(), "revenue_http_request_duration_seconds") {
		t.Errorf("GET /metrics with REVENUE_METRICS_ON_MAIN: %d, want 200 with the metrics", resp.Code)
	}
	if !strings.Contains(logs, `"level":"WARN"`) || !strings.Contains(logs, "REVENUE_METRICS_ON_MAIN") {
		t.Errorf("no warning at start with the metrics on the main address; log: %s", logs)
	}
}

// getRoutes are the GET routes of the service's router, every one of them.
func getRoutes(t *testing.T, env *apitest.Env) []string {
	t.Helper()
	engine, ok := env.Handler.(*gin.Engine)
	if !ok {
		t.Fatalf("the handler is a %T, want the gin engine", env.Handler)
	}
	var out []string
	for _, r := range engine.Routes() {
		if r.Method == http.MethodGet {
			out = append(out, r.Path)
		}
	}
	if len(out) < 6 {
		t.Fatalf("only %d GET routes: %v", len(out), out)
	}
	return out
}

// Every GET route answers HEAD with the status and headers of GET and no
// body (RFC 9110 §9.3.2), with or without a token, and so does the web app.
func TestHEADAnswersAsGET(t *testing.T) {
	dir := webApp(t)
	env := apitest.New(t, func(c *config.Config) { c.WebDir = dir })
	alice := env.Login(apitest.AliceEmail, apitest.AlicePassword)
	etag := env.Do(apitest.Request{Method: http.MethodGet, Path: "/.well-known/jwks.json"}).Header().Get("ETag")
	type call struct {
		path   string
		token  string
		header http.Header
	}
	var calls []call
	for _, path := range getRoutes(t, env) {
		calls = append(calls, call{path: path, token: alice.AccessToken}, call{path: path}, call{path: path, token: "not-a-token"})
	}
	navigation := http.Header{"Accept": {"text/html"}}
	calls = append(calls,
		call{path: "/.well-known/jwks.json", header: http.Header{"If-None-Match": {etag}}},
		call{path: "/revenue?from=2025-13", token: alice.AccessToken},
		call{path: "/revenue?org_id=x", token: alice.AccessToken},
		call{path: "/", header: navigation},
		call{path: "/reports", header: navigation},
		call{path: "/assets/app-1a2b.js"},
		call{path: "/no-such-path"},
	)
	for _, c := range calls {
		get := env.Do(apitest.Request{Method: http.MethodGet, Path: c.path, Token: c.token, Header: c.header})
		head := env.Do(apitest.Request{Method: http.MethodHead, Path: c.path, Token: c.token, Header: c.header})
		label := "HEAD " + c.path
		if c.token != "" {
			label += " with a token"
		}
		if head.Body.Len() != 0 {
			t.Errorf("%s: a body of %d bytes, want none", label, head.Body.Len())
		}
		if n := head.Header().Get("Content-Length"); n != "" && get.Header().Get("Content-Length") == "" && n != strconv.Itoa(get.Body.Len()) {
			t.Errorf("%s: Content-Length %s, want the GET body's %d", label, n, get.Body.Len())
		}
		get.Body.Reset()
		head.Header().Del("Content-Length")
		get.Header().Del("Content-Length")
		if diff := sameAnswer(get, head); diff != "" {
			t.Errorf("%s (%d) differs from GET (%d): %s", label, head.Code, get.Code, diff)
		}
		if head.Code == http.StatusMethodNotAllowed {
			t.Errorf("%s: 405", label)
		}
	}
}

// webApp is a built web app: its shell and one asset.
func webApp(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "assets"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"index.html": "<!doctype html><title>app</title>", "assets/app-1a2b.js": "console.log(1)"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func slogTo(w io.Writer) *slog.Logger { return slog.New(slog.NewJSONHandler(w, nil)) }

// Every route refuses a query parameter it does not know and a ';' in the
// query string, with a problem: routes without parameters know none.
func TestEveryRouteRefusesUnknownQueryParameters(t *testing.T) {
	env := apitest.New(t)
	alice := env.Login(apitest.AliceEmail, apitest.AlicePassword)
	engine := env.Handler.(*gin.Engine)
	queries := []string{"x=1", "from=2026-01;org_id=x", "from=2026-01%3Borg_id=x&org_id=y", "%zz", "org_id=" + strings.Repeat("o", 4096)}
	for _, r := range engine.Routes() {
		if r.Method == http.MethodHead {
			continue // no body to read the code from; TestHEADAnswersAsGET compares it with GET
		}
		path := strings.ReplaceAll(r.Path, ":id", "00000000-0000-4000-8000-000000000000")
		for _, q := range queries {
			resp := env.Do(apitest.Request{Method: r.Method, Path: path + "?" + q, Token: alice.AccessToken, Body: "{}"})
			if resp.Code != http.StatusBadRequest || resp.ProblemCode(t) != "invalid_query" {
				t.Errorf("%s %s?%.40s: %d %s, want 400 invalid_query", r.Method, path, q, resp.Code, resp.Body)
			}
			if resp.Body.Len() > 600 {
				t.Errorf("%s %s?%.40s: an answer of %d bytes echoes the query", r.Method, path, q, resp.Body.Len())
			}
		}
	}
	for _, q := range []string{"from=2025-01", "from=2025-01&to=2025-06", ""} {
		if resp := env.Do(apitest.Request{Method: http.MethodGet, Path: "/revenue?" + q, Token: alice.AccessToken}); resp.Code != http.StatusOK {
			t.Errorf("GET /revenue?%s: %d, want 200", q, resp.Code)
		}
	}
}

// Paths under the API's resources that no route has are a JSON 404, for a
// browser too; the web app's shell is only for a browser's navigation to
// a path of its own, and its files are served to anyone.
func TestUnknownAPIPathsAreNotTheWebApp(t *testing.T) {
	env := apitest.New(t, func(c *config.Config) { c.WebDir = webApp(t) })
	navigation := http.Header{"Accept": {"text/html,application/xhtml+xml,*/*;q=0.8"}}
	for _, path := range []string{"/REVENUE", "/Revenue", "/revenue/", "//revenue", "/revenue//x", "/./revenue", "/me/x", "/login/",
		"/sessions/x/y", "/token", "/.well-known/x", "/metrics", "/HEALTHZ", "/openapi.yaml/x", "/logout/all/x"} {
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			for _, h := range []http.Header{navigation, nil} {
				resp := env.Do(apitest.Request{Method: method, Path: path, Header: h})
				if resp.Code != http.StatusNotFound || !strings.HasPrefix(resp.Header().Get("Content-Type"), "application/problem+json") {
					t.Errorf("%s %s (Accept %q): %d %s, want a 404 problem", method, path, h.Get("Accept"), resp.Code, resp.Header().Get("Content-Type"))
				}
			}
		}
	}
	for _, tt := range []struct {
		method, path string
		header       http.Header
		want         int
	}{
		{"GET", "/", nil, 200},
		{"GET", "/reports", navigation, 200},
		{"GET", "/Reports/2025", navigation, 200},
		{"GET", "/revenue-report", navigation, 200},
		{"HEAD", "/reports", navigation, 200},
		{"GET", "/reports", nil, 404},
		{"GET", "/reports", http.Header{"Accept": {"*/*"}}, 404},
		{"GET", "/reports", http.Header{"Accept": {"application/json"}}, 404},
		{"POST", "/reports", navigation, 404},
		{"GET", "/assets/app-1a2b.js", nil, 200},
		{"GET", "/assets/../assets/app-1a2b.js", nil, 200},
		{"GET", "/assets/missing.js", nil, 404},
		{"GET", "/assets/missing.js", navigation, 404},
		{"GET", "/index.html", nil, 200},
	} {
		resp := env.Do(apitest.Request{Method: tt.method, Path: tt.path, Header: tt.header})
		if resp.Code != tt.want {
			t.Errorf("%s %s (Accept %q): %d, want %d", tt.method, tt.path, tt.header.Get("Accept"), resp.Code, tt.want)
		}
		if resp.Code == 404 && !strings.HasPrefix(resp.Header().Get("Content-Type"), "application/problem+json") {
			t.Errorf("%s %s: a 404 of %q, want a problem", tt.method, tt.path, resp.Header().Get("Content-Type"))
		}
	}
}

// A problem's detail quotes at most apperr.MaxQuoted bytes of what the
// client sent.
func TestProblemDetailsQuoteClientValuesBriefly(t *testing.T) {
	env := apitest.New(t)
	alice := env.Login(apitest.AliceEmail, apitest.AlicePassword)
	long := strings.Repeat("z", 4096)
	for _, req := range []apitest.Request{
		{Method: http.MethodGet, Path: "/revenue?from=" + long, Token: alice.AccessToken},
		{Method: http.MethodGet, Path: "/revenue?to=2025-" + long, Token: alice.AccessToken},
		{Method: http.MethodGet, Path: "/revenue?" + long + "=1", Token: alice.AccessToken},
		{Method: http.MethodPost, Path: "/login", Body: `{"` + long + `":1}`},
		{Method: http.MethodPost, Path: "/login", Body: `{"` + long + `":1,"` + long + `":2}`},
		{Method: http.MethodPost, Path: "/login", Body: `{"email":"a@b.c","password":"x"}`,
			Header: http.Header{"Content-Type": {"application/json; charset=" + long}}},
	} {
		resp := env.Do(req)
		if resp.Code < 400 || resp.Code >= 500 {
			t.Errorf("%s %.60s: %d, want a 4xx", req.Method, req.Path, resp.Code)
			continue
		}
		detail, _ := resp.JSON(t)["detail"].(string)
		if strings.Contains(detail, strings.Repeat("z", apperr.MaxQuoted+1)) || len(detail) > 200 {
			t.Errorf("%s %.60s: a detail of %d bytes: %.100s…", req.Method, req.Path, len(detail), detail)
		}
		if !strings.Contains(detail, strings.Repeat("z", 16)) {
			t.Errorf("%s %.60s: the detail %q does not show the start of the offending value", req.Method, req.Path, detail)
		}
	}
}
