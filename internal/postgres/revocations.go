package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/revenue-api/revenue-api/internal/revocation"
)

// revocationChannel is the NOTIFY channel the revocations table's trigger
// signals on every insert (migrations/00003_revocations.sql).
const revocationChannel = "revenue_revocations"

// revocationMargin is added to a revocation's life beyond the access-token
// lifetime and leeway: a token signed just after its session ended (a
// refresh that committed first, then signed) lives a few milliseconds
// longer than the revocation's moment suggests.
const revocationMargin = time.Minute

// maxRevocationLife is the revocation lifetime when none was configured (a
// process that does not know the access-token TTL): the longest TTL the
// configuration allows, with the largest leeway.
const maxRevocationLife = 24*time.Hour + 5*time.Minute

// RevocationPolicy is how the stores write revocations and whom they tell
// at once.
type RevocationPolicy struct {
	// TokenLifetime is the longest an access token can be accepted after it
	// was signed: access TTL + clock leeway.
	TokenLifetime time.Duration
	// Committed sees the revocations of each committed transaction, so the
	// replica that wrote them refuses the tokens at once instead of waiting
	// for its own notification.
	Committed func([]revocation.Revocation)
}

// SetRevocationPolicy sets how revocations are written. Call it while
// wiring, before serving.
func (db *DB) SetRevocationPolicy(p RevocationPolicy) { db.revocations = p }

func (db *DB) revocationLife() time.Duration {
	if db.revocations.TokenLifetime <= 0 {
		return maxRevocationLife
	}
	return db.revocations.TokenLifetime + revocationMargin
}

// revokingTx runs f in one transaction like tx, with a writer for
// revocations; once the transaction committed, the revocations it wrote go
// to the policy's Committed.
func (db *DB) revokingTx(ctx context.Context, f func(context.Context, *Tx, *revocationWriter) error) error {
	w := &revocationWriter{life: db.revocationLife()}
	err := db.tx(ctx, func(ctx context.Context, tx *Tx) error {
		w.written = w.written[:0]
		return f(ctx, tx, w)
	})
	if err == nil && len(w.written) > 0 && db.revocations.Committed != nil {
		db.revocations.Committed(w.written)
	}
	return err
}

// revocationWriter inserts revocation rows inside a transaction and keeps
// what it wrote.
type revocationWriter struct {
	life    time.Duration
	written []revocation.Revocation
}

// sessions revokes every access token of the given sessions.
func (w *revocationWriter) sessions(ctx context.Context, tx *Tx, ids []string, reason string, now time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	rows, err := tx.Query(ctx, `INSERT INTO revocations (kind, subject, reason, not_before, revoked_at, expires_at)
		SELECT 'session', sid, $2, $3, $3, $4 FROM unnest($1::uuid[]) AS sid
		RETURNING id, xid::text, subject::text`, ids, reason, now, now.Add(w.life))
	if err != nil {
		return err
	}
	return w.collect(rows, revocation.KindSession, reason, now, now, now.Add(w.life))
}

// user revokes every access token of userID issued before now, and records
// on the user the moment from which new tokens are good again: the next
// whole second, since a token's iat has whole seconds (RFC 7519 NumericDate
// as this issuer writes it).
func (w *revocationWriter) user(ctx context.Context, tx *Tx, userID, reason string, now time.Time) error {
	notBefore := now.Truncate(time.Second).Add(time.Second)
	rows, err := tx.Query(ctx, `INSERT INTO revocations (kind, subject, reason, not_before, revoked_at, expires_at)
		VALUES ('user', $1, $2, $3, $4, $5) RETURNING id, xid::text, subject::text`,
		userID, reason, notBefore, now, notBefore.Add(w.life))
	if err != nil {
		return err
	}
	if err := w.collect(rows, revocation.KindUser, reason, notBefore, now, notBefore.Add(w.life)); err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `UPDATE users SET tokens_not_before = GREATEST(tokens_not_before, $2) WHERE id = $1`, userID, notBefore)
	return err
}

func (w *revocationWriter) collect(rows pgx.Rows, kind revocation.Kind, reason string, notBefore, at, expires time.Time) error {
	var id int64
	var xid, subject string
	_, err := pgx.ForEachRow(rows, []any{&id, &xid, &subject}, func() error {
		x, err := strconv.ParseUint(xid, 10, 64)
		if err != nil {
			return fmt.Errorf("revocation xid %q: %w", xid, err)
		}
		w.written = append(w.written, revocation.Revocation{ID: id, XID: x, Kind: kind, Subject: subject,
			Reason: reason, NotBefore: notBefore, RevokedAt: at, ExpiresAt: expires})
		return nil
	})
	return err
}

var _ revocation.Store = (*DB)(nil)

// PruneRevocations deletes revocation rows that expired before cutoff.
func (db *DB) PruneRevocations(ctx context.Context, cutoff time.Time) (int64, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	tag, err := db.Pool.Exec(ctx, `DELETE FROM revocations WHERE expires_at < $1`, cutoff)
	return tag.RowsAffected(), translate(err)
}

// RevocationListener keeps a revocation.Set complete from PostgreSQL: it
// LISTENs on a dedicated connection (never a pooled one, and never through a
// transaction-mode pooler), and on every notification, every poll interval
// and every (re)connection it catches up by cursor. The cursor is the
// oldest transaction still running at the previous read
// (pg_snapshot_xmin): rows become visible in commit order, not id order, so
// reading "rows of transactions not finished last time, or newer" is what
// misses none, including the notifications lost while disconnected.
type RevocationListener struct {
	ConnString string // a direct connection (LISTEN needs a session)
	Set        *revocation.Set
	Poll       time.Duration // catch up at least this often, notified or not
	Log        *slog.Logger
	Now        func() time.Time
}

// CatchUp reads once what the set lacks. It is what Run does on every
// wake-up; serve calls it before listening so a replica started after a
// revocation refuses the token from its first request.
func (l *RevocationListener) CatchUp(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, l.ConnString)
	if err != nil {
		return translate(err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return l.catchUp(ctx, conn, true)
}

// Run listens until ctx ends, reconnecting with a growing delay (up to the
// poll interval) after any failure.
func (l *RevocationListener) Run(ctx context.Context) {
	delay := 50 * time.Millisecond
	failing := false
	for ctx.Err() == nil {
		listening := time.Now()
		err := l.listen(ctx, func() {
			if failing {
				l.Log.Info("revocation listener reconnected", "after", time.Since(listening).String())
				failing = false
			}
			delay = 50 * time.Millisecond
		})
		if ctx.Err() != nil {
			return
		}
		if !failing {
			// Once per outage: the lag metric and /readyz tell the rest.
			l.Log.Warn("revocation listener disconnected; reconnecting", "err", err)
			failing = true
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(delay*2, max(l.Poll, 100*time.Millisecond))
	}
}

// listen connects, LISTENs and catches up until the connection fails;
// connected is called once the first catch-up on it succeeded.
func (l *RevocationListener) listen(ctx context.Context, connected func()) error {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	conn, err := pgx.Connect(cctx, l.ConnString)
	cancel()
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	// LISTEN first, then read: a revocation committed in between is both
	// read and notified (harmless), never neither.
	if _, err := conn.Exec(ctx, "LISTEN "+revocationChannel); err != nil {
		return err
	}
	for first := true; ; first = false {
		// The first read on a connection reads everything: the server may
		// be another one (see catchUp).
		if err := l.catchUp(ctx, conn, first); err != nil {
			return err
		}
		if first {
			connected()
		}
		wctx, cancel := context.WithTimeout(ctx, l.Poll)
		_, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err != nil && !errors.Is(err, context.DeadlineExceeded):
			return err
		}
		// A burst of notifications needs one read: drop those already
		// received (pgx returns them even on a done context) without
		// waiting for more.
		for {
			if _, err := conn.WaitForNotification(doneContext); err != nil {
				break
			}
		}
		if conn.IsClosed() {
			return errors.New("connection closed")
		}
	}
}

// doneContext is a context that is already done: waiting on it only takes
// what has already arrived.
var doneContext = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// catchUp reads, in one snapshot, the oldest running transaction and the
// live revocations of transactions from the cursor on, and records both;
// with all, every live revocation, and which incarnation of the database
// answered (the set's Source, which the feed passes on to verifiers).
//
// Transaction ids are not unique over a database's life: a promoted
// standby, or a server restarted after a crash, hands out again the ids
// the old one gave to transactions that never became durable, below a
// cursor read from it. So a new connection, which may reach such a server,
// reads everything (a few hundred thousand live rows take about a second).
func (l *RevocationListener) catchUp(ctx context.Context, conn *pgx.Conn, all bool) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cursor := l.Set.Watermark()
	if all {
		cursor = 0
	}
	var revs []revocation.Revocation
	var watermark uint64
	base := ""
	err := pgx.BeginTxFunc(ctx, conn, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var xmin string
		if err := tx.QueryRow(ctx, `SELECT pg_snapshot_xmin(pg_current_snapshot())::text`).Scan(&xmin); err != nil {
			return err
		}
		if all {
			if err := tx.QueryRow(ctx, incarnationSQL).Scan(&base); err != nil {
				return err
			}
		}
		var err error
		if watermark, err = strconv.ParseUint(xmin, 10, 64); err != nil {
			return fmt.Errorf("snapshot xmin %q: %w", xmin, err)
		}
		if watermark < cursor {
			// The database's transaction ids went backwards (restored from
			// a dump, a new cluster): read everything again.
			cursor = 0
		}
		rows, err := tx.Query(ctx, `SELECT id, xid::text, kind, subject::text, reason, not_before, revoked_at, expires_at
			FROM revocations WHERE xid >= $1::text::xid8 AND expires_at > now()`, strconv.FormatUint(cursor, 10))
		if err != nil {
			return err
		}
		var r revocation.Revocation
		var xid, kind string
		_, err = pgx.ForEachRow(rows, []any{&r.ID, &xid, &kind, &r.Subject, &r.Reason, &r.NotBefore, &r.RevokedAt, &r.ExpiresAt}, func() error {
			x, err := strconv.ParseUint(xid, 10, 64)
			if err != nil {
				return fmt.Errorf("revocation xid %q: %w", xid, err)
			}
			r.XID, r.Kind = x, revocation.Kind(kind)
			revs = append(revs, r)
			return nil
		})
		return err
	})
	if err != nil {
		return err
	}
	if n := l.Set.CatchUp(l.Now(), revs, watermark); n > 0 {
		l.Log.Debug("revocations received", "count", n)
	}
	if all {
		// After the read, not before: a feed page naming the new run must
		// already hold what the read found (a reader that sees the new run
		// starts over from it; one served the old run in between starts over
		// on its next poll).
		l.Set.SetSource(base)
	}
	return nil
}

// incarnationSQL names the run of the database server that answers: its
// timeline (a promotion starts a new one) and when it started (a restart
// after a crash). Transaction ids are comparable only within one.
//
// The text orders runs as they follow one another (a later timeline, or the
// same one started later, sorts after), which verifiers rely on to tell a
// replica not yet reconnected from one on the new run. A standby (the
// listener should never be on one) says timeline 0: the oldest.
const incarnationSQL = `SELECT CASE WHEN pg_is_in_recovery() THEN '00000000'
		ELSE substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8) END
	|| '@' || to_char(pg_postmaster_start_time() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`
