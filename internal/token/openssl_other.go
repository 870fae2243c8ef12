//go:build !(cgo && linux)

package token

import (
	"crypto/rsa"
	"errors"
)

// Without cgo (the container image is built with CGO_ENABLED=0) or off
// Linux there is no OpenSSL: every key signs with Go's crypto/rsa.

type libcrypto struct{}

type opensslKey struct{}

func openLibcrypto([]string) (*libcrypto, error) {
	return nil, errors.New("OpenSSL is not available in this build (built without cgo, or not for Linux)")
}

func (*libcrypto) String() string { return "none" }

func (*libcrypto) liveKeys() int64 { return 0 }

func (*libcrypto) newKey(*rsa.PrivateKey) (*opensslKey, error) {
	return nil, errors.New("OpenSSL is not available in this build")
}

func (*opensslKey) sign([]byte) ([]byte, error) {
	return nil, errors.New("OpenSSL is not available in this build")
}
