package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
	"time"

	"github.com/revenue-api/revenue-api/internal/apperr"
)

// Policy holds the session and lockout settings of the Service.
type Policy struct {
	AccessTokenTTL     time.Duration
	ClockLeeway        time.Duration // how long past exp a token is still accepted
	SessionIdleTimeout time.Duration
	SessionMaxLifetime time.Duration
	// RefreshReuseGrace lets the just-spent refresh token be presented again
	// for this long (a client's retry, a second tab) and get a fresh pair in
	// the same session instead of revoking it. 0 turns it off.
	RefreshReuseGrace time.Duration
	LockoutThreshold  int
	LockoutBase       time.Duration
	LockoutMax        time.Duration
	// AuditRetention is how long audit events are kept; 0 keeps them forever.
	AuditRetention time.Duration
}

// Tokens is what a successful login or refresh returns.
type Tokens struct {
	AccessToken      string
	AccessExpiresAt  time.Time
	RefreshToken     string
	RefreshExpiresAt time.Time
	SessionID        string
}

// Service runs the login, refresh, logout and administration use cases.
type Service struct {
	users    UserStore
	sessions SessionStore
	events   EventStore
	issuer   TokenIssuer
	hasher   PasswordHasher
	policy   Policy
	log      *slog.Logger
	now      func() time.Time
	observe  func(Event)
}

// OnEvent registers f to see every audit event the service produces (for
// metrics). Call it while wiring, before serving requests.
func (s *Service) OnEvent(f func(Event)) { s.observe = f }

func (s *Service) observed(ev Event, err error) {
	if err == nil && s.observe != nil {
		s.observe(ev)
	}
}

// NewService wires the use cases to their stores, signer and hasher.
func NewService(users UserStore, sessions SessionStore, events EventStore, issuer TokenIssuer,
	hasher PasswordHasher, policy Policy, log *slog.Logger, now func() time.Time) *Service {
	return &Service{users: users, sessions: sessions, events: events, issuer: issuer,
		hasher: hasher, policy: policy, log: log, now: now, observe: func(Event) {}}
}

// Login checks the credentials and starts a session. Every failure is
// ErrInvalidCredentials (or ErrOverloaded), and every path verifies one
// password hash so that timing does not tell accounts apart.
func (s *Service) Login(ctx context.Context, email, password string, client Client) (Tokens, error) {
	email = NormalizeEmail(email)
	user, err := User{}, error(apperr.ErrNotFound)
	// No account has a NUL in its email, and PostgreSQL text cannot even
	// hold one: asking would fail the request instead of the login.
	if !strings.ContainsRune(email, 0) {
		user, err = s.users.UserByEmail(ctx, email)
	}
	if err != nil && !errors.Is(err, apperr.ErrNotFound) {
		return Tokens{}, err
	}
	found := err == nil
	ok, rehash, err := s.hasher.Verify(ctx, password, user.PasswordHash)
	if err != nil {
		return Tokens{}, err
	}
	now := s.now()
	if reason := loginRefusal(user, found, ok, now); reason != "" {
		return Tokens{}, s.loginFailed(ctx, reason, user, now, client)
	}

	newHash := ""
	if rehash {
		if newHash, err = s.hasher.Hash(ctx, password); err != nil {
			s.log.WarnContext(ctx, "password rehash skipped", "err", err)
			newHash = ""
		}
	}
	// The hash took time: the session is created only if, under the user's
	// row lock, the password is still the one checked and no disable or
	// lockout came meanwhile. The token then carries the user as they are
	// now (roles, tokens revoked until).
	late := ""
	refresh, hash := newRefreshToken()
	ev := Event{Time: now, Kind: EventLoginSucceeded, UserID: user.ID, Client: client}
	sess, err := s.sessions.CreateSession(ctx, NewSession{
		UserID:        user.ID,
		CreatedAt:     now,
		IdleExpiresAt: now.Add(s.policy.SessionIdleTimeout),
		ExpiresAt:     now.Add(s.policy.SessionMaxLifetime),
		Client:        client,
		RehashTo:      newHash,
		RehashFrom:    user.PasswordHash,
	}, hash, ev, func(current User) error {
		// The password's version, not its hash: a parallel login may have
		// stored the same password hashed again at a higher cost.
		late = loginRefusal(current, true, true, now)
		if late == "" && !current.PasswordSetAt.Equal(user.PasswordSetAt) {
			late = "password_changed" // not a guess: not counted
		}
		if late != "" {
			return ErrInvalidCredentials
		}
		user = current
		return nil
	})
	if late != "" {
		return Tokens{}, s.loginFailed(ctx, late, user, now, client)
	}
	s.observed(ev, err)
	if err != nil {
		return Tokens{}, err
	}
	return s.tokens(ctx, user, sess, refresh)
}

// loginRefusal is why a login of user (found by its email, or not), whose
// password checked ok or not, fails at now; "" if it does not.
func loginRefusal(user User, found, ok bool, now time.Time) string {
	switch {
	case !found:
		return "unknown_email"
	case user.Disabled:
		return "disabled"
	case user.LockedUntil.After(now):
		return "locked"
	case !ok:
		return "wrong_password"
	}
	return ""
}

// loginFailed records a failed login and returns ErrInvalidCredentials.
// Every failure runs the same transaction, counting only a wrong password,
// so the database work does not tell the reasons apart.
func (s *Service) loginFailed(ctx context.Context, reason string, user User, now time.Time, client Client) error {
	countFor := ""
	if reason == "wrong_password" {
		countFor = user.ID
	}
	ev := Event{Time: now, Kind: EventLoginFailed, UserID: user.ID, Client: client, Reason: reason}
	err := s.users.RecordLoginFailure(ctx, countFor, now, s.lockFor, ev)
	s.observed(ev, err)
	if err != nil {
		return err
	}
	return ErrInvalidCredentials
}

// lockFor grows the lockout: none below the threshold, then LockoutBase
// doubling with each further failure, capped at LockoutMax.
func (s *Service) lockFor(failures int) time.Duration {
	over := failures - s.policy.LockoutThreshold
	if over < 0 {
		return 0
	}
	d := s.policy.LockoutBase
	for i := 0; i < over && d < s.policy.LockoutMax; i++ {
		d *= 2
	}
	return min(d, s.policy.LockoutMax)
}

// Refresh spends a refresh token and returns a new pair. A token presented a
// second time ends its whole session (unless within the reuse grace), so a
// stolen copy dies with the original.
func (s *Service) Refresh(ctx context.Context, token string, client Client) (Tokens, error) {
	now := s.now()
	// A token that is malformed or unknown names no session or user: it is
	// counted (the observer's metrics), not written to the audit trail, to
	// which anyone could otherwise add a row, kept for months, per request.
	fail := func(reason string) error {
		s.observe(Event{Time: now, Kind: EventRefreshFailed, Client: client, Reason: reason})
		return ErrInvalidRefreshToken
	}
	hash, ok := hashRefreshToken(token)
	if !ok {
		return Tokens{}, fail("malformed")
	}
	refresh, newHash := newRefreshToken()
	var decision RefreshDecision
	state, err := s.sessions.Refresh(ctx, hash, func(st RefreshState) RefreshDecision {
		decision = s.decideRefresh(st, now, newHash, client)
		return decision
	})
	if errors.Is(err, apperr.ErrNotFound) {
		return Tokens{}, fail("unknown")
	}
	if err != nil {
		return Tokens{}, err
	}
	s.observed(decision.Event, nil)
	if decision.Action != RefreshRotate {
		if decision.Event.Kind == EventRefreshReuse {
			s.log.WarnContext(ctx, "refresh token reuse detected; session revoked",
				"user_id", state.User.ID, "session_id", state.Session.ID, "client_ip", client.IP)
		}
		return Tokens{}, ErrInvalidRefreshToken
	}
	sess := state.Session
	sess.IdleExpiresAt = decision.IdleExpiresAt
	return s.tokens(ctx, state.User, sess, refresh)
}

func (s *Service) decideRefresh(st RefreshState, now time.Time, newHash []byte, client Client) RefreshDecision {
	ev := Event{Time: now, UserID: st.User.ID, SessionID: st.Session.ID, Client: client}
	reject := func(reason string) RefreshDecision {
		ev.Kind, ev.Reason = EventRefreshFailed, reason
		return RefreshDecision{Action: RefreshReject, Now: now, Event: ev}
	}
	end := func(kind EventKind, reason string) RefreshDecision {
		ev.Kind, ev.Reason = kind, reason
		return RefreshDecision{Action: RefreshEndSession, Now: now, EndReason: reason, Event: ev}
	}
	rotate := func(reason string) RefreshDecision {
		ev.Kind, ev.Reason = EventRefreshed, reason
		idle := earliest(now.Add(s.policy.SessionIdleTimeout), st.Session.ExpiresAt)
		return RefreshDecision{Action: RefreshRotate, Now: now, NewTokenHash: newHash, IdleExpiresAt: idle, Event: ev}
	}
	switch {
	case !st.Session.EndedAt.IsZero():
		return reject("session_ended")
	case !now.Before(st.Session.ExpiresAt):
		return end(EventSessionEnded, "session_expired")
	case !now.Before(st.Session.IdleExpiresAt):
		return end(EventSessionEnded, "session_idle")
	case st.User.Disabled:
		return end(EventSessionEnded, "user_disabled")
	case !st.UsedAt.IsZero():
		if s.policy.RefreshReuseGrace > 0 && now.Sub(st.UsedAt) <= s.policy.RefreshReuseGrace {
			return rotate("reuse_within_grace")
		}
		if st.SuccessorUnused {
			// The rotation committed but its answer may never have reached
			// the client (a connection or a database primary lost at the
			// commit): the successor was never presented, so the client
			// may not have it. It gets a new pair and the unpresented
			// successor is retired: a thief replaying the spent token is
			// still caught, when the holder of the retired one presents it
			// after the new one was presented.
			d := rotate("retry_unanswered_rotation")
			d.SupersedeID = st.SuccessorID
			return d
		}
		return end(EventRefreshReuse, "refresh_token_reuse")
	case !st.RevokedAt.IsZero():
		// Retired by a retry of the rotation that issued it. Two tabs
		// sharing a cookie refresh at once: the answer written last, which
		// the browser keeps, may be the one the other's retry retired.
		// Presented moments after it was retired, while the token that
		// replaced it was never presented, it is that retry's twin and
		// takes the place back. Later, or once the other was presented, it
		// is a reuse.
		if st.SuccessorUnused && now.Sub(st.RevokedAt) <= RetiredTwinWindow {
			d := rotate("retry_retired_token")
			d.SupersedeID = st.SuccessorID
			return d
		}
		return end(EventRefreshReuse, "refresh_token_reuse")
	}
	return rotate("")
}

// RetiredTwinWindow is how long after a retry retired a refresh token its
// presentation may still be the retry's twin (see decideRefresh): longer
// than any answer takes to arrive after its commit, short enough that a
// replay found later is a reuse at once.
const RetiredTwinWindow = 10 * time.Second

// tokens signs the access token of a login or refresh. When the user's
// tokens were revoked less than a second ago, it first waits for the
// revocation's whole second to pass: a token's iat has whole seconds, and
// one signed in that second would be refused as revoked.
func (s *Service) tokens(ctx context.Context, u User, sess Session, refresh string) (Tokens, error) {
	if wait := u.TokensNotBefore.Sub(s.now()); wait > 0 {
		if wait > 2*time.Second {
			// Clocks of the replica that revoked and of this one disagree
			// by more than they should; do not hold the request for it.
			s.log.WarnContext(ctx, "tokens revoked in the future: check the replicas' clocks", "wait", wait.String())
		} else {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return Tokens{}, ctx.Err()
			case <-t.C:
			}
		}
	}
	access, exp, err := s.issuer.Issue(Identity{
		UserID:    u.ID,
		Email:     u.Email,
		OrgID:     u.OrganizationID,
		Roles:     u.Roles,
		Scopes:    ScopesFor(u.Roles),
		SessionID: sess.ID,
	})
	if err != nil {
		return Tokens{}, fmt.Errorf("issue access token: %w", err)
	}
	return Tokens{
		AccessToken:      access,
		AccessExpiresAt:  exp,
		RefreshToken:     refresh,
		RefreshExpiresAt: earliest(sess.IdleExpiresAt, sess.ExpiresAt),
		SessionID:        sess.ID,
	}, nil
}

// Logout ends the caller's current session.
func (s *Service) Logout(ctx context.Context, p Principal, client Client) error {
	ev := Event{Time: s.now(), Kind: EventLogout, UserID: p.UserID, SessionID: p.SessionID, Client: client}
	err := s.sessions.EndSession(ctx, p.UserID, p.SessionID, "logout", ev)
	s.observed(ev, err)
	if errors.Is(err, apperr.ErrNotFound) {
		return nil // already ended: logging out twice is not an error
	}
	return err
}

// LogoutAll ends every session of the caller.
func (s *Service) LogoutAll(ctx context.Context, p Principal, client Client) error {
	ev := Event{Time: s.now(), Kind: EventLogoutAll, UserID: p.UserID, SessionID: p.SessionID, Client: client}
	_, err := s.sessions.EndUserSessions(ctx, p.UserID, "logout_all", ev)
	s.observed(ev, err)
	return err
}

// Sessions lists the caller's active sessions.
func (s *Service) Sessions(ctx context.Context, p Principal) ([]Session, error) {
	return s.sessions.ActiveSessions(ctx, p.UserID, s.now())
}

// EndSession ends one of the caller's own sessions; apperr.ErrNotFound otherwise.
func (s *Service) EndSession(ctx context.Context, p Principal, sessionID string, client Client) error {
	if !validUUID(sessionID) {
		return apperr.ErrNotFound
	}
	ev := Event{Time: s.now(), Kind: EventSessionEnded, UserID: p.UserID, SessionID: sessionID, Client: client, Reason: "ended_by_user"}
	err := s.sessions.EndSession(ctx, p.UserID, sessionID, "ended_by_user", ev)
	s.observed(ev, err)
	return err
}

// CleanupBefore removes sessions and tokens that ended before cutoff, or
// expired before it so long ago that no access token of theirs lives.
func (s *Service) CleanupBefore(ctx context.Context, cutoff time.Time) (int64, error) {
	return s.sessions.Cleanup(ctx, cutoff, s.policy.AccessTokenTTL+s.policy.ClockLeeway)
}

// PruneAudit deletes audit events older than the policy's AuditRetention;
// none when it is 0.
func (s *Service) PruneAudit(ctx context.Context) (int64, error) {
	if s.policy.AuditRetention == 0 {
		return 0, nil
	}
	return s.events.PruneEvents(ctx, s.now().Add(-s.policy.AuditRetention))
}

// RunCleanup removes ended and expired sessions, and audit events past their
// retention, every d until ctx ends, off the request path.
func (s *Service) RunCleanup(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := s.CleanupBefore(ctx, s.now())
		if err != nil {
			s.log.Warn("session cleanup failed", "err", err)
		} else if n > 0 {
			s.log.Info("session cleanup", "deleted_sessions", n)
		}
		n, err = s.PruneAudit(ctx)
		if err != nil {
			s.log.Warn("audit pruning failed", "err", err)
		} else if n > 0 {
			s.log.Info("audit pruning", "deleted_events", n)
		}
	}
}

// CreateOrganization adds an organization; currency is an ISO 4217 code.
func (s *Service) CreateOrganization(ctx context.Context, name, currency string) (Organization, error) {
	name = strings.TrimSpace(name)
	currency = strings.ToUpper(strings.TrimSpace(currency))
	if name == "" || len(name) > 200 {
		return Organization{}, apperr.Invalid("name", "must be 1 to 200 characters")
	}
	if len(currency) != 3 || strings.Trim(currency, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
		return Organization{}, apperr.Invalid("currency", "must be a three-letter code such as USD")
	}
	return s.users.CreateOrganization(ctx, name, currency)
}

// CreateUser adds a user with a policy-checked password.
func (s *Service) CreateUser(ctx context.Context, u NewUser) (User, error) {
	u.Email = NormalizeEmail(u.Email)
	if err := ValidateEmail(u.Email); err != nil {
		return User{}, err
	}
	if err := validRoles(u.Roles); err != nil {
		return User{}, err
	}
	if err := CheckPasswordPolicy(u.Password); err != nil {
		return User{}, err
	}
	hash, err := s.hasher.Hash(ctx, u.Password)
	if err != nil {
		return User{}, err
	}
	return s.users.CreateUser(ctx, u, hash, Event{Time: s.now(), Kind: EventUserCreated})
}

// SetPassword replaces a user's password and ends all their sessions.
func (s *Service) SetPassword(ctx context.Context, email, password string) error {
	if err := CheckPasswordPolicy(password); err != nil {
		return err
	}
	hash, err := s.hasher.Hash(ctx, password)
	if err != nil {
		return err
	}
	_, err = s.users.SetPassword(ctx, NormalizeEmail(email), hash, Event{Time: s.now(), Kind: EventPasswordChanged})
	return err
}

// SetDisabled disables (ending all sessions) or enables a user.
func (s *Service) SetDisabled(ctx context.Context, email string, disabled bool) error {
	kind := EventUserEnabled
	if disabled {
		kind = EventUserDisabled
	}
	_, err := s.users.SetDisabled(ctx, NormalizeEmail(email), disabled, Event{Time: s.now(), Kind: kind})
	return err
}

// EndSessionsOf ends, for an operator, one session of the user (sessionID)
// or every session (sessionID empty), revoking their access tokens like a
// logout; it returns how many ended. apperr.ErrNotFound for an unknown user
// or a session that is not the user's or not active.
func (s *Service) EndSessionsOf(ctx context.Context, email, sessionID string) (int, error) {
	u, err := s.users.UserByEmail(ctx, NormalizeEmail(email))
	if err != nil {
		return 0, err
	}
	ev := Event{Time: s.now(), Kind: EventSessionEnded, UserID: u.ID, SessionID: sessionID, Reason: "ended_by_operator"}
	if sessionID == "" {
		return s.sessions.EndUserSessions(ctx, u.ID, "ended_by_operator", ev)
	}
	if !validUUID(sessionID) {
		return 0, apperr.ErrNotFound
	}
	if err := s.sessions.EndSession(ctx, u.ID, sessionID, "ended_by_operator", ev); err != nil {
		return 0, err
	}
	return 1, nil
}

// SetRoles replaces a user's roles. The user's access tokens issued until
// now are revoked (they carry the old roles); sessions go on, and the next
// refresh issues a token with the new roles.
func (s *Service) SetRoles(ctx context.Context, email string, roles []string) error {
	if err := validRoles(roles); err != nil {
		return err
	}
	_, err := s.users.SetRoles(ctx, NormalizeEmail(email), roles, Event{Time: s.now(), Kind: EventRolesChanged, Reason: strings.Join(roles, ",")})
	return err
}

func validRoles(roles []string) error {
	if len(roles) == 0 {
		return apperr.Invalid("roles", "give at least one role (member, finance, admin)")
	}
	for _, r := range roles {
		if !ValidRole(r) {
			return apperr.Invalid("roles", fmt.Sprintf("unknown role %q (want member, finance or admin)", r))
		}
	}
	return nil
}

// ValidateEmail checks the shape of an email address in the form
// NormalizeEmail gives.
func ValidateEmail(email string) error {
	if len(email) < 3 || len(email) > 254 {
		return apperr.Invalid("email", "must be 3 to 254 characters")
	}
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email {
		return apperr.Invalid("email", "is not an email address")
	}
	// Only a character that NFC turns into A-Z (the Kelvin sign) makes the
	// form change again; such an address could never be matched as stored.
	if NormalizeEmail(email) != email {
		return apperr.Invalid("email", "has a character that Unicode normalization turns into an upper-case ASCII letter (such as the Kelvin sign U+212A)")
	}
	return nil
}

// Refresh tokens are "rt_" and 43 base64url characters: 256 random bits.
const refreshPrefix = "rt_"

func newRefreshToken() (token string, hash []byte) {
	var b [32]byte
	_, _ = rand.Read(b[:])
	token = refreshPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	sum := sha256.Sum256([]byte(token))
	return token, sum[:]
}

// hashRefreshToken returns the stored form of token, or false when it cannot
// be one of ours. A fast SHA-256 is right here: the token has 256 random
// bits, so there is nothing to brute-force.
func hashRefreshToken(token string) ([]byte, bool) {
	if len(token) != len(refreshPrefix)+43 || !strings.HasPrefix(token, refreshPrefix) {
		return nil, false
	}
	if _, err := base64.RawURLEncoding.DecodeString(token[len(refreshPrefix):]); err != nil {
		return nil, false
	}
	sum := sha256.Sum256([]byte(token))
	return sum[:], true
}

func validUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'):
			return false
		}
	}
	return true
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
