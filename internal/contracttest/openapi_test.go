package contracttest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/revenue-api/revenue-api/api"
	"github.com/revenue-api/revenue-api/internal/apitest"
	"github.com/revenue-api/revenue-api/internal/config"
	"github.com/revenue-api/revenue-api/internal/revocation"
	"github.com/revenue-api/revenue-api/internal/token"
)

func TestMain(m *testing.M) {
	// A page of the revocation feed is a compact JWS: validate it as the
	// string it is (its claims are checked by feedPage, against the
	// document's contentSchema).
	openapi3filter.RegisterBodyDecoder("application/jwt", openapi3filter.PlainBodyDecoder)
	apitest.Main(m)
}

// loadDocument parses and validates the embedded document once for the
// package.
var loadDocument = sync.OnceValues(func() (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(api.OpenAPI)
	if err != nil {
		return nil, fmt.Errorf("api/openapi.yaml does not parse: %w", err)
	}
	if !doc.IsOpenAPI31OrLater() {
		return nil, fmt.Errorf("api/openapi.yaml is OpenAPI %s, want 3.1", doc.OpenAPI)
	}
	if err := doc.Validate(loader.Context,
		openapi3.EnableMultiError(),
		openapi3.EnableExamplesValidation(),
		openapi3.EnableSchemaDefaultsValidation(),
		openapi3.EnableSchemaPatternValidation(),
	); err != nil {
		return nil, fmt.Errorf("api/openapi.yaml is not a valid OpenAPI 3.1 document: %w", err)
	}
	return doc, nil
})

func TestOpenAPIDocumentIsValid(t *testing.T) {
	if _, err := loadDocument(); err != nil {
		t.Fatal(err)
	}
}

// TestResponsesMatchOpenAPI sends every row of the tables below to the real
// router behind a real listener. It checks that the document accepts the
// request, or refuses it as the row says, and that the answer (status,
// headers, body) is one the document allows. Then it requires that every
// documented operation was called and every documented answer drawn.
func TestResponsesMatchOpenAPI(t *testing.T) {
	c := newContract(t)
	groups := []struct {
		name    string
		opts    []apitest.Option
		rows    func(svc *service) []exchange
		handler func(env *apitest.Env) http.Handler // the router to serve; nil: env.Handler
	}{
		{"service", nil, serviceExchanges, nil},
		{"revenue writes", nil, revenueWriteExchanges, nil},
		{"rate limited", []apitest.Option{func(c *config.Config) { c.AuthRate, c.AuthBurst = 0.01, 1 }}, rateLimitedExchanges, nil},
		{"with the web app", []apitest.Option{withWebApp(t)}, webAppExchanges, nil},
		{"with a CORS origin", []apitest.Option{func(c *config.Config) { c.CORSOrigins = []string{webAppOrigin} }}, corsExchanges, nil},
		{"with the revocation feed", []apitest.Option{withFeed}, feedExchanges, nil},
		{"revocations not confirmed", []apitest.Option{withFeed}, staleRevocationsExchanges, neverConfirmed},
		{"database down", nil, databaseDownExchanges, nil},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			svc := start(t, g.handler, g.opts...)
			for _, x := range g.rows(svc) {
				t.Run(x.name, func(t *testing.T) { c.check(t, svc, x) })
			}
		})
	}
	if run := flag.Lookup("test.run").Value.String(); run != "" {
		t.Logf("coverage of the document not checked: -run %s selects only some rows", run)
		return
	}
	c.requireCoverage(t)
}

// serviceExchanges covers every route of a healthy service, in an order
// where no row spends what a later one needs.
func serviceExchanges(svc *service) []exchange {
	alice := svc.Login(apitest.AliceEmail, apitest.AlicePassword)
	bob := svc.Login(apitest.BobEmail, apitest.BobPassword)
	toLogOut := svc.Login(apitest.AliceEmail, apitest.AlicePassword)
	toEndToken := svc.Login(apitest.AliceEmail, apitest.AlicePassword).AccessToken
	toEnd := svc.sessionID(toEndToken)
	browserCookie := svc.cookieLogin(apitest.AliceEmail, apitest.AlicePassword)
	etag := svc.Do(apitest.Request{Method: http.MethodGet, Path: "/.well-known/jwks.json"}).Header().Get("ETag")

	aliceLogin := loginBody(apitest.AliceEmail, apitest.AlicePassword)
	unknownRefresh := "rt_" + strings.Repeat("A", 43)
	cookieDelivery := map[string]string{"X-Refresh-Token-Delivery": "cookie"}
	foreignCookieDelivery := map[string]string{"X-Refresh-Token-Delivery": "cookie", "Origin": foreignOrigin}
	overLimit := strings.Repeat("a", 17<<10)

	return []exchange{
		{name: "login delivers both tokens in the body", req: request{method: "POST", path: "/login", body: aliceLogin},
			status: 200, then: refreshTokenInBody},
		{name: "login with cookie delivery sets the refresh cookie instead",
			req:    request{method: "POST", path: "/login", body: aliceLogin, header: cookieDelivery},
			status: 200, then: refreshTokenInCookie},
		{name: "login with a wrong password", req: request{method: "POST", path: "/login", body: loginBody(apitest.AliceEmail, "not-her-password")},
			status: 401, code: "invalid_credentials"},
		{name: "login with malformed JSON", req: request{method: "POST", path: "/login", body: `{"email":`},
			status: 400, code: "invalid_json", refused: bySchema},
		{name: "login with an empty password", req: request{method: "POST", path: "/login", body: loginBody(apitest.AliceEmail, "")},
			status: 400, code: "invalid_request", refused: bySchema},
		{name: "login with an unknown delivery",
			req:    request{method: "POST", path: "/login", body: aliceLogin, header: map[string]string{"X-Refresh-Token-Delivery": "pigeon"}},
			status: 400, code: "invalid_request", refused: bySchema},
		{name: "login with a body over the limit", req: request{method: "POST", path: "/login", body: loginBody(apitest.AliceEmail, overLimit)},
			status: 413, code: "body_too_large", refused: bySchema},
		{name: "login with a member twice",
			req:    request{method: "POST", path: "/login", body: `{"email":"bob@example.com","email":"alice@example.com","password":"alice-password-1"}`},
			status: 400, code: "duplicate_member", refused: inProse},
		{name: "login with a member name in capitals",
			req:    request{method: "POST", path: "/login", body: `{"EMAIL":"alice@example.com","password":"alice-password-1"}`},
			status: 400, code: "unknown_member", refused: bySchema},
		{name: "login in another charset",
			req: request{method: "POST", path: "/login", body: aliceLogin,
				header: map[string]string{"Content-Type": "application/json; charset=iso-8859-1"}},
			status: 415, code: "unsupported_media_type", refused: inProse},
		{name: "login with a query string", req: request{method: "POST", path: "/login?email=alice%40example.com", body: aliceLogin},
			status: 400, code: "invalid_query", refused: inProse},
		{name: "login with a form body",
			req: request{method: "POST", path: "/login", body: "email=alice%40example.com&password=alice-password-1",
				header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}},
			status: 415, code: "unsupported_media_type", refused: bySchema},
		{name: "login asking for the cookie from a foreign origin",
			req:    request{method: "POST", path: "/login", body: aliceLogin, header: foreignCookieDelivery},
			status: 403, code: "forbidden_origin"},

		{name: "refresh with the token in the body", req: request{method: "POST", path: "/token/refresh", body: refreshBody(alice.RefreshToken)},
			status: 200, then: refreshTokenInBody},
		{name: "refresh with the cookie", req: request{method: "POST", path: "/token/refresh", header: cookieDelivery, cookie: browserCookie},
			status: 200, then: refreshTokenInCookie},
		{name: "refresh with an unknown token", req: request{method: "POST", path: "/token/refresh", body: refreshBody(unknownRefresh)},
			status: 401, code: "invalid_refresh_token"},
		{name: "refresh with an unknown cookie clears it",
			req:    request{method: "POST", path: "/token/refresh", header: cookieDelivery, cookie: refreshCookie(unknownRefresh)},
			status: 401, code: "invalid_refresh_token", then: refreshCookieCleared},
		{name: "refresh with the cookie but without the delivery header",
			req:    request{method: "POST", path: "/token/refresh", cookie: refreshCookie(unknownRefresh)},
			status: 403, code: "forbidden_origin"},
		{name: "refresh with the cookie from a foreign origin",
			req:    request{method: "POST", path: "/token/refresh", header: foreignCookieDelivery, cookie: refreshCookie(unknownRefresh)},
			status: 403, code: "forbidden_origin"},
		{name: "refresh with the token in the query string", req: request{method: "POST", path: "/token/refresh?refresh_token=" + unknownRefresh},
			status: 400, code: "invalid_query", refused: inProse},
		{name: "refresh with malformed JSON", req: request{method: "POST", path: "/token/refresh", body: `["rt_`},
			status: 400, code: "invalid_json", refused: bySchema},
		{name: "refresh with a body over the limit", req: request{method: "POST", path: "/token/refresh", body: refreshBody(overLimit)},
			status: 413, code: "body_too_large"},
		{name: "refresh with a text body",
			req:    request{method: "POST", path: "/token/refresh", body: unknownRefresh, header: map[string]string{"Content-Type": "text/plain"}},
			status: 415, code: "unsupported_media_type", refused: bySchema},

		{name: "me with an access token", req: request{method: "GET", path: "/me", token: alice.AccessToken}, status: 200},
		{name: "me without a token", req: request{method: "GET", path: "/me"}, status: 401, code: "missing_token", refused: bySchema},
		{name: "me with a malformed token", req: request{method: "GET", path: "/me", token: "not.a.jwt"}, status: 401, code: "invalid_token"},

		{name: "revenue of every month", req: request{method: "GET", path: "/revenue", token: alice.AccessToken}, status: 200},
		{name: "revenue between two months", req: request{method: "GET", path: "/revenue?from=2025-01&to=2025-06", token: alice.AccessToken}, status: 200},
		{name: "revenue from a month on", req: request{method: "GET", path: "/revenue?from=2025-01", token: alice.AccessToken}, status: 200},
		{name: "revenue up to a month without data has no from",
			req: request{method: "GET", path: "/revenue?to=1990-12", token: alice.AccessToken}, status: 200},
		{name: "revenue with a malformed month", req: request{method: "GET", path: "/revenue?from=2025-13", token: alice.AccessToken},
			status: 400, code: "invalid_parameter", refused: bySchema},
		{name: "revenue with from after to", req: request{method: "GET", path: "/revenue?from=2025-06&to=2025-01", token: alice.AccessToken},
			status: 400, code: "invalid_parameter"},
		{name: "revenue with an unknown parameter",
			req:    request{method: "GET", path: "/revenue?org_id=00000000-0000-4000-8000-000000000000", token: alice.AccessToken},
			status: 400, code: "invalid_query", refused: inProse},
		{name: "revenue with a ';' in the query string",
			req:    request{method: "GET", path: "/revenue?from=2026-01;org_id=00000000-0000-4000-8000-000000000000", token: alice.AccessToken},
			status: 400, code: "invalid_query", refused: inProse},
		{name: "revenue without a token", req: request{method: "GET", path: "/revenue"}, status: 401, code: "missing_token", refused: bySchema},
		{name: "revenue without the revenue:read scope", req: request{method: "GET", path: "/revenue", token: bob.AccessToken},
			status: 403, code: "insufficient_scope"},

		{name: "sessions of the caller", req: request{method: "GET", path: "/sessions", token: alice.AccessToken}, status: 200},
		{name: "sessions without a token", req: request{method: "GET", path: "/sessions"}, status: 401, code: "missing_token", refused: bySchema},
		{name: "end another of the caller's sessions", req: request{method: "DELETE", path: "/sessions/" + toEnd, token: alice.AccessToken},
			status: 204},
		{name: "end a session that does not exist",
			req:    request{method: "DELETE", path: "/sessions/00000000-0000-4000-8000-000000000000", token: alice.AccessToken},
			status: 404, code: "not_found"},
		{name: "end a session without a token", req: request{method: "DELETE", path: "/sessions/" + toEnd}, status: 401, code: "missing_token", refused: bySchema},
		{name: "me with the access token of the ended session", req: request{method: "GET", path: "/me", token: toEndToken},
			status: 401, code: "invalid_token", then: revokedToken},

		{name: "keys", req: request{method: "GET", path: "/.well-known/jwks.json"}, status: 200},
		{name: "keys the client holds already",
			req:    request{method: "GET", path: "/.well-known/jwks.json", header: map[string]string{"If-None-Match": etag}},
			status: 304},
		{name: "liveness", req: request{method: "GET", path: "/healthz"}, status: 200},
		{name: "readiness", req: request{method: "GET", path: "/readyz"}, status: 200},
		{name: "metrics are not on the public address", req: request{method: "GET", path: "/metrics"}, status: 404, code: "not_found"},
		{name: "no revocation feed without a feed token configured", req: request{method: "GET", path: "/revocations", token: testFeedToken},
			status: 404, code: "not_found"},
		{name: "a query parameter on a route that takes none", req: request{method: "GET", path: "/healthz?verbose=1"},
			status: 400, code: "invalid_query", refused: inProse},
		{name: "a path under an API resource that no route has", req: request{method: "GET", path: "/token"}, status: 404, code: "not_found"},
		{name: "an API path in capitals", req: request{method: "GET", path: "/REVENUE", token: alice.AccessToken}, status: 404, code: "not_found"},
		{name: "the document itself", req: request{method: "GET", path: "/openapi.yaml"}, status: 200, then: servesTheDocument},
		{name: "web app not installed", req: request{method: "GET", path: "/"}, status: 404, code: "not_found"},
		{name: "unknown route", req: request{method: "GET", path: "/no-such-route"}, status: 404, code: "not_found"},
		{name: "known path with another method", req: request{method: "DELETE", path: "/me", token: alice.AccessToken},
			status: 405, code: "method_not_allowed"},
		{name: "login with GET", req: request{method: "GET", path: "/login"}, status: 405, code: "method_not_allowed"},

		{name: "logout ends the session", req: request{method: "POST", path: "/logout", token: toLogOut.AccessToken},
			status: 204, then: refreshCookieCleared},
		{name: "logout without a token", req: request{method: "POST", path: "/logout"}, status: 401, code: "missing_token", refused: bySchema},
		{name: "me with the logged-out access token", req: request{method: "GET", path: "/me", token: toLogOut.AccessToken},
			status: 401, code: "invalid_token", then: revokedToken},
		{name: "logout with the logged-out access token", req: request{method: "POST", path: "/logout", token: toLogOut.AccessToken},
			status: 401, code: "invalid_token", then: revokedToken},
		{name: "logout everywhere", req: request{method: "POST", path: "/logout/all", token: bob.AccessToken},
			status: 204, then: refreshCookieCleared},
		{name: "sessions with a token revoked by logout everywhere", req: request{method: "GET", path: "/sessions", token: bob.AccessToken},
			status: 401, code: "invalid_token", then: revokedToken},
		{name: "revenue with a token revoked by logout everywhere", req: request{method: "GET", path: "/revenue", token: bob.AccessToken},
			status: 401, code: "invalid_token", then: revokedToken},
		{name: "logout everywhere with a malformed token", req: request{method: "POST", path: "/logout/all", token: "not.a.jwt"},
			status: 401, code: "invalid_token"},
	}
}

// rateLimitedExchanges run on a service allowing one request per address
// and route, then one every 100 seconds of its (frozen) clock.
func rateLimitedExchanges(svc *service) []exchange {
	unknown := refreshBody("rt_" + strings.Repeat("B", 43))
	login := loginBody(apitest.AliceEmail, apitest.AlicePassword)
	return []exchange{
		{name: "first login", req: request{method: "POST", path: "/login", body: login}, status: 200},
		{name: "second login", req: request{method: "POST", path: "/login", body: login}, status: 429, code: "rate_limited"},
		{name: "first refresh", req: request{method: "POST", path: "/token/refresh", body: unknown}, status: 401, code: "invalid_refresh_token"},
		{name: "second refresh", req: request{method: "POST", path: "/token/refresh", body: unknown}, status: 429, code: "rate_limited"},
	}
}

// webAppIndex is the page of the stand-in web app.
const webAppIndex = "<!doctype html><title>revenue</title><div id=root></div>\n"

func withWebApp(t *testing.T) apitest.Option {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte(webAppIndex), 0o644); err != nil {
		t.Fatal(err)
	}
	return func(c *config.Config) { c.WebDir = dir }
}

func webAppExchanges(svc *service) []exchange {
	return []exchange{
		{name: "web app", req: request{method: "GET", path: "/"}, status: 200},
		{name: "a browser's navigation to an API path in capitals",
			req: request{method: "GET", path: "/REVENUE", header: map[string]string{"Accept": "text/html"}}, status: 404, code: "not_found"},
	}
}

// webAppOrigin is the origin of the web app in development, allowed by the
// CORS group; foreignOrigin is allowed nowhere.
const (
	webAppOrigin  = "http://localhost:5173"
	foreignOrigin = "https://evil.example"
)

func corsExchanges(svc *service) []exchange {
	alice := svc.Login(apitest.AliceEmail, apitest.AlicePassword)
	fromWebApp := map[string]string{"Origin": webAppOrigin}
	fromElsewhere := map[string]string{"Origin": foreignOrigin}
	preflight := map[string]string{"Origin": webAppOrigin, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"}
	writePreflight := map[string]string{"Origin": webAppOrigin, "Access-Control-Request-Method": "PUT",
		"Access-Control-Request-Headers": "authorization, content-type, if-match"}
	return []exchange{
		{name: "a request from the allowed origin", req: request{method: "GET", path: "/revenue", token: alice.AccessToken, header: fromWebApp},
			status: 200, then: corsExposesETag},
		{name: "a preflight of a conditional write from the allowed origin", req: request{method: "OPTIONS", path: "/revenue/months/2031-04", header: writePreflight},
			status: 204, then: corsAllowsConditionalWrites},
		{name: "a cookie login from the allowed origin",
			req: request{method: "POST", path: "/login", body: loginBody(apitest.AliceEmail, apitest.AlicePassword),
				header: map[string]string{"Origin": webAppOrigin, "X-Refresh-Token-Delivery": "cookie"}},
			status: 200, then: refreshTokenInCookie},
		{name: "a request from another origin", req: request{method: "GET", path: "/me", token: alice.AccessToken, header: fromElsewhere},
			status: 403, code: "forbidden_origin"},
		{name: "a preflight from the allowed origin", req: request{method: "OPTIONS", path: "/revenue", header: preflight},
			status: 204, then: corsAllowed},
		{name: "a preflight from another origin",
			req:    request{method: "OPTIONS", path: "/revenue", header: map[string]string{"Origin": foreignOrigin, "Access-Control-Request-Method": "GET"}},
			status: 403, code: "forbidden_origin"},
	}
}

// testFeedToken is the revocation feed token of the groups that serve the
// feed.
const testFeedToken = "feed-token-for-the-contract-test-0123456789"

func withFeed(c *config.Config) { c.RevocationFeedToken = testFeedToken }

// feedExchanges read the revocation feed of an issuer that serves it, after
// a logout has put a revocation in it.
func feedExchanges(svc *service) []exchange {
	alice := svc.Login(apitest.AliceEmail, apitest.AlicePassword)
	sid := svc.sessionID(alice.AccessToken)
	if resp := svc.Do(apitest.Request{Method: http.MethodPost, Path: "/logout", Token: alice.AccessToken}); resp.Code != http.StatusNoContent {
		svc.T.Fatalf("logout: %d %s", resp.Code, resp.Body)
	}
	current := svc.Do(apitest.Request{Method: http.MethodGet, Path: "/revocations?cursor=0", Token: testFeedToken}).Header().Get("ETag")
	return []exchange{
		{name: "the feed from the start", req: request{method: "GET", path: "/revocations?cursor=0", token: testFeedToken},
			status: 200, then: svc.feedPage(sid)},
		{name: "a long poll for the page the reader has", req: request{method: "GET", path: "/revocations?cursor=0&wait=1", token: testFeedToken,
			header: map[string]string{"If-None-Match": current}}, status: 304},
		{name: "a long poll of more than 10 s", req: request{method: "GET", path: "/revocations?cursor=0&wait=11", token: testFeedToken},
			status: 400, code: "invalid_parameter", refused: bySchema},
		{name: "the feed without a cursor", req: request{method: "GET", path: "/revocations", token: testFeedToken},
			status: 200, then: svc.feedPage(sid)},
		{name: "the feed with a cursor that is not a number", req: request{method: "GET", path: "/revocations?cursor=x", token: testFeedToken},
			status: 400, code: "invalid_parameter", refused: bySchema},
		{name: "the feed with a negative cursor", req: request{method: "GET", path: "/revocations?cursor=-1", token: testFeedToken},
			status: 400, code: "invalid_parameter", refused: bySchema},
		{name: "the feed with a cursor over 64 bits", req: request{method: "GET", path: "/revocations?cursor=18446744073709551616", token: testFeedToken},
			status: 400, code: "invalid_parameter"},
		{name: "the feed with an unknown parameter", req: request{method: "GET", path: "/revocations?since=0", token: testFeedToken},
			status: 400, code: "invalid_query", refused: inProse},
		{name: "the feed without a token", req: request{method: "GET", path: "/revocations"},
			status: 401, code: "invalid_token", refused: bySchema, then: feedChallenge},
		{name: "the feed with a wrong token", req: request{method: "GET", path: "/revocations", token: testFeedToken + "x"},
			status: 401, code: "invalid_token", then: feedChallenge},
		{name: "the feed with an access token", req: request{method: "GET", path: "/revocations", token: svc.Login(apitest.BobEmail, apitest.BobPassword).AccessToken},
			status: 401, code: "invalid_token", then: feedChallenge},
	}
}

// neverConfirmed serves env with a revocation set that was never
// confirmed, as a replica whose database (or a verifier whose feed) has been
// unreachable since it started.
func neverConfirmed(env *apitest.Env) http.Handler {
	return env.WithRevocations(revocation.NewSet(time.Second))
}

// staleRevocationsExchanges run on a replica that cannot tell whether a
// token was revoked: every bearer route and the feed answer 503.
func staleRevocationsExchanges(svc *service) []exchange {
	alice := svc.Login(apitest.AliceEmail, apitest.AlicePassword)
	sid := svc.sessionID(alice.AccessToken)
	carol := svc.Login(apitest.CarolEmail, apitest.CarolPassword).AccessToken
	unconfirmed := func(method, path string) exchange {
		return exchange{name: method + " " + path, req: request{method: method, path: path, token: alice.AccessToken},
			status: 503, code: "revocations_unavailable", then: retryAfter}
	}
	write := func(r request) exchange {
		r.token = carol
		return exchange{name: r.method + " " + r.path, req: r, status: 503, code: "revocations_unavailable", then: retryAfter}
	}
	return []exchange{
		unconfirmed("GET", "/me"),
		unconfirmed("GET", "/revenue"),
		unconfirmed("GET", "/sessions"),
		unconfirmed("DELETE", "/sessions/"+sid),
		unconfirmed("POST", "/logout"),
		unconfirmed("POST", "/logout/all"),
		write(request{method: "PUT", path: "/revenue/months/2031-04", body: `{"amount_cents":1}`}),
		write(request{method: "DELETE", path: "/revenue/months/2031-04"}),
		write(request{method: "POST", path: "/revenue/imports", body: importedFile, header: map[string]string{"Content-Type": "text/csv"}}),
		write(request{method: "GET", path: "/revenue/changes"}),
		{name: "the feed", req: request{method: "GET", path: "/revocations", token: testFeedToken},
			status: 503, code: "revocations_unavailable", then: retryAfter},
		{name: "me without a token is still a 401", req: request{method: "GET", path: "/me"},
			status: 401, code: "missing_token", refused: bySchema},
		{name: "login does not need the revocations", req: request{method: "POST", path: "/login", body: loginBody(apitest.AliceEmail, apitest.AlicePassword)},
			status: 200},
	}
}

// databaseDownExchanges close the database after taking the tokens they
// need: everything that needs it answers 503.
func databaseDownExchanges(svc *service) []exchange {
	alice := svc.Login(apitest.AliceEmail, apitest.AlicePassword)
	sid := svc.sessionID(alice.AccessToken)
	carol := svc.Login(apitest.CarolEmail, apitest.CarolPassword).AccessToken
	svc.DB.Close()
	return []exchange{
		{name: "readiness", req: request{method: "GET", path: "/readyz"}, status: 503},
		{name: "revenue", req: request{method: "GET", path: "/revenue", token: alice.AccessToken}, status: 503, code: "unavailable"},
		{name: "login", req: request{method: "POST", path: "/login", body: loginBody(apitest.AliceEmail, apitest.AlicePassword)},
			status: 503, code: "unavailable"},
		{name: "refresh", req: request{method: "POST", path: "/token/refresh", body: refreshBody(alice.RefreshToken)},
			status: 503, code: "unavailable"},
		{name: "sessions", req: request{method: "GET", path: "/sessions", token: alice.AccessToken}, status: 503, code: "unavailable"},
		{name: "end a session", req: request{method: "DELETE", path: "/sessions/" + sid, token: alice.AccessToken},
			status: 503, code: "unavailable"},
		{name: "logout", req: request{method: "POST", path: "/logout", token: alice.AccessToken}, status: 503, code: "unavailable"},
		{name: "logout everywhere", req: request{method: "POST", path: "/logout/all", token: alice.AccessToken},
			status: 503, code: "unavailable"},
		{name: "set a month", req: request{method: "PUT", path: "/revenue/months/2031-04", token: carol, body: `{"amount_cents":1}`},
			status: 503, code: "unavailable"},
		{name: "remove a month", req: request{method: "DELETE", path: "/revenue/months/2031-04", token: carol},
			status: 503, code: "unavailable"},
		{name: "import", req: request{method: "POST", path: "/revenue/imports", token: carol, body: importedFile,
			header: map[string]string{"Content-Type": "text/csv"}}, status: 503, code: "unavailable"},
		{name: "changes", req: request{method: "GET", path: "/revenue/changes", token: carol}, status: 503, code: "unavailable"},
	}
}

// request is one call to the running service.
type request struct {
	method string
	path   string // with the query string, if any
	body   string // sent as application/json unless header sets another Content-Type
	header map[string]string
	token  string // sent as Authorization: Bearer
	cookie *http.Cookie
}

func (r request) build(t *testing.T, base string) *http.Request {
	t.Helper()
	var body io.Reader = http.NoBody
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(t.Context(), r.method, base+r.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if r.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	if r.cookie != nil {
		req.AddCookie(r.cookie)
	}
	return req
}

// exchange is one row of a table: a request and the answer that the
// document and the service must agree on.
type exchange struct {
	name   string
	req    request
	status int
	code   string // the problem code of an error answer
	// refused says whether and how the document refuses the request; the
	// zero value is a request that follows it.
	refused refusal
	then    func(t *testing.T, a answer) // checks of what the document says in prose
}

// refusal is how the document refuses a request.
type refusal int

const (
	// follows: the request validator must accept the request.
	follows refusal = iota
	// bySchema: the request breaks the document's schemas, parameters or
	// security requirements, and the request validator must say so: the
	// document and the service agree on what a bad request is.
	bySchema
	// inProse: the document refuses the request only in words, because
	// OpenAPI cannot forbid an unknown query parameter; the request
	// validator is not asked.
	inProse
)

// answer is a response with its body read.
type answer struct {
	*http.Response
	body []byte
}

// contract is the document with a router over its operations. It records
// which operation gave which answer.
type contract struct {
	doc     *openapi3.T
	router  routers.Router
	options *openapi3filter.Options
	drawn   map[string]map[string]bool // "POST /login" → "200" → drawn
}

func newContract(t *testing.T) *contract {
	t.Helper()
	doc, err := loadDocument()
	if err != nil {
		t.Fatal(err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &contract{
		doc:    doc,
		router: router,
		options: &openapi3filter.Options{
			IncludeResponseStatus:   true, // an undocumented status is a failure
			MultiError:              true,
			AuthenticationFunc:      credentialPresent,
			SchemaValidationOptions: []openapi3.SchemaValidationOption{openapi3.WithStringFormatValidators(stringFormats)},
		},
		drawn: map[string]map[string]bool{},
	}
}

// credentialPresent checks that a request carries the credential a
// security scheme names; whether it is valid is the service's business.
func credentialPresent(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	req, scheme := in.RequestValidationInput.Request, in.SecurityScheme
	switch {
	case scheme.Type == "http" && strings.EqualFold(scheme.Scheme, "bearer"):
		if prefix, _, ok := strings.Cut(req.Header.Get("Authorization"), " "); !ok || !strings.EqualFold(prefix, "Bearer") {
			return in.NewError(errors.New("no Authorization: Bearer header"))
		}
	case scheme.Type == "apiKey" && scheme.In == "cookie":
		if _, err := req.Cookie(scheme.Name); err != nil {
			return in.NewError(fmt.Errorf("no %s cookie", scheme.Name))
		}
	default:
		return in.NewError(fmt.Errorf("the test does not know the security scheme %q", in.SecuritySchemeName))
	}
	return nil
}

// stringFormats asserts the formats the document uses that kin-openapi
// leaves unchecked (it checks date and date-time itself).
var stringFormats = map[string]openapi3.StringFormatValidator{
	"uuid": openapi3.NewRegexpFormatValidator(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`),
	"uri": openapi3.NewCallbackValidator(func(s string) error {
		if u, err := url.Parse(s); err != nil || u.Scheme == "" {
			return fmt.Errorf("%q is not an absolute URI", s)
		}
		return nil
	}),
	"uri-reference": openapi3.NewCallbackValidator(func(s string) error {
		_, err := url.Parse(s)
		return err
	}),
}

// check sends x's request to svc and checks the request and the answer
// against the document and x.
func (c *contract) check(t *testing.T, svc *service, x exchange) {
	label := x.req.method + " " + x.req.path
	route, params, routeErr := c.router.FindRoute(x.req.build(t, svc.URL))
	if routeErr != nil && !errors.Is(routeErr, routers.ErrPathNotFound) && !errors.Is(routeErr, routers.ErrMethodNotAllowed) {
		t.Fatalf("%s: %v", label, routeErr)
	}
	in := &openapi3filter.RequestValidationInput{Request: x.req.build(t, svc.URL), PathParams: params, Route: route, Options: c.options}
	if routeErr == nil {
		switch err := openapi3filter.ValidateRequest(t.Context(), in); {
		case x.refused == follows && err != nil:
			t.Errorf("%s: the request breaks the document: %v", label, err)
		case x.refused == bySchema && err == nil:
			t.Errorf("%s: the document accepts this request, which the row says it refuses", label)
		}
	}

	resp, err := svc.client.Do(x.req.build(t, svc.URL))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	a := answer{resp, body}

	if resp.StatusCode != x.status {
		t.Errorf("%s: status %d, want %d; body: %s", label, resp.StatusCode, x.status, body)
	}
	if resp.Header.Get("X-Request-ID") == "" {
		t.Errorf("%s → %d: no X-Request-ID header; the document promises one on every response", label, resp.StatusCode)
	}
	c.checkAnswer(t, label, in, routeErr, a)
	if x.code != "" {
		checkProblem(t, label, a, x.code)
	}
	if x.then != nil && !t.Failed() {
		x.then(t, a)
	}
	if x.req.method == http.MethodGet {
		c.checkHEAD(t, svc, x.req, a)
	}
}

// checkHEAD sends req as HEAD: the document says every GET operation
// answers HEAD with the status and headers of GET and no body (RFC 9110,
// section 9.3.2).
func (c *contract) checkHEAD(t *testing.T, svc *service, req request, get answer) {
	t.Helper()
	req.method = http.MethodHead
	label := "HEAD " + req.path
	resp, err := svc.client.Do(req.build(t, svc.URL))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != get.StatusCode {
		t.Errorf("%s: status %d, want GET's %d", label, resp.StatusCode, get.StatusCode)
	}
	if len(body) > 0 {
		t.Errorf("%s: a body of %d bytes, want none", label, len(body))
	}
	ignored := []string{"Date", "X-Request-Id", "Content-Length"}
	for _, h := range []http.Header{get.Header, resp.Header} {
		for name := range h {
			if slices.Contains(ignored, name) {
				continue
			}
			if g, hd := get.Header.Values(name), resp.Header.Values(name); !slices.Equal(g, hd) {
				t.Errorf("%s: %s %q, want GET's %q", label, name, hd, g)
			}
		}
	}
	if g, hd := get.Header.Get("Content-Length"), resp.Header.Get("Content-Length"); g != "" && hd != "" && g != hd {
		t.Errorf("%s: Content-Length %s, want GET's %s", label, hd, g)
	}
}

// checkAnswer finds what the document says of the answer (the response
// listed under the operation, else one the description allows from any
// route) and validates the answer against it with kin-openapi. It also
// checks what kin-openapi leaves out: the headers of a 304, which it does
// not validate, and that an answer documented without content has no body.
func (c *contract) checkAnswer(t *testing.T, label string, in *openapi3filter.RequestValidationInput, routeErr error, a answer) {
	t.Helper()
	op, status := anyRoute, strconv.Itoa(a.StatusCode)
	var documented *openapi3.ResponseRef
	if routeErr == nil {
		op = in.Route.Method + " " + in.Route.Path
		documented = in.Route.Operation.Responses.Status(a.StatusCode)
		c.draw(op, "")
	}
	if documented == nil {
		name := globalAnswer(in.Request.Method, a.StatusCode, routeErr)
		if name == "" {
			t.Errorf("%s → %d: the document allows no such answer here (%s); body: %s", label, a.StatusCode, describeRoute(op, routeErr), a.body)
			return
		}
		documented = c.doc.Components.Responses[name]
		if documented == nil {
			t.Fatalf("the document has no response component %s", name)
		}
		// Validate against the component alone, as if the operation listed it.
		route := routers.Route{Spec: c.doc, Path: in.Request.URL.Path, Method: in.Request.Method}
		if in.Route != nil {
			route = *in.Route
		}
		route.Operation = &openapi3.Operation{Responses: openapi3.NewResponses(openapi3.WithStatus(a.StatusCode, documented))}
		global := *in
		global.Route = &route
		in, status = &global, name
		c.draw(anyRoute, name)
	} else {
		c.draw(op, status)
	}

	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: a.StatusCode, Header: a.Header, Options: c.options}
	out.SetBodyBytes(a.body)
	if err := openapi3filter.ValidateResponse(t.Context(), out); err != nil {
		t.Errorf("%s → %d: the answer breaks the document (%s, %s): %v\nbody: %s", label, a.StatusCode, op, status, err, a.body)
	}
	if len(documented.Value.Content) == 0 && len(a.body) > 0 {
		t.Errorf("%s → %d: the document gives this answer no body, but it has %q", label, a.StatusCode, a.body)
	}
	if a.StatusCode == http.StatusNotModified {
		for name, h := range documented.Value.Headers {
			if h.Value.Required && a.Header.Get(name) == "" {
				t.Errorf("%s → %d: the document requires the header %s", label, a.StatusCode, name)
			}
		}
	}
}

// draw records that op was called and, unless status is empty, drew that
// answer.
func (c *contract) draw(op, status string) {
	if c.drawn[op] == nil {
		c.drawn[op] = map[string]bool{}
	}
	if status != "" {
		c.drawn[op][status] = true
	}
}

// anyRoute stands in contract.drawn for the answers the document's
// description allows from any route; their "status" is the name of the
// response component that describes them.
const anyRoute = "any route"

// globalAnswers are those components.
var globalAnswers = []string{"ForbiddenOrigin", "InvalidQuery", "NotFound", "MethodNotAllowed", "CORSPreflight", "Internal"}

// globalAnswer is the one of globalAnswers that the document's description
// allows for this status, method and routing outcome, or "".
func globalAnswer(method string, status int, routeErr error) string {
	switch {
	case status == http.StatusForbidden:
		return "ForbiddenOrigin"
	case status == http.StatusBadRequest && routeErr == nil:
		return "InvalidQuery"
	case status == http.StatusNotFound && errors.Is(routeErr, routers.ErrPathNotFound):
		return "NotFound"
	case status == http.StatusMethodNotAllowed && errors.Is(routeErr, routers.ErrMethodNotAllowed):
		return "MethodNotAllowed"
	case status == http.StatusNoContent && method == http.MethodOptions && errors.Is(routeErr, routers.ErrMethodNotAllowed):
		return "CORSPreflight"
	case status == http.StatusInternalServerError:
		return "Internal"
	}
	return ""
}

func describeRoute(op string, routeErr error) string {
	if routeErr != nil {
		return "the document has no such operation: " + routeErr.Error()
	}
	return "not listed under " + op
}

// checkProblem checks what the document says of every problem body beyond
// its schema: the code the row wants, the status and type that go with it,
// and the request id of the X-Request-ID header.
func checkProblem(t *testing.T, label string, a answer, code string) {
	t.Helper()
	if ct := a.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Errorf("%s → %d: Content-Type %q, want application/problem+json", label, a.StatusCode, ct)
		return
	}
	var p struct {
		Type      string `json:"type"`
		Status    int    `json:"status"`
		Code      string `json:"code"`
		RequestID string `json:"request_id"`
	}
	if err := json.Unmarshal(a.body, &p); err != nil {
		t.Errorf("%s → %d: problem body is not JSON: %v", label, a.StatusCode, err)
		return
	}
	if p.Code != code {
		t.Errorf("%s → %d: problem code %q, want %q", label, a.StatusCode, p.Code, code)
	}
	if p.Status != a.StatusCode {
		t.Errorf("%s → %d: problem status %d, want the HTTP status", label, a.StatusCode, p.Status)
	}
	if want := "urn:revenue-api:problem:" + p.Code; p.Type != want {
		t.Errorf("%s → %d: problem type %q, want %q", label, a.StatusCode, p.Type, want)
	}
	if id := a.Header.Get("X-Request-ID"); p.RequestID != id {
		t.Errorf("%s → %d: problem request_id %q, want the X-Request-ID header %q", label, a.StatusCode, p.RequestID, id)
	}
}

// unreachable are the documented answers that no request can draw from a
// correctly built service, with the reason; every other documented answer
// must be drawn by some row. A key is a status (of every operation) or an
// operation and a status.
var unreachable = map[string]string{
	"500":                   "only a bug answers 500",
	anyRoute + " Internal":  "only a bug answers 500",
	"GET /openapi.yaml 404": "apitest always builds the server with the document",
}

// requireCoverage fails for each documented operation no row called and
// each documented answer no row drew.
func (c *contract) requireCoverage(t *testing.T) {
	t.Helper()
	paths := c.doc.Paths.Map()
	for _, path := range slices.Sorted(maps.Keys(paths)) {
		ops := paths[path].Operations()
		for _, method := range slices.Sorted(maps.Keys(ops)) {
			op := method + " " + path
			if _, called := c.drawn[op]; !called {
				t.Errorf("%s is in the document but no row calls it; add rows for it to the tables", op)
				continue
			}
			c.requireDrawn(t, op, slices.Sorted(maps.Keys(ops[method].Responses.Map())))
		}
	}
	c.requireDrawn(t, anyRoute, globalAnswers)
}

func (c *contract) requireDrawn(t *testing.T, op string, statuses []string) {
	t.Helper()
	for _, status := range statuses {
		if unreachable[status] == "" && unreachable[op+" "+status] == "" && !c.drawn[op][status] {
			t.Errorf("%s: the document's %s answer is drawn by no row; add one (or list it in unreachable, with the reason)", op, status)
		}
	}
}

// service is the whole service behind a real HTTP listener.
type service struct {
	*apitest.Env
	URL    string
	client *http.Client
}

func start(t *testing.T, handler func(*apitest.Env) http.Handler, opts ...apitest.Option) *service {
	t.Helper()
	env := apitest.New(t, opts...)
	h := env.Handler
	if handler != nil {
		h = handler(env)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	client := srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &service{Env: env, URL: srv.URL, client: client}
}

// sessionID is the session an access token belongs to.
func (s *service) sessionID(accessToken string) string {
	s.T.Helper()
	p, err := s.Verifier.Verify(accessToken)
	if err != nil {
		s.T.Fatal(err)
	}
	return p.SessionID
}

// cookieLogin logs in as a browser does and returns the refresh cookie.
func (s *service) cookieLogin(email, password string) *http.Cookie {
	s.T.Helper()
	resp := s.Do(apitest.Request{Method: http.MethodPost, Path: "/login", Body: loginBody(email, password),
		Header: http.Header{"X-Refresh-Token-Delivery": {"cookie"}}})
	cookie := resp.Cookie("revenue_refresh")
	if resp.Code != http.StatusOK || cookie == nil {
		s.T.Fatalf("cookie login: status %d, cookie %v, want 200 and the refresh cookie: %s", resp.Code, cookie, resp.Body)
	}
	return &http.Cookie{Name: cookie.Name, Value: cookie.Value}
}

func loginBody(email, password string) string {
	return jsonString(map[string]string{"email": email, "password": password})
}

func refreshBody(refreshToken string) string {
	return jsonString(map[string]string{"refresh_token": refreshToken})
}

func jsonString(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func refreshCookie(value string) *http.Cookie {
	return &http.Cookie{Name: "revenue_refresh", Value: value}
}

// responseCookie is the revenue_refresh cookie an answer sets, or nil.
func responseCookie(a answer) *http.Cookie {
	for _, c := range a.Cookies() {
		if c.Name == "revenue_refresh" {
			return c
		}
	}
	return nil
}

func refreshTokenInBody(t *testing.T, a answer) {
	t.Helper()
	var body map[string]any
	if err := json.Unmarshal(a.body, &body); err != nil {
		t.Fatal(err)
	}
	if _, ok := body["refresh_token"]; !ok {
		t.Errorf("no refresh_token in the body; the document puts it there without X-Refresh-Token-Delivery: cookie")
	}
	if c := responseCookie(a); c != nil {
		t.Errorf("Set-Cookie %v; the document sets the cookie only for cookie delivery", c)
	}
}

func refreshTokenInCookie(t *testing.T, a answer) {
	t.Helper()
	var body map[string]any
	if err := json.Unmarshal(a.body, &body); err != nil {
		t.Fatal(err)
	}
	if _, ok := body["refresh_token"]; ok {
		t.Errorf("refresh_token in the body; the document leaves it out for cookie delivery")
	}
	c := responseCookie(a)
	if c == nil || c.Value == "" || !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteStrictMode || c.Path != "/token/refresh" || c.MaxAge <= 0 {
		t.Errorf("refresh cookie %v, want revenue_refresh=<token>; Path=/token/refresh; Max-Age>0; HttpOnly; Secure; SameSite=Strict", c)
	}
}

func refreshCookieCleared(t *testing.T, a answer) {
	t.Helper()
	if c := responseCookie(a); c == nil || c.Value != "" || c.MaxAge >= 0 || c.Path != "/token/refresh" {
		t.Errorf("refresh cookie %v, want it cleared: revenue_refresh=; Path=/token/refresh; Max-Age=0", c)
	}
}

// corsExposesETag checks that a page of the web app may read the ETag of
// an answer, to send it back in If-Match.
func corsExposesETag(t *testing.T, a answer) {
	t.Helper()
	corsAllowed(t, a)
	if got := a.Header.Get("Access-Control-Expose-Headers"); !slices.Contains(headerList(got), "etag") {
		t.Errorf("Access-Control-Expose-Headers %q, want ETag among them", got)
	}
}

// corsAllowsConditionalWrites checks that the web app may PUT with If-Match.
func corsAllowsConditionalWrites(t *testing.T, a answer) {
	t.Helper()
	corsAllowed(t, a)
	if got := a.Header.Get("Access-Control-Allow-Methods"); !slices.Contains(headerList(got), "put") {
		t.Errorf("Access-Control-Allow-Methods %q, want PUT among them", got)
	}
	if got := a.Header.Get("Access-Control-Allow-Headers"); !slices.Contains(headerList(got), "if-match") {
		t.Errorf("Access-Control-Allow-Headers %q, want If-Match among them", got)
	}
}

// headerList splits a comma-separated header value into lower-case names.
func headerList(v string) []string {
	var out []string
	for _, name := range strings.Split(v, ",") {
		out = append(out, strings.ToLower(strings.TrimSpace(name)))
	}
	return out
}

func corsAllowed(t *testing.T, a answer) {
	t.Helper()
	if got := a.Header.Get("Access-Control-Allow-Origin"); got != webAppOrigin {
		t.Errorf("Access-Control-Allow-Origin %q, want %q", got, webAppOrigin)
	}
	if got := a.Header.Get("Access-Control-Allow-Credentials"); got != "true" {
		t.Errorf("Access-Control-Allow-Credentials %q, want true: the web app sends the refresh cookie", got)
	}
}

// revokedToken checks what the document says of a revoked access token:
// the RFC 6750 challenge and the detail say so.
func revokedToken(t *testing.T, a answer) {
	t.Helper()
	const revoked = "the access token was revoked"
	if got, want := a.Header.Get("WWW-Authenticate"), `Bearer realm="revenue-api", error="invalid_token", error_description="`+revoked+`"`; got != want {
		t.Errorf("WWW-Authenticate %q, want %q", got, want)
	}
	var p struct{ Detail string }
	if err := json.Unmarshal(a.body, &p); err != nil || p.Detail != revoked {
		t.Errorf("problem detail %q (%v), want %q", p.Detail, err, revoked)
	}
}

// feedChallenge checks the feed's challenge to a reader without its token.
func feedChallenge(t *testing.T, a answer) {
	t.Helper()
	want := `Bearer realm="revenue-api", error="invalid_token", error_description="the revocation feed needs its feed token"`
	if got := a.Header.Get("WWW-Authenticate"); got != want {
		t.Errorf("WWW-Authenticate %q, want %q", got, want)
	}
}

// retryAfter checks that a 503 says when to try again.
func retryAfter(t *testing.T, a answer) {
	t.Helper()
	if n, err := strconv.Atoi(a.Header.Get("Retry-After")); err != nil || n < 1 {
		t.Errorf("Retry-After %q, want a number of seconds", a.Header.Get("Retry-After"))
	}
}

// feedPage checks what the document says of a page of the revocation feed
// beyond the JWS string kin-openapi validates: its JOSE header, its claims
// against the document's contentSchema, that the issuer's keys verify it,
// and that it carries the revocation of session sid.
func (s *service) feedPage(sid string) func(t *testing.T, a answer) {
	return func(t *testing.T, a answer) {
		t.Helper()
		if ct := a.Header.Get("Content-Type"); ct != "application/jwt" {
			t.Errorf("Content-Type %q, want application/jwt", ct)
		}
		parts := strings.Split(string(a.body), ".")
		if len(parts) != 3 {
			t.Fatalf("the page is not a compact JWS: %q", a.body)
		}
		var header struct{ Alg, Kid, Typ string }
		decodeSegment(t, parts[0], &header)
		if header.Alg != "RS256" || header.Typ != "revocations+jwt" || header.Kid != s.Key.ID {
			t.Errorf("JOSE header %+v, want alg RS256, typ revocations+jwt, kid %s", header, s.Key.ID)
		}
		var claims any
		decodeSegment(t, parts[1], &claims)
		doc, err := loadDocument()
		if err != nil {
			t.Fatal(err)
		}
		page := doc.Components.Schemas["RevocationFeedPage"]
		if page == nil || page.Value.ContentSchema == nil {
			t.Fatal("the document has no RevocationFeedPage schema with a contentSchema")
		}
		if err := page.Value.ContentSchema.Value.VisitJSON(claims, openapi3.EnableFormatValidation()); err != nil {
			t.Errorf("the page's claims break the document's RevocationFeedClaims: %v\nclaims: %s", err, parts[1])
		}
		parsed, err := token.ParseRevocations(string(a.body), s.Keyring, s.Config.Issuer, s.Config.ClockLeeway, s.Clock.Now)
		if err != nil {
			t.Fatalf("the page does not verify with the issuer's keys: %v", err)
		}
		if revs := parsed.Revocations; !slices.ContainsFunc(revs, func(r revocation.Revocation) bool { return r.Kind == revocation.KindSession && r.Subject == sid }) {
			t.Errorf("the logged-out session %s is not in the page: %+v", sid, revs)
		}
	}
}

// decodeSegment decodes one base64url segment of a compact JWS as JSON.
func decodeSegment(t *testing.T, segment string, v any) {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(segment)
	if err != nil {
		t.Fatalf("a JWS segment is not base64url: %v", err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("a JWS segment is not JSON: %v", err)
	}
}

func servesTheDocument(t *testing.T, a answer) {
	t.Helper()
	if !bytes.Equal(a.body, api.OpenAPI) {
		t.Errorf("GET /openapi.yaml serves %d bytes that are not api/openapi.yaml (%d bytes)", len(a.body), len(api.OpenAPI))
	}
}
