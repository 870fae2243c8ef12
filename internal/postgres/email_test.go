package postgres_test

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/revenue-api/revenue-api/internal/apitest"
	"github.com/revenue-api/revenue-api/internal/apperr"
	"github.com/revenue-api/revenue-api/internal/auth"
	"github.com/revenue-api/revenue-api/internal/pgtest"
	"github.com/revenue-api/revenue-api/internal/postgres"
	"github.com/revenue-api/revenue-api/migrations"
)

// A look-alike of an ASCII address is another address: logging in with it
// and the ASCII account's password finds no account.
func TestLoginWithALookAlikeEmailFindsNoAccount(t *testing.T) {
	env := apitest.New(t)
	ctx := context.Background()
	if _, err := env.Auth.CreateUser(ctx, auth.NewUser{
		Organization: postgres.DemoOrganization, Email: "kate@example.com", Password: "kate-password-1", Roles: []string{"member"},
	}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, email, password string
	}{
		{"dotted capital I (U+0130) for i", "al\u0130ce@example.com", apitest.AlicePassword},
		{"dotless i (U+0131) for i", "al\u0131ce@example.com", apitest.AlicePassword},
		{"Kelvin sign (U+212A) for k", "\u212aate@example.com", "kate-password-1"},
		{"Kelvin sign (U+212A) for K", "\u212aATE@example.com", "kate-password-1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := env.Auth.Login(ctx, tc.email, tc.password, auth.Client{IP: "192.0.2.1"})
			if !errors.Is(err, auth.ErrInvalidCredentials) {
				t.Fatalf("login as %+q: %v, want invalid credentials", tc.email, err)
			}
			if got := lastLoginFailure(t, env.DB); got != "unknown_email" {
				t.Errorf("login as %+q failed with reason %q, want unknown_email", tc.email, got)
			}
		})
	}

	t.Run("ASCII letters still match in any case", func(t *testing.T) {
		if _, err := env.Auth.Login(ctx, " ALICE@Example.COM\t", apitest.AlicePassword, auth.Client{}); err != nil {
			t.Errorf("login as ALICE@Example.COM: %v, want success", err)
		}
		if _, err := env.Auth.Login(ctx, "KATE@example.com", "kate-password-1", auth.Client{}); err != nil {
			t.Errorf("login as KATE@example.com: %v, want success", err)
		}
	})
}

// A look-alike registers as an account of its own, which its own password
// opens and the ASCII account's does not.
func TestALookAlikeEmailIsAnotherAccount(t *testing.T) {
	env := apitest.New(t)
	ctx := context.Background()
	lookAlike := "al\u0130ce@example.com"
	u, err := env.Auth.CreateUser(ctx, auth.NewUser{
		Organization: postgres.DemoOrganization, Email: lookAlike, Password: "other-password-1", Roles: []string{"member"},
	})
	if err != nil {
		t.Fatalf("creating %+q beside alice@example.com: %v", lookAlike, err)
	}
	if u.Email != lookAlike {
		t.Errorf("stored as %+q, want %+q", u.Email, lookAlike)
	}
	if _, err := env.Auth.Login(ctx, lookAlike, apitest.AlicePassword, auth.Client{}); !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Errorf("look-alike with alice's password: %v, want invalid credentials", err)
	}
	if _, err := env.Auth.Login(ctx, lookAlike, "other-password-1", auth.Client{}); err != nil {
		t.Errorf("look-alike with its own password: %v", err)
	}
	if _, err := env.Auth.Login(ctx, apitest.AliceEmail, apitest.AlicePassword, auth.Client{}); err != nil {
		t.Errorf("alice: %v", err)
	}

	_, err = env.Auth.CreateUser(ctx, auth.NewUser{
		Organization: postgres.DemoOrganization, Email: "\u212aate@example.com", Password: "kate-password-1", Roles: []string{"member"},
	})
	if apperr.Code(err) != apperr.CodeInvalidParameter || !strings.HasPrefix(err.Error(), "email: ") {
		t.Errorf("creating an address with a Kelvin sign: %v, want an invalid email", err)
	}
	_, err = env.Auth.CreateUser(ctx, auth.NewUser{
		Organization: postgres.DemoOrganization, Email: "Alice@EXAMPLE.com", Password: "other-password-1", Roles: []string{"member"},
	})
	if !errors.Is(err, apperr.ErrConflict) {
		t.Errorf("creating Alice@EXAMPLE.com beside alice@example.com: %v, want a conflict", err)
	}
}

// The migration's normalize_email and auth.NormalizeEmail are one function.
func TestNormalizeEmailAgreesWithPostgreSQL(t *testing.T) {
	conn := connect(t, pgtest.NewDatabase(t))
	inputs := []string{
		"alice@example.com", " ALICE@Example.COM\t", "\r\n\f\v x@y \v", "\u00a0a@b\u2003", "\u0085a@b",
		"al\u0130ce@example.com", "al\u0131ce@example.com", "\u212aate@example.com", "\u212bsa@x", "\u2126m@x",
		"rene\u0301@example.com", "REN\u00c9@x", "RENE\u0301@x", "J\u030cosef@x", "\u1e9e@x", "\u00df@x",
		"\uff21\uff42@x", "\u0041\u030a@x", "a\u0328\u0301@x", "\u0958@x", "\u1100\u1161\u11a8@x", "\U0001d400@x",
	}
	for r := rune(0x80); r < 0x3000; r += 7 {
		inputs = append(inputs, "A"+string(r)+"\u0301Z")
	}
	for _, in := range inputs {
		var got string
		if err := conn.QueryRow(t.Context(), `SELECT normalize_email($1)`, in).Scan(&got); err != nil {
			t.Fatalf("normalize_email(%+q): %v", in, err)
		}
		if want := auth.NormalizeEmail(in); got != want {
			t.Errorf("normalize_email(%+q) = %+q in PostgreSQL, %+q in Go", in, got, want)
		}
	}
}

// Migration 2 normalizes the addresses stored under the lower(email) rule
// and refuses to merge two accounts that the new rule makes one.
func TestEmailNormalizationMigration(t *testing.T) {
	t.Run("normalizes existing rows", func(t *testing.T) {
		connString, db := emptyDatabase(t)
		migrateTo(t, db, 1)
		// The old unique index on lower(email) refused alice@example.com
		// beside al\u0130ce@example.com; it took al\u0131ce@example.com.
		insertUsers(t, connString, "Bob@Example.COM", " carol@example.com\n", "rene\u0301@example.com",
			"al\u0130ce@example.com", "al\u0131ce@example.com", "dave@example.com")
		migrateUp(t, db)

		want := slices.Sorted(slices.Values([]string{
			"al\u0130ce@example.com", "al\u0131ce@example.com", "bob@example.com", "carol@example.com", "dave@example.com", "ren\u00e9@example.com",
		}))
		if got := emails(t, connString); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("after the migration users.email = %+q, want %+q", got, want)
		}
		conn := connect(t, connString)
		_, err := conn.Exec(t.Context(), `INSERT INTO users (organization_id, email, password_hash)
			SELECT id, 'bob@example.com', 'x' FROM organizations`)
		if err == nil || !strings.Contains(err.Error(), "users_email_key") {
			t.Errorf("a second bob@example.com: %v, want the unique constraint users_email_key", err)
		}
		_, err = conn.Exec(t.Context(), `INSERT INTO users (organization_id, email, password_hash)
			SELECT id, 'Erin@example.com', 'x' FROM organizations`)
		if err == nil || !strings.Contains(err.Error(), "users_email_normalized") {
			t.Errorf("an address not in normal form: %v, want the check users_email_normalized", err)
		}
	})

	for _, tc := range []struct {
		name   string
		emails []string
		want   []string
	}{
		{"composed and decomposed", []string{"ren\u00e9@example.com", "Rene\u0301@example.com"}, []string{
			"would all become 'ren\u00e9@example.com'", "'ren\u00e9@example.com' (user ", "'Rene\u0301@example.com' (user "}},
		{"white space", []string{"dave@example.com", " dave@example.com"}, []string{"would all become 'dave@example.com'"}},
		{"Kelvin sign", []string{"\u212aate@example.com"}, []string{"'\u212aate@example.com' (user ", "Kelvin sign"}},
	} {
		t.Run("refuses "+tc.name, func(t *testing.T) {
			connString, db := emptyDatabase(t)
			migrateTo(t, db, 1)
			insertUsers(t, connString, tc.emails...)
			err := up(db)
			if err == nil {
				t.Fatalf("migrating %+q succeeded, want an error", tc.emails)
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
			// Nothing changed: the rows are as they were, under the old schema.
			got := emails(t, connString)
			if strings.Join(got, " ") != strings.Join(slices.Sorted(slices.Values(tc.emails)), " ") {
				t.Errorf("after the failed migration users.email = %+q, want %+q unchanged", got, tc.emails)
			}
		})
	}
}

func lastLoginFailure(t *testing.T, db *postgres.DB) string {
	t.Helper()
	var reason string
	err := db.Pool.QueryRow(t.Context(), `SELECT reason FROM auth_events WHERE kind = $1 ORDER BY id DESC LIMIT 1`,
		string(auth.EventLoginFailed)).Scan(&reason)
	if err != nil {
		t.Fatalf("reading the last failed login: %v", err)
	}
	return reason
}

// emptyDatabase returns a fresh database with no schema at all, to migrate
// step by step.
func emptyDatabase(t *testing.T) (string, *sql.DB) {
	t.Helper()
	connString := pgtest.NewDatabase(t)
	conn := connect(t, connString)
	if _, err := conn.Exec(t.Context(), `DROP SCHEMA public CASCADE; CREATE SCHEMA public`); err != nil {
		t.Fatal(err)
	}
	cfg, err := pgx.ParseConfig(connString)
	if err != nil {
		t.Fatal(err)
	}
	db := stdlib.OpenDB(*cfg)
	t.Cleanup(func() { db.Close() })
	return connString, db
}

func provider(t *testing.T, db *sql.DB) *goose.Provider {
	t.Helper()
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func migrateTo(t *testing.T, db *sql.DB, version int64) {
	t.Helper()
	if _, err := provider(t, db).UpTo(t.Context(), version); err != nil {
		t.Fatalf("migrating up to %d: %v", version, err)
	}
}

func migrateUp(t *testing.T, db *sql.DB) {
	t.Helper()
	if err := up(db); err != nil {
		t.Fatalf("migrating: %v", err)
	}
}

func up(db *sql.DB) error {
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS)
	if err != nil {
		return err
	}
	_, err = p.Up(context.Background())
	return err
}

// insertUsers adds users with the given emails, as the old schema took them.
func insertUsers(t *testing.T, connString string, emails ...string) {
	t.Helper()
	conn := connect(t, connString)
	if _, err := conn.Exec(t.Context(), `INSERT INTO organizations (name) VALUES ('Initech')`); err != nil {
		t.Fatal(err)
	}
	for _, e := range emails {
		if _, err := conn.Exec(t.Context(), `INSERT INTO users (organization_id, email, password_hash)
			SELECT id, $1, 'x' FROM organizations`, e); err != nil {
			t.Fatalf("inserting %+q: %v", e, err)
		}
	}
}

func emails(t *testing.T, connString string) []string {
	t.Helper()
	rows, err := connect(t, connString).Query(t.Context(), `SELECT email FROM users ORDER BY email COLLATE "C"`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func connect(t *testing.T, connString string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), connString)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}
