// Package auth is the domain of identity: users and their credentials, the
// login, refresh and logout use cases, sessions, and the audit trail. It
// defines the small interfaces it needs from storage and token signing; the
// adapters (postgres, token, httpapi) satisfy them.
package auth

import (
	"context"
	"slices"
	"time"

	"github.com/revenue-api/revenue-api/internal/apperr"
)

// Errors of the auth domain. The HTTP layer maps their codes to responses.
var (
	// ErrInvalidCredentials is the one answer to every failed login: unknown
	// email, wrong password, disabled or locked account look the same.
	ErrInvalidCredentials = apperr.New(apperr.CodeInvalidCredentials, "The email or password is incorrect.")
	// ErrInvalidRefreshToken is the one answer to a refresh token that is
	// missing, malformed, unknown, expired, spent or revoked.
	ErrInvalidRefreshToken = apperr.New(apperr.CodeInvalidRefreshToken, "The refresh token is missing, expired or no longer valid. Log in again.")
	// ErrOverloaded means the password hashing pool is full; retry later.
	ErrOverloaded = apperr.New(apperr.CodeOverloaded, "Too many logins are being processed. Retry shortly.")
	// ErrWeakPassword means a new password breaks the password policy; the
	// errors of CheckPasswordPolicy explain it and match it with errors.Is.
	ErrWeakPassword = apperr.New(apperr.CodeInvalidRequest, "password does not meet the policy")
)

// Scopes: to read the organization's revenue, and to change it (set,
// remove and import months, and read who changed what).
const (
	ScopeRevenueRead  = "revenue:read"
	ScopeRevenueWrite = "revenue:write"
)

// Roles a user can hold, and the scopes each grants.
var roleScopes = map[string][]string{
	"member":  nil,
	"finance": {ScopeRevenueRead},
	"admin":   {ScopeRevenueRead, ScopeRevenueWrite},
}

// ValidRole reports whether role is one the service knows.
func ValidRole(role string) bool {
	_, ok := roleScopes[role]
	return ok
}

// ScopesFor returns the sorted, de-duplicated scopes granted by roles.
func ScopesFor(roles []string) []string {
	var scopes []string
	for _, r := range roles {
		scopes = append(scopes, roleScopes[r]...)
	}
	slices.Sort(scopes)
	return slices.Compact(scopes)
}

// Organization owns users and revenue.
type Organization struct {
	ID       string
	Name     string
	Currency string
}

// User is an account that can log in.
type User struct {
	ID             string
	OrganizationID string
	Email          string
	PasswordHash   string
	Roles          []string
	Disabled       bool
	FailedLogins   int
	LockedUntil    time.Time // zero when not locked
	// TokensNotBefore is when the user's tokens were last revoked, rounded
	// up to a whole second: a token issued (iat) before it is refused, so
	// none is signed before it. Zero when never.
	TokensNotBefore time.Time
	// PasswordSetAt is when the password was last set: its version. A
	// rehash at login changes PasswordHash, not the password, nor this.
	PasswordSetAt time.Time
}

// Identity is what an access token asserts; the token package signs it.
type Identity struct {
	UserID    string
	Email     string
	OrgID     string
	Roles     []string
	Scopes    []string
	SessionID string
}

// Principal is the verified identity of a request, read from its access
// token alone.
type Principal struct {
	Identity
	TokenID   string
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// HasScope reports whether the principal was granted scope.
func (p Principal) HasScope(scope string) bool { return slices.Contains(p.Scopes, scope) }

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal stored in ctx by WithPrincipal.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// Session is one login of a user, kept alive by refreshing.
type Session struct {
	ID            string
	UserID        string
	CreatedAt     time.Time
	LastUsedAt    time.Time
	IdleExpiresAt time.Time
	ExpiresAt     time.Time
	EndedAt       time.Time // zero while active
	EndReason     string
	ClientIP      string
	UserAgent     string
}

// Client describes where a request came from, for sessions and the audit trail.
type Client struct {
	IP        string
	UserAgent string
}

// EventKind names an audit event.
type EventKind string

// The audit events.
const (
	EventLoginSucceeded  EventKind = "login_succeeded"
	EventLoginFailed     EventKind = "login_failed"
	EventRefreshed       EventKind = "token_refreshed"
	EventRefreshFailed   EventKind = "refresh_failed"
	EventRefreshReuse    EventKind = "refresh_reuse_detected"
	EventLogout          EventKind = "logout"
	EventLogoutAll       EventKind = "logout_all"
	EventSessionEnded    EventKind = "session_ended"
	EventPasswordChanged EventKind = "password_changed"
	EventUserDisabled    EventKind = "user_disabled"
	EventUserEnabled     EventKind = "user_enabled"
	EventUserCreated     EventKind = "user_created"
	EventRolesChanged    EventKind = "roles_changed"
)

// Event is one row of the audit trail. It never holds a password or token.
type Event struct {
	Time      time.Time
	Kind      EventKind
	UserID    string
	SessionID string
	Client    Client
	Reason    string
}

// NewUser is what an administrator gives to create a user.
type NewUser struct {
	Organization string // organization name
	Email        string
	Password     string
	Roles        []string
}

// UserStore keeps users and organizations.
type UserStore interface {
	UserByEmail(ctx context.Context, email string) (User, error)
	CreateOrganization(ctx context.Context, name, currency string) (Organization, error)
	// CreateUser adds a user to the named organization: apperr.ErrNotFound for
	// an unknown organization, apperr.ErrConflict for a duplicate email.
	CreateUser(ctx context.Context, u NewUser, passwordHash string, ev Event) (User, error)
	// RecordLoginFailure records ev and, when countFor names a user, counts
	// a failed login for them; lockFor turns the new count into a lockout
	// duration (0: none). One transaction with a row lock.
	RecordLoginFailure(ctx context.Context, countFor string, now time.Time, lockFor func(failures int) time.Duration, ev Event) error
	// SetPassword stores a new hash and ends every session of the user.
	SetPassword(ctx context.Context, email, hash string, ev Event) (User, error)
	// SetDisabled disables or enables a user; disabling ends every session.
	SetDisabled(ctx context.Context, email string, disabled bool, ev Event) (User, error)
	// SetRoles replaces a user's roles and revokes the user's access tokens
	// issued until now; sessions go on.
	SetRoles(ctx context.Context, email string, roles []string, ev Event) (User, error)
}

// RefreshState is what a refresh finds, read under a row lock.
type RefreshState struct {
	TokenID  int64
	ParentID int64     // the token it replaced; 0 for a login's
	UsedAt   time.Time // zero while never presented
	// RevokedAt is when the token was revoked (its session ended) or, in a
	// session still active, retired: replaced, unpresented, by a retry of
	// the rotation that issued it. Zero while neither.
	RevokedAt time.Time
	// SuccessorID is the latest token issued in this one's place (0: none):
	// its latest child for a spent token, its parent's latest child for a
	// retired one. SuccessorUnused is whether that token is live and no
	// token issued in that place was ever presented. Read only for a spent
	// or retired token.
	SuccessorID     int64
	SuccessorUnused bool
	Session         Session
	User            User
}

// RefreshAction is what to do with a presented refresh token.
type RefreshAction int

// The refresh outcomes.
const (
	RefreshReject     RefreshAction = iota // answer 401, change nothing
	RefreshRotate                          // spend the token, issue a child in the same session
	RefreshEndSession                      // end the session and revoke all its tokens, answer 401
)

// RefreshDecision tells the store what to write, in the same transaction.
type RefreshDecision struct {
	Action        RefreshAction
	Now           time.Time
	NewTokenHash  []byte    // RefreshRotate
	IdleExpiresAt time.Time // RefreshRotate
	// SupersedeID is an unpresented token that RefreshRotate retires, so
	// that one refresh token of the session stays good; 0: none.
	SupersedeID int64
	EndReason   string // RefreshEndSession
	Event       Event
}

// NewSession is a session to create at login.
type NewSession struct {
	UserID        string
	CreatedAt     time.Time
	IdleExpiresAt time.Time
	ExpiresAt     time.Time
	Client        Client
	// RehashTo, when not empty, is the password hashed again at the current
	// cost; it replaces RehashFrom, the stored hash the login checked, if
	// that is still the stored one (a parallel login may have rehashed it).
	RehashTo, RehashFrom string
}

// SessionStore keeps sessions and refresh tokens.
type SessionStore interface {
	// CreateSession starts a session with its first refresh token and
	// records ev, in one transaction holding the user's row: admit judges
	// the user as they are then (a password change, a disable or a lockout
	// may have come since the password was checked), and its error ends the
	// transaction with nothing written. Otherwise it clears the failure
	// count and the lockout, and stores s.RehashTo when given.
	CreateSession(ctx context.Context, s NewSession, refreshHash []byte, ev Event, admit func(User) error) (Session, error)
	// Refresh locks the session and token of refreshHash, asks decide what to
	// do and applies it in one transaction. apperr.ErrNotFound for an unknown hash.
	Refresh(ctx context.Context, refreshHash []byte, decide func(RefreshState) RefreshDecision) (RefreshState, error)
	// EndSession ends one active session of userID: apperr.ErrNotFound when
	// it is not the user's or not active.
	EndSession(ctx context.Context, userID, sessionID, reason string, ev Event) error
	// EndUserSessions ends every active session of userID.
	EndUserSessions(ctx context.Context, userID, reason string, ev Event) (int, error)
	ActiveSessions(ctx context.Context, userID string, now time.Time) ([]Session, error)
	// Cleanup deletes sessions (with their tokens) that ended before
	// cutoff, or expired more than tokenLife before it (an access token
	// signed at the last refresh lives that long: until then, ending the
	// session must still revoke it); their audit rows are kept
	// (EventStore.PruneEvents).
	Cleanup(ctx context.Context, cutoff time.Time, tokenLife time.Duration) (int64, error)
}

// EventStore keeps the audit trail; the events themselves are written by
// the stores, in the transaction of what they record.
type EventStore interface {
	// PruneEvents deletes events that occurred before cutoff, in bounded
	// batches, and returns how many.
	PruneEvents(ctx context.Context, cutoff time.Time) (int64, error)
}

// TokenIssuer signs access tokens.
type TokenIssuer interface {
	Issue(id Identity) (token string, expiresAt time.Time, err error)
}
