package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"
)

// Open returns the server already running on opts.DataDir if there is one,
// and otherwise starts one as Start does. This is how a short-lived command
// (an admin command beside `make run`) shares the data dir with a running
// server: a found server is Shared, its owner stops it, and the Cluster's
// Stop leaves it running. The server is found through its postmaster.pid,
// and Open checks, connected, that it serves opts.DataDir: the socket
// directory named there could belong to another server by now.
func Open(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.DataDir == "" {
		return Start(ctx, opts)
	}
	dataDir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return nil, err
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	// Twice: a server may start between finding none and starting ours.
	for range 2 {
		c, err := attach(ctx, dataDir, logger)
		if err != nil || c != nil {
			return c, err
		}
		c, err = Start(ctx, opts)
		if !errors.Is(err, errInUse) {
			return c, err
		}
	}
	return nil, fmt.Errorf("data dir %s: a PostgreSQL started on it and stopped again while we looked; try again", dataDir)
}

// Shared reports whether the server belongs to another process: Open found
// it running. Stop and Start then do nothing.
func (c *Cluster) Shared() bool { return c.shared }

// attach returns a Shared cluster for the live postgres that dataDir's
// postmaster.pid names, once it accepts connections; nil if none runs (or
// the one found exits while we wait).
func attach(ctx context.Context, dataDir string, logger *slog.Logger) (*Cluster, error) {
	lock, err := readLockFile(dataDir)
	if err != nil || lock.pid == 0 || !processAlive(lock.pid) || !isPostgresFor(lock.pid, dataDir) {
		return nil, err
	}
	if lock.socketDir == "" || lock.port == 0 {
		return nil, fmt.Errorf("data dir %s is in use by a PostgreSQL (pid %d) that listens on no unix socket (postmaster.pid names none)",
			dataDir, lock.pid)
	}
	c := &Cluster{
		dataDir:   dataDir,
		socketDir: lock.socketDir,
		port:      lock.port,
		logPath:   filepath.Join(dataDir, "log", "postgres.log"),
		logger:    logger,
		shared:    true,
	}
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		// A server starting up or shutting down refuses connections a while.
		err := c.checkServesDataDir(ctx)
		var other *otherDataDirError
		switch {
		case err == nil:
			logger.Info("using the PostgreSQL already running on the data dir", "data_dir", dataDir,
				"socket_dir", c.socketDir, "pid", lock.pid)
			return c, nil
		case errors.As(err, &other):
			return nil, err
		case !processAlive(lock.pid):
			return nil, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("data dir %s is in use by PostgreSQL (pid %d), which did not accept connections on %s (%w): %v",
				dataDir, lock.pid, c.socketDir, ctx.Err(), err)
		case <-tick.C:
		}
	}
}

// otherDataDirError says that the server at our socket serves another data dir.
type otherDataDirError struct{ socketDir, serves, want string }

func (e *otherDataDirError) Error() string {
	return fmt.Sprintf("the PostgreSQL listening in %s serves data dir %s, not %s", e.socketDir, e.serves, e.want)
}

// checkServesDataDir connects and asks the server for its data directory.
func (c *Cluster) checkServesDataDir(ctx context.Context) error {
	attemptCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := pgx.Connect(attemptCtx, c.ConnString("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var serves string
	if err := conn.QueryRow(attemptCtx, `SELECT current_setting('data_directory')`).Scan(&serves); err != nil {
		return err
	}
	if !sameDir(serves, c.dataDir) {
		return &otherDataDirError{socketDir: c.socketDir, serves: serves, want: c.dataDir}
	}
	return nil
}

// sameDir reports whether a and b name one directory.
func sameDir(a, b string) bool {
	if a == b {
		return true
	}
	ai, errA := os.Stat(a)
	bi, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(ai, bi)
}
