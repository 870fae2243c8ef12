package token_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"
)

// User info in the JWKS URL (refused by the configuration) is neither
// sent nor logged, nor shown by Ready.
func TestRemoteKeysKeepUserInfoOutOfRequestsAndLogs(t *testing.T) {
	var mu sync.Mutex
	var authorization []string
	issuer := newFakeIssuer(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		authorization = append(authorization, r.Header.Get("Authorization"))
		mu.Unlock()
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	remote, logs := newRemote(t, strings.Replace(issuer.URL, "://", "://jwksuser:s3cret@", 1)+"/jwks.json", newStepClock())
	if err := remote.Refresh(t.Context()); err == nil {
		t.Fatal("a fetch answered 503 succeeded")
	}
	ready := remote.Ready()
	mu.Lock()
	defer mu.Unlock()
	if len(authorization) != 1 || authorization[0] != "" {
		t.Errorf("the issuer got Authorization %q, want one request without credentials", authorization)
	}
	for _, shown := range []string{logs.String(), ready.Error()} {
		if strings.Contains(shown, "s3cret") || strings.Contains(shown, "jwksuser") {
			t.Errorf("the URL's user info is shown:\n%s", shown)
		}
		if !strings.Contains(shown, issuer.URL+"/jwks.json") {
			t.Errorf("the JWKS URL %s is not named:\n%s", issuer.URL+"/jwks.json", shown)
		}
	}
}
