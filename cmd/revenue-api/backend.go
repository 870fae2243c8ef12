package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/revenue-api/revenue-api/internal/config"
	"github.com/revenue-api/revenue-api/internal/passwordhash"
	"github.com/revenue-api/revenue-api/internal/pgcluster"
	"github.com/revenue-api/revenue-api/internal/postgres"
)

// backend is the storage side shared by serve and the admin commands: the
// private PostgreSQL when there is no DATABASE_URL, the migrated database,
// the pool and the password hasher.
type backend struct {
	cluster *pgcluster.Cluster // nil when DATABASE_URL is set
	db      *postgres.DB
	hasher  *passwordhash.Hasher
	connStr string
}

// privateDatabase is the database the private PostgreSQL holds the data in.
const privateDatabase = "revenue"

// openBackend opens the backend of serve, which owns the private PostgreSQL:
// it starts it, and refuses a data dir that another server is using.
func openBackend(ctx context.Context, cfg config.Config, log *slog.Logger) (*backend, error) {
	return openBackendWith(ctx, cfg, log, pgcluster.Start)
}

// openAdminBackend opens the backend of an admin command (migrate
// included). With no DATABASE_URL it uses the private PostgreSQL that serve
// created under REVENUE_DATA_DIR: that of a server running on it (`make
// run`), left running, or else started for the command and stopped when
// done. It never creates one: a command run from another directory than the
// service's would make a database of its own, report success, and change
// nothing the service sees.
func openAdminBackend(ctx context.Context, cfg config.Config, log *slog.Logger) (*backend, error) {
	if cfg.DatabaseURL == "" {
		if err := checkPrivateCluster(cfg); err != nil {
			return nil, err
		}
	}
	return openBackendWith(ctx, cfg, log, pgcluster.Open)
}

// privateClusterDir is the absolute data directory of the private
// PostgreSQL: <REVENUE_DATA_DIR>/postgres.
func privateClusterDir(cfg config.Config) (string, error) {
	return filepath.Abs(filepath.Join(cfg.DataDir, "postgres"))
}

// checkPrivateCluster fails, saying where it looked and what to do, unless
// REVENUE_DATA_DIR holds the private PostgreSQL serve creates.
func checkPrivateCluster(cfg config.Config) error {
	dataDir, err := privateClusterDir(cfg)
	if err != nil {
		return err
	}
	// PG_VERSION is what initdb writes first and what makes a data directory one.
	_, err = os.Stat(filepath.Join(dataDir, "PG_VERSION"))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("no private PostgreSQL under %s (serve creates it at its first start): run the command from the directory where `make run` runs, set REVENUE_DATA_DIR, or set DATABASE_URL",
			filepath.Dir(dataDir))
	case err != nil:
		return fmt.Errorf("private PostgreSQL under %s: %w", filepath.Dir(dataDir), err)
	}
	return nil
}

func openBackendWith(ctx context.Context, cfg config.Config, log *slog.Logger,
	startCluster func(context.Context, pgcluster.Options) (*pgcluster.Cluster, error)) (*backend, error) {
	b := &backend{connStr: cfg.DatabaseURL}
	if cfg.DatabaseURL == "" {
		dataDir, err := privateClusterDir(cfg)
		if err != nil {
			return nil, err
		}
		log.Info("private PostgreSQL (no DATABASE_URL)", "data_dir", dataDir)
		if b.cluster, err = startCluster(ctx, pgcluster.Options{DataDir: dataDir, Logger: log}); err != nil {
			return nil, fmt.Errorf("private PostgreSQL: %w", err)
		}
		if err := pgcluster.CreateDatabase(ctx, b.cluster.ConnString("postgres"), privateDatabase, ""); err != nil {
			b.close(ctx)
			return nil, fmt.Errorf("private PostgreSQL: %w", err)
		}
		b.connStr = b.cluster.ConnString(privateDatabase)
	}
	// The migrations' advisory lock needs a session of its own: the direct
	// URL, when DATABASE_URL is a transaction pooler.
	direct := cfg.DatabaseDirectURL
	if direct == "" {
		direct = b.connStr
	}
	if err := postgres.Migrate(ctx, direct); err != nil {
		b.close(ctx)
		return nil, err
	}
	pooler := postgres.Direct
	if b.cluster == nil {
		pooler = postgres.Pooler(cfg.DatabasePooler)
	}
	db, err := postgres.Open(ctx, b.connStr, 0, cfg.DBTimeout, postgres.Through(pooler))
	if err != nil {
		b.close(ctx)
		return nil, err
	}
	b.db = db
	// Revocations live as long as a token they can refuse; serve adds the
	// hand-off to its in-memory set.
	b.db.SetRevocationPolicy(postgres.RevocationPolicy{TokenLifetime: cfg.AccessTokenTTL + cfg.ClockLeeway})
	worker, err := hashWorkerCommand()
	if err != nil {
		b.close(ctx)
		return nil, err
	}
	b.hasher, err = passwordhash.New(passwordhash.Params{
		MemoryKiB: cfg.Argon2MemoryKiB, Iterations: cfg.Argon2Time, Parallelism: cfg.Argon2Threads,
	}, cfg.HashWorkers, cfg.HashQueue, passwordhash.InWorkerProcesses(worker, log))
	if err != nil {
		b.close(ctx)
		return nil, fmt.Errorf("password hashing: %w", err)
	}
	return b, nil
}

// runningBinary names the binary of this process. Where /proc/self/exe
// exists (Linux) it is used as is: exec'ing it runs the very image this
// process runs, even after an upgrade replaced the file at its path, so a
// server never talks to a worker of another version.
func runningBinary() (string, error) {
	const self = "/proc/self/exe"
	if _, err := os.Stat(self); err == nil {
		return self, nil
	}
	return os.Executable()
}

// hashWorkerCommand returns how a hash worker process is started: this
// binary with the hash-worker command, an empty environment (it needs
// nothing, and so sees no secret), and this process's stderr for a crash.
func hashWorkerCommand() (func() *exec.Cmd, error) {
	exe, err := runningBinary()
	if err != nil {
		return nil, fmt.Errorf("finding this binary to start hash workers: %w", err)
	}
	return func() *exec.Cmd {
		cmd := exec.Command(exe, "hash-worker")
		cmd.Args[0] = "revenue-api"
		cmd.Env = []string{}
		cmd.Stderr = os.Stderr
		return cmd
	}, nil
}

// seedDemo loads the demo organization, users and revenue (idempotent).
func (b *backend) seedDemo(ctx context.Context, now time.Time) error {
	return postgres.SeedDemo(ctx, b.db, func(pw string) (string, error) { return b.hasher.Hash(ctx, pw) }, now)
}

func (b *backend) close(ctx context.Context) {
	if b.hasher != nil {
		b.hasher.Close()
	}
	if b.db != nil {
		b.db.Close()
	}
	if b.cluster != nil {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = b.cluster.Stop(ctx)
	}
}
