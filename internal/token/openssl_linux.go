//go:build cgo && linux

package token

// The system's OpenSSL 3 libcrypto, opened with dlopen when a signer is
// built, so that neither OpenSSL's headers nor the library are needed to
// build, and a machine without it still runs (on Go's signer). Only -ldl is
// linked (glibc 2.34 and later has dlopen in libc itself).

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

// The OpenSSL 3 functions used, declared here rather than taken from
// <openssl/evp.h>: every OpenSSL type is an opaque pointer to us. In
// OpenSSL 1.1 the two EVP_PKEY_CTX_set_* are macros with no symbol, so a
// 1.1 library fails to load here, as it should.
typedef struct {
	void *(*d2i_AutoPrivateKey)(void **a, const unsigned char **pp, long length);
	void (*EVP_PKEY_free)(void *pkey);
	void *(*EVP_PKEY_CTX_new)(void *pkey, void *engine);
	int (*EVP_PKEY_sign_init)(void *ctx);
	int (*EVP_PKEY_CTX_set_rsa_padding)(void *ctx, int pad);
	int (*EVP_PKEY_CTX_set_signature_md)(void *ctx, const void *md);
	const void *(*EVP_sha256)(void);
	int (*EVP_PKEY_sign)(void *ctx, unsigned char *sig, size_t *siglen, const unsigned char *tbs, size_t tbslen);
	void (*EVP_PKEY_CTX_free)(void *ctx);
	void (*ERR_clear_error)(void);
	unsigned long (*ERR_get_error)(void);
	const char *(*OpenSSL_version)(int type);
} rs_lib;

// rs_open loads name and every function of rs_lib from it. On failure it
// writes why into msg and returns -1. The library is never closed: keys
// made from it may live as long as the process.
static int rs_open(const char *name, rs_lib *f, char *msg, size_t msglen) {
	void *h = dlopen(name, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		const char *e = dlerror();
		snprintf(msg, msglen, "%s", e ? e : "dlopen failed");
		return -1;
	}
#define RS_SYM(sym) \
	if ((*(void **)(&f->sym) = dlsym(h, #sym)) == NULL) { \
		snprintf(msg, msglen, "%s: no symbol %s (OpenSSL 3 is needed)", name, #sym); \
		dlclose(h); \
		return -1; \
	}
	RS_SYM(d2i_AutoPrivateKey)
	RS_SYM(EVP_PKEY_free)
	RS_SYM(EVP_PKEY_CTX_new)
	RS_SYM(EVP_PKEY_sign_init)
	RS_SYM(EVP_PKEY_CTX_set_rsa_padding)
	RS_SYM(EVP_PKEY_CTX_set_signature_md)
	RS_SYM(EVP_sha256)
	RS_SYM(EVP_PKEY_sign)
	RS_SYM(EVP_PKEY_CTX_free)
	RS_SYM(ERR_clear_error)
	RS_SYM(ERR_get_error)
	RS_SYM(OpenSSL_version)
#undef RS_SYM
	return 0;
}

static const char *rs_version(const rs_lib *f) { return f->OpenSSL_version(0); } // OPENSSL_VERSION

// rs_key reads a DER private key (PKCS#1 here) into an EVP_PKEY, or returns
// NULL with OpenSSL's first error code in *err. OpenSSL copies what it
// reads; the caller may wipe der at once.
static void *rs_key(const rs_lib *f, const unsigned char *der, long len, unsigned long *err) {
	const unsigned char *p = der;
	f->ERR_clear_error();
	void *k = f->d2i_AutoPrivateKey(NULL, &p, len);
	*err = k == NULL ? f->ERR_get_error() : 0;
	f->ERR_clear_error();
	return k;
}

static void rs_key_free(const rs_lib *f, void *k) { f->EVP_PKEY_free(k); }

// rs_sign signs a SHA-256 digest with PKCS#1 v1.5 padding. It returns 0, or
// the step that failed (1 to 5) with OpenSSL's first error code in *err.
// Everything is done in one call, on one thread, so the thread-local error
// queue read is this call's own; it is left empty, and the context is freed,
// whatever happens. An EVP_PKEY may sign from several threads at once; a
// context may not, hence one per call.
static int rs_sign(const rs_lib *f, void *pkey, const unsigned char *digest, size_t dlen,
		unsigned char *sig, size_t *siglen, unsigned long *err) {
	int step = 0;
	f->ERR_clear_error();
	void *ctx = f->EVP_PKEY_CTX_new(pkey, NULL);
	if (ctx == NULL) step = 1;
	else if (f->EVP_PKEY_sign_init(ctx) <= 0) step = 2;
	else if (f->EVP_PKEY_CTX_set_rsa_padding(ctx, 1) <= 0) step = 3; // RSA_PKCS1_PADDING
	else if (f->EVP_PKEY_CTX_set_signature_md(ctx, f->EVP_sha256()) <= 0) step = 4;
	else if (f->EVP_PKEY_sign(ctx, sig, siglen, digest, dlen) <= 0) step = 5;
	*err = step ? f->ERR_get_error() : 0;
	f->ERR_clear_error();
	f->EVP_PKEY_CTX_free(ctx); // NULL is allowed
	return step;
}
*/
import "C"

import (
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"unsafe"
)

// libcrypto is one loaded OpenSSL libcrypto: its function table and name.
type libcrypto struct {
	fns     C.rs_lib
	name    string
	version string
	live    atomic.Int64 // EVP_PKEYs made and not yet freed (tests watch it)
}

// openLibcrypto loads the first of names that is an OpenSSL 3 libcrypto.
// Its errors name libraries and symbols, nothing else.
func openLibcrypto(names []string) (*libcrypto, error) {
	var why []string
	for _, name := range names {
		l := &libcrypto{name: name}
		cname := C.CString(name)
		var msg [256]C.char
		rc := C.rs_open(cname, &l.fns, &msg[0], C.size_t(len(msg)))
		C.free(unsafe.Pointer(cname))
		if rc != 0 {
			why = append(why, C.GoString(&msg[0]))
			continue
		}
		l.version = C.GoString(C.rs_version(&l.fns))
		return l, nil
	}
	return nil, fmt.Errorf("OpenSSL's libcrypto could not be loaded: %s", strings.Join(why, "; "))
}

func (l *libcrypto) String() string { return l.name + " (" + l.version + ")" }

func (l *libcrypto) liveKeys() int64 { return l.live.Load() }

// opensslKey is a private key held in OpenSSL's memory. It is freed (and
// OpenSSL clears its private numbers) when the Go value becomes unreachable,
// which is when the signer has moved to another signing key and no call
// still signs with this one.
type opensslKey struct {
	lib  *libcrypto
	pkey unsafe.Pointer
	size int // the modulus in bytes: every signature's length
}

// newKey hands priv to OpenSSL as PKCS#1 DER, wiped as soon as OpenSSL has
// read it. (Go's encoder leaves short-lived copies of the numbers in
// garbage memory, as any marshalling of the key does.)
func (l *libcrypto) newKey(priv *rsa.PrivateKey) (*opensslKey, error) {
	der := x509.MarshalPKCS1PrivateKey(priv)
	var code C.ulong
	p := C.rs_key(&l.fns, (*C.uchar)(unsafe.Pointer(&der[0])), C.long(len(der)), &code)
	clear(der)
	if p == nil {
		return nil, fmt.Errorf("OpenSSL could not read the private key (error %#x)", uint64(code))
	}
	k := &opensslKey{lib: l, pkey: p, size: priv.Size()}
	l.live.Add(1)
	runtime.AddCleanup(k, func(p unsafe.Pointer) {
		C.rs_key_free(&l.fns, p)
		l.live.Add(-1)
	}, p)
	return k, nil
}

// signSteps names rs_sign's failing step, for errors.
var signSteps = [...]string{1: "EVP_PKEY_CTX_new", 2: "EVP_PKEY_sign_init", 3: "EVP_PKEY_CTX_set_rsa_padding", 4: "EVP_PKEY_CTX_set_signature_md", 5: "EVP_PKEY_sign"}

// sign returns the PKCS#1 v1.5 signature of a SHA-256 digest. Errors carry
// the failing function and OpenSSL's error code only.
func (k *opensslKey) sign(digest []byte) ([]byte, error) {
	if len(digest) == 0 {
		return nil, errors.New("OpenSSL: empty digest")
	}
	sig := make([]byte, k.size)
	n := C.size_t(len(sig))
	var code C.ulong
	step := C.rs_sign(&k.lib.fns, k.pkey, (*C.uchar)(unsafe.Pointer(&digest[0])), C.size_t(len(digest)),
		(*C.uchar)(unsafe.Pointer(&sig[0])), &n, &code)
	// k must stay reachable until OpenSSL is done with k.pkey.
	runtime.KeepAlive(k)
	if step != 0 {
		return nil, fmt.Errorf("OpenSSL: %s failed (error %#x)", signSteps[step], uint64(code))
	}
	if int(n) != len(sig) {
		return nil, fmt.Errorf("OpenSSL: a %d-byte signature, want %d", int(n), len(sig))
	}
	return sig, nil
}
