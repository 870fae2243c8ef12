package postgres_test

import (
	"context"
	"strings"
	"testing"

	"github.com/revenue-api/revenue-api/internal/apitest"
	"github.com/revenue-api/revenue-api/internal/postgres"
	"github.com/revenue-api/revenue-api/internal/revenue"
)

// demoRevenue is a test's database with the demo organization's revenue,
// its store, the organization's id and a write by an operator at the
// command line.
func demoRevenue(t *testing.T) (*apitest.Env, *postgres.RevenueStore, string, revenue.Write) {
	t.Helper()
	env := apitest.New(t)
	store := postgres.NewRevenueStore(env.DB)
	org, err := store.OrganizationID(context.Background(), postgres.DemoOrganization)
	if err != nil {
		t.Fatal(err)
	}
	return env, store, org, revenue.Write{OrgID: org, Author: revenue.Author{OSUser: "ops"}, Source: revenue.SourceCLI}
}

// The record of changes is append-only in the database itself: not even a
// statement that bypasses the service can rewrite or remove it.
func TestRevenueChangesCannotBeRewritten(t *testing.T) {
	env, store, org, w := demoRevenue(t)
	ctx := context.Background()
	if _, err := store.SetMonth(ctx, w, revenue.Figure{Month: revenue.Month{Year: 2090, Month: 1}, AmountCents: 5}); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		`UPDATE revenue_changes SET new_amount_cents = 6`,
		`DELETE FROM revenue_changes`,
		`TRUNCATE revenue_changes`,
	} {
		_, err := env.DB.Pool.Exec(ctx, stmt)
		if err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: %v, want it refused as append-only", stmt, err)
		}
	}
	list, err := store.Changes(ctx, org, revenue.ChangeQuery{Limit: 10})
	if err != nil || len(list) != 1 || *list[0].New != 5 || list[0].Author.OSUser != "ops" || list[0].Source != revenue.SourceCLI {
		t.Errorf("changes = %+v, %v; want the one change by ops at the command line, intact", list, err)
	}
	if _, err := store.OrganizationID(ctx, "No Such Org"); err == nil {
		t.Error("OrganizationID of an unknown name: no error")
	}
}

// TestDemoSeedLeavesEditedRevenueAlone: the demo seed, which runs at every
// start without DATABASE_URL, fills an organization's months only when it
// creates the organization: a month removed (or changed) since stays so
// across restarts, as the record of changes says.
func TestDemoSeedLeavesEditedRevenueAlone(t *testing.T) {
	env, store, org, w := demoRevenue(t)
	ctx := context.Background()
	before, err := store.MonthlyRevenue(ctx, org, revenue.Range{})
	if err != nil || len(before.Months) < 2 {
		t.Fatalf("demo revenue: %d months, %v", len(before.Months), err)
	}
	removed, changed := before.Months[0].Month, before.Months[1].Month
	if _, err := store.DeleteMonth(ctx, w, removed); err != nil {
		t.Fatal(err)
	}
	if _, err := store.SetMonth(ctx, w, revenue.Figure{Month: changed, AmountCents: 7}); err != nil {
		t.Fatal(err)
	}
	if err := postgres.SeedDemo(ctx, env.DB, func(string) (string, error) { return "unused", nil }, env.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	after, err := store.MonthlyRevenue(ctx, org, revenue.Range{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range after.Months {
		if f.Month == removed {
			t.Errorf("%s, removed, is back after the seed ran again", removed)
		}
		if f.Month == changed && f.AmountCents != 7 {
			t.Errorf("%s is %d after the seed ran again, want 7", changed, f.AmountCents)
		}
	}
	if len(after.Months) != len(before.Months)-1 {
		t.Errorf("%d months after the seed ran again, want %d", len(after.Months), len(before.Months)-1)
	}
}
