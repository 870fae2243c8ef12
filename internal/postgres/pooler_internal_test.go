package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/revenue-api/revenue-api/internal/apperr"
	"github.com/revenue-api/revenue-api/internal/pgtest"
)

// open opens a pool on connString through pooler, closed when the test ends.
func open(t testing.TB, connString string, timeout time.Duration, pooler Pooler) *DB {
	t.Helper()
	db, err := Open(context.Background(), connString, 8, timeout, Through(pooler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db
}

func TestThroughTransactionPooler(t *testing.T) {
	direct := pgtest.NewDatabase(t)
	bouncer := pgtest.StartPgBouncer(t)
	pooled := bouncer.URL(t, direct)
	ctx := context.Background()

	t.Run("a direct session's settings are refused, and the error says what PgBouncer said", func(t *testing.T) {
		db := open(t, pooled, time.Second, Direct)
		err := db.Ping(ctx)
		if !errors.Is(err, apperr.ErrUnavailable) || !strings.Contains(err.Error(), "unsupported startup parameter") ||
			!strings.Contains(err.Error(), "08P01") {
			t.Fatalf("ping through PgBouncer with a statement_timeout startup parameter: want unavailable naming "+
				"PgBouncer's refusal and its SQLSTATE, got %v", err)
		}
	})

	t.Run("statements and transactions from many connections share server connections", func(t *testing.T) {
		db := open(t, pooled, 5*time.Second, TransactionPooler)
		users := NewUserStore(db)
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for g := 0; g < 16; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 40; i++ {
					if _, err := users.UserByEmail(ctx, fmt.Sprintf("nobody-%d@example.com", i)); !errors.Is(err, apperr.ErrNotFound) {
						errs <- fmt.Errorf("user by email: want not found, got %v", err)
						return
					}
					if _, err := users.CreateOrganization(ctx, fmt.Sprintf("org %d-%d", g, i), "EUR"); err != nil {
						errs <- fmt.Errorf("create organization: %v", err)
						return
					}
					err := db.tx(ctx, func(ctx context.Context, tx *Tx) error {
						var n int
						if err := tx.QueryRow(ctx, `SELECT count(*) FROM organizations WHERE name LIKE $1`, fmt.Sprintf("org %d-%%", g)).Scan(&n); err != nil {
							return err
						}
						if n != i+1 {
							return fmt.Errorf("want %d organizations, counted %d", i+1, n)
						}
						return nil
					})
					if err != nil {
						errs <- fmt.Errorf("transaction: %v", err)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if t.Failed() {
			t.Logf("PgBouncer's log:\n%s", bouncer.Log())
		}
	})

	// paths are the two ways to the database the bounds must hold on.
	paths := []struct {
		name       string
		connString string
		pooler     Pooler
	}{
		{"directly", direct, Direct},
		{"through PgBouncer", pooled, TransactionPooler},
	}
	// A statement interrupted by its context's deadline is cancelled (pgx
	// sends a cancel request, which PgBouncer forwards). A client that
	// vanishes sends none: the server ends a transaction's statement once
	// its time is up all the same, also through a transaction pooler, where
	// no session default can be set. The statements below ignore the
	// deadline, as a dead client would; they would run for the full 30s.
	for _, c := range paths {
		t.Run("a transaction's statement that nobody cancels ends on the server when its time is up, "+c.name, func(t *testing.T) {
			db := open(t, c.connString, 300*time.Millisecond, c.pooler)
			marker := fmt.Sprintf("slow transaction %d", time.Now().UnixNano())
			start := time.Now()
			err := db.tx(ctx, func(ctx context.Context, tx *Tx) error {
				_, err := tx.Exec(context.WithoutCancel(ctx), `SELECT pg_sleep(30) /* `+marker+` */`)
				return err
			})
			if !errors.Is(err, apperr.ErrUnavailable) || time.Since(start) > 3*time.Second {
				t.Fatalf("want unavailable within the timeout, got %v after %s", err, time.Since(start))
			}
			waitUntilEnded(t, direct, marker)
		})
	}

	t.Run("a statement outside a transaction that nobody cancels ends on the server when its time is up, directly", func(t *testing.T) {
		db := open(t, direct, 300*time.Millisecond, Direct)
		marker := fmt.Sprintf("slow statement %d", time.Now().UnixNano())
		start := time.Now()
		_, err := db.Pool.Exec(ctx, `SELECT pg_sleep(30) /* `+marker+` */`)
		if err = translate(err); !errors.Is(err, apperr.ErrUnavailable) || time.Since(start) > 3*time.Second {
			t.Fatalf("want unavailable within the timeout, got %v after %s", err, time.Since(start))
		}
		waitUntilEnded(t, direct, marker)
	})

	for _, c := range paths {
		t.Run("a statement interrupted by its deadline is cancelled on the server, "+c.name, func(t *testing.T) {
			db := open(t, c.connString, 300*time.Millisecond, c.pooler)
			marker := fmt.Sprintf("interrupted statement %d", time.Now().UnixNano())
			bounded, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
			defer cancel()
			_, err := db.Pool.Exec(bounded, `SELECT pg_sleep(30) /* `+marker+` */`)
			if err = translate(err); !errors.Is(err, apperr.ErrUnavailable) {
				t.Fatalf("want unavailable, got %v", err)
			}
			waitUntilEnded(t, direct, marker)
		})
	}
}

// waitUntilEnded fails the test unless no statement holding marker runs on
// the server within two seconds.
func waitUntilEnded(t *testing.T, connString, marker string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, connString)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	deadline := time.Now().Add(2 * time.Second)
	for {
		var running int
		err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE state = 'active' AND query LIKE '%' || $1 || '%' AND pid <> pg_backend_pid()`, marker).Scan(&running)
		if err != nil {
			t.Fatal(err)
		}
		if running == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the statement still runs on the server 2s after its timeout")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// BenchmarkUserByEmail is the cost of one store statement (a user lookup,
// as at every login) in the pool's query modes: the statement cache of a
// direct session (named prepared statements, the default) and the
// description cache a transaction pooler needs (each statement parsed
// again as the unnamed statement), directly and through PgBouncer.
func BenchmarkUserByEmail(b *testing.B) {
	direct := pgtest.NewDatabase(b)
	ctx := context.Background()
	seed := open(b, direct, 5*time.Second, Direct)
	if _, err := seed.Pool.Exec(ctx, `INSERT INTO organizations (name, currency) VALUES ('bench', 'EUR');
		INSERT INTO users (organization_id, email, password_hash, roles)
		SELECT id, 'bench@example.com', 'x', '{viewer}' FROM organizations WHERE name = 'bench'`); err != nil {
		b.Fatal(err)
	}
	bouncer := pgtest.StartPgBouncer(b)
	for _, c := range []struct {
		name       string
		connString string
		pooler     Pooler
	}{
		{"direct/statement cache", direct, Direct},
		{"direct/description cache", direct, TransactionPooler},
		{"PgBouncer/description cache", bouncer.URL(b, direct), TransactionPooler},
	} {
		b.Run(c.name, func(b *testing.B) {
			users := NewUserStore(open(b, c.connString, 5*time.Second, c.pooler))
			for i := 0; i < b.N; i++ {
				if _, err := users.UserByEmail(ctx, "bench@example.com"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkTransaction is the cost of a transaction that reads, then
// writes, as refresh does: with BEGIN, each statement and COMMIT a round trip
// each, against Tx's two (BEGIN with the first batch, COMMIT with the last).
func BenchmarkTransaction(b *testing.B) {
	db := open(b, pgtest.NewDatabase(b), 5*time.Second, Direct)
	ctx := context.Background()
	b.Run("four round trips", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
				var one int
				if err := tx.QueryRow(ctx, `SELECT 1`).Scan(&one); err != nil {
					return err
				}
				_, err := tx.Exec(ctx, `SELECT 2`)
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Tx, two round trips", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			err := db.tx(ctx, func(ctx context.Context, tx *Tx) error {
				read, write := &pgx.Batch{}, &pgx.Batch{}
				read.Queue(`SELECT 1`)
				write.Queue(`SELECT 2`)
				if err := tx.Run(ctx, read); err != nil {
					return err
				}
				return tx.Commit(ctx, write)
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}
