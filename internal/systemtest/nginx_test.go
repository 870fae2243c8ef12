package systemtest

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// nginxConf is the load balancer: plain round robin over the replicas, no
// sticky sessions, keep-alive connections to them, and a request retried on
// the next replica when its connection fails (a replica that is stopping
// refuses connections), which is safe for the idempotent requests nginx
// retries by default.
const nginxConf = `daemon off;
master_process on;
worker_processes 1;
{{user}}
pid {{dir}}/nginx.pid;
error_log {{dir}}/error.log warn;
events { worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path {{dir}}/client_body;
	proxy_temp_path {{dir}}/proxy;
	fastcgi_temp_path {{dir}}/fastcgi;
	uwsgi_temp_path {{dir}}/uwsgi;
	scgi_temp_path {{dir}}/scgi;
	upstream app {
{{servers}}		keepalive 32;
	}
	server {
		listen {{listen}};
		location / {
			proxy_pass http://app;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_set_header Host $host;
			proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
			proxy_next_upstream error timeout http_502;
			proxy_next_upstream_tries 3;
			proxy_connect_timeout 2s;
			proxy_read_timeout 30s;
		}
	}
}
`

// requireNginx returns the nginx binary, or fails the test saying how to
// install it: the replica test is not skipped on a machine without nginx.
func requireNginx(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx"} {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	t.Fatal("this test runs the replicas behind nginx, and nginx is not installed: " +
		"run scripts/install-test-deps.sh (apt-get install -y nginx on Debian or Ubuntu, brew install nginx on macOS)")
	return ""
}

// startNginx runs nginx in front of upstreams (host:port each) as a child
// process, on a free loopback port, until the test ends. It returns the
// balancer's base URL once a request through it succeeds.
func startNginx(t *testing.T, nginx string, upstreams []string) string {
	t.Helper()
	dir := t.TempDir()
	var servers strings.Builder
	for _, u := range upstreams {
		fmt.Fprintf(&servers, "\t\tserver %s;\n", u)
	}
	user := ""
	if os.Geteuid() == 0 {
		// Workers would otherwise switch to nobody, who may not enter dir.
		user = "user root;"
	}
	// The port is free when we ask; should another process take it before
	// nginx binds it, nginx exits and we try another.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		addr, err := freeLoopbackAddr()
		if err != nil {
			t.Fatal(err)
		}
		conf := strings.NewReplacer("{{dir}}", dir, "{{user}}", user, "{{servers}}", servers.String(), "{{listen}}", addr).Replace(nginxConf)
		confPath := filepath.Join(dir, "nginx.conf")
		if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		base := "http://" + addr
		if lastErr = runNginx(t, nginx, dir, confPath, base); lastErr == nil {
			return base
		}
	}
	t.Fatalf("nginx did not start: %v", lastErr)
	return ""
}

// runNginx starts nginx and waits until GET /healthz through it answers 200.
// On failure it has stopped nginx again.
func runNginx(t *testing.T, nginx, dir, confPath, base string) error {
	cmd := exec.Command(nginx, "-p", dir, "-c", confPath, "-e", filepath.Join(dir, "error.log"))
	out, err := os.Create(filepath.Join(dir, "nginx.out"))
	if err != nil {
		return err
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group, so that the workers can be killed with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGQUIT) // graceful: workers finish, then exit
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	}
	c := newClient(base, 1)
	defer c.close()
	_, err = eventually(15*time.Second, func() error {
		select {
		case <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			o, _ := os.ReadFile(filepath.Join(dir, "nginx.out"))
			return fmt.Errorf("nginx exited: %s%s", o, log)
		default:
		}
		return want200(c.do(http.MethodGet, "/healthz", "", nil))
	})
	if err != nil {
		stop()
		return err
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Logf("nginx error log:\n%s", log)
		}
	})
	return nil
}

// freeLoopbackAddr returns 127.0.0.1:PORT with a port that was free a moment ago.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
