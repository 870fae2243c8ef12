package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Tx is one transaction on one pooled connection, begun lazily: its BEGIN
// (and SET LOCAL statement_timeout, through a transaction pooler) is not a
// round trip of its own when the first thing the transaction sends is a
// batch (Run, Commit), but travels at the head of that batch, and Commit
// puts COMMIT at the tail of the last one. A transaction that locks and
// reads in one batch, decides in Go and writes in another, such as a
// refresh, is two round trips.
//
// PostgreSQL runs a batch's statements in order and, after an error, skips
// the rest up to the batch's end, so a COMMIT queued behind a statement the
// server failed never runs: the transaction stays open and DB.tx rolls it
// back. A callback's error (QueuedQuery.Exec, Query, QueryRow) is Go's, not
// the server's: the server would run the whole batch, COMMIT included, so
// Commit takes no batch with callbacks (check rows with Run, then Commit).
type Tx struct {
	conn      *pgx.Conn
	begin     []string // the statements that open the transaction, until sent
	committed bool
}

var (
	// errCommitRolledBack: COMMIT of a transaction a statement had failed,
	// and PostgreSQL rolled it back instead ("ROLLBACK" is its command tag).
	errCommitRolledBack = errors.New("commit unexpectedly resulted in rollback")
	// errCommitCallbacks: a committing batch with callbacks (see Tx).
	errCommitCallbacks = errors.New("postgres: a batch sent with COMMIT may not have callbacks")
	// errTxCommitted: a statement after the transaction committed.
	errTxCommitted = errors.New("postgres: the transaction has committed")
)

// tx runs f in one transaction, committed when f returns nil (unless f
// committed it with Tx.Commit) and rolled back otherwise. f gets the bounded
// context and must use it for every statement: a statement on the caller's
// context would wait as long as an unresponsive server lets it.
func (db *DB) tx(ctx context.Context, f func(context.Context, *Tx) error) error {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	c, err := db.Pool.Acquire(ctx)
	if err != nil {
		return translate(err)
	}
	// A connection released inside a transaction (a failed ROLLBACK) is
	// closed by the pool rather than lent again.
	defer c.Release()
	t := &Tx{conn: c.Conn(), begin: db.begin}
	err = f(ctx, t)
	if err == nil && !t.committed && t.begin == nil {
		err = t.Commit(ctx, nil)
	}
	if err != nil && t.conn.PgConn().TxStatus() != 'I' {
		// On a dead or timed-out connection this fails too, and the
		// connection is closed: the server ends the transaction then.
		_, _ = t.conn.Exec(ctx, "ROLLBACK")
	}
	return translate(err)
}

// beginStatements are what open a transaction: BEGIN, and through a
// transaction pooler SET LOCAL statement_timeout (a direct connection has
// it as its session's default, set at connect).
func beginStatements(p Pooler, timeoutMillis int64) []string {
	if p == TransactionPooler {
		return []string{"BEGIN", fmt.Sprintf("SET LOCAL statement_timeout = %d", timeoutMillis)}
	}
	return []string{"BEGIN"}
}

// started sends the opening statements, if not yet sent, in one round trip
// of the simple protocol.
func (t *Tx) started(ctx context.Context) error {
	if t.committed {
		return errTxCommitted
	}
	if t.begin == nil {
		return nil
	}
	_, err := t.conn.Exec(ctx, strings.Join(t.begin, "; "))
	t.begin = nil
	return err
}

// Exec runs one statement in the transaction.
func (t *Tx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if err := t.started(ctx); err != nil {
		return pgconn.CommandTag{}, err
	}
	return t.conn.Exec(ctx, sql, args...)
}

// Query runs one query in the transaction.
func (t *Tx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if err := t.started(ctx); err != nil {
		return nil, err
	}
	return t.conn.Query(ctx, sql, args...)
}

// QueryRow runs one query that returns at most one row in the transaction.
func (t *Tx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if err := t.started(ctx); err != nil {
		return errRow{err}
	}
	return t.conn.QueryRow(ctx, sql, args...)
}

// Run sends b in one round trip, opening the transaction with it if it is
// the first thing sent. b's results reach the callbacks set on its queued
// queries (QueuedQuery.Exec, Query, QueryRow); the first error stops it.
func (t *Tx) Run(ctx context.Context, b *pgx.Batch) error {
	return t.send(ctx, b, false)
}

// Commit sends b (which may be nil; it may have no callbacks) with COMMIT
// behind it, in one round trip. Nothing may be sent after it.
func (t *Tx) Commit(ctx context.Context, b *pgx.Batch) error {
	return t.send(ctx, b, true)
}

func (t *Tx) send(ctx context.Context, b *pgx.Batch, commit bool) error {
	if t.committed {
		return errTxCommitted
	}
	if b == nil {
		b = &pgx.Batch{}
	}
	if commit && slices.ContainsFunc(b.QueuedQueries, func(q *pgx.QueuedQuery) bool { return q.Fn != nil }) {
		return errCommitCallbacks
	}
	if commit && len(b.QueuedQueries) == 0 && t.begin != nil {
		t.committed = true // never begun: nothing to commit
		return nil
	}
	all := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, len(t.begin)+len(b.QueuedQueries)+1)}
	for _, s := range t.begin {
		all.Queue(s)
	}
	t.begin = nil
	all.QueuedQueries = append(all.QueuedQueries, b.QueuedQueries...)
	if commit {
		all.Queue("COMMIT").Exec(func(tag pgconn.CommandTag) error {
			if tag.String() != "COMMIT" {
				return errCommitRolledBack
			}
			t.committed = true
			return nil
		})
	}
	return t.conn.SendBatch(ctx, all).Close()
}

// errRow is a pgx.Row whose Scan fails with err.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }
