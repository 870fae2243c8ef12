// Package token signs and verifies RS256 access tokens (RFC 9068 profile)
// and manages the RSA key set they are signed with: loading keys/ with its
// safety checks, generating keys and moving them through their states
// (next, current, retired; keystate.go), reloading them while the service
// runs, publishing public keys as a JWKS (RFC 7517), and, for a
// verifier-only process, fetching an issuer's JWKS (jwksfetch.go). It knows
// nothing of HTTP frameworks or databases.
package token

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// MinKeyBits is the smallest RSA modulus accepted, for signing or verifying.
const MinKeyBits = 2048

// MaxKeyBits is the largest RSA modulus accepted: verifying with a huge
// modulus is slow enough to be a denial of service, and verifiers fed from
// our JWKS refuse larger keys.
const MaxKeyBits = 8192

// Key is one RSA key of the set. Private is nil for keys known only by
// their public half (a verifier fed from a JWKS).
type Key struct {
	ID      string // RFC 7638 thumbprint: every process sharing the key agrees on it
	Public  *rsa.PublicKey
	Private *rsa.PrivateKey
	File    string
	Created time.Time
	State   KeyState  // next, current or retired; empty for a key fetched from a JWKS
	Since   time.Time // when the key entered State; zero when unknown
}

// KeySet is an immutable set of keys: all of them verify, Signing signs.
type KeySet struct {
	keys    map[string]*Key
	ordered []*Key
	signing *Key
}

// NewKeySet builds a set from keys; signing may be nil for a verifier.
func NewKeySet(keys []*Key, signing *Key) *KeySet {
	ks := &KeySet{keys: make(map[string]*Key, len(keys)), signing: signing}
	for _, k := range keys {
		if _, dup := ks.keys[k.ID]; !dup {
			ks.keys[k.ID] = k
			ks.ordered = append(ks.ordered, k)
		}
	}
	return ks
}

// Lookup returns the public key with the given kid.
func (ks *KeySet) Lookup(kid string) (*rsa.PublicKey, bool) {
	k, ok := ks.keys[kid]
	if !ok {
		return nil, false
	}
	return k.Public, true
}

// Signing returns the key that signs new tokens, or nil.
func (ks *KeySet) Signing() *Key { return ks.signing }

// Keys returns every key of the set in a stable order.
func (ks *KeySet) Keys() []*Key { return slices.Clone(ks.ordered) }

// Keyring holds the current key set and lets it be swapped while requests
// run (a key rotation picked up without a restart).
type Keyring struct{ set atomic.Pointer[KeySet] }

// NewKeyring returns a keyring holding ks.
func NewKeyring(ks *KeySet) *Keyring {
	r := &Keyring{}
	r.set.Store(ks)
	return r
}

// Set returns the current key set.
func (r *Keyring) Set() *KeySet { return r.set.Load() }

// Replace swaps in a new key set.
func (r *Keyring) Replace(ks *KeySet) { r.set.Store(ks) }

// Lookup finds a public key by kid in the current set.
func (r *Keyring) Lookup(kid string) (*rsa.PublicKey, bool) { return r.set.Load().Lookup(kid) }

// Thumbprint returns the RFC 7638 SHA-256 JWK thumbprint of pub, base64url.
func Thumbprint(pub *rsa.PublicKey) string {
	// The members in lexicographic order, no white space (RFC 7638 §3.2).
	canonical := `{"e":"` + b64(big.NewInt(int64(pub.E)).Bytes()) + `","kty":"RSA","n":"` + b64(pub.N.Bytes()) + `"}`
	sum := sha256.Sum256([]byte(canonical))
	return b64(sum[:])
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// LoadDir reads the keys directory (see OpenDir) and returns its key set:
// the current key signs; next, current and retired keys all verify and are
// published. It refuses, naming the file, a key that is missing, unreadable,
// not RSA, too weak, or readable by group or others.
func LoadDir(dir string) (*KeySet, error) {
	d, err := OpenDir(dir)
	if err != nil {
		return nil, err
	}
	return d.KeySet()
}

// LoadFile reads and checks one PEM private key file.
func LoadFile(name string) (*Key, error) {
	info, err := os.Stat(name)
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", name, errors.Unwrap(err))
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("key file %s: not a regular file", name)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("key file %s: mode %#o lets group or others read it; run: chmod 600 %s", name, perm, name)
	}
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", name, errors.Unwrap(err))
	}
	priv, err := ParsePrivateKeyPEM(data)
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", name, err)
	}
	return &Key{ID: Thumbprint(&priv.PublicKey), Public: &priv.PublicKey, Private: priv, File: name, Created: createdAt(name, info.ModTime())}, nil
}

// keyFileTime is the layout of generated key file names, a UTC timestamp.
const keyFileTime = "20060102T150405.000000000Z"

// createdAt reads a key's creation time from its generated file name, else
// from the file's modification time.
func createdAt(name string, modTime time.Time) time.Time {
	if t, err := time.Parse(keyFileTime, strings.TrimSuffix(filepath.Base(name), ".pem")); err == nil {
		return t
	}
	return modTime
}

// ParsePrivateKeyPEM parses an RSA private key in PKCS#8 or PKCS#1 PEM and
// checks its size. Errors never include key material.
func ParsePrivateKeyPEM(data []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	var priv *rsa.PrivateKey
	switch block.Type {
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, errors.New("not a valid PKCS#8 private key")
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("a %T, want an RSA private key", k)
		}
		priv = rk
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, errors.New("not a valid PKCS#1 RSA private key")
		}
		priv = k
	default:
		return nil, fmt.Errorf("PEM block %q, want PRIVATE KEY or RSA PRIVATE KEY", block.Type)
	}
	if bits := priv.N.BitLen(); bits < MinKeyBits {
		return nil, fmt.Errorf("RSA key of %d bits is too weak, want at least %d", bits, MinKeyBits)
	} else if bits > MaxKeyBits {
		return nil, fmt.Errorf("RSA key of %d bits is larger than %d, which verifiers refuse", bits, MaxKeyBits)
	}
	return priv, nil
}

// Generate writes a new RSA private key of bits into dir as
// <UTC timestamp>.pem with mode 0600 (the directory 0700) and returns it. The
// file appears complete or not at all, so a service watching dir never reads
// half a key. It records no state: see Dir.Generate.
func Generate(dir string, bits int, now time.Time) (*Key, error) {
	if bits < MinKeyBits || bits > MaxKeyBits {
		return nil, fmt.Errorf("key size %d is outside %d to %d bits", bits, MinKeyBits, MaxKeyBits)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	priv, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	name := filepath.Join(dir, now.UTC().Format(keyFileTime)+".pem")
	err = writeFileAtomic(name, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), false)
	if err != nil {
		return nil, err
	}
	return &Key{ID: Thumbprint(&priv.PublicKey), Public: &priv.PublicKey, Private: priv, File: name, Created: now}, nil
}

// writeFileAtomic writes data to name with mode 0600 through a temporary file
// in the same directory, so readers see the old content or the new, never a
// part. With replace false it fails if name exists.
func writeFileAtomic(name string, data []byte, replace bool) (err error) {
	f, err := os.CreateTemp(filepath.Dir(name), ".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if replace {
		err = os.Rename(tmp, name)
	} else if err = os.Link(tmp, name); err == nil {
		err = os.Remove(tmp)
	}
	if err != nil {
		return err
	}
	return syncDir(filepath.Dir(name))
}

// syncDir makes a rename or removal in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// EnsureKey makes sure the keys directory dir holds a key, as a service
// starting for the first time does (`make run`, REVENUE_KEYS_GENERATE): when
// dir holds no key file it generates one of bits and records it current. It
// returns dir's current key, and whether this call generated it; the key is
// nil when dir holds keys but none is current, which loading dir reports.
//
// It generates under the directory's lock (LockDir) and only if dir still
// holds no key once it has the lock, so that processes starting together
// on one empty, shared directory end up with one key: the first generates
// it, the others wait and use it. Otherwise each would generate its own,
// the state file would name the last, and tokens the others signed with
// theirs would be refused everywhere.
func EnsureKey(dir string, bits int, now time.Time) (key *Key, generated bool, err error) {
	// A directory with keys is read without the lock: it may be a read-only
	// mount, where the lock file cannot be made.
	if k, ok, err := currentIfAny(dir); ok || err != nil {
		return k, false, err
	}
	unlock, err := LockDir(dir)
	if err != nil {
		return nil, false, err
	}
	defer unlock()
	if k, ok, err := currentIfAny(dir); ok || err != nil {
		return k, false, err
	}
	d, err := OpenDir(dir)
	if err != nil {
		return nil, false, err
	}
	k, err := d.Generate(bits, now)
	if err != nil {
		return nil, false, fmt.Errorf("generate signing key: %w", err)
	}
	return k, true, nil
}

// currentIfAny reports whether dir holds a key file and, if it does,
// returns its current key.
func currentIfAny(dir string) (*Key, bool, error) {
	has, err := HasKeys(dir)
	if err != nil || !has {
		return nil, false, err
	}
	d, err := OpenDir(dir)
	if err != nil {
		return nil, true, err
	}
	return d.Current(), true, nil
}

// LockFile is the file in the keys directory that the processes changing
// the directory lock: a service generating the first key at start, and the
// `keys generate`, `rotate` and `prune` commands. It holds nothing, and it
// stays: removing it could let two processes each lock a file of that name.
const LockFile = ".lock"

// lockWait is how long LockDir waits for another process to release the
// lock. Holders keep it for one key generation (an 8192-bit key may take
// a minute on a slow machine) and a state-file write.
const lockWait = 2 * time.Minute

// lockPoll is how often LockDir tries again while another process holds
// the lock.
const lockPoll = 25 * time.Millisecond

// LockDir takes the exclusive lock on the keys directory dir, making dir
// (mode 0700) and its LockFile (0600) if missing, and returns the function
// that releases it. A process that reads the directory to change it holds
// the lock from the read to the last write, so that no other acts on a
// state that is being replaced. The lock is flock(2) on LockFile: held per
// open file (two opens in one process exclude each other as two processes
// do), released when its holder exits however it ends, and shared through
// NFS where the server supports locks; systems without flock(2) do not lock.
// LockDir waits up to lockWait for another holder, then fails naming the
// file.
func LockDir(dir string) (unlock func(), err error) { return lockDir(dir, lockWait) }

func lockDir(dir string, wait time.Duration) (func(), error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	name := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock the keys directory: %w", err)
	}
	deadline := time.Now().Add(wait)
	for {
		locked, err := tryLock(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", name, err)
		}
		if locked {
			return func() { f.Close() }, nil
		}
		if time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("%s: another process has held this lock for over %s (a revenue-api generating its first key, or a `revenue-api keys` command); try again once it is done", name, wait)
		}
		time.Sleep(lockPoll)
	}
}

// HasKeys reports whether dir holds any *.pem file.
func HasKeys(dir string) (bool, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".pem") {
			return true, nil
		}
	}
	return false, nil
}

// JWK is an RSA public key as RFC 7517 describes it; it has no private members.
type JWK struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
}

// JWKS is a JSON Web Key Set.
type JWKS struct {
	Keys []JWK `json:"keys"`
}

// PublicJWKS returns the public half of every key in ks.
func PublicJWKS(ks *KeySet) JWKS {
	out := JWKS{Keys: []JWK{}}
	for _, k := range ks.Keys() {
		out.Keys = append(out.Keys, JWK{
			Kty: "RSA", Kid: k.ID, Use: "sig", Alg: "RS256",
			N: b64(k.Public.N.Bytes()), E: b64(big.NewInt(int64(k.Public.E)).Bytes()),
		})
	}
	return out
}

// MarshalJWKS encodes the public JWKS of ks.
func MarshalJWKS(ks *KeySet) ([]byte, error) { return json.Marshal(PublicJWKS(ks)) }
