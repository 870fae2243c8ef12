package auth

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

var cheap = Argon2Params{MemoryKiB: 8 * 1024, Iterations: 1, Parallelism: 1}

func TestHashAndVerify(t *testing.T) {
	h, err := NewPasswordHasher(cheap, 1, 4)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	enc, err := h.Hash(ctx, "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=8192,t=1,p=1$") {
		t.Errorf("hash %q, want PHC argon2id", enc)
	}
	if ok, rehash, _ := h.Verify(ctx, "correct horse battery", enc); !ok || rehash {
		t.Errorf("right password: ok=%v rehash=%v, want true false", ok, rehash)
	}
	if ok, _, _ := h.Verify(ctx, "wrong horse battery", enc); ok {
		t.Error("wrong password verified")
	}
	if ok, _, _ := h.Verify(ctx, "anything", ""); ok {
		t.Error("the dummy hash verified a password")
	}
	if ok, _, _ := h.Verify(ctx, "anything", "$argon2id$garbage"); ok {
		t.Error("a corrupt stored hash verified a password")
	}
	stronger, _ := NewPasswordHasher(Argon2Params{MemoryKiB: 9 * 1024, Iterations: 1, Parallelism: 1}, 1, 4)
	if ok, rehash, _ := stronger.Verify(ctx, "correct horse battery", enc); !ok || !rehash {
		t.Errorf("after a parameter change: ok=%v rehash=%v, want true true", ok, rehash)
	}
}

func TestHasherPoolIsBounded(t *testing.T) {
	slow := Argon2Params{MemoryKiB: 16 * 1024, Iterations: 4, Parallelism: 1}
	h, err := NewPasswordHasher(slow, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	overloaded := 0
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			_, err := h.Hash(context.Background(), "some password here")
			if errors.Is(err, ErrOverloaded) {
				mu.Lock()
				overloaded++
				mu.Unlock()
				if d := time.Since(start); d > 50*time.Millisecond {
					t.Errorf("overloaded answer took %s, want prompt", d)
				}
			}
		}()
	}
	wg.Wait()
	if overloaded == 0 {
		t.Error("6 concurrent hashes with 1 worker and a queue of 1 all ran; want some refused with ErrOverloaded")
	}
}

// OnBusy tells when hashing starts and, after a quiet spell, when it has
// stopped: a series of hashes closer together than the hold is one busy
// spell, and Close ends a busy spell at once.
func TestHasherReportsBusySpells(t *testing.T) {
	var mu sync.Mutex
	var calls []bool
	busyNow := false
	var duringHash []bool // OnBusy's state seen by each hash
	observe := func(h *PasswordHasher) {
		h.newEngine = func() engine {
			return observingEngine(func() {
				mu.Lock()
				defer mu.Unlock()
				duringHash = append(duringHash, busyNow)
			})
		}
	}
	h, err := NewPasswordHasher(cheap, 2, 4, observe)
	if err != nil {
		t.Fatal(err)
	}
	const hold = 100 * time.Millisecond
	h.OnBusy(hold, func(busy bool) {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, busy)
		busyNow = busy
	})
	t.Cleanup(h.Close)
	state := func() (bool, []bool) {
		mu.Lock()
		defer mu.Unlock()
		return busyNow, slices.Clone(calls)
	}
	waitIdle := func() {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for b, _ := state(); b && time.Now().Before(deadline); b, _ = state() {
			time.Sleep(5 * time.Millisecond)
		}
		if b, c := state(); b {
			t.Fatalf("still busy %s after the last hash (calls %v)", 5*time.Second, c)
		}
	}
	if b, c := state(); b || len(c) != 0 {
		t.Fatalf("before any hash: busy=%v calls=%v, want no call", b, c)
	}
	ctx := context.Background()
	if _, err := h.Hash(ctx, "some password here"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if n := len(duringHash); n != 2 || duringHash[n-1] != true {
		t.Errorf("OnBusy state during the hashes so far (the dummy, then one): %v, want the last busy", duringHash)
	}
	mu.Unlock()
	if b, _ := state(); !b {
		t.Error("idle right after a hash, want busy for the hold")
	}
	waitIdle()

	// Hashes closer together than the hold are one spell.
	for range 4 {
		if _, err := h.Hash(ctx, "some password here"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(hold / 10)
	}
	waitIdle()
	if _, c := state(); !slices.Equal(c, []bool{true, false, true, false}) {
		t.Errorf("calls %v, want two spells: [true false true false]", c)
	}

	if _, err := h.Hash(ctx, "some password here"); err != nil {
		t.Fatal(err)
	}
	h.Close()
	if b, c := state(); b || !slices.Equal(c, []bool{true, false, true, false, true, false}) {
		t.Errorf("after Close: busy=%v calls=%v, want the spell ended", b, c)
	}
}

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

func TestBcryptHashesVerifyAndMoveToArgon2id(t *testing.T) {
	h, err := NewPasswordHasher(cheap, 1, 4)
	if err != nil {
		t.Fatal(err)
	}
	imported, err := bcrypt.GenerateFromPassword([]byte("imported-password"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if ok, rehash, _ := h.Verify(ctx, "imported-password", string(imported)); !ok || !rehash {
		t.Errorf("bcrypt hash, right password: ok=%v rehash=%v, want true true", ok, rehash)
	}
	if ok, _, _ := h.Verify(ctx, "wrong-password", string(imported)); ok {
		t.Error("bcrypt hash verified a wrong password")
	}
}

// observingEngine hashes in this process and calls seen before each hash.
type observingEngine func()

func (o observingEngine) compute(r *hashRequest) ([]byte, error) { o(); return r.compute() }
func (observingEngine) close()                                   {}
