package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/revenue-api/revenue-api/internal/apitest"
	"github.com/revenue-api/revenue-api/internal/auth"
	"github.com/revenue-api/revenue-api/internal/config"
)

func refresh(env *apitest.Env, token string) apitest.Response {
	return env.Do(apitest.Request{Method: http.MethodPost, Path: "/token/refresh", Body: map[string]string{"refresh_token": token}})
}

func TestRefreshRotatesTheToken(t *testing.T) {
	env := apitest.New(t)
	first := env.Login(apitest.AliceEmail, apitest.AlicePassword)
	env.Clock.Advance(time.Minute)
	second := env.Refresh(first.RefreshToken)
	if second.RefreshToken == first.RefreshToken || second.AccessToken == first.AccessToken {
		t.Fatal("refresh returned the same tokens, want a new pair")
	}
	if resp := env.Do(apitest.Request{Method: http.MethodGet, Path: "/revenue", Token: second.AccessToken}); resp.Code != 200 {
		t.Errorf("new access token: status %d", resp.Code)
	}
	third := env.Refresh(second.RefreshToken)
	if third.RefreshToken == "" {
		t.Fatal("the rotated token could not be refreshed")
	}
	var stored int
	if err := env.DB.Pool.QueryRow(context.Background(),
		`SELECT count(*) FROM refresh_tokens WHERE token_hash = sha256(convert_to($1, 'UTF8'))`, third.RefreshToken).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	var plain int
	_ = env.DB.Pool.QueryRow(context.Background(), `SELECT count(*) FROM refresh_tokens WHERE encode(token_hash, 'escape') LIKE '%rt_%'`).Scan(&plain)
	if stored != 1 || plain != 0 {
		t.Errorf("refresh tokens stored by SHA-256 hash: %d rows match, %d plain; want 1 and 0", stored, plain)
	}
}

func TestReusedRefreshTokenRevokesTheSession(t *testing.T) {
	env := apitest.New(t)
	first := env.Login(apitest.AliceEmail, apitest.AlicePassword)
	second := env.Refresh(first.RefreshToken) // the legitimate client
	third := env.Refresh(second.RefreshToken) // ...which goes on refreshing

	// A thief replays a spent token whose successor was presented: the
	// whole session dies.
	resp := refresh(env, first.RefreshToken)
	if resp.Code != 401 || resp.ProblemCode(t) != "invalid_refresh_token" {
		t.Fatalf("reused token: %d %s, want 401 invalid_refresh_token", resp.Code, resp.Body)
	}
	// ...including the descendant the legitimate client holds.
	if resp := refresh(env, third.RefreshToken); resp.Code != 401 {
		t.Errorf("descendant after reuse: %d, want 401 (the session is revoked)", resp.Code)
	}
	if events := strings.Join(env.Events(), " "); !strings.Contains(events, "refresh_reuse_detected") {
		t.Errorf("events %q, want a refresh_reuse_detected security event", events)
	}
	var ended string
	_ = env.DB.Pool.QueryRow(context.Background(), `SELECT end_reason FROM sessions`).Scan(&ended)
	if ended != "refresh_token_reuse" {
		t.Errorf("session end reason %q, want refresh_token_reuse", ended)
	}
}

// A rotation whose answer never reached the client (its connection, or the
// database primary, went away at the commit) left a successor nobody has
// presented: presenting the spent token again gets a new pair instead of
// ending the session, so no refresh token the API handed out is lost. The
// unpresented successor is retired, so a thief who replayed the spent token
// is still caught when the legitimate holder presents it (later than
// auth.RetiredTwinWindow: sooner, it may be a second tab's twin request,
// see TestTwoTabsAnswersOutOfCommitOrder).
func TestRefreshRetryAfterAnUnansweredRotation(t *testing.T) {
	t.Run("the client that never got the answer retries and goes on", func(t *testing.T) {
		env := apitest.New(t)
		first := env.Login(apitest.AliceEmail, apitest.AlicePassword)
		env.Refresh(first.RefreshToken) // committed; the answer is lost
		retried := env.Refresh(first.RefreshToken)
		again := env.Refresh(retried.RefreshToken)
		if resp := env.Do(apitest.Request{Method: http.MethodGet, Path: "/me", Token: again.AccessToken}); resp.Code != 200 {
			t.Fatalf("after the retry: %d, want 200", resp.Code)
		}
		if events := strings.Join(env.Events(), " "); strings.Contains(events, "refresh_reuse_detected") {
			t.Errorf("events %q: a retry of an unanswered rotation is not a reuse", events)
		}
	})
	t.Run("a thief's replay is caught when the holder of the retired successor presents it", func(t *testing.T) {
		env := apitest.New(t)
		first := env.Login(apitest.AliceEmail, apitest.AlicePassword)
		legit := env.Refresh(first.RefreshToken)  // received, not yet used
		stolen := env.Refresh(first.RefreshToken) // the thief replays the spent token
		env.Clock.Advance(auth.RetiredTwinWindow + time.Second)
		resp := refresh(env, legit.RefreshToken) // the retired successor: a reuse
		if resp.Code != 401 {
			t.Fatalf("the retired successor: %d, want 401", resp.Code)
		}
		if resp := refresh(env, stolen.RefreshToken); resp.Code != 401 {
			t.Errorf("the thief's token after the reuse: %d, want 401 (the session ended)", resp.Code)
		}
		if resp := env.Do(apitest.Request{Method: http.MethodGet, Path: "/me", Token: stolen.AccessToken}); resp.Code != 401 {
			t.Errorf("the thief's access token after the reuse: %d, want 401 (revoked)", resp.Code)
		}
		if events := strings.Join(env.Events(), " "); !strings.Contains(events, "refresh_reuse_detected") {
			t.Errorf("events %q, want a refresh_reuse_detected security event", events)
		}
	})
}

func TestRefreshFailuresLookTheSame(t *testing.T) {
	env := apitest.New(t)
	spent := env.Login(apitest.AliceEmail, apitest.AlicePassword)
	env.Refresh(env.Refresh(spent.RefreshToken).RefreshToken) // its successor is presented too
	loggedOut := env.Login(apitest.AliceEmail, apitest.AlicePassword)
	if resp := env.Do(apitest.Request{Method: http.MethodPost, Path: "/logout", Token: loggedOut.AccessToken}); resp.Code != 204 {
		t.Fatalf("logout: %d", resp.Code)
	}
	tests := map[string]any{
		"missing":   map[string]string{},
		"empty":     map[string]string{"refresh_token": ""},
		"malformed": map[string]string{"refresh_token": "definitely-not-a-token"},
		"unknown":   map[string]string{"refresh_token": "rt_" + strings.Repeat("A", 43)},
		"spent":     map[string]string{"refresh_token": spent.RefreshToken},
		"revoked":   map[string]string{"refresh_token": loggedOut.RefreshToken},
	}
	var bodies []string
	for name, body := range tests {
		resp := env.Do(apitest.Request{Method: http.MethodPost, Path: "/token/refresh", Body: body})
		if resp.Code != 401 || resp.ProblemCode(t) != "invalid_refresh_token" {
			t.Errorf("%s: %d %s, want 401 invalid_refresh_token", name, resp.Code, resp.Body)
		}
		m := resp.JSON(t)
		delete(m, "request_id")
		bodies = append(bodies, m["detail"].(string)+m["title"].(string))
	}
	for _, b := range bodies[1:] {
		if b != bodies[0] {
			t.Errorf("refresh failures differ to the client: %q vs %q", b, bodies[0])
		}
	}
}

func TestRefreshTokenNeverFromTheQueryString(t *testing.T) {
	env := apitest.New(t)
	tok := env.Login(apitest.AliceEmail, apitest.AlicePassword)
	resp := env.Do(apitest.Request{Method: http.MethodPost, Path: "/token/refresh?refresh_token=" + tok.RefreshToken})
	if resp.Code != 400 || resp.ProblemCode(t) != "invalid_query" {
		t.Fatalf("status %d, want 400 invalid_query", resp.Code)
	}
	// The token was not spent by that request.
	env.Refresh(tok.RefreshToken)
}

func TestParallelRefreshesOfOneToken(t *testing.T) {
	for _, grace := range []time.Duration{0, 10 * time.Second} {
		t.Run("grace "+grace.String(), func(t *testing.T) {
			env := apitest.New(t, func(c *config.Config) { c.RefreshReuseGrace = grace })
			tok := env.Login(apitest.AliceEmail, apitest.AlicePassword)
			const n = 12
			codes := make([]int, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					codes[i] = refresh(env, tok.RefreshToken).Code
				}()
			}
			wg.Wait()
			ok := 0
			for _, c := range codes {
				if c == 200 {
					ok++
				} else if c != 401 {
					t.Errorf("a parallel refresh answered %d, want 200 or 401", c)
				}
			}
			var rotations, active int
			ctx := context.Background()
			_ = env.DB.Pool.QueryRow(ctx, `SELECT count(*) FROM refresh_tokens WHERE parent_id IS NOT NULL`).Scan(&rotations)
			_ = env.DB.Pool.QueryRow(ctx, `SELECT count(*) FROM sessions WHERE ended_at IS NULL`).Scan(&active)
			if grace == 0 {
				// Documented outcome: the presentations serialize on the
				// session; each finds the previous one's successor never
				// presented, so each gets a pair and retires that
				// successor. Only the last pair's refresh token stays good:
				// presenting an earlier one is a reuse.
				if ok != n || rotations != n || active != 1 {
					t.Errorf("ok=%d rotations=%d active sessions=%d, want %d, %d, 1", ok, rotations, active, n, n)
				}
				var good int
				_ = env.DB.Pool.QueryRow(ctx, `SELECT count(*) FROM refresh_tokens WHERE used_at IS NULL AND revoked_at IS NULL`).Scan(&good)
				if good != 1 {
					t.Errorf("%d refresh tokens still good, want 1 (the last one handed out)", good)
				}
			} else {
				// Within the grace interval every retry gets a fresh pair in the same session.
				if ok != n || rotations != n || active != 1 {
					t.Errorf("ok=%d rotations=%d active sessions=%d, want %d, %d, 1", ok, rotations, active, n, n)
				}
			}
		})
	}
}

func TestReuseGraceEnds(t *testing.T) {
	env := apitest.New(t, func(c *config.Config) { c.RefreshReuseGrace = 5 * time.Second })
	tok := env.Login(apitest.AliceEmail, apitest.AlicePassword)
	env.Refresh(tok.RefreshToken)
	env.Clock.Advance(2 * time.Second)
	sibling := env.Refresh(tok.RefreshToken) // a retry within the grace: a fresh pair
	env.Refresh(sibling.RefreshToken)        // its successor is presented
	env.Clock.Advance(4 * time.Second)
	if resp := refresh(env, tok.RefreshToken); resp.Code != 401 {
		t.Errorf("reuse after the grace: %d, want 401", resp.Code)
	}

	// The same when the latest token issued in the spent one's place was
	// never presented, but an earlier one was: it is not a lost answer.
	tok = env.Login(apitest.AliceEmail, apitest.AlicePassword)
	env.Refresh(env.Refresh(tok.RefreshToken).RefreshToken) // the successor is presented
	env.Clock.Advance(2 * time.Second)
	env.Refresh(tok.RefreshToken) // a retry within the grace: a sibling, never presented
	env.Clock.Advance(4 * time.Second)
	if resp := refresh(env, tok.RefreshToken); resp.Code != 401 {
		t.Errorf("reuse after the grace, the latest sibling unpresented: %d, want 401", resp.Code)
	}
}

func TestSessionTimeouts(t *testing.T) {
	env := apitest.New(t, func(c *config.Config) {
		c.SessionIdleTimeout = time.Hour
		c.SessionMaxLifetime = 3 * time.Hour
	})
	tok := env.Login(apitest.AliceEmail, apitest.AlicePassword)
	// Refreshing every 50 minutes keeps the session alive past its idle timeout...
	for range 3 {
		env.Clock.Advance(50 * time.Minute)
		tok = env.Refresh(tok.RefreshToken)
	}
	// ...but not past its absolute lifetime.
	env.Clock.Advance(40 * time.Minute)
	if resp := refresh(env, tok.RefreshToken); resp.Code != 401 {
		t.Errorf("after the absolute lifetime: %d, want 401", resp.Code)
	}
	idle := env.Login(apitest.AliceEmail, apitest.AlicePassword)
	env.Clock.Advance(61 * time.Minute)
	if resp := refresh(env, idle.RefreshToken); resp.Code != 401 {
		t.Errorf("after the idle timeout: %d, want 401", resp.Code)
	}
}

func TestRefreshRereadsTheUser(t *testing.T) {
	env := apitest.New(t)
	ctx := context.Background()
	tok := env.Login(apitest.BobEmail, apitest.BobPassword)
	if _, err := env.DB.Pool.Exec(ctx, `UPDATE users SET roles = '{finance}' WHERE email = $1`, apitest.BobEmail); err != nil {
		t.Fatal(err)
	}
	tok = env.Refresh(tok.RefreshToken)
	if resp := env.Do(apitest.Request{Method: http.MethodGet, Path: "/revenue", Token: tok.AccessToken}); resp.Code != 200 {
		t.Errorf("bob with a new role: %d, want 200 at once after refresh", resp.Code)
	}
	if err := env.Auth.SetDisabled(ctx, apitest.BobEmail, true); err != nil {
		t.Fatal(err)
	}
	if resp := refresh(env, tok.RefreshToken); resp.Code != 401 {
		t.Errorf("disabled user refresh: %d, want 401", resp.Code)
	}
	if resp := env.Do(apitest.Request{Method: http.MethodPost, Path: "/login",
		Body: map[string]string{"email": apitest.BobEmail, "password": apitest.BobPassword}}); resp.Code != 401 {
		t.Errorf("disabled user login: %d, want 401", resp.Code)
	}
}

func TestPasswordChangeEndsEverySession(t *testing.T) {
	env := apitest.New(t)
	a := env.Login(apitest.AliceEmail, apitest.AlicePassword)
	b := env.Login(apitest.AliceEmail, apitest.AlicePassword)
	if err := env.Auth.SetPassword(context.Background(), apitest.AliceEmail, "a-brand-new-password"); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{a.RefreshToken, b.RefreshToken} {
		if resp := refresh(env, tok); resp.Code != 401 {
			t.Errorf("refresh after password change: %d, want 401", resp.Code)
		}
	}
	env.Login(apitest.AliceEmail, "a-brand-new-password")
	if !strings.Contains(strings.Join(env.Events(), " "), "password_changed") {
		t.Error("no password_changed audit event")
	}
}

func TestLogoutAndSessions(t *testing.T) {
	env := apitest.New(t)
	phone := env.Login(apitest.AliceEmail, apitest.AlicePassword)
	laptop := env.Do(apitest.Request{Method: http.MethodPost, Path: "/login", Header: http.Header{"User-Agent": {"laptop-browser"}},
		Body: map[string]string{"email": apitest.AliceEmail, "password": apitest.AlicePassword}})
	laptopTok := laptop.JSON(t)
	laptopAccess := laptopTok["access_token"].(string)

	resp := env.Do(apitest.Request{Method: http.MethodGet, Path: "/sessions", Token: laptopAccess})
	if resp.Code != 200 {
		t.Fatalf("sessions: %d", resp.Code)
	}
	list := resp.JSON(t)["sessions"].([]any)
	if len(list) != 2 {
		t.Fatalf("%d sessions, want 2", len(list))
	}
	var phoneID string
	currents := 0
	for _, s := range list {
		m := s.(map[string]any)
		if m["current"] == true {
			currents++
			if m["user_agent"] != "laptop-browser" || m["client_ip"] != "192.0.2.1" {
				t.Errorf("current session %v, want the laptop's user agent and address", m)
			}
		} else {
			phoneID = m["id"].(string)
		}
	}
	if currents != 1 {
		t.Errorf("%d sessions marked current, want 1", currents)
	}

	// Bob cannot end alice's session: it is not his.
	bob := env.Login(apitest.BobEmail, apitest.BobPassword)
	for _, id := range []string{phoneID, "not-a-uuid", "00000000-0000-0000-0000-000000000000"} {
		if resp := env.Do(apitest.Request{Method: http.MethodDelete, Path: "/sessions/" + id, Token: bob.AccessToken}); resp.Code != 404 {
			t.Errorf("bob deleting %q: %d, want 404", id, resp.Code)
		}
	}
	// Alice ends her phone's session from the laptop.
	if resp := env.Do(apitest.Request{Method: http.MethodDelete, Path: "/sessions/" + phoneID, Token: laptopAccess}); resp.Code != 204 {
		t.Fatalf("delete session: %d %s", resp.Code, resp.Body)
	}
	if resp := refresh(env, phone.RefreshToken); resp.Code != 401 {
		t.Errorf("ended session refresh: %d, want 401", resp.Code)
	}
	// Logout ends the current session and revokes its access token at once.
	if resp := env.Do(apitest.Request{Method: http.MethodPost, Path: "/logout", Token: laptopAccess}); resp.Code != 204 {
		t.Fatalf("logout: %d", resp.Code)
	}
	if resp := refresh(env, laptopTok["refresh_token"].(string)); resp.Code != 401 {
		t.Errorf("refresh after logout: %d, want 401", resp.Code)
	}
	if resp := env.Do(apitest.Request{Method: http.MethodGet, Path: "/me", Token: laptopAccess}); resp.Code != 401 {
		t.Errorf("access token after logout: %d, want 401 (revoked)", resp.Code)
	}
}

func TestLogoutAllEndsEverySession(t *testing.T) {
	env := apitest.New(t)
	a := env.Login(apitest.AliceEmail, apitest.AlicePassword)
	b := env.Login(apitest.AliceEmail, apitest.AlicePassword)
	bob := env.Login(apitest.BobEmail, apitest.BobPassword)
	if resp := env.Do(apitest.Request{Method: http.MethodPost, Path: "/logout/all", Token: a.AccessToken}); resp.Code != 204 {
		t.Fatalf("logout/all: %d", resp.Code)
	}
	for _, tok := range []string{a.RefreshToken, b.RefreshToken} {
		if resp := refresh(env, tok); resp.Code != 401 {
			t.Errorf("refresh after logout/all: %d, want 401", resp.Code)
		}
	}
	env.Refresh(bob.RefreshToken) // other users keep their sessions
}

func TestCookieDelivery(t *testing.T) {
	env := apitest.New(t, func(c *config.Config) { c.CORSOrigins = []string{"https://app.example.com"} })
	cookieHeader := http.Header{"X-Refresh-Token-Delivery": {"cookie"}, "Origin": {"https://app.example.com"}}
	resp := env.Do(apitest.Request{Method: http.MethodPost, Path: "/login", Header: cookieHeader,
		Body: map[string]string{"email": apitest.AliceEmail, "password": apitest.AlicePassword}})
	if resp.Code != 200 {
		t.Fatalf("login: %d %s", resp.Code, resp.Body)
	}
	if _, inBody := resp.JSON(t)["refresh_token"]; inBody {
		t.Error("cookie delivery put the refresh token in the body, where JavaScript can read it")
	}
	c := resp.Cookie("revenue_refresh")
	if c == nil || !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteStrictMode || c.Path != "/token/refresh" || c.MaxAge <= 0 {
		t.Fatalf("cookie = %+v, want HttpOnly, Secure, SameSite=Strict, Path=/token/refresh", c)
	}

	tests := []struct {
		name   string
		header http.Header
		status int
		code   string
	}{
		{"no delivery header (a cross-site form post)", http.Header{}, 403, "forbidden_origin"},
		{"foreign origin", http.Header{"X-Refresh-Token-Delivery": {"cookie"}, "Origin": {"https://evil.example"}}, 403, "forbidden_origin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := env.Do(apitest.Request{Method: http.MethodPost, Path: "/token/refresh", Header: tt.header, Cookies: []*http.Cookie{c}})
			if resp.Code != tt.status || resp.ProblemCode(t) != tt.code {
				t.Errorf("%d %s, want %d %s", resp.Code, resp.Body, tt.status, tt.code)
			}
		})
	}

	resp = env.Do(apitest.Request{Method: http.MethodPost, Path: "/token/refresh", Header: cookieHeader, Cookies: []*http.Cookie{c}})
	if resp.Code != 200 {
		t.Fatalf("cookie refresh: %d %s", resp.Code, resp.Body)
	}
	next := resp.Cookie("revenue_refresh")
	if next == nil || next.Value == c.Value {
		t.Fatal("cookie refresh did not rotate the cookie")
	}
	if _, inBody := resp.JSON(t)["refresh_token"]; inBody {
		t.Error("cookie refresh put the refresh token in the body")
	}
	// Logout clears the cookie.
	access := resp.JSON(t)["access_token"].(string)
	resp = env.Do(apitest.Request{Method: http.MethodPost, Path: "/logout", Token: access, Header: cookieHeader})
	if cleared := resp.Cookie("revenue_refresh"); resp.Code != 204 || cleared == nil || cleared.MaxAge >= 0 {
		t.Errorf("logout: %d, cookie %+v, want 204 and the cookie cleared", resp.Code, cleared)
	}
}

func TestAuditTrailRecordsTheLifecycle(t *testing.T) {
	env := apitest.New(t)
	tok := env.Login(apitest.AliceEmail, apitest.AlicePassword)
	tok = env.Refresh(tok.RefreshToken)
	env.Do(apitest.Request{Method: http.MethodPost, Path: "/logout", Token: tok.AccessToken})
	got := strings.Join(env.Events(), " ")
	for _, want := range []string{"login_succeeded", "token_refreshed", "logout"} {
		if !strings.Contains(got, want) {
			t.Errorf("events %q lack %q", got, want)
		}
	}
	var withSecrets int
	_ = env.DB.Pool.QueryRow(context.Background(), `SELECT count(*) FROM auth_events
		WHERE reason LIKE '%rt_%' OR reason LIKE '%eyJ%' OR reason LIKE '%password-1%'`).Scan(&withSecrets)
	if withSecrets != 0 {
		t.Errorf("%d audit rows hold a secret", withSecrets)
	}
}

func TestCleanupRemovesEndedSessionsAndKeepsAudit(t *testing.T) {
	env := apitest.New(t)
	ctx := context.Background()
	ended := env.Login(apitest.AliceEmail, apitest.AlicePassword)
	env.Do(apitest.Request{Method: http.MethodPost, Path: "/logout", Token: ended.AccessToken})
	live := env.Login(apitest.AliceEmail, apitest.AlicePassword)
	eventsBefore := len(env.Events())

	env.Clock.Advance(time.Hour)
	n, err := env.Auth.CleanupBefore(ctx, env.Clock.Now())
	if err != nil || n != 1 {
		t.Fatalf("cleanup deleted %d sessions (err %v), want the 1 ended session", n, err)
	}
	var sessions, tokens int
	_ = env.DB.Pool.QueryRow(ctx, `SELECT count(*) FROM sessions`).Scan(&sessions)
	_ = env.DB.Pool.QueryRow(ctx, `SELECT count(*) FROM refresh_tokens`).Scan(&tokens)
	if sessions != 1 || tokens != 1 {
		t.Errorf("%d sessions and %d tokens left, want only the live session's", sessions, tokens)
	}
	if len(env.Events()) != eventsBefore {
		t.Error("cleanup removed audit rows")
	}
	env.Refresh(live.RefreshToken)
}

// TestCleanupKeepsSessionsWhoseTokensLive: a session that expired (idle)
// without being ended still has an access token that is good for up to its
// lifetime; cleanup keeps its row until that token is dead, so logging out
// with it still revokes it.
func TestCleanupKeepsSessionsWhoseTokensLive(t *testing.T) {
	env := apitest.New(t, func(c *config.Config) { c.SessionIdleTimeout = time.Minute })
	ctx := context.Background()
	tokens := env.Login(apitest.AliceEmail, apitest.AlicePassword)
	env.Clock.Advance(2 * time.Minute) // idle expired; the 15-minute access token lives on
	if n, err := env.Auth.CleanupBefore(ctx, env.Clock.Now()); err != nil || n != 0 {
		t.Fatalf("cleanup deleted %d sessions (err %v), want none while its access token lives", n, err)
	}
	if code := env.Do(apitest.Request{Method: http.MethodPost, Path: "/logout", Token: tokens.AccessToken}).Code; code != http.StatusNoContent {
		t.Fatalf("logout: %d", code)
	}
	if code := env.Do(apitest.Request{Method: http.MethodGet, Path: "/me", Token: tokens.AccessToken}).Code; code != http.StatusUnauthorized {
		t.Errorf("the access token after logout: %d, want 401 (revoked)", code)
	}

	other := env.Login(apitest.AliceEmail, apitest.AlicePassword)
	_ = other
	env.Clock.Advance(env.Config.AccessTokenTTL + env.Config.ClockLeeway + 2*time.Minute)
	if n, err := env.Auth.CleanupBefore(ctx, env.Clock.Now()); err != nil || n != 2 {
		t.Errorf("cleanup once every token is dead: %d sessions deleted (err %v), want 2", n, err)
	}
}

// TestRefreshNoiseIsCountedNotStored: a refresh token that is malformed or
// unknown names no session or user: it is counted in the metrics, and not
// written to the audit table, where anyone could otherwise add a row (with
// a 512-byte User-Agent) kept 400 days for every request.
func TestRefreshNoiseIsCountedNotStored(t *testing.T) {
	env := apitest.New(t)
	before := len(env.Events())
	for _, tok := range []string{"zz", "rt_" + strings.Repeat("A", 43)} {
		if resp := refresh(env, tok); resp.Code != http.StatusUnauthorized {
			t.Fatalf("refresh with %q: %d, want 401", tok, resp.Code)
		}
	}
	if events := env.Events(); len(events) != before {
		t.Errorf("audit events %q after two refreshes with no session behind them, want none added", events[before:])
	}
	samples := scrape(t, env)
	for _, reason := range []string{"malformed", "unknown"} {
		if v, ok := find(samples, "revenue_auth_events_total", map[string]string{"kind": "refresh_failed", "reason": reason}); !ok || v != 1 {
			t.Errorf("revenue_auth_events_total{refresh_failed, %s} = %v (%v), want 1", reason, v, ok)
		}
	}
}
