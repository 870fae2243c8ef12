package pgcluster_test

import (
	"context"
	"errors"
	"io/fs"
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

func TestFindBinDirFindsTheServerBinaries(t *testing.T) {
	dir, err := pgcluster.FindBinDir()
	if err != nil {
		t.Fatalf("FindBinDir: %v", err)
	}
	for _, name := range []string{"initdb", "postgres"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("FindBinDir returned %s, which has no %s: %v", dir, name, err)
		}
	}
}

func TestStartWithBadBinDirSaysWhatToInstall(t *testing.T) {
	binDir := t.TempDir()
	_, err := pgcluster.Start(t.Context(), pgcluster.Options{DataDir: filepath.Join(t.TempDir(), "data"), BinDir: binDir})
	if err == nil {
		t.Fatal("Start with a BinDir lacking initdb and postgres succeeded, want an error")
	}
	for _, want := range []string{
		"PostgreSQL server binaries not found (looked in " + binDir + ")",
		"apt-get install postgresql",
		"DATABASE_URL",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

func TestDataSurvivesRestart(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(serverDir(t), "data")

	first := startCluster(t, pgcluster.Options{DataDir: dataDir, Fast: true})
	execSQL(t, first.ConnString("postgres"), "CREATE TABLE kept (note text); INSERT INTO kept VALUES ('still here')")

	_, err := pgcluster.Start(t.Context(), pgcluster.Options{DataDir: dataDir, Fast: true})
	if err == nil || !strings.Contains(err.Error(), "is in use by another PostgreSQL (pid ") {
		t.Fatalf("second Start on a running data dir: got error %v, want one saying it is in use", err)
	}

	stop(t, first)
	if err := first.Stop(t.Context()); err != nil {
		t.Errorf("second Stop: %v, want nil (Stop is idempotent)", err)
	}
	if socketDir := hostOf(t, first.ConnString("postgres")); exists(socketDir) {
		t.Errorf("socket dir %s still exists after Stop", socketDir)
	}

	// Without Fast: the settings `make run` uses.
	second := startCluster(t, pgcluster.Options{DataDir: dataDir})
	if got := queryNote(t, second.ConnString("postgres")); got != "still here" {
		t.Errorf("after restart, kept.note = %q, want %q", got, "still here")
	}

	connString := second.ConnString("postgres")
	stop(t, second)
	if err := second.Start(t.Context()); err != nil {
		t.Fatalf("Start after Stop: %v", err)
	}
	if got := second.ConnString("postgres"); got != connString {
		t.Errorf("ConnString changed across Stop and Start: %q, then %q", connString, got)
	}
	if got := queryNote(t, connString); got != "still here" {
		t.Errorf("after Stop and Start, kept.note = %q, want %q", got, "still here")
	}
}

func TestStaleLockFileDoesNotBlockStart(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(serverDir(t), "data")
	stop(t, startCluster(t, pgcluster.Options{DataDir: dataDir, Fast: true}))

	// postgres takes a pid it may not signal for a dead one, so the other
	// program runs as the owner of the data dir, which is the server user.
	unrelated := exec.Command("sleep", "60")
	unrelated.SysProcAttr = &syscall.SysProcAttr{Credential: ownerOf(t, dataDir)}
	if err := unrelated.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = unrelated.Process.Kill()
		_ = unrelated.Wait()
	})
	finished := exec.Command("true")
	if err := finished.Run(); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		pid  int
	}{
		{"pid now used by another program", unrelated.Process.Pid},
		{"pid of a process that has exited", finished.Process.Pid},
	} {
		writeLockFile(t, dataDir, tc.pid)
		c, err := pgcluster.Start(t.Context(), pgcluster.Options{DataDir: dataDir, Fast: true})
		if err != nil {
			t.Fatalf("%s: Start: %v", tc.name, err)
		}
		stop(t, c)
	}
}

func TestStartFailureQuotesTheServerLog(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(serverDir(t), "data")
	c := startCluster(t, pgcluster.Options{DataDir: dataDir, Fast: true})
	stop(t, c)
	appendFile(t, filepath.Join(dataDir, "postgresql.conf"), "this line is not a setting\n")

	_, err := pgcluster.Start(t.Context(), pgcluster.Options{DataDir: dataDir, Fast: true})
	if err == nil {
		t.Fatal("Start with a broken postgresql.conf succeeded, want an error")
	}
	for _, want := range []string{"exited during start-up", c.LogPath(), "syntax error"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

// serverDir returns a new directory that the unprivileged server user can
// reach when the tests run as root: t.TempDir's own parent is mode 0700.
func serverDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func startCluster(t *testing.T, opts pgcluster.Options) *pgcluster.Cluster {
	t.Helper()
	c, err := pgcluster.Start(t.Context(), opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return c
}

func stop(t *testing.T, c *pgcluster.Cluster) {
	t.Helper()
	if err := c.Stop(t.Context()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
}

func execSQL(t *testing.T, connString, sql string) {
	t.Helper()
	conn := connect(t, connString)
	if _, err := conn.Exec(t.Context(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func queryNote(t *testing.T, connString string) string {
	t.Helper()
	conn := connect(t, connString)
	var note string
	if err := conn.QueryRow(t.Context(), "SELECT note FROM kept").Scan(&note); err != nil {
		t.Fatalf("reading kept: %v", err)
	}
	return note
}

func connect(t *testing.T, connString string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), connString)
	if err != nil {
		t.Fatalf("connecting to %s: %v", connString, err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

func hostOf(t *testing.T, connString string) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(connString)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Host
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, fs.ErrNotExist)
}

// writeLockFile leaves a postmaster.pid as a crashed server would, readable
// by the server user when that is not us.
func writeLockFile(t *testing.T, dataDir string, pid int) {
	t.Helper()
	content := strconv.Itoa(pid) + "\n" + dataDir + "\n1700000000\n5432\n/tmp\n\n  5432001         0\nready   \n"
	if err := os.WriteFile(filepath.Join(dataDir, "postmaster.pid"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func ownerOf(t *testing.T, path string) *syscall.Credential {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return &syscall.Credential{Uid: st.Uid, Gid: st.Gid}
}

func appendFile(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}
