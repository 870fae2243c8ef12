package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/revenue-api/revenue-api/internal/passwordhash"
	"github.com/revenue-api/revenue-api/internal/pgcluster"
	"github.com/revenue-api/revenue-api/internal/postgres"
	"github.com/revenue-api/revenue-api/internal/token"
)

// The demo account every variant serves.
const (
	demoEmail    = "alice@example.com"
	demoPassword = "alice-password-1"
)

type options struct {
	server        string
	rounds        int
	duration      time.Duration
	warmup        time.Duration
	conns         int
	memConns      int
	loginConns    int
	refreshConns  int
	loadCPU       int
	serverCPU     int
	pressureRate  int
	pressureConns int
	floodConns    int
	floodPace     time.Duration
	revocations   int
	logouts       int
	goBench       string
	keep          bool
	only          *regexp.Regexp
	phases        string
	apiEnv        []string
}

func runCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.server, "server", "", "revenue-api binary to measure (required)")
	fs.IntVar(&o.rounds, "rounds", 5, "interleaved rounds; the table shows medians")
	fs.DurationVar(&o.duration, "duration", 4*time.Second, "length of one measured run")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured run of each variant before the rounds")
	fs.IntVar(&o.conns, "conns", 64, "concurrent connections for GET /me and GET /revenue")
	fs.IntVar(&o.memConns, "mem-conns", 256, "concurrent connections of the peak-memory run on GET /me")
	fs.IntVar(&o.loginConns, "login-conns", 4, "concurrent connections for POST /login")
	fs.IntVar(&o.refreshConns, "refresh-conns", 16, "parallel refresh-token chains (one connection each) for POST /token/refresh")
	fs.IntVar(&o.loadCPU, "load-cpu", 0, "CPU the load generator is pinned to")
	fs.IntVar(&o.serverCPU, "server-cpu", 1, "CPU the servers and PostgreSQL are pinned to")
	fs.IntVar(&o.pressureRate, "pressure-rate", 1000, "steady GET /revenue requests per second in the login-pressure test")
	fs.IntVar(&o.pressureConns, "pressure-conns", 8, "connections carrying that steady load")
	fs.IntVar(&o.floodConns, "flood-conns", 64, "connections of the login flood")
	fs.DurationVar(&o.floodPace, "flood-pace", 100*time.Millisecond, "pause of each flood connection between logins")
	fs.IntVar(&o.revocations, "revocations", 100_000, "live revocations held by the GET /me revocation variants (next to servers holding none)")
	fs.IntVar(&o.logouts, "logouts", 200, "logouts timed until another replica and a verifier-only process refuse the token")
	fs.StringVar(&o.goBench, "gobench", "", "file with `go test -bench` output to summarise in the report")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (logs, data) afterwards")
	fs.StringVar(&o.phases, "phases", "http,memory,pressure,logout", "which measurements to run")
	fs.Func("only", "run only the variants whose `endpoint and label` match this regular expression", func(v string) (err error) {
		o.only, err = regexp.Compile(v)
		return err
	})
	fs.Func("api-env", "`NAME=value` added to every revenue-api server's environment (repeatable), for experiments", func(v string) error {
		if !strings.Contains(v, "=") {
			return errors.New("want NAME=value")
		}
		o.apiEnv = append(o.apiEnv, v)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.server == "" {
		return errors.New("-server is required")
	}
	if o.loadCPU == o.serverCPU {
		return errors.New("-load-cpu and -server-cpu must differ")
	}
	// Everything this process starts (PostgreSQL, servers, baselines)
	// inherits its CPU affinity; wrk is started pinned to the other CPU.
	if want := strconv.Itoa(o.serverCPU); allowedCPUs() != want && os.Getenv("LOADBENCH_PINNED") == "" {
		self, err := os.Executable()
		if err != nil {
			return err
		}
		cmd := exec.CommandContext(ctx, "taskset", append([]string{"-c", want, self, "run"}, args...)...)
		cmd.Env = append(os.Environ(), "LOADBENCH_PINNED=1")
		cmd.Stdout, cmd.Stderr = stdout, stderr
		return cmd.Run()
	}
	if _, err := exec.LookPath("wrk"); err != nil {
		return errors.New("wrk is not installed (apt-get install -y wrk)")
	}

	h := &harness{o: o, log: stderr}
	defer h.close()
	rep, err := h.run(ctx)
	if err != nil {
		h.failed = true
		return err
	}
	rep.write(stdout)
	return nil
}

// harness owns everything a run starts.
type harness struct {
	o      options
	log    io.Writer
	tmp    string
	failed bool

	cluster *pgcluster.Cluster
	dbURL   string
	pgPID   int
	keyFile string
	procs   []*proc

	token    string
	identity tokenIdentity
}

// proc is one server process under test.
type proc struct {
	name string
	url  string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

func (h *harness) progress(format string, args ...any) {
	fmt.Fprintf(h.log, "loadbench: "+format+"\n", args...)
}

func (h *harness) close() {
	for _, p := range h.procs {
		if p.cmd.Process != nil {
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	for _, p := range h.procs {
		select {
		case <-p.done:
		case <-time.After(20 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
	if h.cluster != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = h.cluster.Stop(ctx)
	}
	if h.tmp == "" {
		return
	}
	if h.o.keep || h.failed {
		h.progress("logs and data kept in %s", h.tmp)
		return
	}
	_ = os.RemoveAll(h.tmp)
}

func (h *harness) run(ctx context.Context) (*report, error) {
	rep := &report{opts: h.o, started: time.Now(), loadBefore: loadAverage()}
	if err := h.setup(ctx); err != nil {
		return nil, err
	}
	h.progress("cloning the database; %d live revocations into one clone", h.o.revocations)
	if err := h.cloneDatabases(ctx, h.o.revocations); err != nil {
		return nil, err
	}

	// One process per variant: CPU and memory figures are each its own.
	// Only the variants -only selects are started: idle servers would
	// still add noise (timers, the collector) to the ones measured.
	wanted := func(endpoint, label string) bool {
		return h.o.only == nil || h.o.only.MatchString(endpoint+" "+label)
	}
	const cacheOff = "REVENUE_TOKEN_CACHE_SIZE=0"
	// The same GET /me server on two copies of the database, one holding
	// -revocations live revocations.
	noRevs, manyRevs := "DATABASE_URL="+h.cluster.ConnString(dbNoRevocations), "DATABASE_URL="+h.cluster.ConnString(dbManyRevocations)
	type server struct {
		name        string
		mode        string   // a baseline's mode; "" for the service
		args        []string // the service's environment, or a baseline's flags
		revocations int      // live revocations the service must report at start (-1: not checked)
	}
	api := func(name string, env ...string) server { return server{name: name, args: env, revocations: -1} }
	base := func(name, mode string, flags ...string) server {
		return server{name: name, mode: mode, args: flags, revocations: -1}
	}
	withRevocations := func(s server, n int) server { s.revocations = n; return s }
	startServer := func(s server) (*proc, error) {
		if s.mode != "" {
			return h.startBaseline(ctx, s.name, s.mode, s.args...)
		}
		p, err := h.startAPI(ctx, s.name, s.args...)
		if err == nil && s.revocations >= 0 {
			err = expectRevocations(p, s.revocations)
		}
		return p, err
	}

	// The login server also logs in the bearer every variant presents.
	loginSrv, err := startServer(api("api-login"))
	if err != nil {
		return nil, err
	}
	if err := h.login(ctx, loginSrv.url); err != nil {
		return nil, err
	}
	bearer := map[string]string{"Authorization": "Bearer " + h.token}
	cookie := map[string]string{"Cookie": sessionCookie + "=" + h.identity.SessionID}
	loginLoad := func(p *proc, conns int) load {
		body, _ := json.Marshal(map[string]string{"email": demoEmail, "password": demoPassword})
		return load{method: http.MethodPost, url: p.url + "/login", body: string(body),
			headers: map[string]string{"Content-Type": "application/json"}, conns: conns}
	}
	var variants []*variant
	get := func(endpoint, path, label, kind string, srv server, headers map[string]string) error {
		if !wanted(endpoint, label) {
			return nil
		}
		p, err := startServer(srv)
		if err != nil {
			return err
		}
		variants = append(variants, &variant{endpoint: endpoint, label: label, kind: kind, proc: p,
			load: load{method: http.MethodGet, url: p.url + path, headers: headers, conns: h.o.conns}})
		return nil
	}
	me := func(label, kind string, srv server, headers map[string]string) error {
		return get("GET /me", "/me", label, kind, srv, headers)
	}
	rev := func(label, kind string, srv server, headers map[string]string) error {
		return get("GET /revenue", "/revenue", label, kind, srv, headers)
	}
	err = errors.Join(
		me("revenue-api, token cache on (default)", kindAPI, api("api-me-cache"), bearer),
		me("revenue-api, token cache off", kindAPINoCache, api("api-me-nocache", cacheOff), bearer),
		me("revenue-api, cache on, no access log (REVENUE_LOG_LEVEL=warn)", kindAPIQuiet, api("api-me-cache-nolog", "REVENUE_LOG_LEVEL=warn"), bearer),
		me("baseline: no authentication", modeNoAuth, base("baseline-me-noauth", modeNoAuth), bearer),
		me("baseline: no authentication, the service's 5 response headers", kindNoAuthHeaders, base("baseline-me-noauth-headers", modeNoAuth, "-headers"), bearer),
		me("baseline: minimal golang-jwt", modeJWT, base("baseline-me-jwt", modeJWT), bearer),
		me("baseline: minimal golang-jwt, the service's 5 response headers", kindJWTHeaders, base("baseline-me-jwt-headers", modeJWT, "-headers"), bearer),
		me("baseline: PostgreSQL session", modeSession, base("baseline-me-session", modeSession), cookie),
		me(revocationLabel("on", 0), kindRev0Cache, withRevocations(api("api-me-rev0-cache", noRevs), 0), bearer),
		me(revocationLabel("on", h.o.revocations), kindRevManyCache, withRevocations(api("api-me-revmany-cache", manyRevs), h.o.revocations), bearer),
		me(revocationLabel("off", 0), kindRev0NoCache, withRevocations(api("api-me-rev0-nocache", noRevs, cacheOff), 0), bearer),
		me(revocationLabel("off", h.o.revocations), kindRevManyNoCache, withRevocations(api("api-me-revmany-nocache", manyRevs, cacheOff), h.o.revocations), bearer),
		rev("revenue-api, token cache on (default)", kindAPI, api("api-revenue-cache"), bearer),
		rev("revenue-api, token cache off", kindAPINoCache, api("api-revenue-nocache", cacheOff), bearer),
		rev("baseline: no authentication", modeNoAuth, base("baseline-revenue-noauth", modeNoAuth), bearer),
		rev("baseline: minimal golang-jwt", modeJWT, base("baseline-revenue-jwt", modeJWT), bearer),
		rev("baseline: PostgreSQL session", modeSession, base("baseline-revenue-session", modeSession), cookie),
	)
	if err != nil {
		return nil, err
	}
	if label := "revenue-api (argon2id, default cost)"; wanted("POST /login", label) {
		variants = append(variants, &variant{endpoint: "POST /login", label: label, kind: kindAPI, proc: loginSrv,
			load: loginLoad(loginSrv, h.o.loginConns)})
	}
	if label := fmt.Sprintf("revenue-api, %d chains, each presenting the token it just got", h.o.refreshConns); wanted("POST /token/refresh", label) {
		refreshSrv, err := startServer(api("api-refresh"))
		if err != nil {
			return nil, err
		}
		chains, refreshLoad, err := newRefreshChains(ctx, h.tmp, refreshSrv.url, h.o.refreshConns)
		if err != nil {
			return nil, err
		}
		variants = append(variants, &variant{endpoint: "POST /token/refresh", label: label, kind: kindAPI, proc: refreshSrv,
			load: refreshLoad, before: chains.topUp})
	}
	var pressureSrv *proc
	if strings.Contains(h.o.phases, "pressure") {
		if pressureSrv, err = startServer(api("api-pressure")); err != nil {
			return nil, err
		}
	}
	for i, v := range variants {
		if v.script, err = v.load.script(h.tmp, fmt.Sprintf("variant-%d", i)); err != nil {
			return nil, err
		}
	}
	rep.variants = variants

	// Every variant must answer 200 before anything is timed.
	for _, v := range variants {
		if err := checkOK(ctx, v.load); err != nil {
			return nil, fmt.Errorf("%s, %s: %w", v.endpoint, v.label, err)
		}
	}

	h.awaitIdleWorkers(ctx)

	h.progress("warm-up: %s per variant", h.o.warmup)
	for _, v := range variants {
		if err := v.prepare(ctx); err != nil {
			return nil, err
		}
		if _, err := h.measure(ctx, v.proc, v.script, v.load.url, v.load.conns, h.o.warmup); err != nil {
			return nil, err
		}
	}
	rounds := h.o.rounds
	if !strings.Contains(h.o.phases, "http") {
		rounds = 0
	}
	for r := range rounds {
		h.progress("round %d of %d (load average %s)", r+1, h.o.rounds, loadAverage())
		// Each round starts one variant later, so no variant always runs
		// first or right after the same neighbour.
		for i := range variants {
			v := variants[(i+r)%len(variants)]
			if err := v.prepare(ctx); err != nil {
				return nil, err
			}
			s, err := h.measure(ctx, v.proc, v.script, v.load.url, v.load.conns, h.o.duration)
			if err != nil {
				return nil, err
			}
			v.samples = append(v.samples, s)
		}
	}

	for _, v := range variants {
		if v.endpoint != "GET /me" || !strings.Contains(h.o.phases, "memory") {
			continue
		}
		h.progress("peak memory: %d connections on GET /me, %s", h.o.memConns, v.label)
		s, err := h.measure(ctx, v.proc, v.script, v.load.url, h.o.memConns, h.o.duration)
		if err != nil {
			return nil, err
		}
		v.mem = &s
	}

	if strings.Contains(h.o.phases, "pressure") {
		h.progress("login under pressure")
		if rep.pressure, err = h.pressure(ctx, pressureSrv, bearer, loginLoad(pressureSrv, h.o.floodConns)); err != nil {
			return nil, err
		}
	}

	if strings.Contains(h.o.phases, "logout") {
		h.progress("logout propagation: %d logouts", h.o.logouts)
		servers, err := h.startLogoutServers(ctx)
		if err != nil {
			return nil, err
		}
		if rep.propagation, err = h.propagation(ctx, servers); err != nil {
			return nil, err
		}
	}

	if h.o.goBench != "" {
		if rep.goBench, err = parseGoBench(h.o.goBench); err != nil {
			return nil, err
		}
	}
	rep.loadAfter = loadAverage()
	rep.finished = time.Now()
	return rep, nil
}

// setup starts PostgreSQL with the schema and demo data, and makes a key.
func (h *harness) setup(ctx context.Context) error {
	var err error
	if h.tmp, err = os.MkdirTemp("", "loadbench-"); err != nil {
		return err
	}
	// PostgreSQL runs as an unprivileged user when we are root and must
	// reach its data dir through this one.
	if err := os.Chmod(h.tmp, 0o711); err != nil {
		return err
	}
	h.progress("starting PostgreSQL (work dir %s)", h.tmp)
	dataDir := filepath.Join(h.tmp, "pg")
	if h.cluster, err = pgcluster.Start(ctx, pgcluster.Options{DataDir: dataDir}); err != nil {
		return err
	}
	if err := pgcluster.CreateDatabase(ctx, h.cluster.ConnString("postgres"), "revenue", ""); err != nil {
		return err
	}
	h.dbURL = h.cluster.ConnString("revenue")
	if h.pgPID, err = postmasterPID(dataDir); err != nil {
		return err
	}
	if err := postgres.Migrate(ctx, h.dbURL); err != nil {
		return err
	}
	db, err := postgres.Open(ctx, h.dbURL, 2, 30*time.Second)
	if err != nil {
		return err
	}
	defer db.Close()
	hasher, err := passwordhash.New(passwordhash.DefaultParams, 1, 4)
	if err != nil {
		return err
	}
	hash := func(pw string) (string, error) { return hasher.Hash(ctx, pw) }
	if err := postgres.SeedDemo(ctx, db, hash, time.Now()); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	k, err := token.Generate(filepath.Join(h.tmp, "keys"), token.MinKeyBits, time.Now())
	if err != nil {
		return err
	}
	h.keyFile = k.File
	return nil
}

func postmasterPID(dataDir string) (int, error) {
	data, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(data), "\n")
	return strconv.Atoi(strings.TrimSpace(line))
}

// startAPI starts `revenue-api serve` on the shared database and key, with
// the login rate limit raised out of the way (this measures hashing, not the
// limiter) and tokens that outlive the run.
func (h *harness) startAPI(ctx context.Context, name string, extraEnv ...string) (*proc, error) {
	env := []string{
		"DATABASE_URL=" + h.dbURL,
		"REVENUE_KEYS_DIR=" + filepath.Dir(h.keyFile),
		"REVENUE_DATA_DIR=" + filepath.Join(h.tmp, "data"),
		"REVENUE_WEB_DIR=" + filepath.Join(h.tmp, "no-web"),
		"REVENUE_ACCESS_TOKEN_TTL=1h",
		"REVENUE_AUTH_RATE=1000000",
		"REVENUE_AUTH_BURST=1000000",
		"REVENUE_LOG_LEVEL=info",
	}
	env = append(env, h.o.apiEnv...)
	return h.start(ctx, name, h.o.server, []string{"serve"}, append(env, extraEnv...))
}

func (h *harness) startBaseline(ctx context.Context, name, mode string, extra ...string) (*proc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	id := h.identity
	return h.start(ctx, name, self, append([]string{"baseline", "-mode", mode, "-db", h.dbURL, "-key", h.keyFile,
		"-sub", id.Subject, "-email", id.Email, "-org", id.OrgID, "-roles", strings.Join(id.Roles, ",")}, extra...), nil)
}

// start runs bin on a free loopback port (REVENUE_HTTP_ADDR or -addr) and
// waits until GET /healthz answers 200.
func (h *harness) start(ctx context.Context, name, bin string, args, env []string) (*proc, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	if args[0] == "baseline" {
		args = append(args, "-addr", addr)
	} else {
		env = append(env, "REVENUE_HTTP_ADDR="+addr)
	}
	p := &proc{name: name, url: "http://" + addr, log: filepath.Join(h.tmp, name+".log"), done: make(chan struct{})}
	logFile, err := os.Create(p.log)
	if err != nil {
		return nil, err
	}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Dir = h.tmp
	p.cmd.Env = append(cleanEnv(), env...)
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	h.procs = append(h.procs, p)
	go func() {
		_ = p.cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	deadline := time.Now().Add(90 * time.Second)
	for {
		select {
		case <-p.done:
			return nil, fmt.Errorf("%s exited during start-up; see %s", name, p.log)
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		resp, err := http.Get(p.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s: no 200 from /healthz in 90s; see %s", name, p.log)
		}
	}
}

// cleanEnv is our environment without anything that would change how a
// server under test is configured.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "REVENUE_") && !strings.HasPrefix(kv, "DATABASE_URL=") &&
			!strings.HasPrefix(kv, "LOADBENCH_") && !strings.HasPrefix(kv, "GOMAXPROCS=") {
			out = append(out, kv)
		}
	}
	return out
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// tokenIdentity is what the access token says; the baselines serve the
// same user (noauth as a fixed principal, session through its sid).
type tokenIdentity struct {
	Subject   string   `json:"sub"`
	Email     string   `json:"email"`
	OrgID     string   `json:"org_id"`
	Roles     []string `json:"roles"`
	SessionID string   `json:"sid"`
}

// login logs the demo user in once; its access token is the repeated token
// of every bearer variant, and its session the session baseline's.
func (h *harness) login(ctx context.Context, baseURL string) error {
	var err error
	if h.token, err = loginToken(ctx, http.DefaultClient, baseURL); err != nil {
		return err
	}
	parts := strings.Split(h.token, ".")
	if len(parts) != 3 {
		return errors.New("login: the access token is not a JWS")
	}
	// Our own server's token, just issued: reading its claims is safe.
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return err
	}
	return json.Unmarshal(payload, &h.identity)
}

// loginToken logs the demo user in and returns the access token.
func loginToken(ctx context.Context, client *http.Client, baseURL string) (string, error) {
	access, _, err := loginPair(ctx, client, baseURL)
	return access, err
}

// loginPair logs the demo user in and returns the access and refresh tokens.
func loginPair(ctx context.Context, client *http.Client, baseURL string) (access, refresh string, err error) {
	body, _ := json.Marshal(map[string]string{"email": demoEmail, "password": demoPassword})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, baseURL+"/login", bytes.NewReader(body))
	if err != nil {
		return "", "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return "", "", err
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		return "", "", fmt.Errorf("login: status %d (%v)", resp.StatusCode, err)
	}
	return out.AccessToken, out.RefreshToken, nil
}

// checkOK sends one request of l and wants a 200.
func checkOK(ctx context.Context, l load) error {
	req, err := http.NewRequestWithContext(ctx, l.method, l.url, strings.NewReader(l.body))
	if err != nil {
		return err
	}
	for k, v := range l.headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	return nil
}

// Kinds of variant, for the ratios.
const (
	kindAPI        = "api"
	kindAPINoCache = "api-nocache"
	kindAPIQuiet   = "api-nolog"
	// kindNoAuthHeaders is the no-auth baseline sending the service's fixed
	// response headers: what authentication costs beyond the header contract.
	kindNoAuthHeaders = "noauth-headers"
	// kindJWTHeaders is the minimal golang-jwt baseline with those headers:
	// the same verification, and the same bytes on the wire as the service.
	kindJWTHeaders = "jwt-headers"
	// The same server on databases with no and with -revocations live
	// revocations, token cache on and off.
	kindRev0Cache      = "rev0-cache"
	kindRevManyCache   = "revmany-cache"
	kindRev0NoCache    = "rev0-nocache"
	kindRevManyNoCache = "revmany-nocache"
)

// variant is one line of the table: an endpoint served by one process.
type variant struct {
	endpoint string
	label    string
	kind     string
	proc     *proc
	load     load
	script   string
	samples  []sample
	mem      *sample // the run with -mem-conns connections (GET /me only)
	// before, when set, readies the load before each run (outside the
	// measured time).
	before func(context.Context) error
}

func (v *variant) prepare(ctx context.Context) error {
	if v.before == nil {
		return nil
	}
	if err := v.before(ctx); err != nil {
		return fmt.Errorf("%s, %s: %w", v.endpoint, v.label, err)
	}
	return nil
}

// workerSettle bounds the wait for the servers' start-up hash worker
// processes to be stopped: a server stops its worker ten seconds after its
// last hash (the dummy hash every server computes as it starts, the login
// that fetched the bench's token), so about that after the last start.
const workerSettle = 30 * time.Second

// awaitIdleWorkers waits, before anything is timed, until no revenue-api
// server has a password-hash worker process left. A worker stopped while
// the server CPU is saturated exits slowly (its threads are SCHED_IDLE),
// and its server then spends seconds of kernel time in waitid reaping it
// (perf: release_task, d_invalidate, d_walk): on the server CPU, in the
// middle of whichever variant's round. Stopped while the CPU is idle, a
// worker is gone at once. Variants that hash (POST /login, refresh, the
// login flood) start workers again; their stops still fall in the rounds.
func (h *harness) awaitIdleWorkers(ctx context.Context) {
	deadline := time.Now().Add(workerSettle)
	for {
		busy := 0
		for _, p := range h.procs {
			if p.cmd.Process != nil && len(treeCPU(p.cmd.Process.Pid).Procs) > 1 {
				busy++
			}
		}
		if busy == 0 {
			return
		}
		if time.Now().After(deadline) {
			h.progress("%d servers still have hash worker processes after %s; timing anyway", busy, workerSettle)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// sample is one measured run.
type sample struct {
	rps        float64
	p50, p99   float64 // milliseconds
	cpuServer  float64 // µs of server CPU per request
	cpuDB      float64 // µs of PostgreSQL CPU per request
	peakKiB    uint64  // VmHWM during the run, summed over the server's tree
	bad        uint64  // non-2xx answers and socket errors
	others     float64 // share of the server CPU used by processes not under test
	othersLoad float64 // share of the load CPU used by processes other than wrk
	statuses   map[string]int64
	retryAfter int64
}

// measure runs wrk against p and reads what p and PostgreSQL spent.
func (h *harness) measure(ctx context.Context, p *proc, script, url string, conns int, d time.Duration) (sample, error) {
	// The server's tree: the server and its password-hashing worker
	// processes, whose CPU and memory are the service's too.
	pid := p.cmd.Process.Pid
	for p := range treeCPU(pid).Procs {
		resetPeakRSS(p)
	}
	srv0, pg0 := treeCPU(pid), treeCPU(h.pgPID)
	core0, load0 := readCPUTimes(h.o.serverCPU), readCPUTimes(h.o.loadCPU)
	res, err := runWrk(ctx, h.o.loadCPU, script, url, conns, d)
	if err != nil {
		return sample{}, err
	}
	srvTree := treeCPU(pid)
	srv := treeDelta(srv0, srvTree)
	pg := treeDelta(pg0, treeCPU(h.pgPID))
	var peakKiB uint64
	for p := range srvTree.Procs {
		peakKiB += peakRSSKiB(p)
	}
	core, loadCore := readCPUTimes(h.o.serverCPU).sub(core0), readCPUTimes(h.o.loadCPU).sub(load0)
	s := sample{
		rps: res.rps(), p50: res.P50US / 1000, p99: res.P99US / 1000,
		peakKiB: peakKiB, bad: res.ErrStatus + res.errors(),
		statuses: res.Statuses, retryAfter: res.RetryAfter,
	}
	if res.Requests > 0 {
		perReq := 1e6 / clockTicks / float64(res.Requests)
		s.cpuServer, s.cpuDB = float64(srv)*perReq, float64(pg)*perReq
	}
	if core.total > 0 {
		s.others = max(0, float64(int64(core.busy)-int64(srv+pg))/float64(core.total))
	}
	if loadCore.total > 0 {
		wrkTicks := res.CPU.Seconds() * clockTicks
		s.othersLoad = max(0, (float64(loadCore.busy)-wrkTicks)/float64(loadCore.total))
	}
	return s, nil
}

// resetPeakRSS sets VmHWM back to the current RSS (Linux ≥ 4.0), so that
// the next reading is the peak of the run alone.
func resetPeakRSS(pid int) {
	_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// pressureResult compares GET /revenue at a steady rate with and without a
// login flood running at the same time.
type pressureResult struct {
	rate            int
	alone, flooded  []sample
	flood           []sample
	probes          []probe
	floodConns      int
	floodPace       time.Duration
	pace            time.Duration // of each steady GET /revenue connection
	floodOfferedRPS float64
}

type probe struct {
	status     int
	retryAfter string
	took       time.Duration
}

func (h *harness) pressure(ctx context.Context, p *proc, bearer map[string]string, flood load) (*pressureResult, error) {
	res := &pressureResult{rate: h.o.pressureRate, floodConns: h.o.floodConns, floodPace: h.o.floodPace}
	res.floodOfferedRPS = float64(h.o.floodConns) / h.o.floodPace.Seconds()
	steady := load{method: http.MethodGet, url: p.url + "/revenue", headers: bearer, conns: h.o.pressureConns,
		pace: time.Duration(float64(time.Second) * float64(h.o.pressureConns) / float64(h.o.pressureRate))}
	res.pace = steady.pace
	steadyScript, err := steady.script(h.tmp, "pressure-revenue")
	if err != nil {
		return nil, err
	}
	flood.pace, flood.statuses = h.o.floodPace, true
	floodScript, err := flood.script(h.tmp, "pressure-flood")
	if err != nil {
		return nil, err
	}
	if _, err := h.measure(ctx, p, steadyScript, steady.url, steady.conns, h.o.warmup); err != nil {
		return nil, err
	}
	for range h.o.rounds {
		alone, err := h.measure(ctx, p, steadyScript, steady.url, steady.conns, h.o.duration)
		if err != nil {
			return nil, err
		}
		res.alone = append(res.alone, alone)

		// The flood starts first and outlasts the measured run on both ends.
		type floodDone struct {
			s   sample
			err error
		}
		fc := make(chan floodDone, 1)
		go func() {
			r, err := runWrk(ctx, h.o.loadCPU, floodScript, flood.url, flood.conns, h.o.duration+3*time.Second)
			fc <- floodDone{sample{rps: r.rps(), p50: r.P50US / 1000, p99: r.P99US / 1000, statuses: r.Statuses, retryAfter: r.RetryAfter}, err}
		}()
		time.Sleep(1500 * time.Millisecond)
		var probes []probe
		var wg sync.WaitGroup
		wg.Go(func() { probes = probeLogins(ctx, flood, h.o.duration, 250*time.Millisecond) })
		flooded, err := h.measure(ctx, p, steadyScript, steady.url, steady.conns, h.o.duration)
		wg.Wait()
		fd := <-fc
		if err != nil {
			return nil, err
		}
		if fd.err != nil {
			return nil, fd.err
		}
		res.flooded = append(res.flooded, flooded)
		res.flood = append(res.flood, fd.s)
		res.probes = append(res.probes, probes...)
		// Let the admitted hashes drain before the next quiet run.
		time.Sleep(3 * time.Second)
	}
	return res, nil
}

// probeLogins sends one login every interval for d and records how each was
// answered: beyond capacity, the answer should be a prompt 429 or 503 with
// Retry-After.
func probeLogins(ctx context.Context, l load, d, every time.Duration) []probe {
	client := &http.Client{Timeout: 15 * time.Second}
	var (
		mu  sync.Mutex
		out []probe
		wg  sync.WaitGroup
	)
	one := func() {
		req, err := http.NewRequestWithContext(ctx, l.method, l.url, strings.NewReader(l.body))
		if err != nil {
			return
		}
		for k, v := range l.headers {
			req.Header.Set(k, v)
		}
		start := time.Now()
		p := probe{status: -1}
		if resp, err := client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			p.status, p.retryAfter = resp.StatusCode, resp.Header.Get("Retry-After")
		}
		p.took = time.Since(start)
		mu.Lock()
		out = append(out, p)
		mu.Unlock()
	}
	// Each probe on its own schedule: a slow answer does not delay the next.
	tick := time.NewTicker(every)
	defer tick.Stop()
	for end := time.Now().Add(d); time.Now().Before(end); {
		wg.Go(one)
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
	wg.Wait()
	return out
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	} else {
		return (s[n/2-1] + s[n/2]) / 2
	}
}

func field(ss []sample, f func(sample) float64) []float64 {
	out := make([]float64, len(ss))
	for i, s := range ss {
		out[i] = f(s)
	}
	return out
}
