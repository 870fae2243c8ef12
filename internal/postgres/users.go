package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/revenue-api/revenue-api/internal/auth"
)

// UserStore keeps organizations and users.
type UserStore struct{ db *DB }

var _ auth.UserStore = (*UserStore)(nil)

// NewUserStore returns a UserStore on db.
func NewUserStore(db *DB) *UserStore { return &UserStore{db: db} }

type userRow struct {
	ID             string     `db:"id"`
	OrganizationID string     `db:"organization_id"`
	Email          string     `db:"email"`
	PasswordHash   string     `db:"password_hash"`
	Roles          []string   `db:"roles"`
	Disabled       bool       `db:"disabled"`
	FailedLogins   int        `db:"failed_logins"`
	LockedUntil    *time.Time `db:"locked_until"`
	NotBefore      *time.Time `db:"tokens_not_before"`
	PasswordSetAt  time.Time  `db:"password_changed_at"`
}

const userColumns = `id::text, organization_id::text, email, password_hash, roles, disabled, failed_logins, locked_until, tokens_not_before, password_changed_at`

func userFromRow(r userRow) auth.User {
	u := auth.User{
		ID: r.ID, OrganizationID: r.OrganizationID, Email: r.Email, PasswordHash: r.PasswordHash,
		Roles: r.Roles, Disabled: r.Disabled, FailedLogins: r.FailedLogins, PasswordSetAt: r.PasswordSetAt,
	}
	if r.LockedUntil != nil {
		u.LockedUntil = *r.LockedUntil
	}
	if r.NotBefore != nil {
		u.TokensNotBefore = *r.NotBefore
	}
	return u
}

func scanUser(rows pgx.Rows) (auth.User, error) {
	r, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[userRow])
	if err != nil {
		return auth.User{}, translate(err)
	}
	return userFromRow(r), nil
}

// UserByEmail finds a user by email, which must be in the form
// auth.NormalizeEmail gives: it is compared by plain equality.
func (s *UserStore) UserByEmail(ctx context.Context, email string) (auth.User, error) {
	ctx, cancel := s.db.bound(ctx)
	defer cancel()
	rows, err := s.db.Pool.Query(ctx, `SELECT `+userColumns+` FROM users WHERE email = $1`, email)
	if err != nil {
		return auth.User{}, translate(err)
	}
	return scanUser(rows)
}

// CreateOrganization adds an organization; apperr.ErrConflict if the name is taken.
func (s *UserStore) CreateOrganization(ctx context.Context, name, currency string) (auth.Organization, error) {
	ctx, cancel := s.db.bound(ctx)
	defer cancel()
	o := auth.Organization{Name: name, Currency: currency}
	err := s.db.Pool.QueryRow(ctx,
		`INSERT INTO organizations (name, currency) VALUES ($1, $2) RETURNING id::text`, name, currency).Scan(&o.ID)
	return o, translate(err)
}

// CreateUser adds a user to the organization named in u.
func (s *UserStore) CreateUser(ctx context.Context, u auth.NewUser, hash string, ev auth.Event) (auth.User, error) {
	var user auth.User
	err := s.db.tx(ctx, func(ctx context.Context, tx *Tx) error {
		var orgID string
		if err := tx.QueryRow(ctx, `SELECT id::text FROM organizations WHERE name = $1`, u.Organization).Scan(&orgID); err != nil {
			return translate(err)
		}
		rows, err := tx.Query(ctx, `INSERT INTO users (organization_id, email, password_hash, roles)
			VALUES ($1, $2, $3, $4) RETURNING `+userColumns, orgID, u.Email, hash, u.Roles)
		if err != nil {
			return err
		}
		if user, err = scanUser(rows); err != nil {
			return err
		}
		ev.UserID = user.ID
		return insertEvent(ctx, tx, ev)
	})
	return user, err
}

// RecordLoginFailure counts a failure for countFor (none when empty: the
// UPDATE then matches no row, so every failed login costs the same work),
// sets a lockout when lockFor says so, and records ev.
func (s *UserStore) RecordLoginFailure(ctx context.Context, countFor string, now time.Time, lockFor func(int) time.Duration, ev auth.Event) error {
	return s.db.tx(ctx, func(ctx context.Context, tx *Tx) error {
		var failures int
		err := tx.QueryRow(ctx, `UPDATE users SET failed_logins = failed_logins + 1 WHERE id = $1 RETURNING failed_logins`,
			nullable(countFor)).Scan(&failures)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return err
		default:
			if d := lockFor(failures); d > 0 {
				if _, err := tx.Exec(ctx, `UPDATE users SET locked_until = $2 WHERE id = $1`, countFor, now.Add(d)); err != nil {
					return err
				}
			}
		}
		return insertEvent(ctx, tx, ev)
	})
}

// SetPassword stores a new hash, clears lockouts and ends all sessions.
func (s *UserStore) SetPassword(ctx context.Context, email, hash string, ev auth.Event) (auth.User, error) {
	return s.updateUser(ctx, email, ev, "password_changed", "password_changed",
		`UPDATE users SET password_hash = $2, password_changed_at = now(), failed_logins = 0, locked_until = NULL
		 WHERE email = $1 RETURNING `+userColumns, hash)
}

// SetDisabled disables or enables a user; disabling ends all sessions.
func (s *UserStore) SetDisabled(ctx context.Context, email string, disabled bool, ev auth.Event) (auth.User, error) {
	reason := ""
	if disabled {
		reason = "user_disabled"
	}
	return s.updateUser(ctx, email, ev, reason, reason,
		`UPDATE users SET disabled = $2 WHERE email = $1 RETURNING `+userColumns, disabled)
}

// SetRoles replaces a user's roles and revokes every access token of the
// user issued until now (they carry the old roles); sessions go on, and
// their next refresh carries the new roles.
func (s *UserStore) SetRoles(ctx context.Context, email string, roles []string, ev auth.Event) (auth.User, error) {
	return s.updateUser(ctx, email, ev, "", "roles_changed",
		`UPDATE users SET roles = $2 WHERE email = $1 RETURNING `+userColumns, roles)
}

// updateUser runs one user UPDATE and records ev in one transaction. With
// endReason set it also ends the user's sessions; with revokeReason set it
// revokes every access token of the user issued until now.
func (s *UserStore) updateUser(ctx context.Context, email string, ev auth.Event, endReason, revokeReason, query string, arg any) (auth.User, error) {
	var user auth.User
	err := s.db.revokingTx(ctx, func(ctx context.Context, tx *Tx, rw *revocationWriter) error {
		rows, err := tx.Query(ctx, query, email, arg)
		if err != nil {
			return err
		}
		if user, err = scanUser(rows); err != nil {
			return err
		}
		ev.UserID = user.ID
		if endReason != "" {
			ended, err := endSessions(ctx, tx, `user_id = $1`, user.ID, endReason, ev.Time)
			if err != nil {
				return err
			}
			// As EndUserSessions: by session too, whenever their tokens are signed.
			if err := rw.sessions(ctx, tx, ended, endReason, ev.Time); err != nil {
				return err
			}
			ev.Reason = fmt.Sprintf("%d sessions ended", len(ended))
		}
		if revokeReason != "" {
			if err := rw.user(ctx, tx, user.ID, revokeReason, ev.Time); err != nil {
				return err
			}
		}
		return insertEvent(ctx, tx, ev)
	})
	if err != nil {
		return auth.User{}, err
	}
	return user, nil
}

// endSessions ends the active sessions matching where (with $1 its one
// argument), revokes their refresh tokens and returns the ids of those it
// ended. Sessions are locked before tokens everywhere, so this cannot
// deadlock with a refresh.
func endSessions(ctx context.Context, tx *Tx, where string, arg any, reason string, now time.Time) ([]string, error) {
	rows, err := tx.Query(ctx, `WITH ended AS (
			UPDATE sessions SET ended_at = $2, end_reason = $3
			WHERE `+where+` AND ended_at IS NULL RETURNING id),
		revoked AS (
			UPDATE refresh_tokens SET revoked_at = $2
			WHERE session_id IN (SELECT id FROM ended) AND revoked_at IS NULL)
		SELECT id::text FROM ended`, arg, now, reason)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}
