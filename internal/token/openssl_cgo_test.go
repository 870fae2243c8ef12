//go:build cgo && linux

package token_test

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"
	"regexp"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/revenue-api/revenue-api/internal/revocation"
	"github.com/revenue-api/revenue-api/internal/testclock"
	"github.com/revenue-api/revenue-api/internal/token"
)

// The system's OpenSSL, for real: these tests need libcrypto.so.3, as the
// service does to sign with it.

func newKeyOfBits(t *testing.T, bits int) *token.Key {
	t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return &token.Key{ID: token.Thumbprint(&priv.PublicKey), Public: &priv.PublicKey, Private: priv}
}

func TestOpenSSLSignsExactlyAsCryptoRSA(t *testing.T) {
	for _, tc := range []struct{ bits, messages int }{{2048, 400}, {3072, 150}, {4096, 60}} {
		t.Run(fmt.Sprint(tc.bits, " bits"), func(t *testing.T) {
			key := newKeyOfBits(t, tc.bits)
			f := newSignerFixture(t, key)
			f.prepare(token.BackendOpenSSL)
			f.expectOneLog("signing key uses OpenSSL", "INFO")
			for i := range tc.messages {
				msg := make([]byte, i*7%1500)
				_, _ = rand.Read(msg)
				got, err := f.signer.SignForTest(string(msg))
				if err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
				digest := sha256.Sum256(msg)
				want, err := rsa.SignPKCS1v15(nil, key.Private, crypto.SHA256, digest[:])
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("message %d (%d bytes): OpenSSL's signature differs from crypto/rsa's", i, len(msg))
				}
			}
			// Had OpenSSL failed, Go would have made equal signatures: it did not.
			if n := f.signer.OpenSSLFallbacks(); n != 0 {
				t.Errorf("%d signatures fell back to Go, want 0 (OpenSSL made them all)", n)
			}
			f.issueAndVerify()
		})
	}
}

func TestOpenSSLTokensAreGoTokens(t *testing.T) {
	// A revocation page depends on nothing random: signed by either
	// implementation, at the same instant, it must be the same string.
	clock := testclock.New(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	keys := cacheTestKeys(t)
	keyring := token.NewKeyring(token.NewKeySet([]*token.Key{keys[0]}, keys[0]))
	viaOpenSSL := token.NewSigner(keyring, cacheIssuer, cacheAudience, cacheTTL, clock.Now, token.WithSigning(token.SignerAuto, nil))
	viaGo := token.NewSigner(keyring, cacheIssuer, cacheAudience, cacheTTL, clock.Now)
	if got, _ := viaOpenSSL.Prepare(); got != token.BackendOpenSSL {
		t.Fatalf("signer uses %q, want openssl", got)
	}
	revs := []revocation.Revocation{{ID: 1, XID: 9, Kind: revocation.KindSession, Subject: "sid-1", Reason: "logout",
		NotBefore: clock.Now(), RevokedAt: clock.Now(), ExpiresAt: clock.Now().Add(time.Hour)}}
	a, err := viaOpenSSL.SignRevocations(revocation.Page{Revocations: revs, Cursor: 9})
	if err != nil {
		t.Fatal(err)
	}
	b, err := viaGo.SignRevocations(revocation.Page{Revocations: revs, Cursor: 9})
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Fatalf("the same page signed by OpenSSL and by Go differ:\n%s\n%s", a, b)
	}
	got, err := token.ParseRevocations(a, keyring, cacheIssuer, cacheLeeway, clock.Now)
	if err != nil || got.Cursor != 9 || got.More || len(got.Revocations) != 1 || got.Revocations[0].Subject != "sid-1" {
		t.Fatalf("ParseRevocations = %+v, %v", got, err)
	}
	if n := viaOpenSSL.OpenSSLFallbacks(); n != 0 {
		t.Errorf("%d signatures fell back to Go, want 0", n)
	}
}

func TestOpenSSLSignsConcurrentlyAcrossRotations(t *testing.T) {
	f := newSignerFixture(t, nil)
	f.prepare(token.BackendOpenSSL)
	sets := []*token.KeySet{
		token.NewKeySet([]*token.Key{f.keys[0], f.keys[1]}, f.keys[1]),
		token.NewKeySet([]*token.Key{f.keys[0], f.keys[1]}, f.keys[0]),
	}
	verifyRing := token.NewKeyring(sets[0])
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 25 {
				if g == 0 && i%5 == 0 {
					f.keyring.Replace(sets[i/5%2])
				}
				raw, _, err := f.signer.Issue(alice)
				if err != nil {
					t.Error(err)
					return
				}
				verifyEverywhere(t, verifyRing, raw)
			}
		})
	}
	wg.Wait()
	if n := f.signer.OpenSSLFallbacks(); n != 0 {
		t.Errorf("%d signatures fell back to Go, want 0", n)
	}
	if warn := f.logRecords("Go"); len(warn) != 0 {
		t.Errorf("unexpected fallback logged: %v", warn)
	}
}

// waitForLiveKeys runs the collector until the signer holds want keys in
// OpenSSL's memory: a key dropped by the signer must be freed.
func waitForLiveKeys(t *testing.T, s *token.Signer, want int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.OpenSSLKeysLive() != want {
		if time.Now().After(deadline) {
			t.Fatalf("%d keys still in OpenSSL's memory, want %d", s.OpenSSLKeysLive(), want)
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}

func TestOpenSSLKeyFreedAfterRotation(t *testing.T) {
	f := newSignerFixture(t, nil)
	f.prepare(token.BackendOpenSSL)
	waitForLiveKeys(t, f.signer, 1)

	// The same key read again (a reload: new *Key values, same numbers)
	// keeps its OpenSSL key: no second probe, no second log line.
	again := *f.keys[0]
	f.keyring.Replace(token.NewKeySet([]*token.Key{&again, f.keys[1]}, &again))
	f.issueAndVerify()
	waitForLiveKeys(t, f.signer, 1)
	f.expectOneLog("signing key uses OpenSSL", "INFO")

	f.keyring.Replace(token.NewKeySet([]*token.Key{f.keys[0], f.keys[1]}, f.keys[1]))
	if kid := kidOf(t, f.issueAndVerify()); kid != f.keys[1].ID {
		t.Fatalf("token signed by %s, want the new key %s", kid, f.keys[1].ID)
	}
	if recs := f.logRecords("signing key uses OpenSSL"); len(recs) != 2 || recs[1]["kid"] != f.keys[1].ID {
		t.Errorf("want the new key's signer logged, got %v", recs)
	}
	waitForLiveKeys(t, f.signer, 1)
}

func TestOpenSSLProbeMismatchFallsBackToGo(t *testing.T) {
	f := newSignerFixture(t, nil, token.WithCorruptedOpenSSL())
	f.prepare(token.BackendGo)
	rec := f.expectOneLog("signing key uses Go", "WARN")
	if rec["err"] != "OpenSSL's probe signature differs from crypto/rsa's" || rec["kid"] != f.keys[0].ID {
		t.Errorf("warning = %v, want the probe's mismatch for kid %s", rec, f.keys[0].ID)
	}
	for range 3 {
		f.issueAndVerify()
	}
	if n := f.signer.OpenSSLFallbacks(); n != 0 {
		t.Errorf("%d OpenSSL failures counted, want 0: OpenSSL must not be called after a failed probe", n)
	}
	// The key OpenSSL read for the probe is not kept.
	waitForLiveKeys(t, f.signer, 0)
}

func TestOpenSSLErrorAtSigningTimeFallsBackToGo(t *testing.T) {
	f := newSignerFixture(t, nil, token.WithOpenSSLFailingAfterProbe())
	f.prepare(token.BackendOpenSSL)
	for range 5 {
		f.issueAndVerify()
	}
	if n := f.signer.OpenSSLFallbacks(); n != 5 {
		t.Errorf("%d fallbacks counted, want 5", n)
	}
	rec := f.expectOneLog("OpenSSL failed to sign", "WARN")
	// The error names the failing call and OpenSSL's code, nothing else.
	if err, _ := rec["err"].(string); !regexp.MustCompile(`^OpenSSL: EVP_PKEY_sign failed \(error 0x[0-9a-f]+\)$`).MatchString(err) {
		t.Errorf("err = %q, want the failing call and OpenSSL's error code", err)
	}
}
