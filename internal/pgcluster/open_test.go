package pgcluster_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/revenue-api/revenue-api/internal/pgcluster"
)

// holdEnv makes this test binary, run with -test.run=TestHoldClusterHelper,
// start a cluster on the data dir it names and keep it until its stdin ends:
// the server of another process, as `make run` is for an admin command.
const holdEnv = "PGCLUSTER_TEST_HOLD_DATA_DIR"

// TestHoldClusterHelper is the other process of the tests below; run
// normally, it has nothing to do.
func TestHoldClusterHelper(t *testing.T) {
	dataDir := os.Getenv(holdEnv)
	if dataDir == "" {
		return
	}
	c, err := pgcluster.Start(context.Background(), pgcluster.Options{DataDir: dataDir, Fast: true})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("ready", c.ConnString("postgres"))
	_, _ = io.Copy(io.Discard, os.Stdin)
	if err := c.Stop(context.Background()); err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// holdCluster runs TestHoldClusterHelper on dataDir in a child process and
// returns its connection string and the function that makes it stop its
// server and exit.
func holdCluster(t *testing.T, dataDir string) (connString string, release func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHoldClusterHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), holdEnv+"="+dataDir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once bool
	release = func() {
		if once {
			return
		}
		once = true
		stdin.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("the process holding the cluster: %v", err)
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("the process holding the cluster did not exit")
		}
	}
	t.Cleanup(release)
	line, err := bufio.NewReader(stdout).ReadString('\n')
	connString, ok := strings.CutPrefix(strings.TrimSpace(line), "ready ")
	if !ok {
		t.Fatalf("the process holding the cluster said %q (%v), want ready", line, err)
	}
	return connString, release
}

func TestOpenSharesTheServerAnotherProcessRuns(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(serverDir(t), "data")
	ownerConnString, release := holdCluster(t, dataDir)

	c, err := pgcluster.Open(t.Context(), pgcluster.Options{DataDir: dataDir, Fast: true})
	if err != nil {
		t.Fatalf("Open beside a running server: %v", err)
	}
	if !c.Shared() {
		t.Error("Open beside a running server: Shared() = false, want true")
	}
	if got := c.ConnString("postgres"); got != ownerConnString {
		t.Errorf("ConnString = %q, want the running server's %q", got, ownerConnString)
	}
	execSQL(t, c.ConnString("postgres"), "CREATE TABLE kept (note text); INSERT INTO kept VALUES ('written beside')")
	if err := c.Stop(t.Context()); err != nil {
		t.Fatalf("Stop of a shared cluster: %v", err)
	}
	if got := queryNote(t, ownerConnString); got != "written beside" {
		t.Errorf("the owner reads kept.note = %q, want %q", got, "written beside")
	}

	// Once the owner has stopped, Open starts a server of its own, and
	// Stop stops it.
	release()
	own, err := pgcluster.Open(t.Context(), pgcluster.Options{DataDir: dataDir, Fast: true})
	if err != nil {
		t.Fatalf("Open with no server running: %v", err)
	}
	if own.Shared() {
		t.Error("Open with no server running: Shared() = true, want false")
	}
	if got := queryNote(t, own.ConnString("postgres")); got != "written beside" {
		t.Errorf("kept.note = %q, want %q", got, "written beside")
	}
	stop(t, own)
	if exists(filepath.Join(dataDir, "postmaster.pid")) {
		t.Error("postmaster.pid still exists after Stop of the cluster Open started")
	}
}

// The socket directory that postmaster.pid names may belong to another
// server by now; Open connects only to the server of its data dir.
func TestOpenRefusesAServerOfAnotherDataDir(t *testing.T) {
	t.Parallel()
	dir := serverDir(t)
	mine := startCluster(t, pgcluster.Options{DataDir: filepath.Join(dir, "mine"), Fast: true})
	other := startCluster(t, pgcluster.Options{DataDir: filepath.Join(dir, "other"), Fast: true})

	lockFile := filepath.Join(dir, "mine", "postmaster.pid")
	original, err := os.ReadFile(lockFile)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(original), "\n")
	lines[4] = hostOf(t, other.ConnString("postgres"))
	if err := os.WriteFile(lockFile, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.WriteFile(lockFile, original, 0o600) })

	_, err = pgcluster.Open(t.Context(), pgcluster.Options{DataDir: filepath.Join(dir, "mine"), Fast: true})
	want := "serves data dir " + filepath.Join(dir, "other") + ", not " + filepath.Join(dir, "mine")
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Open with a lock file naming another server's socket: %v, want an error containing %q", err, want)
	}
	if err := os.WriteFile(lockFile, original, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := pgcluster.Open(t.Context(), pgcluster.Options{DataDir: filepath.Join(dir, "mine"), Fast: true})
	if err != nil || !c.Shared() || c.ConnString("x") != mine.ConnString("x") {
		t.Fatalf("Open with the lock file restored: %v, want the running server shared", err)
	}
}

// Start still refuses a data dir in use: only Open shares.
func TestStartRefusesADataDirInUseByAnotherProcess(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(serverDir(t), "data")
	holdCluster(t, dataDir)
	_, err := pgcluster.Start(t.Context(), pgcluster.Options{DataDir: dataDir, Fast: true})
	if err == nil || !strings.Contains(err.Error(), "is in use by another PostgreSQL (pid ") {
		t.Fatalf("Start beside a running server: %v, want an error saying the data dir is in use", err)
	}
}
