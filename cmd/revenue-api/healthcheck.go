package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/revenue-api/revenue-api/internal/config"
)

// healthcheckTimeout bounds the whole probe; a container runtime runs it
// every few seconds, and a server slower than this to answer /healthz is not
// healthy.
const healthcheckTimeout = 2 * time.Second

// healthcheck asks the server at REVENUE_HTTP_ADDR for GET /healthz and
// returns nil only on a 200. It exists for container health checks: the
// image is distroless, with no shell or curl to run one.
func healthcheck(ctx context.Context, getenv func(string) string) error {
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	url, err := healthzURL(cfg.HTTPAddr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, healthcheckTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	client := &http.Client{
		// The server is local: an HTTP_PROXY in the environment must not
		// route the probe elsewhere.
		Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
		// /healthz answers itself; a redirect is not a healthy answer.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("healthcheck: GET %s: no answer within %s", url, healthcheckTimeout)
		}
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: GET %s: %s, want 200", url, resp.Status)
	}
	return nil
}

// healthzURL turns a listening address into the URL of its /healthz: a
// missing host (":8080", every interface) is reached on 127.0.0.1; a host is
// used as it is, an IPv6 one in brackets.
func healthzURL(listen string) (string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("REVENUE_HTTP_ADDR %q: %w", listen, err)
	}
	if port == "" || port == "0" {
		return "", fmt.Errorf("REVENUE_HTTP_ADDR %q: no fixed port to check", listen)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/healthz", nil
}
