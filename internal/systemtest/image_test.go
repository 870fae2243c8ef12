package systemtest

import (
	"bufio"
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/jackc/pgx/v5"

	"github.com/revenue-api/revenue-api/internal/pgtest"
)

const (
	// imageUser is the uid and gid the image runs as: distroless "nonroot".
	imageUser = 65532
	// imageBinary is where the Dockerfile puts the binary; the health checks
	// of the Dockerfile and compose.yaml name it.
	imageBinary = "/revenue-api"
	// commandTimeout bounds one run of a short command such as healthcheck.
	commandTimeout = 10 * time.Second
)

// staticBuildFlags are the Dockerfile's `go build` flags; keep the two alike.
var staticBuildFlags = []string{"-trimpath", "-ldflags=-s -w"}

// TestStaticBinaryAsTheImageRunsIt builds the binary as the Dockerfile does
// (CGO_ENABLED=0), finds it statically linked, and runs it as the image
// does: as uid and gid 65532 owning nothing but its keys directory, in a
// working directory it cannot write, with no environment but compose.yaml's
// for the api service and the Dockerfile's settings. The health check of
// compose.yaml and of the Dockerfile passes, and alice logs in (her password
// checked by a hash worker process, also uid 65532) and reads the revenue.
func TestStaticBinaryAsTheImageRunsIt(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatalf("this test runs the server as uid %d, as the image does, and needs root to switch to that user; "+
			"run it as root (as CI does) or in a container", imageUser)
	}
	// Everything uid 65532 reads lies under a directory open to all users;
	// only the keys directory is its own.
	dir, err := os.MkdirTemp("", "revenue-image-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "revenue-api")
	buildStatic(t, bin)
	if err := checkStatic(bin); err != nil {
		t.Fatalf("%s: %v; the distroless static image has no C library or loader", bin, err)
	}

	keysDir := filepath.Join(dir, "keys")
	if err := os.Mkdir(keysDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(keysDir, imageUser, imageUser); err != nil {
		t.Fatal(err)
	}
	// A built SPA owned by root, as the image's /web is.
	webDir := filepath.Join(dir, "web")
	if err := os.MkdirAll(filepath.Join(webDir, "assets"), 0o755); err != nil {
		t.Fatal(err)
	}
	const script = "console.log('revenue')"
	if err := os.WriteFile(filepath.Join(webDir, "assets", "app.js"), []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}

	compose := readCompose(t)
	api, ok := compose.Services["api"]
	if !ok {
		t.Fatal("compose.yaml: no api service")
	}
	env, err := api.environment()
	if err != nil {
		t.Fatalf("compose.yaml: api.environment: %v", err)
	}
	// compose.yaml's DATABASE_URL names its postgres service; here the
	// database is reached over TCP too, as a container would.
	env["DATABASE_URL"] = tcpDatabaseURL(t, pgtest.NewDatabase(t))
	// The Dockerfile's settings, at this test's paths.
	env["REVENUE_HTTP_ADDR"] = freeAddr(t)
	env["REVENUE_KEYS_DIR"] = keysDir
	env["REVENUE_WEB_DIR"] = webDir
	// What a container has besides; HOME does not exist, as in the image.
	env["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	env["HOME"] = "/home/nonroot"

	srv := launchAs(t, "image", bin, dir, env, imageUser)
	srv.waitListening(t)

	healthcheck, err := api.healthcheckCommand()
	if err != nil {
		t.Fatalf("compose.yaml: api.healthcheck: %v", err)
	}
	if fromDockerfile := dockerfileHealthcheck(t); !slices.Equal(fromDockerfile, healthcheck) {
		t.Errorf("the Dockerfile's HEALTHCHECK runs %q, compose.yaml's %q; want the same command", fromDockerfile, healthcheck)
	}
	if code, stderr := runAs(t, bin, healthcheck[1:], dir, env, imageUser); code != 0 {
		t.Errorf("%s %s as uid %d: exit status %d (%s), want 0 for a running server",
			imageBinary, strings.Join(healthcheck[1:], " "), imageUser, code, stderr)
	}

	c := newClient(srv.URL, 1)
	defer c.close()
	alice := mustLogin(t, c)
	if err := hashWorkersRunAs(srv.pid(), imageUser); err != nil {
		t.Errorf("hash workers: %v", err)
	}
	res := c.do(http.MethodGet, "/revenue", alice.AccessToken, nil)
	if err := want200(res); err != nil {
		t.Fatalf("GET /revenue as alice: %v", err)
	}
	var revenue map[string]any
	if err := json.Unmarshal(res.body, &revenue); err != nil {
		t.Errorf("GET /revenue: %v in %s", err, truncate(res.body))
	}
	if res := c.do(http.MethodGet, "/assets/app.js", "", nil); res.status != http.StatusOK || string(res.body) != script {
		t.Errorf("GET /assets/app.js: %s %s, want 200 with the file in REVENUE_WEB_DIR", res, truncate(res.body))
	}
	keys, err := filepath.Glob(filepath.Join(keysDir, "*.pem"))
	if err != nil || len(keys) == 0 {
		t.Errorf("the keys directory holds no generated key (%v)", err)
	}
	for _, k := range keys {
		if err := ownedBy(k, imageUser, 0o600); err != nil {
			t.Errorf("generated key: %v", err)
		}
	}
	if err := srv.terminate(); err != nil {
		t.Errorf("the server as uid %d did not stop cleanly on SIGTERM: %v", imageUser, err)
	}
}

// TestHealthcheckExitStatus runs `revenue-api healthcheck` as a container
// runtime does and reads only its exit status and its stderr.
func TestHealthcheckExitStatus(t *testing.T) {
	dir := t.TempDir()
	status := func(code int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(code) }
	}
	healthy := httptest.NewServer(status(http.StatusOK))
	defer healthy.Close()
	unavailable := httptest.NewServer(status(http.StatusServiceUnavailable))
	defer unavailable.Close()
	tests := []struct {
		name string
		addr string
		want int
	}{
		{"a server answering 200 is healthy", healthy.Listener.Addr().String(), 0},
		{"nothing listening is unhealthy", freeAddr(t), 1},
		{"a server answering 503 is unhealthy", unavailable.Listener.Addr().String(), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"REVENUE_HTTP_ADDR": tt.addr}
			code, stderr := runAs(t, binary, []string{"healthcheck"}, dir, env, -1)
			if code != tt.want {
				t.Errorf("exit status %d (stderr %q), want %d", code, stderr, tt.want)
			}
			lines := strings.Count(stderr, "\n")
			if tt.want == 0 && stderr != "" || tt.want != 0 && (lines != 1 || !strings.HasSuffix(stderr, "\n")) {
				t.Errorf("stderr %q; want one line when unhealthy, nothing when healthy", stderr)
			}
		})
	}
}

// buildStatic builds ./cmd/revenue-api to out as the Dockerfile does.
func buildStatic(t *testing.T, out string) {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command, to build the server: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	args := append([]string{"build"}, staticBuildFlags...)
	args = append(args, "-o", out, "github.com/revenue-api/revenue-api/cmd/revenue-api")
	cmd := exec.CommandContext(ctx, goCmd, args...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go %s: %v\n%s", strings.Join(args, " "), err, b)
	}
}

// checkStatic returns an error unless the ELF file at path is statically
// linked: no program interpreter (dynamic loader) and no dynamic section.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, p := range f.Progs {
		switch p.Type {
		case elf.PT_INTERP:
			return errors.New("dynamically linked: it names a program interpreter")
		case elf.PT_DYNAMIC:
			return errors.New("dynamically linked: it has a dynamic section")
		}
	}
	return nil
}

// composeFile is what the test reads of compose.yaml.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
}

type composeService struct {
	// Environment is a mapping or a list of NAME=value.
	Environment any `yaml:"environment"`
	Healthcheck struct {
		Test any `yaml:"test"`
	} `yaml:"healthcheck"`
}

func readCompose(t *testing.T) composeFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var f composeFile
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	return f
}

// environment returns the service's environment as compose passes it.
func (s composeService) environment() (map[string]string, error) {
	env := map[string]string{}
	switch e := s.Environment.(type) {
	case map[string]any:
		for k, v := range e {
			if v == nil {
				return nil, fmt.Errorf("%s has no value: it would come from the host", k)
			}
			env[k] = fmt.Sprint(v)
		}
	case []any:
		for _, kv := range e {
			k, v, ok := strings.Cut(fmt.Sprint(kv), "=")
			if !ok {
				return nil, fmt.Errorf("%s has no value: it would come from the host", k)
			}
			env[k] = v
		}
	default:
		return nil, fmt.Errorf("want a mapping or a list, got %T", s.Environment)
	}
	return env, nil
}

// healthcheckCommand returns the exec form of the service's health check,
// without its "CMD": the image's binary and its arguments.
func (s composeService) healthcheckCommand() ([]string, error) {
	test, ok := s.Healthcheck.Test.([]any)
	if !ok || len(test) < 2 || test[0] != "CMD" {
		return nil, fmt.Errorf(`want the exec form ["CMD", %q, ...] (the image has no shell), got %v`, imageBinary, s.Healthcheck.Test)
	}
	cmd := make([]string, 0, len(test)-1)
	for _, a := range test[1:] {
		cmd = append(cmd, fmt.Sprint(a))
	}
	if cmd[0] != imageBinary {
		return nil, fmt.Errorf("runs %s, want the image's %s", cmd[0], imageBinary)
	}
	return cmd, nil
}

// dockerfileHealthcheck returns the exec form of the Dockerfile's
// HEALTHCHECK instruction.
func dockerfileHealthcheck(t *testing.T) []string {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "HEALTHCHECK ")
		if !ok {
			continue
		}
		_, form, ok := strings.Cut(rest, "CMD ")
		var cmd []string
		if !ok || json.Unmarshal([]byte(form), &cmd) != nil || len(cmd) == 0 {
			t.Fatalf("Dockerfile: %s; want the exec form CMD [%q, ...] (the image has no shell)", sc.Text(), imageBinary)
		}
		return cmd
	}
	t.Fatal("Dockerfile: no HEALTHCHECK")
	return nil
}

// tcpDatabaseURL returns a URL of the database connString names, reached
// over TCP on loopback through a relay to the test cluster's unix socket,
// whose directory only PostgreSQL's user may enter.
func tcpDatabaseURL(t *testing.T, connString string) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(connString)
	if err != nil {
		t.Fatal(err)
	}
	target := "tcp"
	addr := net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
	if strings.HasPrefix(cfg.Host, "/") {
		target, addr = "unix", filepath.Join(cfg.Host, ".s.PGSQL."+strconv.Itoa(int(cfg.Port)))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var open []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial(target, addr)
			if err != nil {
				in.Close()
				continue
			}
			mu.Lock()
			open = append(open, in, out)
			mu.Unlock()
			wg.Add(2)
			go func() { defer wg.Done(); io.Copy(out, in); out.Close() }()
			go func() { defer wg.Done(); io.Copy(in, out); in.Close() }()
		}
	}()
	return fmt.Sprintf("postgres://%s@%s/%s?sslmode=disable", cfg.User, ln.Addr(), cfg.Database)
}

// freeAddr is freeLoopbackAddr or the end of the test.
func freeAddr(t *testing.T) string {
	t.Helper()
	addr, err := freeLoopbackAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// credential returns the attributes that run a process as uid and gid id
// with no supplementary groups; a negative id keeps ours.
func credential(id int) *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if id >= 0 {
		attr.Credential = &syscall.Credential{Uid: uint32(id), Gid: uint32(id), Groups: []uint32{}}
	}
	return attr
}

// runAs runs path with args in dir, with env alone as its environment, as
// uid and gid id (ours if negative), and returns its exit status and stderr.
func runAs(t *testing.T, path string, args []string, dir string, env map[string]string, id int) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Dir = dir
	cmd.Env = flatten(env)
	cmd.SysProcAttr = credential(id)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, stderr.String()
	case errors.As(err, &exit) && exit.Exited():
		return exit.ExitCode(), stderr.String()
	}
	t.Fatalf("%s %s: %v (stderr %q)", path, strings.Join(args, " "), err, stderr.String())
	return 0, ""
}

// launchAs starts `path serve` in dir, with env alone as its environment,
// as uid and gid id, the way launch starts the test's own binary.
func launchAs(t *testing.T, name, path, dir string, env map[string]string, id int) *server {
	t.Helper()
	cmd := exec.Command(path, "serve")
	cmd.Dir = dir
	cmd.Env = flatten(env)
	cmd.SysProcAttr = credential(id)
	return startProcess(t, name, cmd)
}

func flatten(env map[string]string) []string {
	kv := make([]string, 0, len(env))
	for k, v := range env {
		kv = append(kv, k+"="+v)
	}
	return kv
}

// hashWorkersRunAs returns an error unless the server pid has at least one
// hash-worker child process and all of them run as uid.
func hashWorkersRunAs(pid, uid int) error {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return err
	}
	workers := 0
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		status, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue // gone since the listing
		}
		if procField(status, "PPid") != strconv.Itoa(pid) {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if !slices.Contains(strings.Split(string(cmdline), "\x00"), "hash-worker") {
			continue
		}
		workers++
		if got := procField(status, "Uid"); got != strconv.Itoa(uid) {
			return fmt.Errorf("worker %d runs as uid %s, want %d", child, got, uid)
		}
	}
	if workers == 0 {
		return fmt.Errorf("the server (pid %d) has no hash-worker process after a login", pid)
	}
	return nil
}

// procField returns the first value of a /proc/PID/status line ("Uid:" has
// the real, effective, saved and filesystem ids; the first is the real one).
func procField(status []byte, name string) string {
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, name+":"); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				return f[0]
			}
		}
	}
	return ""
}

// ownedBy returns an error unless path belongs to uid with mode perm.
func ownedBy(path string, uid int, perm os.FileMode) error {
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("%s: no owner to read", path)
	}
	if int(st.Uid) != uid || info.Mode().Perm() != perm {
		return fmt.Errorf("%s: owner %d mode %v, want owner %d mode %v", path, st.Uid, info.Mode().Perm(), uid, perm)
	}
	return nil
}
