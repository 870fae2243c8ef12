package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/revenue-api/revenue-api/internal/apperr"
	"github.com/revenue-api/revenue-api/internal/auth"
)

// SessionStore keeps sessions and their refresh tokens.
type SessionStore struct{ db *DB }

var _ auth.SessionStore = (*SessionStore)(nil)

// NewSessionStore returns a SessionStore on db.
func NewSessionStore(db *DB) *SessionStore { return &SessionStore{db: db} }

type sessionRow struct {
	ID            string     `db:"id"`
	UserID        string     `db:"user_id"`
	CreatedAt     time.Time  `db:"created_at"`
	LastUsedAt    time.Time  `db:"last_used_at"`
	IdleExpiresAt time.Time  `db:"idle_expires_at"`
	ExpiresAt     time.Time  `db:"expires_at"`
	EndedAt       *time.Time `db:"ended_at"`
	EndReason     *string    `db:"end_reason"`
	ClientIP      string     `db:"client_ip"`
	UserAgent     string     `db:"user_agent"`
}

const sessionColumns = `s.id::text, s.user_id::text, s.created_at, s.last_used_at, s.idle_expires_at, s.expires_at,
	s.ended_at, s.end_reason, s.client_ip, s.user_agent`

func sessionFromRow(r sessionRow) auth.Session {
	s := auth.Session{
		ID: r.ID, UserID: r.UserID, CreatedAt: r.CreatedAt, LastUsedAt: r.LastUsedAt,
		IdleExpiresAt: r.IdleExpiresAt, ExpiresAt: r.ExpiresAt, ClientIP: r.ClientIP, UserAgent: r.UserAgent,
	}
	if r.EndedAt != nil {
		s.EndedAt = *r.EndedAt
	}
	if r.EndReason != nil {
		s.EndReason = *r.EndReason
	}
	return s
}

// CreateSession starts a session with its first refresh token and records
// ev, in one transaction holding the user's row (the lock a password
// change, a disable or a failed login's count takes too): admit judges the
// user as they are now, and its error ends the transaction with nothing
// written. Otherwise the failure count and any lockout are cleared, and
// ns.RehashTo, when given, replaces ns.RehashFrom if that is still stored.
func (s *SessionStore) CreateSession(ctx context.Context, ns auth.NewSession, refreshHash []byte, ev auth.Event, admit func(auth.User) error) (auth.Session, error) {
	var sess auth.Session
	err := s.db.tx(ctx, func(ctx context.Context, tx *Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1 FOR NO KEY UPDATE`, ns.UserID)
		if err != nil {
			return err
		}
		user, err := scanUser(rows)
		if err != nil {
			return err
		}
		if err := admit(user); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE users SET failed_logins = 0, locked_until = NULL,
			password_hash = CASE WHEN $2 <> '' AND password_hash = $3 THEN $2 ELSE password_hash END
			WHERE id = $1 AND (failed_logins <> 0 OR locked_until IS NOT NULL OR $2 <> '')`, ns.UserID, ns.RehashTo, ns.RehashFrom); err != nil {
			return err
		}
		rows, err = tx.Query(ctx, `INSERT INTO sessions AS s (user_id, created_at, last_used_at, idle_expires_at, expires_at, client_ip, user_agent)
			VALUES ($1, $2, $2, $3, $4, $5, $6) RETURNING `+sessionColumns,
			ns.UserID, ns.CreatedAt, ns.IdleExpiresAt, ns.ExpiresAt, ns.Client.IP, ns.Client.UserAgent)
		if err != nil {
			return err
		}
		row, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[sessionRow])
		if err != nil {
			return err
		}
		sess = sessionFromRow(row)
		if _, err := tx.Exec(ctx, `INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES ($1, $2, $3)`,
			refreshHash, sess.ID, ns.CreatedAt); err != nil {
			return err
		}
		ev.SessionID = sess.ID
		return insertEvent(ctx, tx, ev)
	})
	return sess, err
}

// Refresh applies decide to the token's state in one transaction of two
// round trips: one batch begins the transaction, locks and reads what decide
// needs; another applies a rotation and commits (a spent token, presented
// only by a retry or a replay, and outcomes other than a rotation take a
// round trip or two more). The session row is locked first, then the token row,
// the same order as everywhere that ends sessions, so parallel refreshes and
// logouts serialize without deadlock.
func (s *SessionStore) Refresh(ctx context.Context, refreshHash []byte, decide func(auth.RefreshState) auth.RefreshDecision) (auth.RefreshState, error) {
	var st auth.RefreshState
	err := s.db.revokingTx(ctx, func(ctx context.Context, tx *Tx, rw *revocationWriter) error {
		var err error
		if st, err = lockRefreshState(ctx, tx, refreshHash); err != nil {
			return err
		}
		d := decide(st)
		switch d.Action {
		case auth.RefreshRotate:
			b := &pgx.Batch{}
			b.Queue(rotateSQL, append([]any{st.TokenID, d.Now, d.SupersedeID, d.NewTokenHash, st.Session.ID, d.IdleExpiresAt},
				eventArgs(d.Event)...)...)
			if err := tx.Commit(ctx, b); err != nil {
				return err
			}
			st.Session.LastUsedAt = d.Now
			return nil
		case auth.RefreshEndSession:
			ended, err := endSessions(ctx, tx, `id = $1`, st.Session.ID, d.EndReason, d.Now)
			if err != nil {
				return err
			}
			if err := rw.sessions(ctx, tx, ended, d.EndReason, d.Now); err != nil {
				return err
			}
		}
		return insertEvent(ctx, tx, d.Event)
	})
	return st, err
}

// The statements of lockRefreshState. The first locks: FOR UPDATE OF takes
// each row's locks in the order it lists them, session then token. The
// others read once the locks are held: each statement of a READ COMMITTED
// transaction has its own snapshot, taken when the server reaches it, so
// they see whatever committed before the locks were granted, such as a
// user's new roles, or the successor a concurrent rotation of the same token
// inserted while this one waited (one statement locking and reading would
// see the rows it locks as they are now, but the rest as they were when it
// started waiting).
const (
	refreshLockSQL = `SELECT FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id
		WHERE t.token_hash = $1 FOR UPDATE OF s, t`
	refreshStateSQL = `SELECT t.id, t.parent_id, t.used_at, t.revoked_at, ` + sessionColumns + `, u.*
		FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id
		CROSS JOIN LATERAL (SELECT ` + userColumns + ` FROM users WHERE id = s.user_id) u
		WHERE t.token_hash = $1`
	// Only for a token presented before, or retired: the latest child of
	// $2 (the token, or the parent of the retired one), locked, and whether
	// it is live and no child of $2 was ever presented.
	refreshSuccessorSQL = `SELECT c.id, c.used_at IS NULL AND c.revoked_at IS NULL
			AND NOT EXISTS (SELECT FROM refresh_tokens o WHERE o.parent_id = $2 AND o.used_at IS NOT NULL)
		FROM refresh_tokens c
		WHERE c.session_id = $1 AND c.parent_id = $2 ORDER BY c.id DESC LIMIT 1 FOR UPDATE OF c`
)

type refreshStateRow struct {
	TokenID   int64
	ParentID  *int64
	UsedAt    *time.Time
	RevokedAt *time.Time
	sessionRow
	userRow
}

// lockRefreshState locks the session and token of refreshHash and reads
// them and the user in one round trip (the transaction's first, so it
// begins the transaction too); for a spent or retired token, which only a
// retry or a replay presents, it then locks and reads the latest token
// issued in its place.
func lockRefreshState(ctx context.Context, tx *Tx, refreshHash []byte) (st auth.RefreshState, err error) {
	b := &pgx.Batch{}
	b.Queue(refreshLockSQL, refreshHash).Exec(func(tag pgconn.CommandTag) error {
		if tag.RowsAffected() == 0 {
			return apperr.ErrNotFound
		}
		return nil
	})
	b.Queue(refreshStateSQL, refreshHash).Query(func(rows pgx.Rows) error {
		r, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[refreshStateRow])
		if err != nil {
			return translate(err)
		}
		st.TokenID = r.TokenID
		if r.ParentID != nil {
			st.ParentID = *r.ParentID
		}
		st.Session, st.User = sessionFromRow(r.sessionRow), userFromRow(r.userRow)
		if r.UsedAt != nil {
			st.UsedAt = *r.UsedAt
		}
		if r.RevokedAt != nil {
			st.RevokedAt = *r.RevokedAt
		}
		return nil
	})
	if err := tx.Run(ctx, b); err != nil {
		return st, err
	}
	of := st.TokenID // a spent token: its own latest child
	switch {
	case !st.UsedAt.IsZero():
	case !st.RevokedAt.IsZero() && st.Session.EndedAt.IsZero() && st.ParentID != 0:
		of = st.ParentID // a retired token: its parent's
	default:
		return st, nil
	}
	err = tx.QueryRow(ctx, refreshSuccessorSQL, st.Session.ID, of).Scan(&st.SuccessorID, &st.SuccessorUnused)
	if errors.Is(err, pgx.ErrNoRows) {
		err = nil
	}
	return st, err
}

// rotateSQL spends the presented token (and retires an unpresented token
// issued in its place, $3, when not 0), issues its child, records the event
// ($7–$13, eventArgs) and extends the session.
const rotateSQL = `WITH spent AS (
		UPDATE refresh_tokens SET used_at = COALESCE(used_at, $2) WHERE id = $1
	), retired AS (
		UPDATE refresh_tokens SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $3
	), child AS (
		INSERT INTO refresh_tokens (token_hash, session_id, parent_id, created_at) VALUES ($4, $5, $1, $2)
	), event AS (
		INSERT INTO auth_events (` + eventColumns + `) VALUES ($7, $8, $9, $10, $11, $12, $13)
	)
	UPDATE sessions SET last_used_at = $2, idle_expires_at = $6 WHERE id = $5`

// EndSession ends one active session of userID.
func (s *SessionStore) EndSession(ctx context.Context, userID, sessionID, reason string, ev auth.Event) error {
	return s.db.revokingTx(ctx, func(ctx context.Context, tx *Tx, rw *revocationWriter) error {
		var owned bool
		// Locked: a parallel end of the same session waits, then finds it
		// ended, and writes no second event.
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM sessions WHERE id = $1 AND user_id = $2 AND ended_at IS NULL FOR UPDATE)`,
			sessionID, userID).Scan(&owned); err != nil {
			return translate(err)
		}
		if !owned {
			return apperr.ErrNotFound
		}
		ended, err := endSessions(ctx, tx, `id = $1`, sessionID, reason, ev.Time)
		if err != nil {
			return err
		}
		if err := rw.sessions(ctx, tx, ended, reason, ev.Time); err != nil {
			return err
		}
		return insertEvent(ctx, tx, ev)
	})
}

// EndUserSessions ends every active session of userID and revokes every
// access token of the user issued until now, and every one of the ended
// sessions whenever issued: a refresh that committed just before may sign
// its token a moment after, in the next second.
func (s *SessionStore) EndUserSessions(ctx context.Context, userID, reason string, ev auth.Event) (int, error) {
	var n int
	err := s.db.revokingTx(ctx, func(ctx context.Context, tx *Tx, rw *revocationWriter) error {
		// The user's row first, as a password change or a disable takes
		// it before the sessions: the other order deadlocks with them.
		if _, err := tx.Exec(ctx, `SELECT FROM users WHERE id = $1 FOR NO KEY UPDATE`, userID); err != nil {
			return err
		}
		ended, err := endSessions(ctx, tx, `user_id = $1`, userID, reason, ev.Time)
		if err != nil {
			return err
		}
		n = len(ended)
		if err := rw.sessions(ctx, tx, ended, reason, ev.Time); err != nil {
			return err
		}
		if err := rw.user(ctx, tx, userID, reason, ev.Time); err != nil {
			return err
		}
		return insertEvent(ctx, tx, ev)
	})
	return n, err
}

// ActiveSessions lists userID's sessions that have not ended or expired,
// most recently used first.
func (s *SessionStore) ActiveSessions(ctx context.Context, userID string, now time.Time) ([]auth.Session, error) {
	ctx, cancel := s.db.bound(ctx)
	defer cancel()
	rows, err := s.db.Pool.Query(ctx, `SELECT `+sessionColumns+` FROM sessions s
		WHERE s.user_id = $1 AND s.ended_at IS NULL AND s.expires_at > $2 AND s.idle_expires_at > $2
		ORDER BY s.last_used_at DESC, s.created_at DESC LIMIT 100`, userID, now)
	if err != nil {
		return nil, translate(err)
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[sessionRow])
	if err != nil {
		return nil, translate(err)
	}
	out := make([]auth.Session, 0, len(list))
	for _, r := range list {
		out = append(out, sessionFromRow(r))
	}
	return out, nil
}

// cleanupBatch bounds each delete so cleanup never holds many locks at once.
const cleanupBatch = 500

// Cleanup deletes sessions that ended before cutoff, or expired more than
// tokenLife before it, with their refresh tokens, in small batches. Only
// one replica cleans at a time.
func (s *SessionStore) Cleanup(ctx context.Context, cutoff time.Time, tokenLife time.Duration) (int64, error) {
	return s.db.deleteInBatches(ctx, "revenue-api.cleanup", cleanupBatch, `DELETE FROM sessions WHERE id IN (
		SELECT id FROM sessions
		WHERE COALESCE(ended_at, LEAST(expires_at, idle_expires_at) + $2::interval) < $1
		LIMIT $3 FOR UPDATE SKIP LOCKED)`, cutoff, tokenLife)
}

// deleteInBatches runs query, a DELETE of at most $N rows with N = len(args)+1,
// one transaction per batch until a batch is short. Each batch takes the
// advisory lock named lock, without waiting: when another replica holds it,
// that replica is doing the work and this one stops. After each batch it
// rests as long as the batch took, so a backlog (a million sessions) takes
// half the database's time, not all of it, and refresh p99 stays within 2×
// (TestCleanupUnderRefreshLoad).
func (db *DB) deleteInBatches(ctx context.Context, lock string, batch int, query string, args ...any) (int64, error) {
	args = append(args, batch)
	var total int64
	for {
		started := time.Now()
		var n int64
		err := db.tx(ctx, func(ctx context.Context, tx *Tx) error {
			var got bool
			if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock(hashtext($1))`, lock).Scan(&got); err != nil || !got {
				return err
			}
			tag, err := tx.Exec(ctx, query, args...)
			n = tag.RowsAffected()
			return err
		})
		total += n
		if err != nil || n < int64(batch) {
			return total, err
		}
		t := time.NewTimer(time.Since(started))
		select {
		case <-ctx.Done():
			t.Stop()
			return total, ctx.Err()
		case <-t.C:
		}
	}
}
