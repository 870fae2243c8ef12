package systemtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/revenue-api/revenue-api/internal/pgtest"
	"github.com/revenue-api/revenue-api/internal/postgres"
)

// binary is the revenue-api executable that TestMain builds once.
var binary string

const (
	buildTimeout = 5 * time.Minute
	// startTimeout bounds a server's start-up: migrations, the demo seed
	// (which hashes two passwords) and listening.
	startTimeout = 60 * time.Second
	// stopTimeout is how long a server may take to shut down on SIGTERM
	// before it is killed.
	stopTimeout = 25 * time.Second
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "revenue-systemtest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "systemtest:", err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "revenue-api")
	if err := build(binary); err != nil {
		fmt.Fprintln(os.Stderr, "systemtest:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	// The template every test database copies is migrated once; the servers
	// migrate again at start, which then finds nothing to do.
	code := pgtest.Run(m, func(ctx context.Context, connString string) error {
		return postgres.Migrate(ctx, connString)
	})
	os.RemoveAll(dir)
	os.Exit(code)
}

// build compiles ./cmd/revenue-api to out. `go test` puts the go command
// that runs it first on the PATH.
func build(out string) error {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("the go command, to build the server: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, goCmd, "build", "-o", out, "github.com/revenue-api/revenue-api/cmd/revenue-api")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/revenue-api: %w\n%s", err, b)
	}
	return nil
}

// server is one revenue-api process. It reads the process's JSON log as it
// comes, for the listening address and the access log lines.
type server struct {
	name      string
	URL       string // http://127.0.0.1:PORT
	Addr      string // 127.0.0.1:PORT
	cmd       *exec.Cmd
	logPath   string
	exited    chan struct{} // closed when the process has exited
	exitErr   error         // read after exited is closed
	listening chan string   // receives the address the server logs

	mu       sync.Mutex
	requests map[string]map[int]int // route → status → access log lines
	logDone  chan struct{}
}

// baseEnv is the environment a server runs with: ours without any
// DATABASE_URL or REVENUE_ setting, then settings that keep it on loopback
// and let one address (the tests, or nginx) make many auth requests.
func baseEnv(databaseURL, keysDir string) map[string]string {
	return map[string]string{
		"DATABASE_URL":       databaseURL,
		"REVENUE_HTTP_ADDR":  "127.0.0.1:0",
		"REVENUE_KEYS_DIR":   keysDir,
		"REVENUE_ISSUER":     "http://127.0.0.1",
		"REVENUE_DEMO_SEED":  "true",
		"REVENUE_AUTH_RATE":  "100000",
		"REVENUE_AUTH_BURST": "100000",
		// Cheaper password hashing leaves the two cores to the load.
		"REVENUE_ARGON2_MEMORY_KIB": "8192",
		"REVENUE_ARGON2_ITERATIONS": "1",
		"REVENUE_LOG_LEVEL":         "info",
	}
}

// startServer starts `revenue-api serve` with env and waits until it logs
// the address it listens on. The process is killed when the test ends, if
// it is still running.
func startServer(t *testing.T, name string, env map[string]string) *server {
	t.Helper()
	s := launch(t, name, env)
	s.waitListening(t)
	return s
}

// launch starts the process; waitListening waits for it to listen.
func launch(t *testing.T, name string, env map[string]string) *server {
	t.Helper()
	cmd := exec.Command(binary, "serve")
	cmd.Dir = t.TempDir() // no web/dist here: the API alone
	cmd.Env = environ(env)
	// Should this test binary die, its servers go too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return startProcess(t, name, cmd)
}

// startProcess starts cmd, a `serve`, reading its log as it comes. The
// process is stopped when the test ends, if it is still running.
func startProcess(t *testing.T, name string, cmd *exec.Cmd) *server {
	t.Helper()
	logDir := t.TempDir()
	s := &server{
		name:      name,
		logPath:   filepath.Join(logDir, name+".log"),
		exited:    make(chan struct{}),
		requests:  map[string]map[int]int{},
		logDone:   make(chan struct{}),
		listening: make(chan string, 1),
		cmd:       cmd,
	}
	logFile, err := os.Create(s.logPath)
	if err != nil {
		t.Fatal(err)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	s.cmd.Stderr = pw
	s.cmd.Stdout = pw
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	pw.Close()
	go s.readLog(pr, logFile, s.listening)
	go func() {
		s.exitErr = s.cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() {
		s.stop(t)
		if t.Failed() {
			t.Logf("%s: the end of its log (%s):\n%s", s.name, s.logPath, s.logTail(40))
		}
	})
	return s
}

// waitListening waits until the server logs its address, or fails the test.
func (s *server) waitListening(t *testing.T) {
	t.Helper()
	if s.Addr != "" {
		return
	}
	select {
	case s.Addr = <-s.listening:
		s.URL = "http://" + s.Addr
		return
	case <-time.After(startTimeout):
	case <-s.exited:
		<-s.logDone
	}
	t.Fatalf("%s did not start listening within %s (exit: %v); the end of its log:\n%s",
		s.name, startTimeout, s.exitStatus(), s.logTail(40))
}

// environ turns settings into an environment, on top of ours without
// DATABASE_URL or REVENUE_* variables, which would otherwise leak in.
func environ(settings map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "REVENUE_") || strings.HasPrefix(kv, "DATABASE_URL=") {
			continue
		}
		env = append(env, kv)
	}
	for k, v := range settings {
		env = append(env, k+"="+v)
	}
	return env
}

// logLine is what the tests read from the server's JSON log.
type logLine struct {
	Msg    string `json:"msg"`
	Addr   string `json:"addr"`
	Route  string `json:"route"`
	Status int    `json:"status"`
}

// readLog copies the process's output to its log file, reports the
// listening address and counts access log lines by route and status.
func (s *server) readLog(r *os.File, logFile *os.File, listening chan<- string) {
	defer close(s.logDone)
	defer logFile.Close()
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	w := bufio.NewWriter(logFile)
	defer w.Flush()
	for sc.Scan() {
		line := sc.Bytes()
		w.Write(line)
		w.WriteByte('\n')
		isRequest := bytes.Contains(line, []byte(`"msg":"request"`))
		if !isRequest && !bytes.Contains(line, []byte(`"msg":"listening"`)) {
			w.Flush() // rare lines: keep the file current for failure messages
			continue
		}
		var l logLine
		if json.Unmarshal(line, &l) != nil {
			continue
		}
		if l.Msg == "listening" {
			w.Flush()
			select {
			case listening <- l.Addr:
			default:
			}
			continue
		}
		s.mu.Lock()
		byStatus := s.requests[l.Route]
		if byStatus == nil {
			byStatus = map[int]int{}
			s.requests[l.Route] = byStatus
		}
		byStatus[l.Status]++
		s.mu.Unlock()
	}
}

// served returns how many requests to route the server logged with status
// (any status when status is 0).
func (s *server) served(route string, status int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for st, c := range s.requests[route] {
		if status == 0 || st == status {
			n += c
		}
	}
	return n
}

// pid returns the process id.
func (s *server) pid() int { return s.cmd.Process.Pid }

// running reports whether the process has not exited.
func (s *server) running() bool {
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// terminate sends SIGTERM and waits for a graceful exit, returning how the
// process exited or an error if it did not exit within stopTimeout.
func (s *server) terminate() error {
	if !s.running() {
		return s.exitErr
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		return s.exitErr
	case <-time.After(stopTimeout):
		_ = s.cmd.Process.Kill()
		<-s.exited
		return fmt.Errorf("%s did not exit within %s of SIGTERM and was killed", s.name, stopTimeout)
	}
}

// stop ends the process if it runs and waits for its log to be read.
func (s *server) stop(t *testing.T) {
	if err := s.terminate(); err != nil && !t.Failed() {
		t.Errorf("%s: %v", s.name, err)
	}
	select {
	case <-s.logDone:
	case <-time.After(5 * time.Second):
	}
}

func (s *server) exitStatus() string {
	if s.running() {
		return "still running"
	}
	if s.exitErr == nil {
		return "exit status 0"
	}
	return s.exitErr.Error()
}

// logTail returns the last n lines of the server's log.
func (s *server) logTail(n int) string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", s.logPath, err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// rssBytes returns the process's resident set size from /proc.
func rssBytes(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest) // "12345 kB"
			if len(f) != 2 || f[1] != "kB" {
				break
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmRSS line in /proc/" + strconv.Itoa(pid) + "/status")
}

// eventually polls f every 50ms until it returns nil or timeout passes, and
// returns how long it took or the last error.
func eventually(timeout time.Duration, f func() error) (time.Duration, error) {
	start := time.Now()
	deadline := start.Add(timeout)
	for {
		err := f()
		if err == nil {
			return time.Since(start), nil
		}
		if time.Now().After(deadline) {
			return time.Since(start), fmt.Errorf("not within %s: %w", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
