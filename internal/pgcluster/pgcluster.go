// Package pgcluster runs a private PostgreSQL server from the binaries
// installed on the machine, listening only on a unix socket in a private
// directory. `make run` uses it with a data dir that survives restarts; tests
// use it with Fast set.
package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

const (
	// port only names the socket file (.s.PGSQL.5432): there is no TCP
	// listener, and every cluster has its own socket directory.
	port = 5432

	readyTimeout = 30 * time.Second
	// stopGrace is how long an immediate shutdown may take before SIGKILL.
	stopGrace = 5 * time.Second
	// logTailBytes is how much of the server log an error quotes.
	logTailBytes = 4 << 10
)

// Options configures Start.
type Options struct {
	// DataDir is PGDATA. It is created and initdb'd if missing or empty, and
	// reused, data and all, if already initialised.
	DataDir string
	// BinDir holds initdb and postgres; empty means FindBinDir.
	BinDir string
	// Fast trades durability for speed (initdb --no-sync; fsync,
	// synchronous_commit and full_page_writes off): for tests, whose data
	// may be lost in a crash of the machine.
	Fast bool
	// Logger receives start, stop and unexpected-exit messages; nil discards them.
	Logger *slog.Logger
}

// Cluster is a running (or stopped) private PostgreSQL server.
type Cluster struct {
	binDir    string
	dataDir   string
	socketDir string
	port      int
	logPath   string
	fast      bool
	runAs     *serverUser // nil unless we are root
	logger    *slog.Logger

	// shared is set when the server was found running (Open): another
	// process started it and stops it, never this Cluster.
	shared bool

	mu   sync.Mutex
	proc *process // nil while stopped
}

// process is one run of the postgres server.
type process struct {
	cmd      *exec.Cmd
	log      *os.File
	logStart int64         // where this run's output begins in the log
	done     chan struct{} // closed once the process has exited
	err      error         // how it exited; read only after done is closed
	// watched is set while an exit would be a surprise: after start-up and
	// before Stop.
	watched atomic.Bool
}

// Start initialises opts.DataDir if needed, starts postgres on it and waits
// until it accepts connections. The server's output is appended to
// <DataDir>/log/postgres.log. When we are root, the server runs as the
// postgres user, or nobody, which then owns the data dir. ctx bounds start-up
// only; the server runs until Stop, or until this process dies.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.DataDir == "" {
		return nil, errors.New("pgcluster: Options.DataDir is required")
	}
	dataDir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return nil, err
	}
	binDir := opts.BinDir
	if binDir == "" {
		if binDir, err = FindBinDir(); err != nil {
			return nil, err
		}
	} else if !hasServerBinaries(binDir) {
		return nil, binariesNotFound(binDir)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c := &Cluster{
		binDir:  binDir,
		dataDir: dataDir,
		port:    port,
		logPath: filepath.Join(dataDir, "log", "postgres.log"),
		fast:    opts.Fast,
		logger:  logger,
	}
	if os.Geteuid() == 0 {
		if c.runAs, err = unprivilegedUser(); err != nil {
			return nil, err
		}
	}
	if err := c.prepareDataDir(ctx); err != nil {
		return nil, err
	}

	// The socket path must fit in about 107 bytes, so it lives in a short
	// temporary directory, never under the data dir.
	if c.runAs != nil {
		if err := c.runAs.checkTraversable(os.TempDir()); err != nil {
			return nil, err
		}
	}
	if c.socketDir, err = os.MkdirTemp("", "revenue-pg-"); err != nil {
		return nil, err
	}
	if err := c.start(ctx); err != nil {
		return nil, errors.Join(err, os.RemoveAll(c.socketDir))
	}
	return c, nil
}

// Start starts a stopped cluster again, on the same data dir and socket
// directory, so that connection strings from ConnString stay valid. It does
// nothing if the cluster is running, or is Shared.
func (c *Cluster) Start(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.shared {
		return nil
	}
	if c.proc != nil {
		select {
		case <-c.proc.done:
			// It died on its own; clean up and start afresh.
			c.proc.log.Close()
			c.proc = nil
		default:
			return nil
		}
	}
	if err := os.Mkdir(c.socketDir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	if err := c.start(ctx); err != nil {
		return errors.Join(err, os.RemoveAll(c.socketDir))
	}
	return nil
}

// ConnString returns a keyword/value connection string for database as user
// postgres over the unix socket (trust authentication).
func (c *Cluster) ConnString(database string) string {
	return fmt.Sprintf("host=%s port=%d user=postgres dbname=%s", quoteValue(c.socketDir), c.port, quoteValue(database))
}

// CreateDatabase creates the database name, a copy of template unless that
// is empty, on the server that connString reaches (at a maintenance
// database such as postgres): a private one or any other. A database of
// that name already there is kept as it is.
func CreateDatabase(ctx context.Context, connString, name, template string) error {
	conn, err := pgx.Connect(ctx, connString)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return nil
	}
	sql := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize()
	if template != "" {
		sql += " TEMPLATE " + pgx.Identifier{template}.Sanitize()
	}
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// LogPath returns the file that the server's output is appended to.
func (c *Cluster) LogPath() string {
	return c.logPath
}

// Stop shuts the server down fast (SIGINT: open transactions are rolled back
// and clients disconnected), waits for it to exit and removes the socket
// directory. If ctx ends first, the server is shut down immediately (SIGQUIT,
// then SIGKILL) and Stop returns an error. Stopping a stopped cluster does
// nothing, and so does stopping a Shared one: its server is left running for
// the process that started it.
func (c *Cluster) Stop(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.shared {
		return nil
	}
	p := c.proc
	if p == nil {
		return nil
	}
	c.proc = nil
	err := p.stop(ctx)
	if err == nil {
		c.logger.Info("PostgreSQL stopped", "data_dir", c.dataDir)
	}
	return errors.Join(err, os.RemoveAll(c.socketDir))
}

// prepareDataDir makes the data dir ready for postgres: initialised, with a
// log directory, owned by the user that runs the server.
func (c *Cluster) prepareDataDir(ctx context.Context) error {
	if err := os.MkdirAll(filepath.Dir(c.dataDir), 0o755); err != nil {
		return err
	}
	if c.runAs != nil {
		if err := c.runAs.checkTraversable(filepath.Dir(c.dataDir)); err != nil {
			return err
		}
	}
	initialised, err := isInitialised(c.dataDir)
	if err != nil {
		return err
	}
	if !initialised {
		if err := makeEmptyDataDir(c.dataDir); err != nil {
			return err
		}
		if c.runAs != nil {
			if err := os.Chown(c.dataDir, int(c.runAs.uid), int(c.runAs.gid)); err != nil {
				return err
			}
		}
		if err := c.initdb(ctx); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Dir(c.logPath), 0o700); err != nil {
		return err
	}
	if c.runAs != nil {
		return c.runAs.chownAll(c.dataDir)
	}
	return nil
}

// initdb creates the cluster, with locale C.UTF-8 where the C library has it
// and C otherwise.
func (c *Cluster) initdb(ctx context.Context) error {
	c.logger.Info("initialising PostgreSQL data dir", "data_dir", c.dataDir, "bin_dir", c.binDir)
	var (
		out []byte
		err error
	)
	for _, locale := range []string{"C.UTF-8", "C"} {
		args := []string{"-D", c.dataDir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=" + locale}
		if c.fast {
			args = append(args, "--no-sync")
		}
		out, err = c.command(ctx, "initdb", args...).CombinedOutput()
		if err == nil {
			return nil
		}
		if !strings.Contains(string(out), "invalid locale name") {
			break
		}
	}
	return fmt.Errorf("initdb %s: %w\n%s", c.dataDir, err, out)
}

// start runs postgres and waits until it accepts connections. The socket
// directory must exist. The caller holds c.mu or owns c alone.
func (c *Cluster) start(ctx context.Context) error {
	if err := checkLockFile(c.dataDir); err != nil {
		return err
	}
	logFile, err := os.OpenFile(c.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	if c.runAs != nil {
		for _, path := range []string{c.socketDir, c.logPath} {
			if err := os.Chown(path, int(c.runAs.uid), int(c.runAs.gid)); err != nil {
				logFile.Close()
				return err
			}
		}
	}
	logStart, err := logFile.Seek(0, io.SeekEnd)
	if err != nil {
		logFile.Close()
		return err
	}

	args := []string{
		"-D", c.dataDir,
		"-k", c.socketDir,
		"-p", strconv.Itoa(port),
		"-c", "listen_addresses=",
		"-c", "max_connections=200",
	}
	if c.fast {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	// The server must outlive ctx, which bounds start-up only.
	cmd := c.command(context.Background(), "postgres", args...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	p := &process{cmd: cmd, log: logFile, logStart: logStart, done: make(chan struct{})}
	began := time.Now()
	started := make(chan error)
	go func() {
		// Pdeathsig fires when the thread that started the child exits, not
		// the process (golang/go#27505); the Go runtime ends a thread when a
		// goroutine locked to it returns. Locked to this goroutine until the
		// server exits, the thread is no other's to end.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.err = cmd.Wait()
		close(p.done)
		if p.watched.Load() {
			c.logger.Error("PostgreSQL exited unexpectedly", "err", p.err, "log", c.logPath)
		}
	}()
	if err := <-started; err != nil {
		logFile.Close()
		return err
	}

	if err := c.waitReady(ctx, p); err != nil {
		stopCtx, cancel := context.WithTimeout(context.Background(), stopGrace)
		defer cancel()
		_ = p.stop(stopCtx) // err, with the end of the log, says more
		return err
	}
	p.watched.Store(true)
	c.proc = p
	c.logger.Info("PostgreSQL ready", "data_dir", c.dataDir, "socket_dir", c.socketDir,
		"log", c.logPath, "pid", cmd.Process.Pid, "took", time.Since(began).Round(time.Millisecond))
	return nil
}

// waitReady polls with real connections until one succeeds, the server
// exits, or readyTimeout passes.
func (c *Cluster) waitReady(ctx context.Context, p *process) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		attemptCtx, cancelAttempt := context.WithTimeout(ctx, 2*time.Second)
		conn, err := pgx.Connect(attemptCtx, c.ConnString("postgres"))
		cancelAttempt()
		if err == nil {
			return conn.Close(ctx)
		}
		select {
		case <-p.done:
			return fmt.Errorf("postgres exited during start-up (%v); the end of %s:\n%s", p.err, c.logPath, p.logTail())
		case <-ctx.Done():
			return fmt.Errorf("postgres did not accept connections (%w; last attempt: %v); the end of %s:\n%s",
				ctx.Err(), err, c.logPath, p.logTail())
		case <-tick.C:
		}
	}
}

// command prepares one of the server binaries to run as the server user,
// interrupted (SIGINT) when ctx ends.
func (c *Cluster) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(c.binDir, name), args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGINT) }
	cmd.WaitDelay = stopGrace
	// The server user may not be allowed into our working directory.
	cmd.Dir = "/"
	cmd.Env = serverEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// In its own process group, a terminal's ^C reaches only us, and we
		// stop the server once, rather than both of us getting the signal.
		Setpgid: true,
		// If we die, the server shuts down fast rather than outlive us.
		Pdeathsig: syscall.SIGINT,
	}
	if c.runAs != nil {
		cmd.SysProcAttr.Credential = c.runAs.credential()
	}
	return cmd
}

// stop shuts p down fast, or immediately once ctx ends, and waits for it.
// Whatever it returns, the process has exited.
func (p *process) stop(ctx context.Context) error {
	defer p.log.Close()
	p.watched.Store(false)
	select {
	case <-p.done:
		if p.err != nil {
			return fmt.Errorf("postgres had already exited: %w", p.err)
		}
		return nil
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGINT) // fails only if it has just exited
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
	}
	_ = p.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-p.done:
	case <-time.After(stopGrace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	return fmt.Errorf("postgres did not shut down in time and was shut down immediately: %w", ctx.Err())
}

// logTail returns the end of what this run wrote to the server log.
func (p *process) logTail() string {
	b, err := readTail(p.log.Name(), p.logStart, logTailBytes)
	if err != nil {
		return fmt.Sprintf("(cannot read the log: %v)", err)
	}
	return b
}

// readTail returns the last whole lines, at most limit bytes, of the file at
// path after offset from.
func readTail(path string, from, limit int64) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	start := max(from, fi.Size()-limit)
	b, err := io.ReadAll(io.NewSectionReader(f, start, fi.Size()-start))
	if err != nil {
		return "", err
	}
	if start > from {
		if i := strings.IndexByte(string(b), '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return strings.TrimRight(string(b), "\n"), nil
}

// serverEnv is our environment without PG* variables, which initdb and
// postgres would otherwise read (PGDATA, PGPORT, PGOPTIONS, ...).
func serverEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			env = append(env, kv)
		}
	}
	return env
}

// quoteValue quotes s for a keyword/value connection string when it needs it.
func quoteValue(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n\r\v\f'\\") {
		return s
	}
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
