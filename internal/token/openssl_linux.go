//go:build cgo && linux

package token

// The system's OpenSSL 3 libcrypto, opened with dlopen when a signer is
// built, so that neither OpenSSL's headers nor the library are needed to
// build, and a machine without it still runs (on Go's signer). Only -ldl is
// linked (glibc 2.34 and later has dlopen in libc itself).

/*
#cgo LDFLAGS: -ldl -lpthread
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

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

// Signing threads. A cgo call that runs as long as a signature (~0.2 ms)
// makes the Go scheduler hand the calling thread's P to another thread and
// take it back afterwards: thread switches and wake-ups on every signature.
// Instead, signatures are made on threads of our own: Go queues a job (a
// call of well under a microsecond) and waits on a pipe to which the
// signing thread writes the finished job's address, read through Go's
// network poller, so that the goroutine parks and nothing else blocks.
typedef struct rs_job {
	struct rs_job *next;
	const rs_lib *f;
	void *pkey;
	size_t dlen;
	unsigned char digest[64];
	size_t siglen;
	unsigned char sig[1024]; // up to 8192-bit keys
	unsigned long err;
	int step;
} rs_job;

typedef struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	rs_job *head, *tail;
	int done_fd; // the pipe's write end, blocking
} rs_pool;

static void *rs_pool_run(void *arg) {
	rs_pool *p = arg;
	for (;;) {
		pthread_mutex_lock(&p->mu);
		while (p->head == NULL) pthread_cond_wait(&p->cv, &p->mu);
		rs_job *j = p->head;
		p->head = j->next;
		if (p->head == NULL) p->tail = NULL;
		pthread_mutex_unlock(&p->mu);
		j->siglen = sizeof j->sig;
		j->step = rs_sign(j->f, j->pkey, j->digest, j->dlen, j->sig, &j->siglen, &j->err);
		uint64_t id = (uint64_t)(uintptr_t)j; // 8 bytes on every platform
		const char *b = (const char *)&id;
		size_t left = sizeof id;
		while (left > 0) { // a pipe write this small is atomic; EINTR aside
			ssize_t n = write(p->done_fd, b, left);
			if (n < 0 && errno == EINTR) continue;
			if (n <= 0) abort(); // the reader is gone: nothing can be answered
			b += n;
			left -= (size_t)n;
		}
	}
	return NULL;
}

// rs_pool_new starts up to n signing threads writing finished jobs to
// done_fd, and says in *started how many it started. It returns NULL with
// errno's value in *err when none could be started.
static rs_pool *rs_pool_new(int n, int done_fd, int *started_out, int *err) {
	rs_pool *p = calloc(1, sizeof *p);
	if (p == NULL) { *err = ENOMEM; return NULL; }
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->done_fd = done_fd;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	// The threads start with every signal blocked (a new thread inherits
	// its creator's mask), so that signals meant for the process reach Go's
	// threads, not these.
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int started = 0;
	for (int i = 0; i < n; i++) {
		pthread_t t;
		int rc = pthread_create(&t, &attr, rs_pool_run, p);
		if (rc != 0) { *err = rc; break; }
		started++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	*started_out = started;
	if (started == 0) { free(p); return NULL; } // threads never started: safe to free
	return p;
}

static void rs_pool_submit(rs_pool *p, rs_job *j) {
	j->next = NULL;
	pthread_mutex_lock(&p->mu);
	if (p->tail) p->tail->next = j; else p->head = j;
	p->tail = j;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}
*/
import "C"

import (
	"bufio"
	"crypto/rsa"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// libcrypto is one loaded OpenSSL libcrypto: its function table and name.
type libcrypto struct {
	fns     *C.rs_lib // in C's memory: signing threads read it
	name    string
	version string
	live    atomic.Int64 // EVP_PKEYs made and not yet freed (tests watch it)
}

// openLibcrypto loads the first of names that is an OpenSSL 3 libcrypto.
// Its errors name libraries and symbols, nothing else.
func openLibcrypto(names []string) (*libcrypto, error) {
	var why []string
	for _, name := range names {
		fns := (*C.rs_lib)(C.calloc(1, C.sizeof_rs_lib))
		if fns == nil {
			return nil, errors.New("OpenSSL's libcrypto could not be loaded: out of memory")
		}
		l := &libcrypto{name: name, fns: fns}
		cname := C.CString(name)
		var msg [256]C.char
		rc := C.rs_open(cname, l.fns, &msg[0], C.size_t(len(msg)))
		C.free(unsafe.Pointer(cname))
		if rc != 0 {
			C.free(unsafe.Pointer(fns))
			why = append(why, C.GoString(&msg[0]))
			continue
		}
		l.version = C.GoString(C.rs_version(l.fns))
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
	p := C.rs_key(l.fns, (*C.uchar)(unsafe.Pointer(&der[0])), C.long(len(der)), &code)
	clear(der)
	if p == nil {
		return nil, fmt.Errorf("OpenSSL could not read the private key (error %#x)", uint64(code))
	}
	k := &opensslKey{lib: l, pkey: p, size: priv.Size()}
	l.live.Add(1)
	runtime.AddCleanup(k, func(p unsafe.Pointer) {
		C.rs_key_free(l.fns, p)
		l.live.Add(-1)
	}, p)
	return k, nil
}

// signSteps names rs_sign's failing step, for errors.
var signSteps = [...]string{1: "EVP_PKEY_CTX_new", 2: "EVP_PKEY_sign_init", 3: "EVP_PKEY_CTX_set_rsa_padding", 4: "EVP_PKEY_CTX_set_signature_md", 5: "EVP_PKEY_sign"}

// sign returns the PKCS#1 v1.5 signature of a SHA-256 digest, made on a
// signing thread (or on the calling one when those could not be started).
// Errors carry the failing function and OpenSSL's error code only.
func (k *opensslKey) sign(digest []byte) ([]byte, error) {
	return k.signOn(signingThreads(), digest)
}

// signOn signs on p's threads, or on the calling thread when p is nil.
func (k *opensslKey) signOn(p *signPool, digest []byte) ([]byte, error) {
	if len(digest) == 0 || len(digest) > len(C.rs_job{}.digest) {
		return nil, fmt.Errorf("OpenSSL: a %d-byte digest", len(digest))
	}
	if k.size > len(C.rs_job{}.sig) {
		return nil, fmt.Errorf("OpenSSL: a %d-byte modulus is too large", k.size)
	}
	j := (*C.rs_job)(C.calloc(1, C.sizeof_rs_job))
	if j == nil {
		return nil, errors.New("OpenSSL: out of memory")
	}
	defer C.free(unsafe.Pointer(j))
	j.f, j.pkey, j.dlen = k.lib.fns, k.pkey, C.size_t(len(digest))
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&j.digest[0])), len(j.digest)), digest)
	if p != nil {
		p.run(j)
	} else {
		j.siglen = C.size_t(len(j.sig))
		j.step = C.rs_sign(j.f, j.pkey, &j.digest[0], j.dlen, &j.sig[0], &j.siglen, &j.err)
	}
	// k must stay reachable until OpenSSL is done with k.pkey.
	runtime.KeepAlive(k)
	if j.step != 0 {
		return nil, fmt.Errorf("OpenSSL: %s failed (error %#x)", signSteps[j.step], uint64(j.err))
	}
	if int(j.siglen) != k.size {
		return nil, fmt.Errorf("OpenSSL: a %d-byte signature, want %d", int(j.siglen), k.size)
	}
	return C.GoBytes(unsafe.Pointer(&j.sig[0]), C.int(k.size)), nil
}

// signPool is the process's signing threads and the goroutine that reads
// which job each finished. Every job carries its own function table and key,
// so one pool serves every loaded library and key.
type signPool struct {
	c       *C.rs_pool
	threads int      // started
	w       *os.File // the pipe's write end, held open for the threads

	mu      sync.Mutex
	waiting map[uintptr]chan struct{}
}

var (
	threadsOnce sync.Once
	threadsPool *signPool // nil: sign on the calling thread
)

// signingThreads starts the signing threads on first use, one per
// GOMAXPROCS, and returns them, or nil if none could be started (then every
// signature is made on its caller's thread, as correct but slower). They
// live as long as the process.
func signingThreads() *signPool {
	threadsOnce.Do(func() {
		if p, err := startSignPool(runtime.GOMAXPROCS(0)); err == nil {
			threadsPool = p
		}
	})
	return threadsPool
}

func startSignPool(threads int) (*signPool, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	// Fd puts the write end in blocking mode, as the threads need it.
	var started, cerr C.int
	c := C.rs_pool_new(C.int(threads), C.int(w.Fd()), &started, &cerr)
	if c == nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("signing threads: %w", syscall.Errno(cerr))
	}
	p := &signPool{c: c, threads: int(started), w: w, waiting: map[uintptr]chan struct{}{}}
	go p.dispatch(r)
	return p, nil
}

// run queues j and returns when a signing thread has finished it.
func (p *signPool) run(j *C.rs_job) {
	done := make(chan struct{})
	id := uintptr(unsafe.Pointer(j))
	p.mu.Lock()
	p.waiting[id] = done
	p.mu.Unlock()
	C.rs_pool_submit(p.c, j)
	<-done
}

// dispatch wakes the caller of each job the threads report finished. The
// pipe's read end is never closed (the threads live as long as the
// process), so a read error means the process is broken beyond signing.
func (p *signPool) dispatch(r io.Reader) {
	br := bufio.NewReaderSize(r, 512)
	var b [8]byte
	for {
		if _, err := io.ReadFull(br, b[:]); err != nil {
			panic(fmt.Sprintf("OpenSSL signing threads: reading finished jobs: %v", err))
		}
		id := uintptr(binary.NativeEndian.Uint64(b[:]))
		p.mu.Lock()
		done := p.waiting[id]
		delete(p.waiting, id)
		p.mu.Unlock()
		close(done)
	}
}
