package httpapi_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/revenue-api/revenue-api/internal/apitest"
	"github.com/revenue-api/revenue-api/internal/auth"
	"github.com/revenue-api/revenue-api/internal/httpapi"
	"github.com/revenue-api/revenue-api/internal/token"
)

// benchServer is the router with only what GET /me needs: no database, the
// batched access log written to io.Discard (the formatting is still paid),
// real metrics, and the verifier with or without the cache.
func benchServer(b *testing.B, cacheSize int) (http.Handler, string) {
	b.Helper()
	priv := apitest.SigningKey(b)
	key := &token.Key{ID: token.Thumbprint(&priv.PublicKey), Public: &priv.PublicKey, Private: priv}
	keyring := token.NewKeyring(token.NewKeySet([]*token.Key{key}, key))
	signer := token.NewSigner(keyring, apitest.Issuer, apitest.Audience, time.Hour, time.Now)
	full := token.NewVerifier(keyring, apitest.Issuer, apitest.Audience, 30*time.Second, time.Now)
	var verifier httpapi.Verifier = full
	if cacheSize > 0 {
		verifier = token.NewCachingVerifier(full, keyring, 30*time.Second, time.Now, cacheSize)
	}
	h, err := httpapi.NewServer(httpapi.Deps{
		Log:       slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo})),
		AccessLog: httpapi.NewAccessLog(io.Discard, time.Second),
		Verifier:  verifier,
		Keys:      keyring.Set,
		Metrics:   httpapi.NewMetrics(nil),
		Now:       time.Now,
	})
	if err != nil {
		b.Fatal(err)
	}
	raw, _, err := signer.Issue(auth.Identity{
		UserID: "0b6c3f0e-9d4e-4d7a-8d0c-111111111111", Email: apitest.AliceEmail,
		OrgID: "5f2b1c9a-0000-4000-8000-222222222222", Roles: []string{"finance"},
		Scopes: []string{auth.ScopeRevenueRead}, SessionID: "7c1d2e3f-0000-4000-8000-333333333333",
	})
	if err != nil {
		b.Fatal(err)
	}
	return h, raw
}

func benchmarkMe(b *testing.B, cacheSize int) {
	h, raw := benchServer(b, cacheSize)
	req := httptest.NewRequest(http.MethodGet, "/me", nil)
	req.Header.Set("Authorization", "Bearer "+raw)
	req.RemoteAddr = "192.0.2.1:1234"
	b.ReportAllocs()
	c0 := cpuNow()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
	b.ReportMetric(float64((cpuNow()-c0).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// BenchmarkMe is GET /me through the whole middleware chain, the token
// verified in full every time.
func BenchmarkMe(b *testing.B) { benchmarkMe(b, 0) }

// BenchmarkMeCached is GET /me with the token answered from the cache: what
// is left is the router, middleware, logging, metrics and the JSON answer.
func BenchmarkMeCached(b *testing.B) { benchmarkMe(b, 10000) }

// cpuNow is the CPU time this process has used. Reported per operation next
// to ns/op, it stays meaningful on a machine busy with other work, where
// wall time does not.
func cpuNow() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
