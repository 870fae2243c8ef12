package token

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"log/slog"
	"sync"

	"github.com/golang-jwt/jwt/v5"
)

// How RS256 signatures are made (REVENUE_SIGNER). RSA PKCS#1 v1.5 is
// deterministic, so both make the same bytes; OpenSSL makes them about ten
// times faster where it uses the CPU's wide multiply instructions and Go's
// crypto/rsa does not.
const (
	// SignerAuto signs with the system's OpenSSL 3 libcrypto when it loads
	// and, for each signing key, passes the probe; otherwise with Go.
	SignerAuto = "auto"
	// SignerGo always signs with Go's crypto/rsa.
	SignerGo = "go"
)

// Which implementation signs with a key, as Prepare reports it.
const (
	BackendOpenSSL = "openssl"
	BackendGo      = "go"
)

// libcryptoNames are tried in order: the OpenSSL 3 soname, then the
// development link (a distribution that names it differently).
var libcryptoNames = []string{"libcrypto.so.3", "libcrypto.so"}

// probeMessage is signed by both implementations with every new signing key
// before OpenSSL may sign tokens with it.
const probeMessage = "revenue-api RS256 probe: OpenSSL must sign exactly as crypto/rsa"

// SignerOption changes how a Signer signs.
type SignerOption func(*signerOptions)

type signerOptions struct {
	mode string
	log  *slog.Logger

	// Test seams (openssl_export_test.go); zero in production.
	libraries       []string // tried instead of libcryptoNames
	corruptOpenSSL  bool     // flip a bit of every signature OpenSSL makes
	breakAfterProbe bool     // give OpenSSL a short digest once the probe passed: a real OpenSSL error
}

// WithSigning chooses how signatures are made: mode SignerAuto or SignerGo
// (anything else is SignerGo). log hears which implementation each signing
// key uses, and of any fallback to Go. Without this option a Signer uses Go.
func WithSigning(mode string, log *slog.Logger) SignerOption {
	return func(o *signerOptions) { o.mode, o.log = mode, log }
}

// rs256Key is a signing key ready to sign: with OpenSSL when native is set,
// else with crypto/rsa. It is the jwt.SigningMethod of the tokens it signs:
// its Alg is RS256, exactly as jwt.SigningMethodRS256, which also verifies
// for it, so its tokens are indistinguishable from golang-jwt's own.
type rs256Key struct {
	key    *Key
	native *opensslKey
	signer *Signer
	warned sync.Once // a failing OpenSSL call is logged once per key
}

var _ jwt.SigningMethod = (*rs256Key)(nil)

func (k *rs256Key) Alg() string { return jwt.SigningMethodRS256.Alg() }

func (k *rs256Key) Verify(signingString string, sig []byte, key any) error {
	return jwt.SigningMethodRS256.Verify(signingString, sig, key)
}

// Sign hashes in Go and signs the digest with OpenSSL; any OpenSSL error
// makes this call sign with Go instead. A key other than k's own (never the
// case in this package) is signed by golang-jwt.
func (k *rs256Key) Sign(signingString string, key any) ([]byte, error) {
	if k.native == nil || key != k.key.Private {
		return jwt.SigningMethodRS256.Sign(signingString, key)
	}
	digest := sha256.Sum256([]byte(signingString))
	sig, err := k.signer.opensslSign(k.native, digest[:], false)
	if err == nil {
		return sig, nil
	}
	k.signer.fallbacks.Add(1)
	k.warned.Do(func() {
		k.signer.log().Warn("OpenSSL failed to sign; this signature and every failing one after it are made with Go",
			"kid", k.key.ID, "err", err)
	})
	return jwt.SigningMethodRS256.Sign(signingString, key)
}

// opensslSign signs digest with OpenSSL, through the test seams.
func (s *Signer) opensslSign(native *opensslKey, digest []byte, probe bool) ([]byte, error) {
	if s.opts.breakAfterProbe && !probe {
		digest = digest[:len(digest)-1]
	}
	sig, err := native.sign(digest)
	if err == nil && s.opts.corruptOpenSSL {
		sig[len(sig)-1] ^= 1
	}
	return sig, err
}

func (s *Signer) log() *slog.Logger {
	if s.opts.log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.opts.log
}

// signingKey returns the keyring's signing key ready to sign, preparing it
// the first time it is seen (at start, and after a rotation).
func (s *Signer) signingKey() (*rs256Key, error) {
	key := s.keys.Set().Signing()
	if key == nil || key.Private == nil {
		return nil, errors.New("no signing key")
	}
	if k := s.current.Load(); k != nil && k.key == key {
		return k, nil
	}
	s.prepareMu.Lock()
	defer s.prepareMu.Unlock()
	old := s.current.Load()
	if old != nil && old.key == key {
		return old, nil
	}
	k := &rs256Key{key: key, signer: s}
	if old != nil && old.key.ID == key.ID && old.key.Private.Equal(key.Private) {
		// The same key read again by a reload: it was probed already.
		k.native = old.native
	} else {
		k.native = s.prepare(key)
	}
	s.current.Store(k)
	return k, nil
}

// prepare gives key an OpenSSL handle when the mode allows, the library
// loaded and the probe passes, and logs which implementation will sign.
func (s *Signer) prepare(key *Key) *opensslKey {
	log := s.log().With("kid", key.ID, "bits", key.Private.N.BitLen())
	if s.opts.mode != SignerAuto {
		log.Info("signing key uses Go's crypto/rsa", "signer", BackendGo, "reason", "REVENUE_SIGNER="+SignerGo)
		return nil
	}
	native, err := s.probe(key)
	if err != nil {
		log.Warn("signing key uses Go's crypto/rsa: OpenSSL is not used for it", "signer", BackendGo, "err", err)
		return nil
	}
	log.Info("signing key uses OpenSSL", "signer", BackendOpenSSL, "library", s.lib.String())
	return native
}

// probe hands key to OpenSSL and accepts it only if OpenSSL's signature of
// the probe is byte for byte crypto/rsa's and verifies with crypto/rsa.
func (s *Signer) probe(key *Key) (*opensslKey, error) {
	s.libOnce.Do(func() {
		names := s.opts.libraries
		if names == nil {
			names = libcryptoNames
		}
		s.lib, s.libErr = openLibcrypto(names)
	})
	if s.libErr != nil {
		return nil, s.libErr
	}
	native, err := s.lib.newKey(key.Private)
	if err != nil {
		return nil, err
	}
	digest := sha256.Sum256([]byte(probeMessage))
	want, err := rsa.SignPKCS1v15(nil, key.Private, crypto.SHA256, digest[:])
	if err != nil {
		return nil, err
	}
	got, err := s.opensslSign(native, digest[:], true)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(got, want) {
		return nil, errors.New("OpenSSL's probe signature differs from crypto/rsa's")
	}
	if err := rsa.VerifyPKCS1v15(key.Public, crypto.SHA256, digest[:], got); err != nil {
		return nil, errors.New("OpenSSL's probe signature does not verify")
	}
	return native, nil
}

// Prepare readies the current signing key (which logs the implementation
// it uses) and returns BackendOpenSSL or BackendGo.
func (s *Signer) Prepare() (string, error) {
	k, err := s.signingKey()
	if err != nil {
		return "", err
	}
	if k.native != nil {
		return BackendOpenSSL, nil
	}
	return BackendGo, nil
}

// OpenSSLFallbacks counts the signatures Go made because OpenSSL failed at
// signing time.
func (s *Signer) OpenSSLFallbacks() uint64 { return s.fallbacks.Load() }
