//go:build ha

package systemtest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// The high-availability data tier of TestFailover: one etcd and two
// PostgreSQL nodes, each run by Patroni, in synchronous mode, all on
// 127.0.0.1 in a temporary directory. scripts/install-ha-deps.sh installs
// etcd and Patroni; PostgreSQL's binaries are the ones the other tests use.

const (
	// Patroni's timing: the leader key lives ttl seconds and is renewed
	// every loop_wait; a dead primary is replaced once its key expires, so
	// ttl is most of the failover time. ttl ≥ loop_wait + 2·retry_timeout.
	patroniTTL          = 10
	patroniLoopWait     = 2
	patroniRetryTimeout = 4
	// haStartTimeout bounds etcd's start and the cluster's bootstrap
	// (initdb, the standby's base backup, its becoming synchronous).
	haStartTimeout = 90 * time.Second
	haDatabase     = "revenue"
)

// haNode is one Patroni and the PostgreSQL it runs.
type haNode struct {
	name     string
	pgPort   int
	restPort int
	dataDir  string
	logPath  string
	cmd      *exec.Cmd
	exited   chan struct{}
	// namespaced: Patroni runs as pid 1 of a pid namespace of its own, so
	// that killing it takes its PostgreSQL with it, and nothing outlives
	// the test even if the test binary is killed.
	namespaced bool
}

// haCluster is etcd and the Patroni nodes.
type haCluster struct {
	dir      string // owned by the user PostgreSQL runs as
	scope    string
	pgBin    string // initdb and postgres
	etcdPort int
	etcd     *exec.Cmd
	nodes    []*haNode
	runAs    *user.User // nil: run as ourselves (we are not root)
}

// startHACluster starts etcd and two Patroni nodes and waits until one is
// the leader and the other its synchronous standby, streaming. Everything
// is killed when the test ends.
func startHACluster(t *testing.T) *haCluster {
	t.Helper()
	etcdBin := lookHA(t, "etcd", "/usr/bin/etcd")
	patroniBin := lookHA(t, "patroni", "/usr/bin/patroni")
	pgBin := postgresBinDir(t)

	c := &haCluster{scope: "revenue-ha", pgBin: pgBin}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root, PostgreSQL refuses to; no postgres user to run Patroni as: %v", err)
		}
		c.runAs = u
	}
	// t.TempDir's parent is mode 0700 and root's: PostgreSQL, as postgres,
	// could not reach it. A directory of our own, given to that user.
	dir, err := os.MkdirTemp("", "revenue-ha-")
	if err != nil {
		t.Fatal(err)
	}
	c.dir = dir
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := c.chown(dir); err != nil {
		t.Fatal(err)
	}

	ports := freePorts(t, 6)
	etcdClient, etcdPeer := ports[0], ports[1]
	c.etcdPort = etcdClient
	for i := range 2 {
		n := &haNode{
			name:     fmt.Sprintf("pg%d", i+1),
			pgPort:   ports[2+2*i],
			restPort: ports[3+2*i],
		}
		n.dataDir = filepath.Join(dir, n.name)
		n.logPath = filepath.Join(dir, n.name+".log")
		c.nodes = append(c.nodes, n)
	}

	// etcd: one member, the v3 API Patroni's etcd3 client speaks.
	etcdLog := filepath.Join(dir, "etcd.log")
	c.etcd = exec.Command(etcdBin,
		"--name", "etcd1",
		"--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", fmt.Sprintf("http://127.0.0.1:%d", etcdClient),
		"--advertise-client-urls", fmt.Sprintf("http://127.0.0.1:%d", etcdClient),
		"--listen-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", etcdPeer),
		"--initial-advertise-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", etcdPeer),
		"--initial-cluster", fmt.Sprintf("etcd1=http://127.0.0.1:%d", etcdPeer),
		"--initial-cluster-state", "new",
	)
	c.etcd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true, Credential: c.credential()}
	etcdExited := c.startLogged(t, c.etcd, etcdLog)
	t.Cleanup(func() {
		_ = syscall.Kill(-c.etcd.Process.Pid, syscall.SIGKILL)
		<-etcdExited
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("etcd: the end of its log (%s):\n%s", etcdLog, tail(etcdLog, 15))
		}
	})
	if _, err := eventually(haStartTimeout, func() error {
		return httpOK(fmt.Sprintf("http://127.0.0.1:%d/health", etcdClient))
	}); err != nil {
		t.Fatalf("etcd did not become healthy: %v; the end of its log:\n%s", err, tail(etcdLog, 30))
	}

	namespaced := c.runAs != nil && canUnsharePID()
	for _, n := range c.nodes {
		n.namespaced = namespaced
		cfg := filepath.Join(dir, n.name+".yml")
		if err := os.WriteFile(cfg, []byte(c.patroniConfig(n, etcdClient)), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := c.chown(cfg); err != nil {
			t.Fatal(err)
		}
		c.startNode(t, n, patroniBin, cfg)
		if n == c.nodes[0] {
			// The first bootstraps (initdb) and takes the leader key; the
			// second then clones it with pg_basebackup.
			if _, err := eventually(haStartTimeout, func() error {
				leader, _, err := c.roles()
				if err == nil && leader != n.name {
					err = fmt.Errorf("leader %q", leader)
				}
				return err
			}); err != nil {
				t.Fatalf("%s did not become the primary: %v; the end of its log, with its stacks:\n%s", n.name, err, n.dumpStacks())
			}
		}
	}
	if _, err := eventually(haStartTimeout, func() error {
		leader, sync, err := c.roles()
		if err != nil {
			return err
		}
		if leader == "" || sync == "" {
			return fmt.Errorf("leader %q, synchronous standby %q", leader, sync)
		}
		return nil
	}); err != nil {
		t.Fatalf("the cluster did not get a leader and a synchronous standby: %v; the end of the logs, with their stacks:\n%s\n%s",
			err, c.nodes[0].dumpStacks(), c.nodes[1].dumpStacks())
	}
	return c
}

// pgParameters are PostgreSQL's settings on every node (Patroni's
// bootstrap configuration), and on the PostgreSQL alone that
// TestDataTierCost compares the cluster with.
var pgParameters = [][2]string{
	{"synchronous_commit", "on"},
	{"wal_level", "replica"},
	{"hot_standby", "on"},
	{"max_connections", "100"},
	{"max_wal_senders", "5"},
	{"max_replication_slots", "5"},
	{"shared_buffers", "32MB"},
}

// patroniConfig is node n's Patroni configuration. Synchronous mode: a
// commit returns only once the standby has it (synchronous_commit on), and
// Patroni promotes only the standby it listed as synchronous, so a failover
// loses no acknowledged commit. Not strict: with two nodes, strict mode
// would stop all writes on the new primary until a second node rejoins.
func (c *haCluster) patroniConfig(n *haNode, etcdPort int) string {
	var params strings.Builder
	for _, p := range pgParameters {
		fmt.Fprintf(&params, "        %s: %q\n", p[0], p[1])
	}
	return fmt.Sprintf(`scope: %[1]s
name: %[2]s
log:
  level: INFO
restapi:
  listen: 127.0.0.1:%[3]d
  connect_address: 127.0.0.1:%[3]d
etcd3:
  hosts: 127.0.0.1:%[4]d
bootstrap:
  dcs:
    ttl: %[5]d
    loop_wait: %[6]d
    retry_timeout: %[7]d
    maximum_lag_on_failover: 1048576
    synchronous_mode: true
    synchronous_mode_strict: false
    postgresql:
      use_pg_rewind: false
      use_slots: true
      parameters:
%[13]s  initdb:
    - encoding: UTF8
    - locale: C
    - auth: trust
postgresql:
  listen: 127.0.0.1:%[8]d
  connect_address: 127.0.0.1:%[8]d
  data_dir: %[9]s
  bin_dir: %[10]s
  pgpass: %[11]s
  authentication:
    superuser:
      username: postgres
      password: postgres
    replication:
      username: replicator
      password: replicator
  pg_hba:
    - local all all trust
    - host all all 127.0.0.1/32 trust
    - host replication all 127.0.0.1/32 trust
  parameters:
    unix_socket_directories: %[12]s
`, c.scope, n.name, n.restPort, etcdPort, patroniTTL, patroniLoopWait, patroniRetryTimeout,
		n.pgPort, n.dataDir, c.pgBin, filepath.Join(c.dir, n.name+".pgpass"), c.dir, params.String())
}

// startNode starts Patroni for n. As root, Patroni runs as the postgres
// user in a pid namespace of its own (unshare --kill-child: the namespace
// dies with the unshare process, which dies with us by Pdeathsig), because
// Patroni detaches PostgreSQL from itself: otherwise a PostgreSQL could
// outlive a killed test binary.
func (c *haCluster) startNode(t *testing.T, n *haNode, patroniBin, cfg string) {
	t.Helper()
	args := []string{patroniBin, cfg}
	if c.runAs != nil {
		args = append([]string{"setpriv", "--reuid=" + c.runAs.Username, "--regid=" + c.runAs.Gid, "--init-groups", "--"}, args...)
	}
	if n.namespaced {
		args = append([]string{"unshare", "--pid", "--fork", "--kill-child", "--mount", "--mount-proc", "--"}, args...)
	}
	n.cmd = exec.Command(args[0], args[1:]...)
	n.cmd.Dir = c.dir
	// PYTHONFAULTHANDLER: a SIGABRT makes Patroni print every thread's
	// stack (dumpStacks), to tell where it is stuck should it be.
	n.cmd.Env = append(os.Environ(), "PGPASSFILE="+filepath.Join(c.dir, n.name+".pgpass"), "PYTHONFAULTHANDLER=1")
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	n.exited = c.startLogged(t, n.cmd, n.logPath)
	t.Cleanup(func() {
		n.kill()
		if t.Failed() {
			t.Logf("%s: the end of its Patroni and PostgreSQL log (%s):\n%s", n.name, n.logPath, tail(n.logPath, 25))
		}
	})
}

// dumpStacks sends SIGABRT to n's Patroni processes, which then print
// their threads' Python stacks to the log, and returns the log's end.
func (n *haNode) dumpStacks() string {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(cmdline), "patroni\x00") && strings.Contains(string(cmdline), n.name+".yml") &&
			!strings.HasPrefix(string(cmdline), "unshare") && !strings.HasPrefix(string(cmdline), "setpriv") {
			_ = syscall.Kill(pid, syscall.SIGABRT)
		}
	}
	time.Sleep(time.Second)
	return tail(n.logPath, 150)
}

// kill SIGKILLs Patroni and its PostgreSQL, and waits until Patroni is gone.
func (n *haNode) kill() {
	if !n.namespaced {
		// PostgreSQL is not Patroni's child: find the postmaster first.
		killPostmaster(n.dataDir)
	}
	_ = syscall.Kill(-n.cmd.Process.Pid, syscall.SIGKILL)
	<-n.exited
	if !n.namespaced {
		killPostmaster(n.dataDir)
	}
}

// waitDead waits until no postmaster of n's data directory is left and its
// port refuses connections: the namespace's processes die a moment after
// its first process.
func (n *haNode) waitDead(timeout time.Duration) error {
	_, err := eventually(timeout, func() error {
		if pid := postmasterOf(n.dataDir); pid != 0 {
			return fmt.Errorf("postmaster %d of %s still runs", pid, n.dataDir)
		}
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", n.pgPort), time.Second)
		if err == nil {
			conn.Close()
			return fmt.Errorf("port %d still accepts connections", n.pgPort)
		}
		return nil
	})
	return err
}

// postmasterOf returns the pid of a live postgres whose command line names
// dataDir, or 0.
func postmasterOf(dataDir string) int {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		if len(args) > 2 && strings.HasSuffix(args[0], "postgres") && strings.Contains(string(cmdline), "\x00"+dataDir+"\x00") {
			if st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil && !isZombie(string(st)) {
				return pid
			}
		}
	}
	return 0
}

// isZombie reports whether a /proc/PID/stat line is a zombie's (state Z).
func isZombie(stat string) bool {
	i := strings.LastIndexByte(stat, ')')
	return i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z'
}

// killPostmaster SIGKILLs the postmaster named in dataDir's postmaster.pid
// and the processes it started.
func killPostmaster(dataDir string) {
	b, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || pid <= 1 {
		return
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		status, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err == nil && strings.Contains(string(status), "\nPPid:\t"+strconv.Itoa(pid)+"\n") {
			if child, err := strconv.Atoi(e.Name()); err == nil {
				_ = syscall.Kill(child, syscall.SIGKILL)
			}
		}
	}
}

// roles reads the cluster's leader and its synchronous standby from etcd,
// where Patroni keeps them, each only if its member reports PostgreSQL
// running (the standby: streaming). Reading etcd rather than Patroni's REST
// API keeps the test's polling off Patroni while it bootstraps.
func (c *haCluster) roles() (leader, sync string, err error) {
	get := func(key string, v any) error {
		b, err := c.etcdGet("/service/" + c.scope + "/" + key)
		if err != nil || b == nil {
			return err
		}
		if s, ok := v.(*string); ok {
			*s = string(b)
			return nil
		}
		return json.Unmarshal(b, v)
	}
	type member struct {
		State string `json:"state"`
		Role  string `json:"role"`
	}
	var lock string
	var syncKey struct {
		Leader      string `json:"leader"`
		SyncStandby string `json:"sync_standby"`
	}
	if err := get("leader", &lock); err != nil {
		return "", "", err
	}
	if err := get("sync", &syncKey); err != nil {
		return "", "", err
	}
	if lock != "" {
		var m member
		if err := get("members/"+lock, &m); err != nil {
			return "", "", err
		}
		if m.State == "running" && (m.Role == "master" || m.Role == "primary") {
			leader = lock
		}
	}
	if leader != "" && syncKey.Leader == leader && syncKey.SyncStandby != "" {
		var m member
		if err := get("members/"+syncKey.SyncStandby, &m); err != nil {
			return "", "", err
		}
		if m.State == "streaming" || m.State == "running" {
			sync = syncKey.SyncStandby
		}
	}
	return leader, sync, nil
}

// etcdGet reads key through etcd's v3 JSON gateway; nil if there is none.
// primaryAndStandby creates database on the cluster and returns the node
// that leads it and its synchronous standby.
func (c *haCluster) primaryAndStandby(t *testing.T, database string) (primary, standby *haNode) {
	t.Helper()
	c.createDatabase(t, database)
	leader, syncStandby, err := c.roles()
	if err != nil {
		t.Fatal(err)
	}
	return c.node(leader), c.node(syncStandby)
}

func (c *haCluster) etcdGet(key string) ([]byte, error) {
	body, _ := json.Marshal(map[string]string{"key": base64.StdEncoding.EncodeToString([]byte(key))})
	resp, err := haHTTP.Post(fmt.Sprintf("http://127.0.0.1:%d/v3/kv/range", c.etcdPort), "application/json", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("etcd range %s: %s", key, resp.Status)
	}
	var r struct {
		KVs []struct {
			Value []byte `json:"value"` // base64 in JSON
		} `json:"kvs"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, err
	}
	if len(r.KVs) == 0 {
		return nil, nil
	}
	return r.KVs[0].Value, nil
}

// node returns the node called name.
func (c *haCluster) node(name string) *haNode {
	for _, n := range c.nodes {
		if n.name == name {
			return n
		}
	}
	return nil
}

// url is a libpq multi-host connection string listing every node:
// target_session_attrs=read-write makes the driver skip a standby (and a
// dead node) and use whichever is the primary now.
func (c *haCluster) url(database string) string {
	var hosts []string
	for _, n := range c.nodes {
		hosts = append(hosts, fmt.Sprintf("127.0.0.1:%d", n.pgPort))
	}
	return fmt.Sprintf("postgres://postgres@%s/%s?sslmode=disable&target_session_attrs=read-write",
		strings.Join(hosts, ","), database)
}

// createDatabase creates the service's database on the primary (the
// standby gets it by replication).
func (c *haCluster) createDatabase(t *testing.T, name string) {
	t.Helper()
	createDatabaseAt(t, c.url("postgres"), name)
}

// createDatabaseAt creates database name on the server url reaches.
func createDatabaseAt(t *testing.T, url, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect to %s: %v", url, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
}

// queryRow runs query with args on the current primary's database and
// scans its one row into dest.
func (c *haCluster) queryRow(database, query string, args []any, dest ...any) error {
	return queryRowAt(c.url(database), query, args, dest...)
}

// queryRowAt connects to url, runs query with args and scans its one row
// into dest.
func queryRowAt(url, query string, args []any, dest ...any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	return conn.QueryRow(ctx, query, args...).Scan(dest...)
}

// startAlone initdbs and starts one PostgreSQL outside Patroni, on
// 127.0.0.1, as the user the nodes run as, with the nodes' parameters
// (pgParameters): what the cluster is measured against.
func (c *haCluster) startAlone(t *testing.T, name string) *haNode {
	t.Helper()
	n := &haNode{name: name, pgPort: freePorts(t, 1)[0], dataDir: filepath.Join(c.dir, name), logPath: filepath.Join(c.dir, name+".log")}
	initdb := exec.Command(filepath.Join(c.pgBin, "initdb"), "-D", n.dataDir, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C")
	initdb.Dir = c.dir
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: c.credential()}
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("initdb %s: %v\n%s", n.dataDir, err, out)
	}
	args := []string{"-D", n.dataDir, "-p", strconv.Itoa(n.pgPort), "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=" + c.dir}
	for _, p := range pgParameters {
		args = append(args, "-c", p[0]+"="+p[1])
	}
	n.cmd = exec.Command(filepath.Join(c.pgBin, "postgres"), args...)
	n.cmd.Dir = c.dir
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true, Credential: c.credential()}
	n.exited = c.startLogged(t, n.cmd, n.logPath)
	t.Cleanup(n.kill)
	if _, err := eventually(haStartTimeout, func() error {
		return queryRowAt(n.url("postgres"), "SELECT 1", nil, new(int))
	}); err != nil {
		t.Fatalf("%s did not accept connections: %v; the end of its log:\n%s", name, err, tail(n.logPath, 30))
	}
	return n
}

// url is a connection string to database on node n alone.
func (n *haNode) url(database string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", n.pgPort, database)
}

// setSynchronousMode switches Patroni's synchronous_mode through its REST
// API (PATCH /config, as patronictl edit-config does) and waits until the
// primary streams to its standby accordingly: "sync" (a commit waits for
// the standby's flush) or "async" (Patroni has emptied
// synchronous_standby_names; synchronous_commit stays on, so a commit
// waits for the local flush only).
func (c *haCluster) setSynchronousMode(t *testing.T, on bool) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPatch, fmt.Sprintf("http://127.0.0.1:%d/config", c.nodes[0].restPort),
		strings.NewReader(fmt.Sprintf(`{"synchronous_mode": %t}`, on)))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := haHTTP.Do(req)
	if err != nil {
		t.Fatalf("PATCH Patroni's /config: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PATCH Patroni's /config: %s", resp.Status)
	}
	want := map[bool]string{true: "sync", false: "async"}[on]
	if _, err := eventually(30*time.Second, func() error {
		if got, err := c.replicationState(); err != nil || got != want {
			return fmt.Errorf("the primary's standby is %q (%v), want %q", got, err, want)
		}
		return nil
	}); err != nil {
		t.Fatalf("synchronous_mode %t: %v", on, err)
	}
}

// replicationState is the primary's sync_state for its standbys
// (pg_stat_replication), comma-separated: "sync", "async", or "none".
func (c *haCluster) replicationState() (string, error) {
	var state string
	err := c.queryRow("postgres", "SELECT coalesce(string_agg(sync_state, ','), 'none') FROM pg_stat_replication", nil, &state)
	return state, err
}

// startLogged starts cmd with its output to logPath and returns a channel
// closed when it has exited.
func (c *haCluster) startLogged(t *testing.T, cmd *exec.Cmd, logPath string) chan struct{} {
	t.Helper()
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(exited)
	}()
	return exited
}

func (c *haCluster) credential() *syscall.Credential {
	if c.runAs == nil {
		return nil
	}
	uid, _ := strconv.Atoi(c.runAs.Uid)
	gid, _ := strconv.Atoi(c.runAs.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
}

func (c *haCluster) chown(path string) error {
	if cr := c.credential(); cr != nil {
		return os.Chown(path, int(cr.Uid), int(cr.Gid))
	}
	return nil
}

// canUnsharePID reports whether we may run a process in new pid and mount
// namespaces (root, and not forbidden by a container's seccomp profile).
func canUnsharePID() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return exec.CommandContext(ctx, "unshare", "--pid", "--fork", "--kill-child", "--mount", "--mount-proc", "--", "true").Run() == nil
}

// lookHA finds a program the HA test needs or fails the test, saying how
// to install it.
func lookHA(t *testing.T, name, fallback string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if _, err := os.Stat(fallback); err == nil {
		return fallback
	}
	t.Fatalf("%s not found: scripts/install-ha-deps.sh installs it (make test-ha runs it)", name)
	return ""
}

// postgresBinDir is where initdb and postgres are: pg_config --bindir, or
// Debian's layout (the newest version).
func postgresBinDir(t *testing.T) string {
	t.Helper()
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		dir := strings.TrimSpace(string(out))
		if _, err := os.Stat(filepath.Join(dir, "postgres")); err == nil {
			return dir
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "postgres")); err == nil {
			return dirs[i]
		}
	}
	t.Fatal("no PostgreSQL server binaries (initdb, postgres): scripts/install-test-deps.sh installs them")
	return ""
}

// freePorts returns n distinct loopback ports that were free a moment ago.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

var haHTTP = &http.Client{Timeout: 2 * time.Second}

func httpOK(url string) error {
	resp, err := haHTTP.Get(url)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

// tail returns the last n lines of the file at path.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
