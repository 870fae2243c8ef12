package postgres_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/revenue-api/revenue-api/internal/pgtest"
	"github.com/revenue-api/revenue-api/internal/postgres"
	"github.com/revenue-api/revenue-api/internal/revocation"
)

// insertRevocation adds a session revocation in tx, as the stores do.
func insertRevocation(t *testing.T, tx pgx.Tx, sid string) {
	t.Helper()
	if _, err := tx.Exec(context.Background(), `INSERT INTO revocations (kind, subject, reason, not_before, revoked_at, expires_at)
		VALUES ('session', $1, 'logout', now(), now(), now() + interval '1 hour')`, sid); err != nil {
		t.Fatal(err)
	}
}

// A revocation whose transaction commits after a later one's must still be
// read: rows become visible in commit order, not id order, and a cursor on
// ids would skip it. The listener's cursor is the oldest running
// transaction at its previous read, so it cannot.
func TestRevocationCatchUpMissesNoLateCommit(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	open := func() *pgx.Conn {
		c, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(ctx) })
		return c
	}
	slow, fast := open(), open()
	set := revocation.NewSet(0)
	l := &postgres.RevocationListener{ConnString: url, Set: set, Poll: time.Second,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: time.Now}

	const early, late = "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"
	slowTx, err := slow.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	insertRevocation(t, slowTx, early) // the lower id, still uncommitted
	fastTx, err := fast.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	insertRevocation(t, fastTx, late)
	if err := fastTx.Commit(ctx); err != nil {
		t.Fatal(err)
	}

	if err := l.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if set.Check(late, "u", now, now) == nil {
		t.Fatal("the committed revocation was not read")
	}
	if set.Check(early, "u", now, now) != nil {
		t.Fatal("an uncommitted revocation was read")
	}

	if err := slowTx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if set.Check(early, "u", now, now) == nil {
		t.Fatal("the revocation that committed late (lower id) was missed by the catch-up")
	}
}

// Run hears a revocation by NOTIFY, well before its next poll.
func TestRevocationListenerIsNotified(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	url := pgtest.NewDatabase(t)
	set := revocation.NewSet(0)
	l := &postgres.RevocationListener{ConnString: url, Set: set, Poll: time.Minute,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: time.Now}
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	// Wait for the listener's first catch-up: it confirms the set.
	for deadline := time.Now().Add(10 * time.Second); set.Lag(time.Now()) > time.Hour; {
		if time.Now().After(deadline) {
			t.Fatal("the listener never caught up")
		}
		time.Sleep(10 * time.Millisecond)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	const sid = "00000000-0000-4000-8000-000000000003"
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	insertRevocation(t, tx, sid)
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for set.Check(sid, "u", start, time.Now()) == nil {
		if time.Since(start) > 5*time.Second {
			t.Fatal("the revocation did not arrive within 5 s (the poll interval is a minute: NOTIFY did not work)")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestRevocationListenerRereadsOnANewConnection: transaction ids are not
// unique over a database's life: a promoted standby, or a server restarted
// after a crash, hands out again ids the old one gave to transactions that
// never became durable. A revocation committed there under an id below the
// cursor would be skipped for good, so every new connection of the
// listener reads everything again. (The reused id is written explicitly
// here: the row is what such a server would hold.)
func TestRevocationListenerRereadsOnANewConnection(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	db, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close(ctx) })
	set := revocation.NewSet(0)
	l := &postgres.RevocationListener{ConnString: url, Set: set, Poll: 50 * time.Millisecond,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: time.Now}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go l.Run(rctx)
	for set.Watermark() < 3 {
		time.Sleep(10 * time.Millisecond)
	}

	const reused = "00000000-0000-4000-8000-0000000000aa"
	if _, err := db.Exec(ctx, `INSERT INTO revocations (xid, kind, subject, reason, not_before, revoked_at, expires_at)
		VALUES ('2', 'session', $1, 'logout', now(), now(), now() + interval '1 hour')`, reused); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // notified and polled: below the cursor, not read
	// The server goes away and comes back: the listener's connection ends.
	if _, err := db.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid()`); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for now := time.Now(); set.Check(reused, "u", now, now) == nil; now = time.Now() {
		if now.After(deadline) {
			t.Fatal("a revocation with an id below the cursor was not read after the listener reconnected")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
