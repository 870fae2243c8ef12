// Package postgres stores users, sessions, refresh tokens, audit events and
// revenue in PostgreSQL through pgx. It satisfies the interfaces of the auth
// and revenue domains and turns driver errors into apperr errors, so that no
// SQL or driver text leaves this package toward a client.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/jackc/puddle/v2"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/revenue-api/revenue-api/internal/apperr"
	"github.com/revenue-api/revenue-api/migrations"
)

// DB is the connection pool and the time any one statement may take.
type DB struct {
	Pool        *pgxpool.Pool
	timeout     time.Duration
	begin       []string // what opens a transaction (Tx)
	revocations RevocationPolicy
}

// Pooler names what the pool's connections reach, which decides what a
// connection may keep on the server between transactions.
type Pooler string

const (
	// Direct: every connection is a PostgreSQL session of its own (also
	// behind a session-mode pooler that passes startup parameters).
	Direct Pooler = "none"
	// TransactionPooler: a pooler such as PgBouncer with pool_mode =
	// transaction, which lends a server connection for one transaction (or
	// one statement outside a transaction) and then to another client.
	TransactionPooler Pooler = "transaction"
)

// Option adjusts Open.
type Option func(*options)

type options struct{ pooler Pooler }

// Through says what the connection string reaches; Direct by default.
func Through(p Pooler) Option { return func(o *options) { o.pooler = p } }

// Open connects a pool with bounded connect and statement times, so that a
// database outage turns into prompt errors rather than hung requests.
//
// Each statement is bounded by its context's deadline (DB.bound, DB.tx): pgx
// closes a connection the deadline interrupts with a cancel request first,
// which PgBouncer forwards, so the server stops too. A client that dies
// sends none, so the server bounds statements itself: a direct session has
// statement_timeout as its default, set at connect; through a transaction
// pooler each transaction begins with SET LOCAL statement_timeout, which
// lasts as long as the transaction (Tx). A transaction pooler gets no
// statement_timeout startup parameter
// (PgBouncer refuses the connection: "unsupported startup parameter") and
// no named prepared statements, which belong to a server connection that
// other clients share (42P05 "prepared statement already exists", 26000
// "does not exist"): statement descriptions are cached per connection
// instead, and each statement is sent whole, as the unnamed statement, in
// one round trip.
func Open(ctx context.Context, connString string, maxConns int32, timeout time.Duration, opts ...Option) (*DB, error) {
	o := options{pooler: Direct}
	for _, opt := range opts {
		opt(&o)
	}
	cfg, err := pgxpool.ParseConfig(connString)
	if err != nil {
		return nil, errors.New("DATABASE_URL: cannot be parsed as a PostgreSQL connection string")
	}
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	cfg.ConnConfig.ConnectTimeout = min(timeout, 3*time.Second)
	cfg.HealthCheckPeriod = 5 * time.Second
	if cfg.ConnConfig.RuntimeParams == nil {
		cfg.ConnConfig.RuntimeParams = map[string]string{}
	}
	// PgBouncer passes application_name on (it tracks it per client).
	cfg.ConnConfig.RuntimeParams["application_name"] = "revenue-api"
	switch o.pooler {
	case Direct:
		cfg.ConnConfig.RuntimeParams["statement_timeout"] = fmt.Sprint(timeout.Milliseconds())
	case TransactionPooler:
		cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeCacheDescribe
	default:
		return nil, fmt.Errorf("unknown pooler %q", o.pooler)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	return &DB{Pool: pool, timeout: timeout, begin: beginStatements(o.pooler, timeout.Milliseconds())}, nil
}

// Close closes the pool.
func (db *DB) Close() { db.Pool.Close() }

// RegisterMetrics registers the pool's connection counts on reg.
func (db *DB) RegisterMetrics(reg prometheus.Registerer) {
	gauge := func(name, help string, f func() float64) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
	}
	gauge("revenue_db_pool_acquired_connections", "Database connections in use.", func() float64 { return float64(db.Pool.Stat().AcquiredConns()) })
	gauge("revenue_db_pool_total_connections", "Database connections open.", func() float64 { return float64(db.Pool.Stat().TotalConns()) })
	gauge("revenue_db_pool_max_connections", "Database connection limit.", func() float64 { return float64(db.Pool.Stat().MaxConns()) })
}

// Ping checks that the database answers, within the statement timeout.
func (db *DB) Ping(ctx context.Context) error {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	return translate(db.Pool.Ping(ctx))
}

func (db *DB) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, db.timeout)
}

// Migrate applies the embedded migrations. A PostgreSQL advisory lock makes
// it safe when several replicas start at once: one migrates, the others wait
// and then find nothing to do. The lock belongs to a session, so connString
// must reach PostgreSQL itself or a session-mode pooler, never a
// transaction pooler, which would take the lock on one server connection
// and release it on another (or never).
func Migrate(ctx context.Context, connString string) error {
	cfg, err := pgx.ParseConfig(connString)
	if err != nil {
		return errors.New("the database URL for migrations cannot be parsed as a PostgreSQL connection string")
	}
	sqlDB := stdlib.OpenDB(*cfg)
	defer sqlDB.Close()
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(goose.DialectPostgres, sqlDB, migrations.FS, goose.WithSessionLocker(locker))
	if err != nil {
		return fmt.Errorf("load migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// translate turns pgx errors into domain errors; anything else is wrapped
// and stays a server-side error.
func translate(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return apperr.ErrNotFound
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// An unavailable error keeps what the server said for the log
		// ("FATAL: message (SQLSTATE 08P01)"): the code alone does not tell
		// PgBouncer refusing a startup parameter from any other 08P01.
		switch pgErr.Code {
		case "23505": // unique_violation
			return fmt.Errorf("%w: %s", apperr.ErrConflict, pgErr.ConstraintName)
		case "22P02": // invalid_text_representation: a malformed id names nothing
			return apperr.ErrNotFound
		case "57014", "57P01", "57P02", "57P03", "53300", "40P01", "40001", "25006":
			// cancel, shutdown, too many connections, deadlock, serialization, and a
			// write on a read-only server (a demoted primary during a failover)
			return fmt.Errorf("%w: %v", apperr.ErrUnavailable, pgErr)
		}
		if len(pgErr.Code) == 5 && pgErr.Code[:2] == "08" { // connection exceptions
			return fmt.Errorf("%w: %v", apperr.ErrUnavailable, pgErr)
		}
		return fmt.Errorf("postgres: %w", err)
	}
	var connErr *pgconn.ConnectError
	var netErr net.Error
	if errors.As(err, &connErr) || errors.As(err, &netErr) || pgconn.Timeout(err) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || pgconn.SafeToRetry(err) ||
		errors.Is(err, puddle.ErrClosedPool) {
		return fmt.Errorf("%w: %v", apperr.ErrUnavailable, err)
	}
	return fmt.Errorf("postgres: %w", err)
}

// deref is *p, or "" for nil (a NULL text column).
func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// nullable turns an empty id into SQL NULL.
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}
