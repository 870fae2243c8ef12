package token_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/revenue-api/revenue-api/internal/token"
)

var (
	keyFileKeysOnce sync.Once
	keyFileKeys     [3]*rsa.PrivateKey
)

// keyFileTestKeys returns three RSA-2048 keys shared by these tests:
// generating keys is slow.
func keyFileTestKeys(t testing.TB) [3]*rsa.PrivateKey {
	t.Helper()
	keyFileKeysOnce.Do(func() {
		for i := range keyFileKeys {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			keyFileKeys[i] = k
		}
	})
	return keyFileKeys
}

// kidOf reads the kid from a token's header.
func kidOf(t *testing.T, raw string) string {
	t.Helper()
	header, _, _ := strings.Cut(raw, ".")
	data, err := base64.RawURLEncoding.DecodeString(header)
	if err != nil {
		t.Fatalf("token header: %v", err)
	}
	var h struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(data, &h); err != nil {
		t.Fatalf("token header: %v", err)
	}
	return h.Kid
}

func writeFile(t *testing.T, name string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(name, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(name, mode); err != nil { // WriteFile's mode is masked by umask
		t.Fatal(err)
	}
}

func pemOf(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func pkcs8(t *testing.T, key any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pemOf("PRIVATE KEY", der)
}

// TestLoadFileRefusesUnsafeKeys: every unsafe key file refuses the load
// with a one-line reason that names the file.
func TestLoadFileRefusesUnsafeKeys(t *testing.T) {
	good := keyFileTestKeys(t)[0]
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	pubDER, _ := x509.MarshalPKIXPublicKey(&good.PublicKey)

	tests := []struct {
		name    string
		setup   func(t *testing.T, name string)
		wantErr string
	}{
		{"missing", func(*testing.T, string) {}, "no such file or directory"},
		{"dangling symlink", func(t *testing.T, name string) {
			if err := os.Symlink(name+".gone", name); err != nil {
				t.Fatal(err)
			}
		}, "no such file or directory"},
		{"a directory", func(t *testing.T, name string) {
			if err := os.Mkdir(name, 0o700); err != nil {
				t.Fatal(err)
			}
		}, "not a regular file"},
		// An unreadable file, shown in a way that holds for root too (root
		// reads a mode 000 file): /proc/self/mem is a 0600 file whose first
		// page is unmapped, so reading it fails.
		{"read error", func(t *testing.T, name string) {
			if _, err := os.Stat("/proc/self/mem"); err != nil {
				t.Fatalf("this test needs Linux's /proc/self/mem: %v", err)
			}
			if err := os.Symlink("/proc/self/mem", name); err != nil {
				t.Fatal(err)
			}
		}, "input/output error"},
		{"group-readable", func(t *testing.T, name string) { writeFile(t, name, pkcs8(t, good), 0o640) }, "lets group or others read it; run: chmod 600"},
		{"world-readable", func(t *testing.T, name string) { writeFile(t, name, pkcs8(t, good), 0o604) }, "lets group or others read it"},
		{"too weak (1024 bits)", func(t *testing.T, name string) { writeFile(t, name, pkcs8(t, weak), 0o600) }, "1024 bits is too weak"},
		{"too weak PKCS#1", func(t *testing.T, name string) {
			writeFile(t, name, pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(weak)), 0o600)
		}, "too weak"},
		{"an EC key", func(t *testing.T, name string) { writeFile(t, name, pkcs8(t, ec), 0o600) }, "want an RSA private key"},
		{"an Ed25519 key", func(t *testing.T, name string) { writeFile(t, name, pkcs8(t, ed), 0o600) }, "want an RSA private key"},
		{"a public key", func(t *testing.T, name string) { writeFile(t, name, pemOf("PUBLIC KEY", pubDER), 0o600) }, `PEM block "PUBLIC KEY"`},
		{"not PEM", func(t *testing.T, name string) { writeFile(t, name, []byte("hello"), 0o600) }, "no PEM block"},
		{"corrupt DER", func(t *testing.T, name string) { writeFile(t, name, pemOf("PRIVATE KEY", []byte("junk")), 0o600) }, "not a valid PKCS#8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			name := filepath.Join(dir, "20260301T101500.000000000Z.pem")
			tt.setup(t, name)
			for _, load := range []struct {
				what string
				f    func() error
			}{
				{"LoadFile", func() error { _, err := token.LoadFile(name); return err }},
				{"LoadDir", func() error { _, err := token.LoadDir(dir); return err }},
			} {
				err := load.f()
				if tt.name == "missing" && load.what == "LoadDir" {
					// An empty directory: the reason is that there is no key.
					if err == nil || !strings.Contains(err.Error(), "no signing key in "+dir) {
						t.Errorf("LoadDir of an empty dir: %v, want no signing key", err)
					}
					continue
				}
				if err == nil {
					t.Fatalf("%s succeeded, want an error containing %q", load.what, tt.wantErr)
				}
				msg := err.Error()
				if !strings.Contains(msg, name) || !strings.Contains(msg, tt.wantErr) || strings.Contains(msg, "\n") {
					t.Errorf("%s: error %q, want one line naming %s and saying %q", load.what, msg, name, tt.wantErr)
				}
			}
		})
	}
}

func TestLoadFileAcceptsPKCS1AndPKCS8(t *testing.T) {
	key := keyFileTestKeys(t)[0]
	dir := t.TempDir()
	for name, data := range map[string][]byte{
		"pkcs1.pem": pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key)),
		"pkcs8.pem": pkcs8(t, key),
	} {
		writeFile(t, filepath.Join(dir, name), data, 0o600)
		k, err := token.LoadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if k.ID != token.Thumbprint(&key.PublicKey) {
			t.Errorf("%s: kid %s, want the thumbprint", name, k.ID)
		}
	}
}

func TestGenerateWritesAPrivateFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	now := time.Date(2026, 3, 1, 10, 15, 0, 123, time.UTC)
	k, err := token.Generate(dir, 2048, now)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "20260301T101500.000000123Z.pem"); k.File != want {
		t.Errorf("file %s, want %s", k.File, want)
	}
	for name, want := range map[string]os.FileMode{k.File: 0o600, dir: 0o700} {
		info, err := os.Stat(name)
		if err != nil || info.Mode().Perm() != want {
			t.Errorf("%s: mode %v (err %v), want %v", name, info.Mode().Perm(), err, want)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("directory holds %d entries, want the key alone (no temporary file)", len(entries))
	}
	loaded, err := token.LoadFile(k.File)
	if err != nil || loaded.ID != k.ID || !loaded.Created.Equal(now) {
		t.Errorf("LoadFile: kid %v created %v err %v; want %s created %s", loaded.ID, loaded.Created, err, k.ID, now)
	}
	for _, bits := range []int{1024, 2047, 8193} {
		if _, err := token.Generate(dir, bits, now); err == nil {
			t.Errorf("Generate(%d bits) succeeded, want a refusal", bits)
		}
	}
}

// TestJWKSPublishesEveryStateAndNoPrivatePart: next, current and retired
// keys are all in the JWKS, each with exactly the public members.
func TestJWKSPublishesEveryStateAndNoPrivatePart(t *testing.T) {
	privs := keyFileTestKeys(t)
	var keys []*token.Key
	for i, st := range []token.KeyState{token.StateRetired, token.StateCurrent, token.StateNext} {
		p := privs[i]
		keys = append(keys, &token.Key{ID: token.Thumbprint(&p.PublicKey), Public: &p.PublicKey, Private: p, State: st})
	}
	body, err := token.MarshalJWKS(token.NewKeySet(keys, keys[1]))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("JWKS is not JSON: %v\n%s", err, body)
	}
	if len(doc.Keys) != 3 {
		t.Fatalf("JWKS has %d keys, want 3 (next, current, retired): %s", len(doc.Keys), body)
	}
	for i, j := range doc.Keys {
		if got, want := slices.Sorted(maps.Keys(j)), []string{"alg", "e", "kid", "kty", "n", "use"}; !slices.Equal(got, want) {
			t.Errorf("key %d has members %v, want exactly %v", i, got, want)
		}
		pub := keys[i].Public
		if j["kid"] != keys[i].ID || j["kty"] != "RSA" || j["alg"] != "RS256" || j["use"] != "sig" ||
			j["n"] != base64.RawURLEncoding.EncodeToString(pub.N.Bytes()) || j["e"] != "AQAB" {
			t.Errorf("key %d = %v, want the public half of %s", i, j, keys[i].ID)
		}
	}
	for _, secret := range []string{`"d"`, `"p"`, `"q"`, `"dp"`, `"dq"`, `"qi"`} {
		if strings.Contains(string(body), secret) {
			t.Errorf("JWKS contains the private member %s", secret)
		}
	}
	// A verifier reading it back gets the same keys.
	ks, err := token.ParseJWKS(body)
	if err != nil {
		t.Fatalf("ParseJWKS of our own JWKS: %v", err)
	}
	for _, k := range keys {
		if pub, ok := ks.Lookup(k.ID); !ok || !pub.Equal(k.Public) {
			t.Errorf("kid %s: read back %v, want its public key", k.ID, ok)
		}
	}
}
