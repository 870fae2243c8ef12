package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/revenue-api/revenue-api/internal/apitest"
)

// TestKnownQueryParametersGivenOnceWithAValue: a parameter a route knows,
// given empty or twice, is a 400 invalid_parameter on every route that has
// parameters, never read as absent (the OpenAPI document gives each a
// value) nor as one of its copies.
func TestKnownQueryParametersGivenOnceWithAValue(t *testing.T) {
	env := apitest.New(t, withFeed)
	carol := env.Login(apitest.CarolEmail, apitest.CarolPassword).AccessToken
	routes := []struct {
		method, path, token string
		params              []string
	}{
		{http.MethodGet, "/revenue", carol, []string{"from", "to"}},
		{http.MethodGet, "/revenue/changes", carol, []string{"from", "to", "cursor", "limit"}},
		{http.MethodPost, "/revenue/imports", carol, []string{"dry_run"}},
		{http.MethodGet, "/revocations", testFeedToken, []string{"cursor", "wait"}},
	}
	for _, r := range routes {
		for _, p := range r.params {
			for _, q := range []string{p + "=", p + "=&" + p + "=", p + "=1&" + p + "=2"} {
				resp := env.Do(apitest.Request{Method: r.method, Path: r.path + "?" + q, Token: r.token})
				if resp.Code != http.StatusBadRequest || resp.ProblemCode(t) != "invalid_parameter" {
					t.Errorf("%s %s?%s: %d %s, want 400 invalid_parameter", r.method, r.path, q, resp.Code, resp.Body)
				}
			}
		}
	}
	for _, path := range []string{"/revenue?from=2025-01&to=2025-06", "/revenue/changes?limit=5", "/revocations?cursor=0"} {
		token := carol
		if path == "/revocations?cursor=0" {
			token = testFeedToken
		}
		if resp := env.Do(apitest.Request{Method: http.MethodGet, Path: path, Token: token}); resp.Code != http.StatusOK {
			t.Errorf("GET %s: %d %s, want 200", path, resp.Code, resp.Body)
		}
	}
}
