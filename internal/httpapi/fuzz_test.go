package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/revenue-api/revenue-api/internal/apitest"
	"github.com/revenue-api/revenue-api/internal/config"
)

// The fuzz targets send what the fuzzer makes to /login and /token/refresh
// through the real router and a real database. Each fuzzing process builds
// one service and keeps it for all its inputs, with the rate limit out of
// the way (it is tested elsewhere) and room in the hashing queue.
//
//	go test -run='^$' -fuzz='^FuzzLogin$' -fuzztime=10s ./internal/httpapi
//	go test -run='^$' -fuzz='^FuzzRefresh$' -fuzztime=10s ./internal/httpapi
func fuzzEnv(f *testing.F) *apitest.Env {
	return apitest.New(f, func(c *config.Config) {
		c.AuthRate, c.AuthBurst = 1e9, 1e9
		c.HashQueue = 256
	})
}

// within returns env for one fuzz input: env's own T must not be used
// inside the fuzz function.
func within(t *testing.T, env *apitest.Env) *apitest.Env {
	e := *env
	e.T = t
	return &e
}

// The answers /login and /token/refresh may give, by status, with the
// problem codes each may carry. Anything else, a 500 above all, is a bug.
var authAnswers = map[int][]string{
	200: nil,
	400: {"invalid_json", "invalid_request", "duplicate_member", "unknown_member"},
	401: {"invalid_credentials", "invalid_refresh_token"},
	403: {"forbidden_origin"},
	413: {"body_too_large"},
	415: {"unsupported_media_type"},
	503: {"overloaded"},
}

func checkAuthAnswer(t *testing.T, resp apitest.Response) {
	t.Helper()
	codes, ok := authAnswers[resp.Code]
	if !ok {
		t.Fatalf("status %d: %s", resp.Code, resp.Body)
	}
	if cc := resp.Header().Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("status %d with Cache-Control %q, want no-store", resp.Code, cc)
	}
	if resp.Code == 200 {
		var tok apitest.Tokens
		if err := json.Unmarshal(resp.Body.Bytes(), &tok); err != nil || tok.AccessToken == "" || tok.TokenType != "Bearer" {
			t.Fatalf("200 without tokens: %s", resp.Body)
		}
		return
	}
	var p struct {
		Status int    `json:"status"`
		Code   string `json:"code"`
	}
	if ct := resp.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Fatalf("status %d with Content-Type %q, want a problem", resp.Code, ct)
	}
	if err := json.Unmarshal(resp.Body.Bytes(), &p); err != nil || p.Status != resp.Code {
		t.Fatalf("status %d with body %s, want a problem with that status", resp.Code, resp.Body)
	}
	for _, c := range codes {
		if c == p.Code {
			return
		}
	}
	t.Fatalf("status %d with code %q, want one of %q", resp.Code, p.Code, codes)
}

// FuzzLogin parses login requests: any body, content type and delivery
// choice gets a documented answer, never a panic or a 500, and only the
// right password logs in.
func FuzzLogin(f *testing.F) {
	env := fuzzEnv(f)
	f.Add([]byte(`{"email":"alice@example.com","password":"alice-password-1"}`), "application/json", "")
	f.Fuzz(func(t *testing.T, body []byte, contentType, delivery string) {
		env := within(t, env)
		h := http.Header{"Content-Type": {contentType}}
		if delivery != "" {
			h.Set("X-Refresh-Token-Delivery", delivery)
		}
		req := apitest.Request{Method: http.MethodPost, Path: "/login", Body: body, Header: h}
		if !validHeaderValue(contentType) || !validHeaderValue(delivery) {
			return // net/http never hands such a request to the handler
		}
		resp := env.Do(req)
		checkAuthAnswer(t, resp)
		if resp.Code == 200 {
			var creds struct{ Password string }
			_ = json.Unmarshal(body, &creds)
			if creds.Password != apitest.AlicePassword && creds.Password != apitest.BobPassword {
				t.Fatalf("logged in without a right password: %q", body)
			}
		}
	})
}

// FuzzRefresh parses refresh requests: body, cookie, delivery choice and
// Origin. Only a live refresh token is ever exchanged.
func FuzzRefresh(f *testing.F) {
	env := fuzzEnv(f)
	live := env.Login(apitest.AliceEmail, apitest.AlicePassword).RefreshToken
	f.Add([]byte(`{"refresh_token":"`+live+`"}`), "", "", "")
	f.Add([]byte(``), live, "cookie", "")
	f.Fuzz(func(t *testing.T, body []byte, cookie, delivery, origin string) {
		env := within(t, env)
		h := http.Header{"Content-Type": {"application/json"}}
		if delivery != "" {
			h.Set("X-Refresh-Token-Delivery", delivery)
		}
		if origin != "" {
			h.Set("Origin", origin)
		}
		req := apitest.Request{Method: http.MethodPost, Path: "/token/refresh", Body: body, Header: h}
		if cookie != "" {
			c := &http.Cookie{Name: "revenue_refresh", Value: cookie}
			if c.Valid() != nil {
				return
			}
			req.Cookies = []*http.Cookie{c}
		}
		if !validHeaderValue(delivery) || !validHeaderValue(origin) {
			return
		}
		resp := env.Do(req)
		checkAuthAnswer(t, resp)
		if resp.Code == 200 {
			var sent struct {
				RefreshToken string `json:"refresh_token"`
			}
			_ = json.Unmarshal(body, &sent)
			if !strings.HasPrefix(sent.RefreshToken, "rt_") && !strings.HasPrefix(cookie, "rt_") {
				t.Fatalf("refreshed without a refresh token: body %q, cookie %q", body, cookie)
			}
		}
	})
}

// validHeaderValue reports whether net/http would carry v as a header
// value (RFC 9110 §5.5: no control characters but tab).
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if b := v[i]; b < ' ' && b != '\t' || b == 0x7f {
			return false
		}
	}
	return true
}
