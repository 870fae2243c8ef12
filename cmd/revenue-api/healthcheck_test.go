package main

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/revenue-api/revenue-api/internal/pgtest"
)

func TestHealthzURLFollowsTheListeningAddress(t *testing.T) {
	tests := []struct {
		name, listen, want string
	}{
		{"every interface is checked on loopback", ":8080", "http://127.0.0.1:8080/healthz"},
		{"an IPv4 host is used as it is", "10.1.2.3:9000", "http://10.1.2.3:9000/healthz"},
		{"a host name is used as it is", "localhost:8080", "http://localhost:8080/healthz"},
		{"an IPv6 host keeps its brackets", "[::1]:8080", "http://[::1]:8080/healthz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := healthzURL(tt.listen)
			if err != nil || got != tt.want {
				t.Errorf("healthzURL(%q) = %q, %v; want %q", tt.listen, got, err, tt.want)
			}
		})
	}
	for _, listen := range []string{"8080", "127.0.0.1:0", ":"} {
		if got, err := healthzURL(listen); err == nil || !strings.Contains(err.Error(), "REVENUE_HTTP_ADDR") {
			t.Errorf("healthzURL(%q) = %q, %v; want an error naming REVENUE_HTTP_ADDR", listen, got, err)
		}
	}
}

func TestHealthcheck(t *testing.T) {
	healthcheckAt := func(addr string) error {
		return run(context.Background(), []string{"healthcheck"}, testEnv(map[string]string{"REVENUE_HTTP_ADDR": addr}),
			strings.NewReader(""), &strings.Builder{}, &strings.Builder{})
	}

	t.Run("a running server is healthy", func(t *testing.T) {
		base, _ := startServe(t, map[string]string{
			"DATABASE_URL":          pgtest.NewDatabase(t),
			"REVENUE_KEYS_DIR":      filepath.Join(t.TempDir(), "keys"),
			"REVENUE_KEYS_GENERATE": "true",
			"REVENUE_WEB_DIR":       "",
		})
		_, port, err := net.SplitHostPort(strings.TrimPrefix(base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		// The server listens on 127.0.0.1:port; ":port" is how a container
		// is configured, and is checked on loopback.
		for _, addr := range []string{"127.0.0.1:" + port, ":" + port} {
			if err := healthcheckAt(addr); err != nil {
				t.Errorf("healthcheck with REVENUE_HTTP_ADDR=%s: %v, want healthy", addr, err)
			}
		}
	})

	t.Run("nothing listening is unhealthy", func(t *testing.T) {
		addr := freeAddr(t)
		err := healthcheckAt(addr)
		if err == nil || !strings.Contains(err.Error(), addr) {
			t.Errorf("healthcheck of %s where nothing listens: %v, want an error naming the address", addr, err)
		}
	})

	t.Run("a server answering 503 is unhealthy", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/healthz" {
				t.Errorf("the healthcheck asked for %s, want /healthz", r.URL.Path)
			}
			w.WriteHeader(http.StatusServiceUnavailable)
		}))
		defer srv.Close()
		err := healthcheckAt(srv.Listener.Addr().String())
		if err == nil || !strings.Contains(err.Error(), "503") {
			t.Errorf("healthcheck of a server answering 503: %v, want an error with the status", err)
		}
	})
}
