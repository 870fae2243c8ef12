package httpapi

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"
)

// clientIP answers what gin's ClientIP answers, for every peer address and
// forwarding header, with and without a trusted proxy: its fast path only
// skips work.
func TestClientIPIsGinsClientIP(t *testing.T) {
	remotes := []string{
		"192.0.2.1:1234", "[2001:db8::1]:443", "[::1]:80", "127.0.0.1:0",
		"[::ffff:192.0.2.1]:80", "[2001:DB8::1]:443", "[2001:db8:0:0::1]:443", "[fe80::1%eth0]:80",
		"192.0.2.1", "", "@", "not an address:80", " 192.0.2.1:80", "192.000.002.001:80",
	}
	forwarded := []http.Header{
		nil,
		{"X-Forwarded-For": {"203.0.113.7"}},
		{"X-Forwarded-For": {"203.0.113.7, 192.0.2.1"}},
		{"X-Real-Ip": {"203.0.113.9"}},
	}
	for _, proxies := range [][]string{nil, {"192.0.2.0/24", "::1"}} {
		engine := gin.New()
		if err := engine.SetTrustedProxies(proxies); err != nil {
			t.Fatal(err)
		}
		s := &Server{proxied: len(proxies) > 0}
		for _, remote := range remotes {
			for _, h := range forwarded {
				c := gin.CreateTestContextOnly(httptest.NewRecorder(), engine)
				c.Request = httptest.NewRequest(http.MethodGet, "/me", nil)
				c.Request.RemoteAddr = remote
				for k, v := range h {
					c.Request.Header[k] = v
				}
				if got, want := s.clientIP(c), c.ClientIP(); got != want {
					t.Errorf("proxies %v, remote %q, headers %v: clientIP %q, gin's ClientIP %q", proxies, remote, h, got, want)
				}
			}
		}
	}
}
