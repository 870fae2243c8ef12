//go:build cgo && linux

package token

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"
	"math/bits"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// opensslKeyForTest loads the library (another instance each time, as each
// signer does) and hands it a new key.
func opensslKeyForTest(t *testing.T) (*libcrypto, *rsa.PrivateKey, *opensslKey) {
	t.Helper()
	lib, err := openLibcrypto(libcryptoNames)
	if err != nil {
		t.Fatalf("these tests need the system's OpenSSL 3 (libcrypto.so.3): %v", err)
	}
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	k, err := lib.newKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return lib, priv, k
}

// Each caller gets its own signature back from the signing threads, with
// many waiting at once and keys of two loaded libraries: every signature
// equals crypto/rsa's for the same message (PKCS#1 v1.5 is deterministic).
// One set of threads serves every library and key.
func TestSigningThreadsAnswerEachCaller(t *testing.T) {
	_, priv, k := opensslKeyForTest(t)
	_, priv2, k2 := opensslKeyForTest(t)
	var wg sync.WaitGroup
	for g := range 32 {
		wg.Go(func() {
			key, pk := k, priv
			if g%2 == 1 {
				key, pk = k2, priv2
			}
			for i := range 10 {
				digest := sha256.Sum256(fmt.Appendf(nil, "message %d of goroutine %d", i, g))
				got, err := key.sign(digest[:])
				if err != nil {
					t.Error(err)
					return
				}
				want, _ := rsa.SignPKCS1v15(nil, pk, crypto.SHA256, digest[:])
				if !bytes.Equal(got, want) {
					t.Errorf("goroutine %d, message %d: got another message's signature or a wrong one", g, i)
					return
				}
			}
		})
	}
	wg.Wait()
	p := signingThreads()
	if p == nil || p.threads != runtime.GOMAXPROCS(0) {
		t.Fatalf("signing threads %+v, want %d", p, runtime.GOMAXPROCS(0))
	}
	p.mu.Lock()
	if len(p.waiting) != 0 {
		t.Errorf("%d callers still registered as waiting", len(p.waiting))
	}
	p.mu.Unlock()
	// The signing threads block signals, so that the process's signals
	// reach Go's threads; and there is one set of them, not one per library.
	if n := threadsBlockingSignals(t); n < p.threads || n >= 2*p.threads {
		t.Errorf("%d threads block (almost) every signal, want the %d signing threads", n, p.threads)
	}
}

// threadsBlockingSignals counts this process's threads that block at least
// 60 signals (glibc never blocks the two it uses itself).
func threadsBlockingSignals(t *testing.T) int {
	t.Helper()
	dirs, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range dirs {
		b, err := os.ReadFile("/proc/self/task/" + d.Name() + "/status")
		if err != nil {
			continue // the thread ended
		}
		for line := range strings.Lines(string(b)) {
			if hexMask, ok := strings.CutPrefix(line, "SigBlk:"); ok {
				mask, err := strconv.ParseUint(strings.TrimSpace(hexMask), 16, 64)
				if err == nil && bits.OnesCount64(mask) >= 60 {
					n++
				}
			}
		}
	}
	return n
}

// Without signing threads (they could not be started) a signature is made
// on the caller's thread, the same bytes.
func TestSigningOnTheCallersThread(t *testing.T) {
	_, priv, k := opensslKeyForTest(t)
	digest := sha256.Sum256([]byte("on the caller's thread"))
	got, err := k.signOn(nil, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	want, _ := rsa.SignPKCS1v15(nil, priv, crypto.SHA256, digest[:])
	if !bytes.Equal(got, want) {
		t.Fatal("the signature made on the caller's thread differs from crypto/rsa's")
	}
	for _, short := range [][]byte{digest[:31], nil} {
		if _, err := k.signOn(nil, short); err == nil {
			t.Fatalf("a %d-byte digest was signed on the caller's thread", len(short))
		}
		if _, err := k.sign(short); err == nil {
			t.Fatalf("a %d-byte digest was signed on a signing thread", len(short))
		}
	}
}
