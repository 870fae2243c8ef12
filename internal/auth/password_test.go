package auth

import (
	"strings"
	"testing"
	"time"
)

func TestPasswordPolicy(t *testing.T) {
	for pw, ok := range map[string]bool{
		"short":                   false,
		strings.Repeat(" ", 20):   false,
		"twelve chars":            true,
		strings.Repeat("x", 256):  true,
		strings.Repeat("x", 257):  false,
		"ünïcödé-pässwörd-lönger": true,
	} {
		if err := CheckPasswordPolicy(pw); (err == nil) != ok {
			t.Errorf("CheckPasswordPolicy(%q) = %v, want ok=%v", pw, err, ok)
		}
	}
}

func TestLockoutGrows(t *testing.T) {
	s := &Service{policy: Policy{LockoutThreshold: 5, LockoutBase: time.Minute, LockoutMax: 15 * time.Minute}}
	want := map[int]time.Duration{1: 0, 4: 0, 5: time.Minute, 6: 2 * time.Minute, 7: 4 * time.Minute, 9: 15 * time.Minute, 50: 15 * time.Minute}
	for failures, d := range want {
		if got := s.lockFor(failures); got != d {
			t.Errorf("lockFor(%d) = %s, want %s", failures, got, d)
		}
	}
}

func TestRefreshTokenShape(t *testing.T) {
	tok, hash := newRefreshToken()
	if len(tok) != 46 || !strings.HasPrefix(tok, "rt_") || len(hash) != 32 {
		t.Errorf("token %q (%d chars), hash %d bytes", tok, len(tok), len(hash))
	}
	if got, ok := hashRefreshToken(tok); !ok || string(got) != string(hash) {
		t.Error("hashRefreshToken does not match the stored hash")
	}
	for _, bad := range []string{"", "rt_short", tok + "x", "xx" + tok[2:], "rt_" + strings.Repeat("!", 43)} {
		if _, ok := hashRefreshToken(bad); ok {
			t.Errorf("hashRefreshToken(%q) accepted a malformed token", bad)
		}
	}
}
