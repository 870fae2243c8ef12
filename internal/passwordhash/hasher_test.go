package passwordhash

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/revenue-api/revenue-api/internal/auth"
)

var cheap = Params{MemoryKiB: 8 * 1024, Iterations: 1, Parallelism: 1}

func TestHashAndVerify(t *testing.T) {
	h, err := New(cheap, 1, 4)
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
	stronger, _ := New(Params{MemoryKiB: 9 * 1024, Iterations: 1, Parallelism: 1}, 1, 4)
	if ok, rehash, _ := stronger.Verify(ctx, "correct horse battery", enc); !ok || !rehash {
		t.Errorf("after a parameter change: ok=%v rehash=%v, want true true", ok, rehash)
	}
}

func TestHasherPoolIsBounded(t *testing.T) {
	slow := Params{MemoryKiB: 16 * 1024, Iterations: 4, Parallelism: 1}
	h, err := New(slow, 1, 1)
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
			if errors.Is(err, auth.ErrOverloaded) {
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

func TestBcryptHashesVerifyAndMoveToArgon2id(t *testing.T) {
	h, err := New(cheap, 1, 4)
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
