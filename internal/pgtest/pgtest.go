// Package pgtest gives tests a real PostgreSQL, never a mock: one private
// server per test binary (or the server at TEST_DATABASE_URL), a template
// database that the caller's setup prepares once, and a fresh copy of it for
// each test.
//
//	func TestMain(m *testing.M) {
//		os.Exit(pgtest.Run(m, func(ctx context.Context, connString string) error {
//			return migrate(ctx, connString) // close every connection before returning
//		}))
//	}
//
//	func TestSomething(t *testing.T) {
//		connString := pgtest.NewDatabase(t)
//		...
//	}
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/revenue-api/revenue-api/internal/pgcluster"
)

// envURL names the environment variable that points the tests at an existing
// server instead of a private one.
const envURL = "TEST_DATABASE_URL"

const (
	// setupTimeout bounds starting the server and preparing the template.
	setupTimeout = 2 * time.Minute
	// statementTimeout bounds creating or dropping one database.
	statementTimeout = 30 * time.Second
)

// current is this test binary's server. Run sets it before any test starts;
// NewDatabase, called from tests, has no other way to find it.
var current *server

// server is where the test databases live.
type server struct {
	cluster *pgcluster.Cluster // nil with TEST_DATABASE_URL
	// admin connects to a maintenance database, for CREATE and DROP DATABASE.
	admin string
	// connString returns a connection string for one of our databases.
	connString func(database string) (string, error)
	// prefix starts the name of every database this test binary creates; it
	// holds the process id and a random part, so that test binaries sharing a
	// server do not collide.
	prefix   string
	template string
	seq      atomic.Int64
}

// Run is called from TestMain: os.Exit(pgtest.Run(m, setup)). It starts a
// private PostgreSQL (or uses TEST_DATABASE_URL), creates the template
// database, calls setup on it once, runs the tests, and cleans up. setup must
// close its connections before it returns; nil means nothing to set up. If
// there is no PostgreSQL, Run explains what to install and returns 1: the
// tests fail rather than skip.
func Run(m *testing.M, setup func(ctx context.Context, connString string) error) int {
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	s, teardown, err := newServer(ctx)
	if err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: these tests need a real PostgreSQL server, and none could be started or reached: %v. "+
			"To fix it, install the PostgreSQL server binaries (initdb and postgres: e.g. `apt-get install postgresql` on Debian or Ubuntu, "+
			"`brew install postgresql` on macOS), or set %s to a server on which this user may create databases, "+
			"e.g. %s='postgres://postgres@localhost:5432/postgres'. Without PostgreSQL the tests fail; they are not skipped.\n",
			err, envURL, envURL)
		return 1
	}
	defer teardown()
	if err := s.createTemplate(ctx, setup); err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: preparing the template database: %v\n", err)
		return 1
	}

	current = s
	return m.Run()
}

// NewDatabase creates a database for this test, a copy of the template that
// setup prepared, drops it when the test ends, and returns its connection
// string. It is safe to call from parallel tests.
func NewDatabase(t testing.TB) string {
	t.Helper()
	s := current
	if s == nil {
		t.Fatal("pgtest.NewDatabase: no PostgreSQL; TestMain must call os.Exit(pgtest.Run(m, setup))")
	}
	name := fmt.Sprintf("%s_%d", s.prefix, s.seq.Add(1))
	connString, err := s.connString(name)
	if err != nil {
		t.Fatalf("pgtest: connection string for database %s: %v", name, err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), statementTimeout)
	defer cancel()
	if err := pgcluster.CreateDatabase(ctx, s.admin, name, s.template); err != nil {
		t.Fatalf("pgtest: creating database %s: %v", name, err)
	}
	t.Cleanup(func() {
		// The test's own context is cancelled by now.
		ctx, cancel := context.WithTimeout(context.Background(), statementTimeout)
		defer cancel()
		if err := s.exec(ctx, "DROP DATABASE IF EXISTS "+quoteIdent(name)+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: dropping database %s: %v", name, err)
		}
	})
	return connString
}

// Cluster returns this test binary's private PostgreSQL server, for tests
// that stop and start it (Stop, then Start, keeps connection strings valid).
// It is nil when TEST_DATABASE_URL is used.
func Cluster() *pgcluster.Cluster {
	if current == nil {
		return nil
	}
	return current.cluster
}

// newServer starts a private server, or checks the one at TEST_DATABASE_URL,
// and returns it with the function that cleans up after the tests.
func newServer(ctx context.Context) (*server, func(), error) {
	prefix, err := namePrefix()
	if err != nil {
		return nil, nil, err
	}
	s := &server{prefix: prefix, template: prefix + "_template"}

	if url := os.Getenv(envURL); url != "" {
		s.admin = url
		s.connString = func(database string) (string, error) { return withDatabase(url, database) }
		if err := s.exec(ctx, "SELECT 1"); err != nil {
			return nil, nil, fmt.Errorf("connecting to %s: %w", envURL, err)
		}
		return s, func() {
			ctx, cancel := context.WithTimeout(context.Background(), statementTimeout)
			defer cancel()
			if err := s.exec(ctx, "DROP DATABASE IF EXISTS "+quoteIdent(s.template)+" WITH (FORCE)"); err != nil {
				fmt.Fprintf(os.Stderr, "pgtest: dropping template database %s: %v\n", s.template, err)
			}
		}, nil
	}

	dir, err := os.MkdirTemp("", "revenue-pgtest-")
	if err != nil {
		return nil, nil, err
	}
	// When we are root, the server runs as another user, who must be able to
	// reach the data dir inside.
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, nil, errors.Join(err, os.RemoveAll(dir))
	}
	c, err := pgcluster.Start(ctx, pgcluster.Options{DataDir: filepath.Join(dir, "data"), Fast: true})
	if err != nil {
		return nil, nil, errors.Join(err, os.RemoveAll(dir))
	}
	s.cluster = c
	s.admin = c.ConnString("postgres")
	s.connString = func(database string) (string, error) { return c.ConnString(database), nil }
	return s, func() {
		ctx, cancel := context.WithTimeout(context.Background(), statementTimeout)
		defer cancel()
		if err := errors.Join(c.Stop(ctx), os.RemoveAll(dir)); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: stopping PostgreSQL: %v\n", err)
		}
	}, nil
}

// createTemplate creates the template database and lets setup prepare it.
func (s *server) createTemplate(ctx context.Context, setup func(ctx context.Context, connString string) error) error {
	if err := pgcluster.CreateDatabase(ctx, s.admin, s.template, ""); err != nil {
		return err
	}
	if setup != nil {
		connString, err := s.connString(s.template)
		if err != nil {
			return err
		}
		if err := setup(ctx, connString); err != nil {
			return fmt.Errorf("setup: %w", err)
		}
	}
	// CREATE DATABASE ... TEMPLATE fails while anyone is connected to the
	// template, so a pool that setup left open would fail every test: close
	// the template to new connections and end any left over.
	if err := s.exec(ctx, "ALTER DATABASE "+quoteIdent(s.template)+" WITH ALLOW_CONNECTIONS false"); err != nil {
		return err
	}
	return s.exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", s.template)
}

// exec runs one statement on the maintenance database, on a connection of
// its own, so that parallel tests need no lock.
func (s *server) exec(ctx context.Context, sql string, args ...any) error {
	conn, err := pgx.Connect(ctx, s.admin)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql, args...)
	return err
}

// namePrefix returns "pgtest_<pid>_<random>": unique among test binaries
// running at once on one server, even in containers whose pids coincide.
func namePrefix() (string, error) {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return fmt.Sprintf("pgtest_%d_%s", os.Getpid(), hex.EncodeToString(b)), nil
}

// withDatabase returns connString, a URL or keyword/value string, pointed at
// database, which must be a plain name such as pgtest makes ([a-z0-9_]). It
// appends a dbname setting: the last one wins in both forms, and in a URL the
// query's dbname overrides the path. pgx then confirms the result.
func withDatabase(connString, database string) (string, error) {
	var s string
	if rest, ok := cutScheme(connString); ok {
		// Like libpq, only '/' ends a search for the userinfo, whose password
		// may hold a '?'.
		if i := strings.IndexAny(rest, "@/"); i >= 0 && rest[i] == '@' {
			rest = rest[i+1:]
		}
		switch {
		case !strings.Contains(rest, "?"):
			s = connString + "?dbname=" + database
		case strings.HasSuffix(connString, "?"), strings.HasSuffix(connString, "&"):
			s = connString + "dbname=" + database
		default:
			s = connString + "&dbname=" + database
		}
	} else {
		s = connString + " dbname=" + database
	}
	cfg, err := pgx.ParseConfig(s)
	if err != nil {
		return "", err
	}
	if cfg.Database != database {
		return "", fmt.Errorf("cannot point the connection string at database %s (it names %q)", database, cfg.Database)
	}
	return s, nil
}

// cutScheme returns connString without its postgres:// or postgresql://
// scheme, and whether it had one.
func cutScheme(connString string) (string, bool) {
	for _, scheme := range []string{"postgres://", "postgresql://"} {
		if rest, ok := strings.CutPrefix(connString, scheme); ok {
			return rest, true
		}
	}
	return connString, false
}

// quoteIdent quotes a database name for SQL.
func quoteIdent(name string) string {
	return pgx.Identifier{name}.Sanitize()
}
