package httpapi_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/revenue-api/revenue-api/internal/apitest"
	"github.com/revenue-api/revenue-api/internal/auth"
	"github.com/revenue-api/revenue-api/internal/config"
)

func decodeSegment(t *testing.T, seg string) map[string]any {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatalf("segment is not base64url: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestLoginIssuesRS256AccessToken(t *testing.T) {
	env := apitest.New(t)
	resp := env.Do(apitest.Request{Method: http.MethodPost, Path: "/login",
		Body: map[string]string{"email": apitest.AliceEmail, "password": apitest.AlicePassword}})
	if resp.Code != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", resp.Code, resp.Body)
	}
	if cc := resp.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store on a token response", cc)
	}
	body := resp.JSON(t)
	if body["token_type"] != "Bearer" || body["expires_in"] != float64(900) {
		t.Errorf("token_type/expires_in = %v/%v, want Bearer/900", body["token_type"], body["expires_in"])
	}
	if rt, _ := body["refresh_token"].(string); !strings.HasPrefix(rt, "rt_") || len(rt) < 43 {
		t.Errorf("refresh_token = %q, want an opaque rt_ token of 256 bits", rt)
	}
	parts := strings.Split(body["access_token"].(string), ".")
	if len(parts) != 3 {
		t.Fatalf("access token has %d parts, want 3", len(parts))
	}
	header, claims := decodeSegment(t, parts[0]), decodeSegment(t, parts[1])
	if header["alg"] != "RS256" || header["typ"] != "at+jwt" || header["kid"] != env.Key.ID {
		t.Errorf("header = %v, want alg RS256, typ at+jwt, kid %s", header, env.Key.ID)
	}
	for _, c := range []string{"iss", "aud", "sub", "exp", "iat", "nbf", "jti", "sid", "org_id", "roles", "scope"} {
		if _, ok := claims[c]; !ok {
			t.Errorf("claim %q missing from %v", c, claims)
		}
	}
	if claims["iss"] != apitest.Issuer || claims["scope"] != auth.ScopeRevenueRead {
		t.Errorf("iss/scope = %v/%v", claims["iss"], claims["scope"])
	}
	if exp, iat := claims["exp"].(float64), claims["iat"].(float64); exp-iat != 900 {
		t.Errorf("exp - iat = %v, want the default 15 minutes", exp-iat)
	}
}

func TestLoginFailuresLookTheSame(t *testing.T) {
	env := apitest.New(t)
	answer := func(email, password string) (int, string) {
		resp := env.Do(apitest.Request{Method: http.MethodPost, Path: "/login",
			Body: map[string]string{"email": email, "password": password}})
		body := resp.JSON(t)
		delete(body, "request_id")
		b, _ := json.Marshal(body)
		return resp.Code, string(b)
	}
	wrongCode, wrongBody := answer(apitest.AliceEmail, "not-her-password")
	unknownCode, unknownBody := answer("nobody@example.com", "whatever-password")
	if wrongCode != http.StatusUnauthorized || unknownCode != http.StatusUnauthorized {
		t.Fatalf("statuses %d and %d, want 401 for both", wrongCode, unknownCode)
	}
	if wrongBody != unknownBody {
		t.Errorf("wrong password and unknown email answer differently:\n%s\n%s", wrongBody, unknownBody)
	}
	if !strings.Contains(wrongBody, `"code":"invalid_credentials"`) {
		t.Errorf("body %s, want code invalid_credentials", wrongBody)
	}
	events := strings.Join(env.Events(), " ")
	if !strings.Contains(events, "login_failed:wrong_password") || !strings.Contains(events, "login_failed:unknown_email") {
		t.Errorf("audit events %q, want both failures recorded with their reason", events)
	}
}

func TestPasswordsAreStoredAsArgon2idHashes(t *testing.T) {
	env := apitest.New(t)
	var hash string
	if err := env.DB.Pool.QueryRow(context.Background(), `SELECT password_hash FROM users WHERE email = $1`, apitest.AliceEmail).Scan(&hash); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$argon2id$") || strings.Contains(hash, apitest.AlicePassword) {
		t.Errorf("stored password %q, want an argon2id hash", hash)
	}
}

func TestBadInputGetsAProblem(t *testing.T) {
	env := apitest.New(t)
	long := strings.Repeat("a", 300) + "@example.com"
	tests := []struct {
		name        string
		body        any
		contentType string
		status      int
		code        string
	}{
		{"malformed JSON", `{"email":`, "application/json", 400, "invalid_json"},
		{"not an object", `["a"]`, "application/json", 400, "invalid_json"},
		{"wrong field type", `{"email":1,"password":"x"}`, "application/json", 400, "invalid_json"},
		{"unknown field", `{"email":"a@b.c","password":"x","admin":true}`, "application/json", 400, "unknown_member"},
		{"a member name in another case", `{"EMAIL":"a@b.c","password":"x"}`, "application/json", 400, "unknown_member"},
		{"a member twice", `{"email":"bob@example.com","email":"alice@example.com","password":"x"}`, "application/json", 400, "duplicate_member"},
		{"a member twice, in two cases", `{"email":"bob@example.com","Email":"alice@example.com","password":"x"}`, "application/json", 400, "unknown_member"},
		{"a charset other than UTF-8", `{"email":"a@b.c","password":"x"}`, "application/json; charset=iso-8859-1", 415, "unsupported_media_type"},
		{"UTF-16", `{"email":"a@b.c","password":"x"}`, "application/json; charset=UTF-16", 415, "unsupported_media_type"},
		{"two objects", `{"email":"a@b.c","password":"x"}{}`, "application/json", 400, "invalid_json"},
		{"empty body", ``, "application/json", 400, "invalid_json"},
		{"missing email", `{"password":"x"}`, "application/json", 400, "invalid_request"},
		{"missing password", `{"email":"a@b.c"}`, "application/json", 400, "invalid_request"},
		{"email too long", `{"email":"` + long + `","password":"x"}`, "application/json", 400, "invalid_request"},
		{"password too long", `{"email":"a@b.c","password":"` + strings.Repeat("p", 2000) + `"}`, "application/json", 400, "invalid_request"},
		{"form body", `email=a&password=b`, "application/x-www-form-urlencoded", 415, "unsupported_media_type"},
		{"no content type", `{"email":"a@b.c","password":"x"}`, "", 415, "unsupported_media_type"},
		{"body over the limit", `{"email":"a@b.c","password":"` + strings.Repeat("p", 20000) + `"}`, "application/json", 413, "body_too_large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			h.Set("Content-Type", tt.contentType)
			resp := env.Do(apitest.Request{Method: http.MethodPost, Path: "/login", Body: tt.body, Header: h})
			if resp.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.Code, tt.status, resp.Body)
			}
			if code := resp.ProblemCode(t); code != tt.code {
				t.Errorf("code %q, want %q", code, tt.code)
			}
		})
	}
}

func TestRevenueIsTheCallersOrganizationOnly(t *testing.T) {
	env := apitest.New(t)
	ctx := context.Background()
	if _, err := env.Auth.CreateUser(ctx, auth.NewUser{Organization: "Globex Inc", Email: "carol@globex.example",
		Password: "carol-password-1", Roles: []string{"finance"}}); err != nil {
		t.Fatal(err)
	}
	alice := env.Login(apitest.AliceEmail, apitest.AlicePassword)
	carol := env.Login("carol@globex.example", "carol-password-1")

	a := env.Do(apitest.Request{Method: http.MethodGet, Path: "/revenue", Token: alice.AccessToken})
	c := env.Do(apitest.Request{Method: http.MethodGet, Path: "/revenue", Token: carol.AccessToken})
	if a.Code != 200 || c.Code != 200 {
		t.Fatalf("statuses %d/%d, want 200: %s %s", a.Code, c.Code, a.Body, c.Body)
	}
	aBody, cBody := a.JSON(t), c.JSON(t)
	if name := aBody["organization"].(map[string]any)["name"]; name != "Acme Corp" {
		t.Errorf("alice sees %v, want Acme Corp", name)
	}
	if name := cBody["organization"].(map[string]any)["name"]; name != "Globex Inc" {
		t.Errorf("carol sees %v, want Globex Inc", name)
	}
	if aBody["total_cents"] == cBody["total_cents"] {
		t.Error("both organizations report the same total: the query ignores the organization")
	}
	if months := aBody["months"].([]any); len(months) < 24 {
		t.Errorf("%d months, want at least 24 of demo revenue", len(months))
	}

	// No parameter can name another organization: unknown parameters are refused.
	globexID := cBody["organization"].(map[string]any)["id"].(string)
	for _, q := range []string{"org_id=" + globexID, "organization=" + globexID} {
		resp := env.Do(apitest.Request{Method: http.MethodGet, Path: "/revenue?" + q, Token: alice.AccessToken})
		if resp.Code != 400 || resp.ProblemCode(t) != "invalid_query" {
			t.Errorf("?%s: status %d, want 400 invalid_query", q, resp.Code)
		}
	}
}

func TestRevenueMonthFilter(t *testing.T) {
	env := apitest.New(t)
	tok := env.Login(apitest.AliceEmail, apitest.AlicePassword).AccessToken
	last := time.Date(env.Clock.Now().Year(), env.Clock.Now().Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, -1, 0)
	from, to := last.AddDate(0, -2, 0).Format("2006-01"), last.Format("2006-01")

	resp := env.Do(apitest.Request{Method: http.MethodGet, Path: "/revenue?from=" + from + "&to=" + to, Token: tok})
	if resp.Code != 200 {
		t.Fatalf("status %d: %s", resp.Code, resp.Body)
	}
	body := resp.JSON(t)
	months := body["months"].([]any)
	if len(months) != 3 {
		t.Fatalf("%d months between %s and %s, want 3", len(months), from, to)
	}
	var sum float64
	for _, m := range months {
		sum += m.(map[string]any)["amount_cents"].(float64)
	}
	if got := months[0].(map[string]any)["month"]; got != from {
		t.Errorf("first month %v, want %s (ascending)", got, from)
	}
	if body["total_cents"] != sum || body["from"] != from || body["to"] != to {
		t.Errorf("total/from/to = %v/%v/%v, want %v/%s/%s", body["total_cents"], body["from"], body["to"], sum, from, to)
	}

	for _, q := range []string{"from=2024-13", "from=2024-1", "to=24-01", "from=garbage", "from=2025-06&to=2025-01", "from=2025-01&from=2025-02", "from=2024-01-01"} {
		t.Run(q, func(t *testing.T) {
			resp := env.Do(apitest.Request{Method: http.MethodGet, Path: "/revenue?" + q, Token: tok})
			if resp.Code != 400 || resp.ProblemCode(t) != "invalid_parameter" {
				t.Errorf("status %d, want 400 invalid_parameter: %s", resp.Code, resp.Body)
			}
		})
	}
}

func TestProtectedRoutesChallenge(t *testing.T) {
	env := apitest.New(t)
	bob := env.Login(apitest.BobEmail, apitest.BobPassword)
	tests := []struct {
		name      string
		token     string
		header    string
		status    int
		code      string
		challenge string
	}{
		{"no token", "", "", 401, "missing_token", `Bearer realm="revenue-api"`},
		{"another scheme", "", "Basic YWxpY2U6cGFzcw==", 401, "missing_token", `Bearer realm="revenue-api"`},
		{"garbage token", "not.a.jwt", "", 401, "invalid_token", `error="invalid_token"`},
		{"valid token without the scope", bob.AccessToken, "", 403, "insufficient_scope", `error="insufficient_scope"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.header != "" {
				h.Set("Authorization", tt.header)
			}
			resp := env.Do(apitest.Request{Method: http.MethodGet, Path: "/revenue", Token: tt.token, Header: h})
			if resp.Code != tt.status || resp.ProblemCode(t) != tt.code {
				t.Fatalf("status %d, want %d %s: %s", resp.Code, tt.status, tt.code, resp.Body)
			}
			got := resp.Header().Get("WWW-Authenticate")
			if !strings.Contains(got, tt.challenge) {
				t.Errorf("WWW-Authenticate = %q, want it to contain %q", got, tt.challenge)
			}
			if tt.code == "missing_token" && strings.Contains(got, "error=") {
				t.Errorf("WWW-Authenticate = %q: a request without a token gets no error code (RFC 6750 §3.1)", got)
			}
		})
	}
}

func TestExpiredTokenIsRejected(t *testing.T) {
	env := apitest.New(t)
	tok := env.Login(apitest.AliceEmail, apitest.AlicePassword).AccessToken
	if resp := env.Do(apitest.Request{Method: http.MethodGet, Path: "/me", Token: tok}); resp.Code != 200 {
		t.Fatalf("fresh token: status %d", resp.Code)
	}
	env.Clock.Advance(15*time.Minute + env.Config.ClockLeeway + time.Second)
	resp := env.Do(apitest.Request{Method: http.MethodGet, Path: "/me", Token: tok})
	if resp.Code != 401 || !strings.Contains(resp.Header().Get("WWW-Authenticate"), "expired") {
		t.Errorf("status %d, challenge %q: want 401 saying the token expired", resp.Code, resp.Header().Get("WWW-Authenticate"))
	}
}

func TestMeAnswersFromClaimsAlone(t *testing.T) {
	env := apitest.New(t)
	tok := env.Login(apitest.AliceEmail, apitest.AlicePassword).AccessToken
	// With the database gone, /me still answers: it never looks anything up.
	env.DB.Close()
	resp := env.Do(apitest.Request{Method: http.MethodGet, Path: "/me", Token: tok})
	if resp.Code != 200 {
		t.Fatalf("status %d with the pool closed, want 200: %s", resp.Code, resp.Body)
	}
	body := resp.JSON(t)
	if body["email"] != apitest.AliceEmail || body["scope"] != auth.ScopeRevenueRead || body["sid"] == "" {
		t.Errorf("me = %v", body)
	}
	// The revenue query does need the database: a 503 problem, not a 500.
	resp = env.Do(apitest.Request{Method: http.MethodGet, Path: "/revenue", Token: tok})
	if resp.Code != 503 || resp.ProblemCode(t) != "unavailable" {
		t.Errorf("revenue without a database: status %d, want 503 unavailable: %s", resp.Code, resp.Body)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	env := apitest.New(t)
	if resp := env.Do(apitest.Request{Method: http.MethodGet, Path: "/healthz"}); resp.Code != 200 {
		t.Errorf("healthz: %d", resp.Code)
	}
	if resp := env.Do(apitest.Request{Method: http.MethodGet, Path: "/readyz"}); resp.Code != 200 {
		t.Errorf("readyz: %d %s", resp.Code, resp.Body)
	}
	env.DB.Close()
	resp := env.Do(apitest.Request{Method: http.MethodGet, Path: "/readyz"})
	if resp.Code != 503 || resp.JSON(t)["status"] != "not_ready" {
		t.Errorf("readyz with the database gone: %d %s, want 503 not_ready", resp.Code, resp.Body)
	}
}

func TestUnknownRoutesAndMethods(t *testing.T) {
	env := apitest.New(t)
	if resp := env.Do(apitest.Request{Method: http.MethodGet, Path: "/nope"}); resp.Code != 404 || resp.ProblemCode(t) != "not_found" {
		t.Errorf("unknown route: %d", resp.Code)
	}
	if resp := env.Do(apitest.Request{Method: http.MethodGet, Path: "/login"}); resp.Code != 405 || resp.ProblemCode(t) != "method_not_allowed" {
		t.Errorf("GET /login: %d", resp.Code)
	}
}

func TestJWKSPublishesTheSigningKey(t *testing.T) {
	env := apitest.New(t)
	resp := env.Do(apitest.Request{Method: http.MethodGet, Path: "/.well-known/jwks.json"})
	if resp.Code != 200 || !strings.HasPrefix(resp.Header().Get("Cache-Control"), "public, max-age=") || resp.Header().Get("ETag") == "" {
		t.Fatalf("status %d, headers %v", resp.Code, resp.Header())
	}
	keys := resp.JSON(t)["keys"].([]any)
	k := keys[0].(map[string]any)
	if k["kid"] != env.Key.ID || k["kty"] != "RSA" || k["alg"] != "RS256" || k["use"] != "sig" {
		t.Errorf("jwk = %v", k)
	}
	for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
		if _, ok := k[private]; ok {
			t.Errorf("JWKS leaks the private member %q", private)
		}
	}
	again := env.Do(apitest.Request{Method: http.MethodGet, Path: "/.well-known/jwks.json",
		Header: http.Header{"If-None-Match": {resp.Header().Get("ETag")}}})
	if again.Code != http.StatusNotModified {
		t.Errorf("revalidation with the ETag: %d, want 304", again.Code)
	}
}

func TestRequestIDOnEveryResponseAndLogLine(t *testing.T) {
	env := apitest.New(t)
	resp := env.Do(apitest.Request{Method: http.MethodGet, Path: "/healthz", Header: http.Header{"X-Request-Id": {"trace-123"}}})
	if got := resp.Header().Get("X-Request-ID"); got != "trace-123" {
		t.Errorf("X-Request-ID = %q, want the caller's plain id kept", got)
	}
	// A fresh id is 24 random hex digits, which may spell "bad" by chance:
	// the test checks its shape, not its letters.
	fresh := regexp.MustCompile(`^[0-9a-f]{24}$`)
	for _, unsafe := range []string{"bad\nid", "trace id", strings.Repeat("a", 65)} {
		resp = env.Do(apitest.Request{Method: http.MethodGet, Path: "/healthz", Header: http.Header{"X-Request-Id": {unsafe}}})
		if got := resp.Header().Get("X-Request-ID"); !fresh.MatchString(got) {
			t.Errorf("caller id %q: X-Request-ID = %q, want a fresh 24-hex-digit id instead", unsafe, got)
		}
	}
	if !strings.Contains(env.Logs.String(), `"request_id":"trace-123"`) {
		t.Errorf("the access log lacks the request id:\n%s", env.Logs.String())
	}
}

func TestAccessLogCanBeTurnedOff(t *testing.T) {
	env := apitest.New(t, func(c *config.Config) { c.AccessLog = false })
	env.Do(apitest.Request{Method: http.MethodGet, Path: "/healthz", Header: http.Header{"X-Request-Id": {"quiet-1"}}})
	if strings.Contains(env.Logs.String(), "quiet-1") {
		t.Errorf("REVENUE_ACCESS_LOG=false still logged the request:\n%s", env.Logs.String())
	}
}
