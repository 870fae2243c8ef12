package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// adminArgsEnv makes this test binary, run with
// -test.run=TestAdminCommandHelper, run the admin command whose arguments it
// holds (separated by newlines) with the process's environment, and exit
// with its outcome: an admin command in a process of its own, as an
// operator runs it beside `make run`.
const adminArgsEnv = "REVENUE_TEST_ADMIN_ARGS"

// TestAdminCommandHelper is the admin process of the test below; run
// normally, it has nothing to do.
func TestAdminCommandHelper(t *testing.T) {
	args := os.Getenv(adminArgsEnv)
	if args == "" {
		return
	}
	if err := run(context.Background(), strings.Split(args, "\n"), os.Getenv, strings.NewReader(""), os.Stdout, os.Stdout); err != nil {
		os.Stdout.WriteString("error: " + err.Error() + "\n")
		os.Exit(1)
	}
	os.Exit(0)
}

// adminProcess runs an admin command in a new process with vars as its
// whole configuration, and returns its output and whether it succeeded.
func adminProcess(t *testing.T, vars map[string]string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestAdminCommandHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), adminArgsEnv+"="+strings.Join(args, "\n"), "DATABASE_URL=")
	getenv := testEnv(vars)
	for _, k := range []string{"REVENUE_DATA_DIR", "REVENUE_KEYS_DIR", "REVENUE_WEB_DIR",
		"REVENUE_ARGON2_MEMORY_KIB", "REVENUE_ARGON2_ITERATIONS", "REVENUE_LOG_LEVEL"} {
		cmd.Env = append(cmd.Env, k+"="+getenv(k))
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// An admin command works beside a running server, on the private
// PostgreSQL that server started, and leaves it running; with no server
// running it starts and stops one of its own.
func TestAdminCommandBesideARunningServer(t *testing.T) {
	vars := privateDataVars(t)
	base, stop := startServe(t, vars)

	status, tok := login(t, base, "bob@example.com", "bob-password-1")
	if status != 200 {
		t.Fatalf("login as bob: %d %v", status, tok)
	}
	if out, err := adminProcess(t, vars, "users", "disable", "-email", "bob@example.com"); err != nil || !strings.Contains(out, "user bob@example.com disabled") {
		t.Fatalf("users disable beside the running server: %v\n%s", err, out)
	}
	if status, _ := login(t, base, "bob@example.com", "bob-password-1"); status != 401 {
		t.Errorf("login as bob after users disable: %d, want 401", status)
	}
	body, _ := json.Marshal(map[string]string{"refresh_token": tok["refresh_token"].(string)})
	resp, err := http.Post(base+"/token/refresh", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("refresh of bob's session after users disable: %d, want 401", resp.StatusCode)
	}

	// The server's PostgreSQL is still there, for the server and the next command.
	if status, _ := login(t, base, "alice@example.com", "alice-password-1"); status != 200 {
		t.Errorf("login as alice after the admin command: %d, want 200", status)
	}
	if out, err := adminProcess(t, vars, "users", "enable", "-email", "bob@example.com"); err != nil {
		t.Fatalf("users enable beside the running server: %v\n%s", err, out)
	}
	if status, _ := login(t, base, "bob@example.com", "bob-password-1"); status != 200 {
		t.Errorf("login as bob after users enable: %d, want 200", status)
	}
	if err := stop(); err != nil {
		t.Fatalf("graceful stop of the server after the admin commands: %v", err)
	}

	// Nothing running: the command starts the private PostgreSQL and stops it.
	if out, err := adminProcess(t, vars, "users", "disable", "-email", "bob@example.com"); err != nil {
		t.Fatalf("users disable with no server running: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(vars["REVENUE_DATA_DIR"], "postgres", "postmaster.pid")); !os.IsNotExist(err) {
		t.Errorf("postmaster.pid after the admin command alone: %v, want it gone (the command stops what it started)", err)
	}
	base, _ = startServe(t, vars)
	if status, _ := login(t, base, "bob@example.com", "bob-password-1"); status != 401 {
		t.Errorf("login as bob, disabled while no server ran: %d, want 401", status)
	}
	if out, err := adminProcess(t, vars, "migrate"); err != nil || !strings.Contains(out, "migrations applied") {
		t.Errorf("migrate beside the running server: %v\n%s", err, out)
	}
	if status, _ := login(t, base, "alice@example.com", "alice-password-1"); status != 200 {
		t.Errorf("login as alice after migrate beside the server: %d, want 200", status)
	}
}
