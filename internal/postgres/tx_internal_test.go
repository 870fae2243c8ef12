package postgres

import (
	"context"
	"crypto/sha256"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/revenue-api/revenue-api/internal/apperr"
	"github.com/revenue-api/revenue-api/internal/auth"
	"github.com/revenue-api/revenue-api/internal/pgtest"
)

// countingConn counts the writes of a connection: pgx writes once per
// round trip (the messages it sends before waiting for an answer).
type countingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c countingConn) Write(b []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(b)
}

// openCounting opens a DB like Open (direct) whose connections count their
// round trips in writes.
func openCounting(t *testing.T, connString string, writes *atomic.Int64) *DB {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(connString)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 1
	dial := cfg.ConnConfig.DialFunc
	cfg.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return countingConn{c, writes}, nil
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return &DB{Pool: pool, timeout: 5 * time.Second, begin: beginStatements(Direct, 5000)}
}

func TestTx(t *testing.T) {
	db := open(t, pgtest.NewDatabase(t), 5*time.Second, Direct)
	ctx := context.Background()
	if _, err := db.Pool.Exec(ctx, `CREATE TABLE tx_test (k text PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	count := func(t *testing.T) int {
		t.Helper()
		var n int
		if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM tx_test`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	insert := func(keys ...string) *pgx.Batch {
		b := &pgx.Batch{}
		for _, k := range keys {
			b.Queue(`INSERT INTO tx_test VALUES ($1)`, k)
		}
		return b
	}
	reset := func(t *testing.T) {
		t.Helper()
		if _, err := db.Pool.Exec(ctx, `TRUNCATE tx_test`); err != nil {
			t.Fatal(err)
		}
	}
	// run runs f in db.tx and then checks that the connection went back to
	// the pool outside any transaction, open (one left in a transaction
	// would be closed rather than lent again).
	run := func(t *testing.T, f func(context.Context, *Tx) error) error {
		t.Helper()
		var conn *pgconn.PgConn
		err := db.tx(ctx, func(ctx context.Context, tx *Tx) error {
			conn = tx.conn.PgConn()
			return f(ctx, tx)
		})
		if conn.IsClosed() || conn.TxStatus() != 'I' {
			t.Fatalf("after the transaction the connection is closed %v, in status %q, want open and idle", conn.IsClosed(), conn.TxStatus())
		}
		return err
	}

	t.Run("a batch begins it and another commits it", func(t *testing.T) {
		reset(t)
		err := run(t, func(ctx context.Context, tx *Tx) error {
			if err := tx.Run(ctx, insert("a")); err != nil {
				return err
			}
			return tx.Commit(ctx, insert("b", "c"))
		})
		if err != nil || count(t) != 3 {
			t.Fatalf("err %v, %d rows, want nil, 3", err, count(t))
		}
	})

	t.Run("a statement failing in the committing batch keeps nothing", func(t *testing.T) {
		reset(t)
		err := run(t, func(ctx context.Context, tx *Tx) error {
			if err := tx.Run(ctx, insert("a")); err != nil {
				return err
			}
			return tx.Commit(ctx, insert("b", "a")) // duplicate key: COMMIT never runs
		})
		if !errors.Is(err, apperr.ErrConflict) || count(t) != 0 {
			t.Fatalf("err %v, %d rows, want a conflict and 0 rows", err, count(t))
		}
	})

	t.Run("an error from a callback of the first batch rolls back", func(t *testing.T) {
		reset(t)
		err := run(t, func(ctx context.Context, tx *Tx) error {
			b := insert("a")
			b.Queue(`SELECT 1 WHERE false`).Exec(func(tag pgconn.CommandTag) error {
				if tag.RowsAffected() == 0 {
					return apperr.ErrNotFound
				}
				return nil
			})
			return tx.Run(ctx, b)
		})
		if !errors.Is(err, apperr.ErrNotFound) || count(t) != 0 {
			t.Fatalf("err %v, %d rows, want not found and 0 rows", err, count(t))
		}
	})

	t.Run("an error returned after writing rolls back", func(t *testing.T) {
		reset(t)
		boom := errors.New("boom")
		err := run(t, func(ctx context.Context, tx *Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO tx_test VALUES ('a')`); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) || count(t) != 0 {
			t.Fatalf("err %v, %d rows, want boom and 0 rows", err, count(t))
		}
	})

	t.Run("single statements commit when f returns nil", func(t *testing.T) {
		reset(t)
		err := run(t, func(ctx context.Context, tx *Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO tx_test VALUES ('a')`); err != nil {
				return err
			}
			var k string
			if err := tx.QueryRow(ctx, `SELECT k FROM tx_test`).Scan(&k); err != nil {
				return err
			}
			return tx.Run(ctx, insert(k+"2"))
		})
		if err != nil || count(t) != 2 {
			t.Fatalf("err %v, %d rows, want nil, 2", err, count(t))
		}
	})

	t.Run("a failure f ignores still fails the commit", func(t *testing.T) {
		reset(t)
		err := run(t, func(ctx context.Context, tx *Tx) error {
			_, _ = tx.Exec(ctx, `INSERT INTO tx_test VALUES ('a')`)
			_, _ = tx.Exec(ctx, `INSERT INTO tx_test VALUES ('a')`) // aborts the transaction
			return nil
		})
		if !errors.Is(err, errCommitRolledBack) || count(t) != 0 {
			t.Fatalf("err %v, %d rows, want %v and 0 rows", err, count(t), errCommitRolledBack)
		}
	})

	t.Run("a committing batch takes no callbacks: the server would commit whatever they say", func(t *testing.T) {
		reset(t)
		err := run(t, func(ctx context.Context, tx *Tx) error {
			if err := tx.Run(ctx, insert("a")); err != nil {
				return err
			}
			b := insert("b")
			b.Queue(`SELECT 1`).Exec(func(pgconn.CommandTag) error { return errors.New("a check that fails") })
			return tx.Commit(ctx, b)
		})
		if !errors.Is(err, errCommitCallbacks) || count(t) != 0 {
			t.Fatalf("err %v, %d rows, want %v and 0 rows", err, count(t), errCommitCallbacks)
		}
	})

	t.Run("nothing is sent after the commit", func(t *testing.T) {
		reset(t)
		var after error
		err := run(t, func(ctx context.Context, tx *Tx) error {
			if err := tx.Commit(ctx, insert("a")); err != nil {
				return err
			}
			_, after = tx.Exec(ctx, `INSERT INTO tx_test VALUES ('b')`)
			return nil
		})
		if err != nil || !errors.Is(after, errTxCommitted) || count(t) != 1 {
			t.Fatalf("err %v, after the commit %v, %d rows; want nil, %v, 1 row", err, after, count(t), errTxCommitted)
		}
	})

	t.Run("nothing sent, nothing to commit", func(t *testing.T) {
		if err := run(t, func(context.Context, *Tx) error { return nil }); err != nil {
			t.Fatal(err)
		}
	})
}

// A rotation is two round trips: BEGIN, the lock and the reads in one; the
// writes and COMMIT in the other. Each round trip more is a network latency
// per refresh when the database is on another host or behind PgBouncer.
func TestRefreshRotationIsTwoRoundTrips(t *testing.T) {
	url := pgtest.NewDatabase(t)
	ctx := context.Background()
	setup := open(t, url, 5*time.Second, Direct)
	users := NewUserStore(setup)
	if _, err := users.CreateOrganization(ctx, "Round Trips", "EUR"); err != nil {
		t.Fatal(err)
	}
	user, err := users.CreateUser(ctx, auth.NewUser{Organization: "Round Trips", Email: "rt@example.com", Roles: []string{"finance"}},
		"unused-hash", auth.Event{Time: time.Now(), Kind: auth.EventUserCreated})
	if err != nil {
		t.Fatal(err)
	}
	var writes atomic.Int64
	sessions := NewSessionStore(openCounting(t, url, &writes))
	hash := func(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }
	now := time.Now()
	if _, err := sessions.CreateSession(ctx, auth.NewSession{UserID: user.ID, CreatedAt: now,
		IdleExpiresAt: now.Add(time.Hour), ExpiresAt: now.Add(24 * time.Hour)}, hash("t0"), auth.Event{Time: now, Kind: auth.EventLoginSucceeded},
		func(auth.User) error { return nil }); err != nil {
		t.Fatal(err)
	}
	rotate := func(from, to string) (auth.RefreshState, error) {
		return sessions.Refresh(ctx, hash(from), func(st auth.RefreshState) auth.RefreshDecision {
			return auth.RefreshDecision{Action: auth.RefreshRotate, Now: time.Now(), NewTokenHash: hash(to),
				IdleExpiresAt: time.Now().Add(time.Hour), Event: auth.Event{Time: time.Now(), Kind: auth.EventRefreshed, UserID: st.User.ID}}
		})
	}
	// The first rotation on the connection prepares its statements.
	if _, err := rotate("t0", "t1"); err != nil {
		t.Fatal(err)
	}
	writes.Store(0)
	st, err := rotate("t1", "t2")
	if err != nil {
		t.Fatal(err)
	}
	if n := writes.Load(); n != 2 {
		t.Errorf("a rotation took %d round trips, want 2", n)
	}
	if st.User.Email != "rt@example.com" || st.Session.UserID != user.ID || !st.UsedAt.IsZero() {
		t.Errorf("state read with the lock: user %q, session user %q, used at %v", st.User.Email, st.Session.UserID, st.UsedAt)
	}
	// What the rotation wrote is committed: t1 is spent, t2 is live.
	var spent, live bool
	err = setup.Pool.QueryRow(ctx, `SELECT
		(SELECT used_at IS NOT NULL FROM refresh_tokens WHERE token_hash = $1),
		(SELECT used_at IS NULL FROM refresh_tokens WHERE token_hash = $2)`, hash("t1"), hash("t2")).Scan(&spent, &live)
	if err != nil || !spent || !live {
		t.Fatalf("after the rotation: t1 spent %v, t2 live %v, error %v", spent, live, err)
	}
	var events int
	if err := setup.Pool.QueryRow(ctx, `SELECT count(*) FROM auth_events WHERE kind = 'token_refreshed'`).Scan(&events); err != nil || events != 2 {
		t.Fatalf("refreshed events %d (error %v), want 2", events, err)
	}
	if _, err := rotate("no such token", "t3"); !errors.Is(err, apperr.ErrNotFound) {
		t.Fatalf("unknown token: %v, want not found", err)
	}
}

// Every transaction is bounded by statement_timeout on the server, whichever
// way it begins: directly it is the session's default; through a
// transaction pooler SET LOCAL travels with BEGIN, in a batch too.
func TestTxStatementTimeout(t *testing.T) {
	url := pgtest.NewDatabase(t)
	ctx := context.Background()
	for _, pooler := range []Pooler{Direct, TransactionPooler} {
		db := open(t, url, 1500*time.Millisecond, pooler)
		var inBatch, alone string
		err := db.tx(ctx, func(ctx context.Context, tx *Tx) error {
			b := &pgx.Batch{}
			b.Queue(`SELECT current_setting('statement_timeout')`).QueryRow(func(r pgx.Row) error { return r.Scan(&inBatch) })
			return tx.Run(ctx, b)
		})
		if err != nil {
			t.Fatal(err)
		}
		err = db.tx(ctx, func(ctx context.Context, tx *Tx) error {
			return tx.QueryRow(ctx, `SELECT current_setting('statement_timeout')`).Scan(&alone)
		})
		if err != nil {
			t.Fatal(err)
		}
		if inBatch != "1500ms" || alone != "1500ms" {
			t.Errorf("%s: statement_timeout %q begun with a batch, %q begun alone; want 1500ms", pooler, inBatch, alone)
		}
	}
}
