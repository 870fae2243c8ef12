package token

// WithLibcrypto makes a signer look for libcrypto under names instead of the
// system's, for the test of a library that cannot be loaded.
func WithLibcrypto(names ...string) SignerOption {
	return func(o *signerOptions) { o.libraries = names }
}

// WithCorruptedOpenSSL flips a bit of every signature OpenSSL returns, so
// that the probe sees OpenSSL disagree with crypto/rsa.
func WithCorruptedOpenSSL() SignerOption {
	return func(o *signerOptions) { o.corruptOpenSSL = true }
}

// WithOpenSSLFailingAfterProbe hands OpenSSL a digest one byte short once
// the probe has passed, so that every signing call meets a real OpenSSL
// error.
func WithOpenSSLFailingAfterProbe() SignerOption {
	return func(o *signerOptions) { o.breakAfterProbe = true }
}

// SignForTest signs msg as a JWS signing input is signed (SHA-256, then
// RS256 with the current signing key), through the same method tokens use.
func (s *Signer) SignForTest(msg string) ([]byte, error) {
	k, err := s.signingKey()
	if err != nil {
		return nil, err
	}
	return k.Sign(msg, k.key.Private)
}

// OpenSSLKeysLive counts the keys held in OpenSSL's memory and not yet
// freed, for a signer that loaded the library (else 0).
func (s *Signer) OpenSSLKeysLive() int64 {
	if s.lib == nil {
		return 0
	}
	return s.lib.liveKeys()
}
