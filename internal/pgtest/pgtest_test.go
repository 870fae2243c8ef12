package pgtest

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
)

// setupCalls counts how often Run called setup: once, however many databases
// the tests make.
var setupCalls atomic.Int32

func TestMain(m *testing.M) {
	os.Exit(Run(m, func(ctx context.Context, connString string) error {
		setupCalls.Add(1)
		conn, err := pgx.Connect(ctx, connString)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, `CREATE TABLE widgets (name text PRIMARY KEY); INSERT INTO widgets VALUES ('from setup')`)
		return err
	}))
}

func TestNewDatabaseGivesIsolatedCopiesOfTheTemplate(t *testing.T) {
	t.Parallel()
	first, second := connect(t, NewDatabase(t)), connect(t, NewDatabase(t))

	for name, conn := range map[string]*pgx.Conn{"first": first, "second": second} {
		if got := widgets(t, conn); got != "from setup" {
			t.Errorf("%s database: widgets = %q, want what setup inserted, %q", name, got, "from setup")
		}
	}

	if _, err := first.Exec(t.Context(), `INSERT INTO widgets VALUES ('only in first')`); err != nil {
		t.Fatal(err)
	}
	if got := widgets(t, second); got != "from setup" {
		t.Errorf("second database after an insert into the first: widgets = %q, want %q", got, "from setup")
	}
	if got := setupCalls.Load(); got != 1 {
		t.Errorf("setup ran %d times, want once", got)
	}
}

func TestNewDatabaseInParallelTests(t *testing.T) {
	t.Parallel()
	for i := range 4 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			if got := widgets(t, connect(t, NewDatabase(t))); got != "from setup" {
				t.Errorf("widgets = %q, want %q", got, "from setup")
			}
		})
	}
}

// Not parallel: the parallel tests wait until it has started the server again.
func TestClusterCanBeStoppedAndStarted(t *testing.T) {
	c := Cluster()
	if os.Getenv(envURL) != "" {
		if c != nil {
			t.Errorf("Cluster() = %v with %s set, want nil", c, envURL)
		}
		return
	}
	if c == nil {
		t.Fatal("Cluster() = nil, want the private server")
	}
	connString := NewDatabase(t)

	if err := c.Stop(t.Context()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if conn, err := pgx.Connect(t.Context(), connString); err == nil {
		conn.Close(t.Context())
		t.Fatal("connected to a stopped server")
	}
	if err := c.Start(t.Context()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if got := widgets(t, connect(t, connString)); got != "from setup" {
		t.Errorf("after Stop and Start: widgets = %q, want %q", got, "from setup")
	}
}

func TestWithDatabase(t *testing.T) {
	for _, tc := range []struct {
		name, connString string
	}{
		{"keyword/value", "host=/tmp port=5432 user=postgres dbname=postgres"},
		{"keyword/value without a database", "host=/tmp user=postgres"},
		{"URL", "postgres://postgres@localhost:5432/postgres"},
		{"URL without a path", "postgresql://localhost"},
		{"URL with a query", "postgres://u:p@localhost/postgres?sslmode=disable"},
		{"URL whose query names the database", "postgres://localhost/x?dbname=postgres"},
		{"URL with a '?' in the password", "postgres://u:p?w@localhost/postgres"},
		{"URL with several hosts", "postgres://h1:5432,h2:5433/postgres?target_session_attrs=any"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := withDatabase(tc.connString, "pgtest_1_ab_2")
			if err != nil {
				t.Fatalf("withDatabase(%q): %v", tc.connString, err)
			}
			cfg, err := pgx.ParseConfig(got)
			if err != nil {
				t.Fatalf("withDatabase(%q) = %q, which pgx rejects: %v", tc.connString, got, err)
			}
			want, _ := pgx.ParseConfig(tc.connString)
			if cfg.Database != "pgtest_1_ab_2" || cfg.Host != want.Host || cfg.User != want.User || cfg.Password != want.Password {
				t.Errorf("withDatabase(%q) = %q: database %q, host %q, user %q; want database pgtest_1_ab_2 and the rest unchanged",
					tc.connString, got, cfg.Database, cfg.Host, cfg.User)
			}
		})
	}
}

func connect(t *testing.T, connString string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), connString)
	if err != nil {
		t.Fatalf("connecting: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func widgets(t *testing.T, conn *pgx.Conn) string {
	t.Helper()
	var names string
	if err := conn.QueryRow(t.Context(), `SELECT string_agg(name, ',' ORDER BY name) FROM widgets`).Scan(&names); err != nil {
		t.Fatalf("reading widgets: %v", err)
	}
	return names
}
