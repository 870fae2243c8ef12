package httpapi_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/revenue-api/revenue-api/internal/apitest"
	"github.com/revenue-api/revenue-api/internal/auth"
	"github.com/revenue-api/revenue-api/internal/passwordhash"
	"github.com/revenue-api/revenue-api/internal/postgres"
)

// These tests stop a login or a refresh at its slowest point (the
// password hash; the signing after the commit) and change the account
// meanwhile: what the change ends must stay ended.

// pausingHasher is the real hasher; Verify stops after its verdict, where a
// hash at production cost, or queued behind others, would still be running.
type pausingHasher struct {
	*passwordhash.Hasher
	verified, resume chan struct{}
}

func (h *pausingHasher) Verify(ctx context.Context, password, encoded string) (bool, bool, error) {
	ok, rehash, err := h.Hasher.Verify(ctx, password, encoded)
	h.verified <- struct{}{}
	<-h.resume
	return ok, rehash, err
}

// pausingIssuer stops before signing, after the session's transaction has
// committed.
type pausingIssuer struct {
	auth.TokenIssuer
	at, resume chan struct{}
}

func (p *pausingIssuer) Issue(id auth.Identity) (string, time.Time, error) {
	p.at <- struct{}{}
	<-p.resume
	return p.TokenIssuer.Issue(id)
}

// pausedService is the service of env, on its database and clock, with the
// hasher (of params) and the issuer given.
func pausedService(t *testing.T, env *apitest.Env, params passwordhash.Params, wrap func(*passwordhash.Hasher) auth.PasswordHasher, issuer auth.TokenIssuer) *auth.Service {
	t.Helper()
	hasher, err := passwordhash.New(params, 1, 8)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hasher.Close)
	return auth.NewService(postgres.NewUserStore(env.DB), postgres.NewSessionStore(env.DB), postgres.NewEventStore(env.DB),
		issuer, wrap(hasher), env.Config.AuthPolicy(), slog.New(slog.NewTextHandler(io.Discard, nil)), env.Clock.Now)
}

// loginDuring logs alice in with her password through a hasher of params,
// running change while her password is being checked.
func loginDuring(t *testing.T, env *apitest.Env, params passwordhash.Params, change func()) (auth.Tokens, error) {
	t.Helper()
	var ph *pausingHasher
	svc := pausedService(t, env, params, func(h *passwordhash.Hasher) auth.PasswordHasher {
		ph = &pausingHasher{Hasher: h, verified: make(chan struct{}), resume: make(chan struct{})}
		return ph
	}, env.Signer)
	type result struct {
		tokens auth.Tokens
		err    error
	}
	done := make(chan result)
	go func() {
		tokens, err := svc.Login(context.Background(), apitest.AliceEmail, apitest.AlicePassword, auth.Client{IP: "192.0.2.9"})
		done <- result{tokens, err}
	}()
	<-ph.verified
	change()
	close(ph.resume)
	r := <-done
	return r.tokens, r.err
}

func activeSessions(t *testing.T, env *apitest.Env) int {
	t.Helper()
	var n int
	if err := env.DB.Pool.QueryRow(context.Background(), `SELECT count(*) FROM sessions WHERE ended_at IS NULL`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// refreshBeforeSigning presents refreshToken to a service that stops
// after the rotation's commit, before signing the access token; it returns
// once stopped there. Closing resume lets it finish, and its tokens come
// on the channel.
func refreshBeforeSigning(t *testing.T, env *apitest.Env, refreshToken string) (resume chan<- struct{}, tokens <-chan auth.Tokens) {
	t.Helper()
	issuer := &pausingIssuer{TokenIssuer: env.Signer, at: make(chan struct{}), resume: make(chan struct{})}
	svc := pausedService(t, env, apitest.CheapArgon2, func(h *passwordhash.Hasher) auth.PasswordHasher { return h }, issuer)
	done := make(chan auth.Tokens, 1)
	go func() {
		got, err := svc.Refresh(context.Background(), refreshToken, auth.Client{})
		if err != nil {
			t.Error(err)
		}
		done <- got
	}()
	<-issuer.at
	return issuer.resume, done
}

const changedPassword = "a-changed-password-42"

// TestLoginRacingAPasswordChange: a login whose password check began before
// a password change, with the old password, is refused and opens no session.
func TestLoginRacingAPasswordChange(t *testing.T) {
	env := apitest.New(t)
	_, err := loginDuring(t, env, apitest.CheapArgon2, func() {
		if err := env.Auth.SetPassword(context.Background(), apitest.AliceEmail, changedPassword); err != nil {
			t.Fatal(err)
		}
	})
	if err != auth.ErrInvalidCredentials {
		t.Errorf("login with the old password across a password change: %v, want %v", err, auth.ErrInvalidCredentials)
	}
	if n := activeSessions(t, env); n != 0 {
		t.Errorf("%d active sessions after the password change, want 0", n)
	}
	if events := env.Events(); events[len(events)-1] != "login_failed:password_changed" {
		t.Errorf("audit events %q, want the last to be login_failed:password_changed", events)
	}
}

// TestLoginRehashRacingAPasswordChange: a login that rehashes the old
// password (the cost was raised) must not write that hash over a new
// password set meanwhile.
func TestLoginRehashRacingAPasswordChange(t *testing.T) {
	env := apitest.New(t)
	raised := apitest.CheapArgon2
	raised.Iterations++ // alice's stored hash is due for a rehash
	if _, err := loginDuring(t, env, raised, func() {
		if err := env.Auth.SetPassword(context.Background(), apitest.AliceEmail, changedPassword); err != nil {
			t.Fatal(err)
		}
	}); err != auth.ErrInvalidCredentials {
		t.Errorf("login with the old password across a password change: %v, want %v", err, auth.ErrInvalidCredentials)
	}
	if code := env.Do(loginAs(apitest.AliceEmail, changedPassword)).Code; code != http.StatusOK {
		t.Errorf("login with the new password: %d, want 200 (the change was overwritten)", code)
	}
	if code := env.Do(loginAs(apitest.AliceEmail, apitest.AlicePassword)).Code; code != http.StatusUnauthorized {
		t.Errorf("login with the old password: %d, want 401", code)
	}
}

// TestLoginRacingADisable: a user disabled while their password is checked
// gets no session and no token.
func TestLoginRacingADisable(t *testing.T) {
	env := apitest.New(t)
	_, err := loginDuring(t, env, apitest.CheapArgon2, func() {
		if err := env.Auth.SetDisabled(context.Background(), apitest.AliceEmail, true); err != nil {
			t.Fatal(err)
		}
		env.Clock.Advance(1500 * time.Millisecond) // the check ends in the next second
	})
	if err != auth.ErrInvalidCredentials {
		t.Errorf("login of a user disabled meanwhile: %v, want %v", err, auth.ErrInvalidCredentials)
	}
	if n := activeSessions(t, env); n != 0 {
		t.Errorf("%d active sessions of a disabled user, want 0", n)
	}
}

// TestLoginRacingALockout: the right password, checked while wrong guesses
// lock the account, gets the same 401 as during any lock, and leaves the
// lock in place.
func TestLoginRacingALockout(t *testing.T) {
	env := apitest.New(t)
	_, err := loginDuring(t, env, apitest.CheapArgon2, func() {
		for range env.Config.LockoutThreshold + 1 {
			if code := env.Do(loginAs(apitest.AliceEmail, "a-wrong-guess")).Code; code != http.StatusUnauthorized {
				t.Fatalf("wrong guess: %d", code)
			}
		}
	})
	if err != auth.ErrInvalidCredentials {
		t.Errorf("the right password during a lock: %v, want %v", err, auth.ErrInvalidCredentials)
	}
	var locked bool
	if err := env.DB.Pool.QueryRow(context.Background(), `SELECT locked_until > now() FROM users WHERE email = $1`,
		apitest.AliceEmail).Scan(&locked); err != nil || !locked {
		t.Errorf("alice locked: %v, %v; want the lock kept", locked, err)
	}
}

// TestRefreshSignedAfterLogoutAll: a refresh that committed just before
// "log out everywhere" and signs its access token a moment later, in the
// next second, gets a token that is refused.
func TestRefreshSignedAfterLogoutAll(t *testing.T) {
	env := apitest.New(t)
	first := env.Login(apitest.AliceEmail, apitest.AlicePassword)
	resume, done := refreshBeforeSigning(t, env, first.RefreshToken) // the rotation has committed
	if resp := env.Do(apitest.Request{Method: http.MethodPost, Path: "/logout/all", Token: first.AccessToken}); resp.Code != http.StatusNoContent {
		t.Fatalf("logout/all: %d", resp.Code)
	}
	env.Clock.Advance(1100 * time.Millisecond)
	close(resume)
	tokens := <-done
	if code := env.Do(apitest.Request{Method: http.MethodGet, Path: "/revenue", Token: tokens.AccessToken}).Code; code != http.StatusUnauthorized {
		t.Errorf("the access token of a session ended by logout/all: %d, want 401", code)
	}
}

// TestTwoTabsAnswersOutOfCommitOrder: two tabs refresh with the one cookie
// at once; the rotation that commits first answers last, so the browser
// keeps the token the other rotation retired. Presenting it is a retry of
// the same rotation, not a theft: the session goes on, with one good token.
// Once the token that replaced it has been presented, it is a reuse.
func TestTwoTabsAnswersOutOfCommitOrder(t *testing.T) {
	env := apitest.New(t)
	first := env.Login(apitest.AliceEmail, apitest.AlicePassword)
	resume, tabA := refreshBeforeSigning(t, env, first.RefreshToken) // tab A's rotation committed, its answer not sent yet
	b := env.Refresh(first.RefreshToken)                             // tab B, same cookie: a retry, answered first
	close(resume)
	a := <-tabA // answered last: the cookie now holds a.RefreshToken, which B's rotation retired

	next := refresh(env, a.RefreshToken)
	if next.Code != http.StatusOK {
		t.Fatalf("the next refresh with the cookie the browser kept: %d, events %q", next.Code, env.Events())
	}
	var good int
	if err := env.DB.Pool.QueryRow(context.Background(),
		`SELECT count(*) FROM refresh_tokens WHERE used_at IS NULL AND revoked_at IS NULL`).Scan(&good); err != nil || good != 1 {
		t.Errorf("%d refresh tokens good (%v), want 1", good, err)
	}
	// b's token was retired in turn, and the one that replaced it is now
	// presented: b's is a reuse, and the session ends.
	env.Refresh(next.JSON(t)["refresh_token"].(string))
	if code := refresh(env, b.RefreshToken).Code; code != http.StatusUnauthorized {
		t.Errorf("a retired token whose replacement was presented: %d, want 401", code)
	}
	if events := env.Events(); events[len(events)-1] != "refresh_reuse_detected:refresh_token_reuse" {
		t.Errorf("audit events %q, want the last to be the reuse", events)
	}
}

// TestParallelLogoutsOfOneSession: logging one session out from several
// requests at once ends it once: every request answers 204, and the audit
// trail has one logout.
func TestParallelLogoutsOfOneSession(t *testing.T) {
	env := apitest.New(t)
	tokens := env.Login(apitest.AliceEmail, apitest.AlicePassword)
	const n = 8
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			codes[i] = env.Do(apitest.Request{Method: http.MethodPost, Path: "/logout", Token: tokens.AccessToken}).Code
		})
	}
	wg.Wait()
	logouts := 0
	for _, e := range env.Events() {
		if e == "logout" {
			logouts++
		}
	}
	for _, c := range codes {
		if c != http.StatusNoContent && c != http.StatusUnauthorized {
			t.Errorf("a parallel logout answered %d, want 204 (or 401 once the token is revoked)", c)
		}
	}
	if logouts != 1 {
		t.Errorf("%d logout events for one session, want 1: %q", logouts, env.Events())
	}
}

// TestConcurrentLoginsWhileARehashIsDue: after the cost was raised, the
// first login to finish stores the password hashed again; the others,
// which checked the old hash of the same password meanwhile, still get in,
// and nothing counts as a failed guess.
func TestConcurrentLoginsWhileARehashIsDue(t *testing.T) {
	env := apitest.New(t)
	raised := apitest.CheapArgon2
	raised.Iterations++ // alice's stored hash is due for a rehash
	var ph *pausingHasher
	svc := pausedService(t, env, raised, func(h *passwordhash.Hasher) auth.PasswordHasher {
		ph = &pausingHasher{Hasher: h, verified: make(chan struct{}), resume: make(chan struct{})}
		return ph
	}, env.Signer)
	const n = 6
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := svc.Login(context.Background(), apitest.AliceEmail, apitest.AlicePassword, auth.Client{IP: "192.0.2.9"})
			errs <- err
		}()
	}
	for range n {
		<-ph.verified // every login has checked the old hash
	}
	close(ph.resume)
	for range n {
		if err := <-errs; err != nil {
			t.Errorf("a login with the right password while a rehash was due: %v", err)
		}
	}
	var failed int
	if err := env.DB.Pool.QueryRow(context.Background(), `SELECT failed_logins FROM users WHERE email = $1`,
		apitest.AliceEmail).Scan(&failed); err != nil || failed != 0 {
		t.Errorf("failed_logins %d (%v), want 0", failed, err)
	}
	if code := env.Do(loginAs(apitest.AliceEmail, apitest.AlicePassword)).Code; code != http.StatusOK {
		t.Errorf("login afterwards: %d, want 200", code)
	}
}

// TestEndingAllSessionsBesideUserChangesDoesNotDeadlock: "log out
// everywhere" and a disable or password change of the same user, at once
// and over and over, all succeed: every path that changes a user and their
// sessions locks the user's row first, then the sessions.
func TestEndingAllSessionsBesideUserChangesDoesNotDeadlock(t *testing.T) {
	env := apitest.New(t)
	ctx := context.Background()
	users := postgres.NewUserStore(env.DB)
	sessions := postgres.NewSessionStore(env.DB)
	u, err := users.UserByEmail(ctx, apitest.AliceEmail)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	loop := func(name string, op func() error) {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				if err := op(); err != nil {
					mu.Lock()
					failures = append(failures, name+": "+err.Error())
					mu.Unlock()
					return
				}
			}
		})
	}
	for range 2 {
		loop("login", func() error {
			_, err := env.Auth.Login(ctx, apitest.AliceEmail, apitest.AlicePassword, auth.Client{})
			if errors.Is(err, auth.ErrInvalidCredentials) {
				return nil // disabled just then
			}
			return err
		})
		loop("logout everywhere", func() error {
			_, err := sessions.EndUserSessions(ctx, u.ID, "logout_all", auth.Event{Time: time.Now(), Kind: auth.EventLogoutAll, UserID: u.ID})
			return err
		})
	}
	loop("disable and enable", func() error {
		if err := env.Auth.SetDisabled(ctx, apitest.AliceEmail, true); err != nil {
			return err
		}
		return env.Auth.SetDisabled(ctx, apitest.AliceEmail, false)
	})
	loop("password change", func() error { return env.Auth.SetPassword(ctx, apitest.AliceEmail, apitest.AlicePassword) })
	wg.Wait()
	if len(failures) > 0 {
		t.Errorf("%d operations failed, e.g. %s", len(failures), failures[0])
	}
}
