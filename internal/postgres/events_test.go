package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/revenue-api/revenue-api/internal/apitest"
	"github.com/revenue-api/revenue-api/internal/config"
)

// insertEvents adds n audit events that occurred at at.
func insertEvents(t *testing.T, env *apitest.Env, n int, at time.Time) {
	t.Helper()
	if _, err := env.DB.Pool.Exec(context.Background(), `INSERT INTO auth_events (occurred_at, kind, reason)
		SELECT $2, 'login_failed', 'wrong_password' FROM generate_series(1, $1)`, n, at); err != nil {
		t.Fatal(err)
	}
}

// countEvents counts the audit events that occurred before at.
func countEvents(t *testing.T, env *apitest.Env, before time.Time) int {
	t.Helper()
	var n int
	if err := env.DB.Pool.QueryRow(context.Background(), `SELECT count(*) FROM auth_events WHERE occurred_at < $1`,
		before).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestAuditPruning(t *testing.T) {
	ctx := context.Background()
	t.Run("events older than the retention go, in statements of at most 1000 rows; newer ones stay", func(t *testing.T) {
		env := apitest.New(t)
		now := env.Clock.Now()
		cutoff := now.Add(-env.Config.AuditRetention)
		// Each DELETE statement logs how many rows it removed.
		if _, err := env.DB.Pool.Exec(ctx, `
			CREATE TABLE prune_log (deleted bigint);
			CREATE FUNCTION log_prune() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN INSERT INTO prune_log SELECT count(*) FROM gone; RETURN NULL; END $$;
			CREATE TRIGGER log_prune AFTER DELETE ON auth_events REFERENCING OLD TABLE AS gone
				FOR EACH STATEMENT EXECUTE FUNCTION log_prune()`); err != nil {
			t.Fatal(err)
		}
		insertEvents(t, env, 2500, cutoff.Add(-24*time.Hour))
		insertEvents(t, env, 10, cutoff)
		insertEvents(t, env, 10, now)

		n, err := env.Auth.PruneAudit(ctx)
		if err != nil || n != 2500 {
			t.Fatalf("pruning deleted %d events (err %v), want the 2500 older than %s", n, err, env.Config.AuditRetention)
		}
		if old := countEvents(t, env, cutoff); old != 0 {
			t.Errorf("%d events older than the retention are left, want 0", old)
		}
		if kept := countEvents(t, env, now.Add(time.Second)); kept < 20 {
			t.Errorf("%d events within the retention are left, want the 20 inserted and the seed's", kept)
		}
		var statements, largest int
		if err := env.DB.Pool.QueryRow(ctx, `SELECT count(*), COALESCE(max(deleted), 0) FROM prune_log`).Scan(&statements, &largest); err != nil {
			t.Fatal(err)
		}
		if statements != 3 || largest > 1000 {
			t.Errorf("pruning ran %d DELETE statements, the largest of %d rows; want 3 of at most 1000", statements, largest)
		}
	})

	t.Run("retention 0 keeps every event", func(t *testing.T) {
		env := apitest.New(t, func(c *config.Config) { c.AuditRetention = 0 })
		insertEvents(t, env, 5, env.Clock.Now().AddDate(-10, 0, 0))
		if n, err := env.Auth.PruneAudit(ctx); err != nil || n != 0 {
			t.Fatalf("pruning with retention 0 deleted %d events (err %v), want none", n, err)
		}
		if old := countEvents(t, env, env.Clock.Now().AddDate(-9, 0, 0)); old != 5 {
			t.Errorf("%d ten-year-old events are left, want 5", old)
		}
	})

	t.Run("only one replica prunes: a held lock makes the others skip", func(t *testing.T) {
		env := apitest.New(t)
		insertEvents(t, env, 5, env.Clock.Now().Add(-env.Config.AuditRetention-time.Hour))
		tx, err := env.DB.Pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('revenue-api.audit-pruning'))`); err != nil {
			t.Fatal(err)
		}
		if n, err := env.Auth.PruneAudit(ctx); err != nil || n != 0 {
			t.Fatalf("pruning while another replica holds the lock deleted %d events (err %v), want none", n, err)
		}
		if err := tx.Rollback(ctx); err != nil {
			t.Fatal(err)
		}
		if n, err := env.Auth.PruneAudit(ctx); err != nil || n != 5 {
			t.Fatalf("pruning after the lock was released deleted %d events (err %v), want 5", n, err)
		}
	})
}
