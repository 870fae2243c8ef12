package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/revenue-api/revenue-api/internal/pgtest"
)

func TestRevenueCommands(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	cli := commandRunner(map[string]string{"DATABASE_URL": dbURL})
	good := filepath.Join(t.TempDir(), "good.csv")
	if err := os.WriteFile(good, []byte("month,amount\r\n2026-10,100\r\n2026-12,0.99\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	steps := []commandStep{
		{"migrate", "", []string{"migrate"}, "", "migrations applied"},
		{"add organization", "", []string{"orgs", "add", "-name", "Initech"}, "", "created"},
		{"set a new month", "", []string{"revenue", "set", "-org", "Initech", "-month", "2026-11", "-amount", "12345.67"}, "", "Initech 2026-11: 12345.67 added"},
		{"change it", "", []string{"revenue", "set", "-org", "Initech", "-month", "2026-11", "-amount", "-5"}, "", "-5.00 changed"},
		{"decimal comma", "", []string{"revenue", "set", "-org", "Initech", "-month", "2026-11", "-amount", "12,5"}, `amount "12,5": not a number with at most two decimals`, ""},
		{"month out of range", "", []string{"revenue", "set", "-org", "Initech", "-month", "1899-01", "-amount", "1"}, "outside 1900-01 to 2999-12", ""},
		{"unknown organization", "", []string{"revenue", "set", "-org", "Nope", "-month", "2026-11", "-amount", "1"}, `no organization named "Nope"`, ""},
		{"no organization", "", []string{"revenue", "set", "-month", "2026-11", "-amount", "1"}, "-org is required", ""},
		{"dry run", "", []string{"revenue", "import", "-org", "Initech", "-dry-run", good}, "", "2 months checked (dry run, nothing written): 2 inserted, 0 updated, 0 unchanged"},
		{"import from stdin", "month,amount_cents\n2026-11,-500\n2026-10,7\n", []string{"revenue", "import", "-org", "Initech", "-"}, "", "2 months imported: 1 inserted, 0 updated, 1 unchanged"},
		{"import a file", "", []string{"revenue", "import", "-org", "Initech", good}, "", "2 months imported: 1 inserted, 1 updated, 0 unchanged"},
		{"bad lines", "month,amount\n2026-01,1\n2026-02,1.234\n2026-01,2\n", []string{"revenue", "import", "-org", "Initech", "-"},
			"line 3: amount \"1.234\": not a number with at most two decimals\n  line 4: month 2026-01 appears again (first on line 2)", ""},
		{"no file", "", []string{"revenue", "import", "-org", "Initech"}, "want one file", ""},
		{"missing file", "", []string{"revenue", "import", "-org", "Initech", filepath.Join(t.TempDir(), "nope.csv")}, "no such file", ""},
		{"unknown subcommand", "", []string{"revenue", "delete"}, "want: revenue import", ""},
	}
	runSteps(t, cli, steps)

	// What is stored, and the record of who changed it: every change by
	// this operating-system user at the command line; the bad file wrote nothing.
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var months string
	if err := conn.QueryRow(context.Background(), `SELECT string_agg(to_char(month, 'YYYY-MM') || '=' || amount_cents, ' ' ORDER BY month)
		FROM revenue_entries`).Scan(&months); err != nil {
		t.Fatal(err)
	}
	if months != "2026-10=10000 2026-11=-500 2026-12=99" {
		t.Errorf("stored %s, want 2026-10=10000 2026-11=-500 2026-12=99", months)
	}
	var n int
	var who string
	if err := conn.QueryRow(context.Background(), `SELECT count(*), min(os_user) FROM revenue_changes
		WHERE source = 'cli' AND user_id IS NULL`).Scan(&n, &who); err != nil {
		t.Fatal(err)
	}
	if n != 5 || who != osUser(os.Getenv) {
		t.Errorf("%d changes by %q recorded, want 5 by %q", n, who, osUser(os.Getenv))
	}
}
