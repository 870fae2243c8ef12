package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/revenue-api/revenue-api/internal/pgtest"
	"github.com/revenue-api/revenue-api/internal/postgres"
	"github.com/revenue-api/revenue-api/internal/syncbuf"
)

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "hash-worker" {
		// serve, run in these tests, starts its hash workers from this binary.
		if err := run(context.Background(), os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	if path := os.Getenv(replacedBinaryEnv); path != "" {
		if err := hashAfterReplacingSelf(path); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(pgtest.Run(m, postgres.Migrate))
}

// testEnv returns a getenv over vars, with cheap password hashing.
func testEnv(vars map[string]string) func(string) string {
	base := map[string]string{
		"REVENUE_ARGON2_MEMORY_KIB": "8192",
		"REVENUE_ARGON2_ITERATIONS": "1",
		"REVENUE_LOG_LEVEL":         "warn",
	}
	for k, v := range vars {
		base[k] = v
	}
	return func(k string) string { return base[k] }
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startServe runs `serve` in-process and waits for /healthz; stop ends it
// like SIGTERM does and returns run's error.
func startServe(t *testing.T, vars map[string]string) (base string, stop func() error) {
	t.Helper()
	addr := freeAddr(t)
	vars["REVENUE_HTTP_ADDR"] = addr
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncbuf.Buffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve"}, testEnv(vars), strings.NewReader(""), logs, logs) }()
	base = "http://" + addr
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		select {
		case err := <-done:
			cancel()
			t.Fatalf("serve exited before it was healthy: %v\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("serve not healthy after 60s:\n%s", logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	var once sync.Once
	var result error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case result = <-done:
			case <-time.After(60 * time.Second):
				result = fmt.Errorf("serve did not stop within 60s")
			}
		})
		return result
	}
	t.Cleanup(func() { _ = stop() })
	return base, stop
}

func login(t *testing.T, base, email, password string) (int, map[string]any) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"email": email, "password": password})
	resp, err := http.Post(base+"/login", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func get(t *testing.T, url, token string) int {
	t.Helper()
	return send(t, http.MethodGet, url, token)
}

func post(t *testing.T, url, token string) int {
	t.Helper()
	return send(t, http.MethodPost, url, token)
}

// send makes a request without a body and returns the status.
func send(t *testing.T, method, url, token string) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// privateDataVars are the settings of a serve with no DATABASE_URL, in a
// fresh directory: its private PostgreSQL's data, the keys, no web app.
func privateDataVars(t *testing.T) map[string]string {
	t.Helper()
	dir := t.TempDir()
	// When tests run as root, PostgreSQL runs as an unprivileged user that
	// must reach its data dir: open the test's directories to it.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return map[string]string{"REVENUE_DATA_DIR": filepath.Join(dir, "data"), "REVENUE_KEYS_DIR": filepath.Join(dir, "keys"), "REVENUE_WEB_DIR": ""}
}

// A new user's path: no DATABASE_URL, so serve starts a private PostgreSQL,
// migrates, seeds the demo users and generates a key; data survives a restart.
func TestServeWithPrivatePostgreSQL(t *testing.T) {
	vars := privateDataVars(t)
	base, stop := startServe(t, vars)

	status, tok := login(t, base, "alice@example.com", "alice-password-1")
	if status != 200 {
		t.Fatalf("login as the demo user: %d %v", status, tok)
	}
	access := tok["access_token"].(string)
	if got := get(t, base+"/revenue", access); got != 200 {
		t.Errorf("revenue: %d", got)
	}
	if got := get(t, base+"/revenue", ""); got != 401 {
		t.Errorf("revenue without a token: %d", got)
	}
	bob, tokBob := login(t, base, "bob@example.com", "bob-password-1")
	if bob != 200 || get(t, base+"/revenue", tokBob["access_token"].(string)) != 403 {
		t.Errorf("bob: login %d, want 200 and then 403 on revenue", bob)
	}
	keys, _ := filepath.Glob(filepath.Join(vars["REVENUE_KEYS_DIR"], "*.pem"))
	if len(keys) != 1 {
		t.Fatalf("%d generated keys, want 1", len(keys))
	}
	if info, _ := os.Stat(keys[0]); info.Mode().Perm() != 0o600 {
		t.Errorf("generated key mode %v, want 0600", info.Mode().Perm())
	}
	if err := stop(); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}

	// Restart on the same data: the old access token verifies with the same
	// key, and the database (users, sessions) is still there.
	base, _ = startServe(t, vars)
	if got := get(t, base+"/me", access); got != 200 {
		t.Errorf("token from before the restart: %d, want 200", got)
	}
	body, _ := json.Marshal(map[string]string{"refresh_token": tok["refresh_token"].(string)})
	resp, err := http.Post(base+"/token/refresh", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("refresh with a session from before the restart: %d, want 200", resp.StatusCode)
	}
}

func TestServeRefusesBadKeys(t *testing.T) {
	weak := "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\nKUpRKfFLfRYC9AIKjbJTWit+CqvjWYzvQwECAwEAAQJAIJLixBy2qpFoS4DSmoEm\no3qGy0t6z09AIJtH+5OeRV1be+N4cDYJKffGzDa88vQENZiRm0GRq6a+HPGQMd2k\nTQIhAKMSvzIBnni7ot/OSie2TmJLY4SwTQAevXysE2RbFDYdAiEBCUEaRQnMnbp7\n9mxDXDf6AU0cN/RPBjb9qSHDcWZHGzUCIG2Es59z8ugGrDY+pxLQnwfotadxd+Uy\nv/Ow5T0q5gIJAiEAyS4RaI9YG8EWx/2w0T67ZUVAw8eOMB6BIUg0Xcu+3okCIBOs\n/5OiPgoTdSy7bcF9IGpSE8ZgGKzgYQVZeN97YE00\n-----END RSA PRIVATE KEY-----\n"
	tests := []struct {
		name  string
		setup func(dir string)
		want  string
	}{
		{"missing key", func(string) {}, "no signing key"},
		{"world-readable key", func(dir string) { writeKey(t, dir, "a.pem", validKeyPEM(t), 0o644) }, "a.pem"},
		{"too weak", func(dir string) { writeKey(t, dir, "weak.pem", weak, 0o600) }, "too weak"},
		{"not a key", func(dir string) { writeKey(t, dir, "junk.pem", "hello", 0o600) }, "junk.pem"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.setup(dir)
			var stderr bytes.Buffer
			err := run(context.Background(), []string{"serve"}, testEnv(map[string]string{
				"DATABASE_URL":     "postgres://unused@127.0.0.1:1/none",
				"REVENUE_KEYS_DIR": dir,
			}), strings.NewReader(""), &stderr, &stderr)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("serve: %v, want a refusal mentioning %q", err, tt.want)
			}
			if strings.Count(strings.TrimSpace(err.Error()), "\n") != 0 {
				t.Errorf("reason spans lines: %q", err)
			}
		})
	}
}

func validKeyPEM(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	var out bytes.Buffer
	if err := run(context.Background(), []string{"keys", "generate"}, testEnv(map[string]string{"REVENUE_KEYS_DIR": dir}), nil, &out, &out); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.pem"))
	data, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func writeKey(t *testing.T, dir, name, content string, mode os.FileMode) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

// commandRunner runs the program in-process with vars as its environment,
// returning what it printed (standard output and error together).
func commandRunner(vars map[string]string) func(stdin string, args ...string) (string, error) {
	return func(stdin string, args ...string) (string, error) {
		var out bytes.Buffer
		err := run(context.Background(), args, testEnv(vars), strings.NewReader(stdin), &out, &out)
		return out.String(), err
	}
}

// commandStep is one command and what it must print, or fail with.
type commandStep struct {
	name    string
	stdin   string
	args    []string
	wantErr string
	wantOut string
}

// runSteps runs each step in order and checks its error and output.
func runSteps(t *testing.T, run func(stdin string, args ...string) (string, error), steps []commandStep) {
	t.Helper()
	for _, s := range steps {
		out, err := run(s.stdin, s.args...)
		switch {
		case s.wantErr != "" && (err == nil || !strings.Contains(err.Error(), s.wantErr)):
			t.Errorf("%s: err %v, want %q", s.name, err, s.wantErr)
		case s.wantErr == "" && err != nil:
			t.Errorf("%s: %v", s.name, err)
		case !strings.Contains(out, s.wantOut):
			t.Errorf("%s: output %q, want %q", s.name, out, s.wantOut)
		}
	}
}

func TestAdminCommands(t *testing.T) {
	admin := commandRunner(map[string]string{"DATABASE_URL": pgtest.NewDatabase(t)})
	steps := []commandStep{
		{"migrate", "", []string{"migrate"}, "", "migrations applied"},
		{"add organization", "", []string{"orgs", "add", "-name", "Initech", "-currency", "eur"}, "", `organization "Initech" created`},
		{"duplicate organization", "", []string{"orgs", "add", "-name", "Initech"}, "already exists", ""},
		{"bad currency", "", []string{"orgs", "add", "-name", "Hooli", "-currency", "dollars"}, "currency", ""},
		{"add user", "peter-password-1\n", []string{"users", "add", "-org", "Initech", "-email", "Peter@Initech.example", "-roles", "finance"}, "", "user peter@initech.example created"},
		{"duplicate email", "another-password-1\n", []string{"users", "add", "-org", "Initech", "-email", "peter@initech.example"}, "already exists", ""},
		{"unknown organization", "milton-password-1\n", []string{"users", "add", "-org", "Nope", "-email", "milton@initech.example"}, `no organization named "Nope"`, ""},
		{"weak password", "short\n", []string{"users", "add", "-org", "Initech", "-email", "bill@initech.example"}, "weak password", ""},
		{"unknown role", "bill-password-12\n", []string{"users", "add", "-org", "Initech", "-email", "bill@initech.example", "-roles", "god"}, "unknown role", ""},
		{"bad email", "bill-password-12\n", []string{"users", "add", "-org", "Initech", "-email", "not-an-email"}, "invalid email", ""},
		{"no password", "", []string{"users", "add", "-org", "Initech", "-email", "bill@initech.example"}, "no password", ""},
		{"change password", "peter-password-2\n", []string{"users", "passwd", "-email", "peter@initech.example"}, "", "sessions ended"},
		{"disable", "", []string{"users", "disable", "-email", "peter@initech.example"}, "", "disabled"},
		{"unknown user", "", []string{"users", "disable", "-email", "nobody@initech.example"}, "no user with email", ""},
		{"enable", "", []string{"users", "enable", "-email", "peter@initech.example"}, "", "enabled"},
		{"unknown command", "", []string{"frobnicate"}, "unknown command", ""},
	}
	runSteps(t, admin, steps)
	// The password never appears in the output.
	out, _ := admin("peter-password-3\n", "users", "passwd", "-email", "peter@initech.example")
	if strings.Contains(out, "peter-password-3") {
		t.Error("the password was echoed")
	}
}

// /metrics is never on the public address unless the operator opts in
// with REVENUE_METRICS_ON_MAIN (internal/httpapi tests the warning that
// start logs then).
func TestMetricsNotOnTheMainAddressByDefault(t *testing.T) {
	base, _ := startServe(t, map[string]string{
		"DATABASE_URL":          pgtest.NewDatabase(t),
		"REVENUE_KEYS_DIR":      filepath.Join(t.TempDir(), "keys"),
		"REVENUE_KEYS_GENERATE": "true",
		"REVENUE_WEB_DIR":       "",
	})
	if got := get(t, base+"/metrics", ""); got != http.StatusNotFound {
		t.Errorf("public /metrics with the defaults: %d, want 404", got)
	}
	base, _ = startServe(t, map[string]string{
		"DATABASE_URL":            pgtest.NewDatabase(t),
		"REVENUE_KEYS_DIR":        filepath.Join(t.TempDir(), "keys"),
		"REVENUE_KEYS_GENERATE":   "true",
		"REVENUE_WEB_DIR":         "",
		"REVENUE_METRICS_ON_MAIN": "true",
	})
	if got := get(t, base+"/metrics", ""); got != http.StatusOK {
		t.Errorf("public /metrics with REVENUE_METRICS_ON_MAIN=true: %d, want 200", got)
	}
}

// With REVENUE_METRICS_ADDR, /metrics is served on its own listener (for
// an operators-only network) and still not on the public address.
func TestMetricsOnASeparateAddress(t *testing.T) {
	metricsAddr := freeAddr(t)
	base, _ := startServe(t, map[string]string{
		"DATABASE_URL":          pgtest.NewDatabase(t),
		"REVENUE_KEYS_DIR":      filepath.Join(t.TempDir(), "keys"),
		"REVENUE_KEYS_GENERATE": "true",
		"REVENUE_WEB_DIR":       "",
		"REVENUE_METRICS_ADDR":  metricsAddr,
	})
	if got := get(t, base+"/metrics", ""); got != http.StatusNotFound {
		t.Errorf("public /metrics: %d, want 404 when REVENUE_METRICS_ADDR is set", got)
	}
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(body), "revenue_http_request_duration_seconds") {
		t.Errorf("metrics address: %d, want 200 with the request histogram", resp.StatusCode)
	}
}

// The server refuses oversized request headers before any handler runs.
func TestServerRefusesOversizedHeaders(t *testing.T) {
	base, _ := startServe(t, map[string]string{
		"DATABASE_URL":          pgtest.NewDatabase(t),
		"REVENUE_KEYS_DIR":      filepath.Join(t.TempDir(), "keys"),
		"REVENUE_KEYS_GENERATE": "true",
		"REVENUE_WEB_DIR":       "",
	})
	req, _ := http.NewRequest(http.MethodGet, base+"/me", nil)
	req.Header.Set("Authorization", "Bearer "+strings.Repeat("a", 20<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("20 KiB Authorization header: %d, want 431", resp.StatusCode)
	}
}

func TestPoolerHintNamesTheSetting(t *testing.T) {
	err := poolerHint(errors.New("seed demo data: service unavailable: FATAL: unsupported startup parameter: statement_timeout (SQLSTATE 08P01)"))
	if !strings.Contains(err.Error(), "REVENUE_DATABASE_POOLER=transaction") {
		t.Errorf("got %q, want a hint naming REVENUE_DATABASE_POOLER", err)
	}
	if other := errors.New("connect: refused"); poolerHint(other) != other {
		t.Error("another error must pass unchanged")
	}
}

// TestListeningAddressLoggedAtAnyLevel: with REVENUE_HTTP_ADDR=127.0.0.1:0
// the only way to learn the port is the "listening" line, so it is written
// whatever REVENUE_LOG_LEVEL (here warn) hides, and names the real port.
func TestListeningAddressLoggedAtAnyLevel(t *testing.T) {
	vars := map[string]string{
		"DATABASE_URL":          pgtest.NewDatabase(t),
		"REVENUE_KEYS_DIR":      filepath.Join(t.TempDir(), "keys"),
		"REVENUE_KEYS_GENERATE": "true",
		"REVENUE_WEB_DIR":       "",
		"REVENUE_HTTP_ADDR":     "127.0.0.1:0",
		"REVENUE_LOG_LEVEL":     "warn",
	}
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncbuf.Buffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve"}, testEnv(vars), strings.NewReader(""), logs, logs) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		for _, line := range strings.Split(logs.String(), "\n") {
			var rec struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "listening" {
				if got := get(t, "http://"+rec.Addr+"/healthz", ""); got != http.StatusOK {
					t.Fatalf("GET /healthz at the logged address %s: %d", rec.Addr, got)
				}
				return
			}
		}
		select {
		case err := <-done:
			t.Fatalf("serve ended: %v\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no \"listening\" line after 60s with REVENUE_LOG_LEVEL=warn:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestConnectionsAreCapped: with REVENUE_MAX_CONNECTIONS=3, three idle
// keep-alive connections are all the server holds: a fourth is not served
// (it waits in the kernel's queue, no file descriptor is spent on it) until
// one of the three closes; then it is.
func TestConnectionsAreCapped(t *testing.T) {
	base, _ := startServe(t, map[string]string{
		"DATABASE_URL":            pgtest.NewDatabase(t),
		"REVENUE_KEYS_DIR":        filepath.Join(t.TempDir(), "keys"),
		"REVENUE_KEYS_GENERATE":   "true",
		"REVENUE_WEB_DIR":         "",
		"REVENUE_MAX_CONNECTIONS": "3",
	})
	addr := strings.TrimPrefix(base, "http://")
	ask := func(c net.Conn) error {
		if _, err := c.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
			return err
		}
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		_, err := http.ReadResponse(bufio.NewReader(c), nil)
		return err
	}
	http.DefaultClient.CloseIdleConnections() // startServe's probe held one
	var held []net.Conn
	for i := range 3 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if err := ask(c); err != nil {
			t.Fatalf("connection %d of 3: %v", i+1, err)
		}
		held = append(held, c)
	}
	fourth, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fourth.Close() })
	if err := ask(fourth); err == nil {
		t.Fatal("a fourth connection was served beyond REVENUE_MAX_CONNECTIONS=3")
	}
	held[0].Close()
	_ = fourth.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := http.ReadResponse(bufio.NewReader(fourth), nil); err != nil {
		t.Errorf("the fourth connection once one closed: %v, want its answer", err)
	}
}
