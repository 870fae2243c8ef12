package token_test

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/revenue-api/revenue-api/internal/token"
)

// BenchmarkRSAVerifyPKCS1v15 is the floor under every token check: one
// RSA-2048 PKCS#1 v1.5 signature verification of a SHA-256 digest.
func BenchmarkRSAVerifyPKCS1v15(b *testing.B) {
	key := cacheTestKeys(b)[0]
	digest := sha256.Sum256([]byte("header.claims"))
	sig, err := rsa.SignPKCS1v15(nil, key.Private, crypto.SHA256, digest[:])
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := rsa.VerifyPKCS1v15(key.Public, crypto.SHA256, digest[:], sig); err != nil {
			b.Fatal(err)
		}
	}
}

// benchFixture is a signer and the verifiers the service would use, on the
// real clock (tokens stay valid for the length of a benchmark).
func benchFixture(b *testing.B, cacheSize int) (*token.Signer, *token.Verifier, *token.CachingVerifier) {
	b.Helper()
	key := cacheTestKeys(b)[0]
	keyring := token.NewKeyring(token.NewKeySet([]*token.Key{key}, key))
	signer := token.NewSigner(keyring, cacheIssuer, cacheAudience, cacheTTL, time.Now)
	plain := token.NewVerifier(keyring, cacheIssuer, cacheAudience, cacheLeeway, time.Now)
	return signer, plain, token.NewCachingVerifier(plain, keyring, cacheLeeway, time.Now, cacheSize)
}

func benchToken(b *testing.B, s *token.Signer) string {
	b.Helper()
	raw, _, err := s.Issue(alice)
	if err != nil {
		b.Fatal(err)
	}
	return raw
}

// BenchmarkVerify is the service's full check of an access token: parsing,
// header and claim rules, and the RSA signature.
func BenchmarkVerify(b *testing.B) {
	signer, plain, _ := benchFixture(b, 0)
	raw := benchToken(b, signer)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := plain.Verify(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyCachedHit is a token presented again: the cache answers.
func BenchmarkVerifyCachedHit(b *testing.B) {
	signer, _, cache := benchFixture(b, 10000)
	raw := benchToken(b, signer)
	if _, err := cache.Verify(raw); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := cache.Verify(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyCachedHitParallel is the hit path from every core at once,
// to show the shard locks do not serialise requests.
func BenchmarkVerifyCachedHitParallel(b *testing.B) {
	signer, _, cache := benchFixture(b, 10000)
	tokens := make([]string, 64)
	for i := range tokens {
		tokens[i] = benchToken(b, signer)
		if _, err := cache.Verify(tokens[i]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := cache.Verify(tokens[i%len(tokens)]); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

// BenchmarkVerifyCachedMiss is a token seen for the first time with the
// cache on: the full check plus what it costs to remember the token. A
// one-entry cache and tokens taken in turn make every call a miss.
func BenchmarkVerifyCachedMiss(b *testing.B) {
	signer, plain, _ := benchFixture(b, 0)
	key := cacheTestKeys(b)[0]
	cache := token.NewCachingVerifier(plain, token.NewKeyring(token.NewKeySet([]*token.Key{key}, key)), cacheLeeway, time.Now, 1)
	tokens := make([]string, 64)
	for i := range tokens {
		tokens[i] = benchToken(b, signer)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := cache.Verify(tokens[i%len(tokens)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
	if s := cache.Stats(); s.Hits != 0 {
		b.Fatalf("%d hits, want every call to miss", s.Hits)
	}
}

// BenchmarkSign is issuing one access token (RSA-2048 signing) with Go's
// crypto/rsa (REVENUE_SIGNER=go).
func BenchmarkSign(b *testing.B) {
	signer, _, _ := benchFixture(b, 0)
	benchIssue(b, signer, token.BackendGo)
}

// BenchmarkSignOpenSSL is the same with the system's OpenSSL
// (REVENUE_SIGNER=auto where libcrypto loads).
func BenchmarkSignOpenSSL(b *testing.B) {
	key := cacheTestKeys(b)[0]
	keyring := token.NewKeyring(token.NewKeySet([]*token.Key{key}, key))
	signer := token.NewSigner(keyring, cacheIssuer, cacheAudience, cacheTTL, time.Now, token.WithSigning(token.SignerAuto, nil))
	benchIssue(b, signer, token.BackendOpenSSL)
}

func benchIssue(b *testing.B, signer *token.Signer, backend string) {
	if got, err := signer.Prepare(); err != nil || got != backend {
		b.Fatalf("signer uses %q (%v), want %q", got, err, backend)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := signer.Issue(alice); err != nil {
			b.Fatal(err)
		}
	}
	if n := signer.OpenSSLFallbacks(); n != 0 {
		b.Fatalf("%d signatures fell back to Go", n)
	}
}

// BenchmarkGolangJWTParse is the minimal middleware's check, for
// comparison: golang-jwt's ParseWithClaims with the key in hand and only the
// algorithm pinned.
func BenchmarkGolangJWTParse(b *testing.B) {
	signer, _, _ := benchFixture(b, 0)
	raw := benchToken(b, signer)
	pub := cacheTestKeys(b)[0].Public
	keyFunc := func(*jwt.Token) (any, error) { return pub, nil }
	b.ReportAllocs()
	for b.Loop() {
		var c jwt.RegisteredClaims
		if _, err := jwt.ParseWithClaims(raw, &c, keyFunc, jwt.WithValidMethods([]string{"RS256"})); err != nil {
			b.Fatal(fmt.Errorf("parse: %w", err))
		}
	}
}
