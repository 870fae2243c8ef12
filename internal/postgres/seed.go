package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// DemoUser is a development account created by SeedDemo.
type DemoUser struct {
	Email    string
	Password string
	Roles    []string
}

// DemoOrganization is the organization the demo users belong to.
const DemoOrganization = "Acme Corp"

// DemoUsers are the development accounts (DESIGN.md): alice can read
// revenue, bob is a member of the same organization without that right,
// carol is its admin (she can change the revenue too).
var DemoUsers = []DemoUser{
	{Email: "alice@example.com", Password: "alice-password-1", Roles: []string{"finance"}},
	{Email: "bob@example.com", Password: "bob-password-1", Roles: []string{"member"}},
	{Email: "carol@example.com", Password: "carol-password-1", Roles: []string{"admin"}},
}

// demoMonths is how many months of revenue each demo organization gets.
const demoMonths = 36

// SeedDemo loads the demo organizations, users and revenue. It is
// idempotent and safe when several replicas run it at once: it takes a
// transaction-scoped advisory lock and inserts only what is missing, so
// existing passwords are never overwritten, and an organization's revenue
// is seeded only when the organization is created (months changed or
// removed since stay so). hash turns a password into its stored form.
func SeedDemo(ctx context.Context, db *DB, hash func(string) (string, error), now time.Time) error {
	return translate(pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('revenue-api.seed'))`); err != nil {
			return err
		}
		orgs := []struct {
			name  string
			scale int64
		}{{DemoOrganization, 1}, {"Globex Inc", 3}}
		last := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, -1, 0)
		for _, o := range orgs {
			var id string
			var created bool
			err := tx.QueryRow(ctx, `WITH ins AS (
					INSERT INTO organizations (name, currency) VALUES ($1, 'USD') ON CONFLICT (name) DO NOTHING RETURNING id)
				SELECT id::text, true FROM ins UNION ALL SELECT id::text, false FROM organizations WHERE name = $1 LIMIT 1`, o.name).Scan(&id, &created)
			if err != nil {
				return err
			}
			if !created {
				continue // its revenue is its users' now: a month removed or changed stays so
			}
			for i := range demoMonths {
				month := last.AddDate(0, i-demoMonths+1, 0)
				if _, err := tx.Exec(ctx, `INSERT INTO revenue_entries (organization_id, month, amount_cents)
					VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, id, month, demoAmount(i, month.Month())*o.scale); err != nil {
					return err
				}
			}
		}
		for _, u := range DemoUsers {
			var exists bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE email = $1)`, u.Email).Scan(&exists); err != nil {
				return err
			}
			if exists {
				continue
			}
			h, err := hash(u.Password)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO users (organization_id, email, password_hash, roles)
				SELECT id, $2, $3, $4 FROM organizations WHERE name = $1`, DemoOrganization, u.Email, h, u.Roles); err != nil {
				return err
			}
		}
		return nil
	}))
}

// demoAmount is a plausible monthly figure in cents: steady growth with a
// year-end peak and a summer dip, the same on every run.
func demoAmount(i int, m time.Month) int64 {
	seasonal := map[time.Month]int64{11: 18, 12: 30, 7: -12, 8: -15}[m]
	return (8_500_000 + int64(i)*215_000) * (100 + seasonal) / 100
}
