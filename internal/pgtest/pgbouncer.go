package pgtest

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/revenue-api/revenue-api/internal/pgcluster"
)

// pgbouncerConf is PgBouncer 1.18 with its stock settings but for what a
// private instance on loopback needs: transaction pooling, every database
// of the test server (the fallback "*" entry names each by the client's
// database name), no authentication on loopback (trust still wants the user
// in auth_file), and no ignore_startup_parameters beyond the one pgjdbc
// needs, so that a client sending any other unsupported startup parameter
// is refused as in a stock deployment.
const pgbouncerConf = `[databases]
* = {{server}}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {{port}}
unix_socket_dir =
auth_type = trust
auth_file = {{dir}}/userlist.txt
pool_mode = transaction
ignore_startup_parameters = extra_float_digits
pidfile = {{dir}}/pgbouncer.pid
`

// PgBouncer is a private PgBouncer in transaction pooling mode in front of
// this test binary's PostgreSQL.
type PgBouncer struct {
	addr string // 127.0.0.1:PORT
	user string
	log  string
	pid  int
}

// StartPgBouncer runs PgBouncer as a child process on a free loopback port
// until the test ends. A machine without PgBouncer fails the test, saying
// how to install it: the test is not skipped.
func StartPgBouncer(t testing.TB) *PgBouncer {
	t.Helper()
	if current == nil {
		t.Fatal("pgtest.StartPgBouncer: no PostgreSQL; TestMain must call os.Exit(pgtest.Run(m, setup))")
	}
	return StartPgBouncerFor(t, current.admin)
}

// StartPgBouncerFor is StartPgBouncer in front of another PostgreSQL
// server, the one the connection string admin reaches (its host, port,
// user and password; every database on it is served).
func StartPgBouncerFor(t testing.TB, admin string) *PgBouncer {
	t.Helper()
	bin := pgbouncerBinary(t)
	server, err := pgx.ParseConfig(admin)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "revenue-pgbouncer-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// PgBouncer refuses to run as root: as root, run it as PostgreSQL's own
	// user, who alone may enter the server's socket directory, and give it
	// dir for its pid file and log.
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		if cred, err = unprivileged(server.Host); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "userlist.txt"), []byte(fmt.Sprintf("%q \"\"\n", server.User)), 0o644); err != nil {
		t.Fatal(err)
	}
	target := fmt.Sprintf("host=%s port=%d user=%s", server.Host, server.Port, server.User)
	if server.Password != "" {
		target += " password=" + server.Password
	}
	b := &PgBouncer{user: server.User, log: filepath.Join(dir, "pgbouncer.log")}
	// The port is free when we ask; should another process take it first,
	// PgBouncer exits and we try another.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		conf := strings.NewReplacer("{{server}}", target, "{{port}}", strconv.Itoa(port), "{{dir}}", dir).Replace(pgbouncerConf)
		confPath := filepath.Join(dir, "pgbouncer.ini")
		if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		b.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if lastErr = b.run(t, bin, confPath, cred); lastErr == nil {
			return b
		}
	}
	t.Fatalf("PgBouncer did not start: %v", lastErr)
	return nil
}

// URL returns a URL that reaches, through PgBouncer, the database that
// connString (from NewDatabase) names.
func (b *PgBouncer) URL(t testing.TB, connString string) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(connString)
	if err != nil {
		t.Fatal(err)
	}
	u := url.URL{Scheme: "postgres", User: url.User(b.user), Host: b.addr, Path: "/" + cfg.Database, RawQuery: "sslmode=disable"}
	return u.String()
}

// Pid returns PgBouncer's process id, e.g. to read its CPU time.
func (b *PgBouncer) Pid() int { return b.pid }

// Log returns what PgBouncer has logged so far, for failure messages.
func (b *PgBouncer) Log() string {
	out, err := os.ReadFile(b.log)
	if err != nil {
		return err.Error()
	}
	return string(out)
}

// run starts PgBouncer and waits until it answers; on failure it has
// stopped it again. It is stopped when the test ends.
func (b *PgBouncer) run(t testing.TB, bin, confPath string, cred *syscall.Credential) error {
	out, err := os.Create(b.log)
	if err != nil {
		return err
	}
	defer out.Close()
	if cred != nil {
		if err := os.Chown(b.log, int(cred.Uid), int(cred.Gid)); err != nil {
			return err
		}
	}
	cmd := exec.Command(bin, confPath)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	deadline := time.Now().Add(15 * time.Second)
	probe := fmt.Sprintf("postgres://%s@%s/postgres?sslmode=disable&connect_timeout=2", url.PathEscape(b.user), b.addr)
	for {
		select {
		case <-exited:
			return fmt.Errorf("pgbouncer exited: %s", b.Log())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, probe)
		if err == nil {
			err = conn.Ping(ctx)
			conn.Close(ctx)
		}
		cancel()
		if err == nil {
			b.pid = cmd.Process.Pid
			t.Cleanup(stop)
			return nil
		}
		if time.Now().After(deadline) {
			stop()
			return fmt.Errorf("pgbouncer does not answer on %s: %v; its log:\n%s", b.addr, err, b.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pgbouncerBinary finds PgBouncer (Debian puts it in /usr/sbin) or fails
// the test saying how to install it.
func pgbouncerBinary(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("pgbouncer"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/sbin/pgbouncer", "/usr/local/sbin/pgbouncer", "/usr/local/bin/pgbouncer", "/opt/homebrew/bin/pgbouncer"} {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	t.Fatal("this test runs the service through PgBouncer in transaction pooling mode, and PgBouncer is not installed: " +
		"run scripts/install-test-deps.sh (apt-get install -y pgbouncer on Debian or Ubuntu, brew install pgbouncer on macOS)")
	return ""
}

// unprivileged returns the credential PgBouncer runs with when we are root,
// with no supplementary groups: the owner of the server's socket directory
// host, or for a server reached over TCP the postgres user, else nobody.
func unprivileged(host string) (*syscall.Credential, error) {
	if strings.HasPrefix(host, "/") {
		fi, err := os.Stat(host)
		if err != nil {
			return nil, fmt.Errorf("who may reach the PostgreSQL server: %w", err)
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != 0 {
			return &syscall.Credential{Uid: st.Uid, Gid: st.Gid, Groups: []uint32{}}, nil
		}
	}
	return pgcluster.UnprivilegedCredential()
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
