package passwordhash_test

import (
	"context"
	"testing"

	"github.com/revenue-api/revenue-api/internal/passwordhash"
)

// BenchmarkPasswordHash is hashing one password at the default argon2id
// cost (OWASP's minimum: 19 MiB, 2 passes, 1 lane), what a new password or
// a rehash costs.
func BenchmarkPasswordHash(b *testing.B) {
	h, err := passwordhash.New(passwordhash.DefaultParams, 1, 1)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Hash(ctx, "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPasswordHashVerify is checking a password at the default cost,
// what every login costs; the hasher pool bounds how many run at once.
func BenchmarkPasswordHashVerify(b *testing.B) {
	h, err := passwordhash.New(passwordhash.DefaultParams, 1, 1)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	encoded, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		ok, _, err := h.Verify(ctx, "correct horse battery staple", encoded)
		if err != nil || !ok {
			b.Fatalf("verify: ok %v, err %v", ok, err)
		}
	}
}
