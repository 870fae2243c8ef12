package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Password policy bounds, in characters. The upper bound keeps a login from
// hashing megabytes.
const (
	MinPasswordLen = 12
	MaxPasswordLen = 256
)

// CheckPasswordPolicy tells whether pw may be set as a new password.
func CheckPasswordPolicy(pw string) error {
	n := utf8.RuneCountInString(pw)
	switch {
	case n < MinPasswordLen:
		return fmt.Errorf("%w: at least %d characters", ErrWeakPassword, MinPasswordLen)
	case n > MaxPasswordLen:
		return fmt.Errorf("%w: at most %d characters", ErrWeakPassword, MaxPasswordLen)
	case strings.TrimSpace(pw) == "":
		return fmt.Errorf("%w: not only spaces", ErrWeakPassword)
	}
	return nil
}

// Argon2Params are the argon2id cost parameters. OWASP's password storage
// cheat sheet recommends at least m=19 MiB, t=2, p=1.
type Argon2Params struct {
	MemoryKiB   uint32
	Iterations  uint32
	Parallelism uint8
}

// DefaultArgon2Params are OWASP's recommended minimum.
var DefaultArgon2Params = Argon2Params{MemoryKiB: 19456, Iterations: 2, Parallelism: 1}

const (
	saltLen = 16
	keyLen  = 32
)

// PasswordHasher hashes argon2id passwords, and verifies argon2id and (for
// imported accounts) bcrypt hashes, in a bounded pool:
// at most workers hashes run at once and at most queue wait, so a flood of
// logins cannot take every CPU from token verification. Past that it fails
// fast with ErrOverloaded.
//
// The workers are goroutines locked to their own OS threads at the lowest
// CPU priority, so when logins and token-protected requests compete for the
// CPU, the kernel serves the requests first (see also OnBusy).
type PasswordHasher struct {
	params  Argon2Params
	workers int
	admit   chan struct{} // running + waiting
	jobs    chan hashJob  // unbuffered: a send waits for a free worker
	stop    sync.Once
	dummy   string // verified for unknown users so they cost the same time
	waiting atomic.Int64

	mu     sync.Mutex
	hold   time.Duration
	onBusy func(busy bool)
	active int    // admitted jobs
	busy   bool   // onBusy(true) was the last call
	quiet  uint64 // counts the times active fell to 0; a delayed onBusy(false) is for one of them
	closed bool
}

// NewPasswordHasher returns a hasher with the given cost, concurrency and queue.
func NewPasswordHasher(p Argon2Params, workers, queue int) (*PasswordHasher, error) {
	if workers < 1 {
		return nil, errors.New("password hasher needs at least one worker")
	}
	h := &PasswordHasher{
		params:  p,
		workers: workers,
		admit:   make(chan struct{}, workers+queue),
		jobs:    make(chan hashJob),
	}
	for range workers {
		go h.work()
	}
	var pw [24]byte
	_, _ = rand.Read(pw[:])
	h.dummy = h.hash(base64.RawStdEncoding.EncodeToString(pw[:]))
	return h, nil
}

// QueueDepth is the number of hashes waiting for a worker.
func (h *PasswordHasher) QueueDepth() int { return int(h.waiting.Load()) }

// Hash returns the PHC-format argon2id hash of pw.
func (h *PasswordHasher) Hash(ctx context.Context, pw string) (string, error) {
	var out string
	err := h.do(ctx, func() { out = h.hash(pw) })
	return out, err
}

// Verify checks pw against encoded. An empty encoded verifies against a
// dummy hash and fails, taking the same time as a real check. rehash reports
// that encoded uses other parameters than the hasher's.
func (h *PasswordHasher) Verify(ctx context.Context, pw, encoded string) (ok, rehash bool, err error) {
	if isBcrypt(encoded) {
		// Accounts imported with bcrypt hashes log in and move to argon2id.
		err = h.do(ctx, func() { ok = bcrypt.CompareHashAndPassword([]byte(encoded), []byte(pw)) == nil })
		return ok && err == nil, ok && err == nil, err
	}
	real := encoded != ""
	if !real {
		encoded = h.dummy
	}
	p, salt, want, perr := decodeHash(encoded)
	if perr != nil {
		// A corrupt stored hash must still cost a hash, and never log in.
		p, salt, want, _ = decodeHash(h.dummy)
		real = false
	}
	err = h.do(ctx, func() {
		got := argon2.IDKey([]byte(pw), salt, p.Iterations, p.MemoryKiB, p.Parallelism, uint32(len(want)))
		ok = subtle.ConstantTimeCompare(got, want) == 1
	})
	if err != nil {
		return false, false, err
	}
	return ok && real, ok && real && p != h.params, nil
}

type hashJob struct {
	f    func()
	done chan struct{}
}

// work runs hash jobs on a thread of its own at the lowest priority. The
// thread is never unlocked: it ends with the goroutine (Close), so no other
// goroutine ever runs at its lowered priority.
func (h *PasswordHasher) work() {
	runtime.LockOSThread()
	lowerThreadPriority()
	for j := range h.jobs {
		j.f()
		close(j.done)
	}
}

// Close stops the workers, and calls OnBusy's f(false) if it is busy. The
// hasher must not be used afterwards.
func (h *PasswordHasher) Close() {
	h.stop.Do(func() {
		close(h.jobs)
		h.mu.Lock()
		defer h.mu.Unlock()
		h.closed = true
		if h.busy {
			h.busy = false
			h.onBusy(false)
		}
	})
}

// OnBusy makes the hasher call f(true) when a hash is admitted while none
// is, and f(false) once none has been for hold: the process can tune itself
// for hashing (which allocates its memory cost per hash and keeps a CPU
// busy) only while it hashes. f runs with the hasher's lock held, one call
// at a time. Set it once, before the first hash.
func (h *PasswordHasher) OnBusy(hold time.Duration, f func(busy bool)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.hold, h.onBusy = hold, f
}

// Workers is the number of hashes that run at once.
func (h *PasswordHasher) Workers() int { return h.workers }

// started and finished track admitted jobs for OnBusy.
func (h *PasswordHasher) started() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.active++
	if h.onBusy != nil && !h.busy && !h.closed {
		h.busy = true
		h.onBusy(true)
	}
}

func (h *PasswordHasher) finished() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.active--
	if h.active > 0 || !h.busy {
		return
	}
	h.quiet++
	quiet := h.quiet
	time.AfterFunc(h.hold, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.active == 0 && h.quiet == quiet && h.busy {
			h.busy = false
			h.onBusy(false)
		}
	})
}

func (h *PasswordHasher) do(ctx context.Context, f func()) error {
	select {
	case h.admit <- struct{}{}:
	default:
		return ErrOverloaded
	}
	h.started()
	defer func() {
		h.finished()
		<-h.admit
	}()
	j := hashJob{f: f, done: make(chan struct{})}
	h.waiting.Add(1)
	select {
	case h.jobs <- j:
		h.waiting.Add(-1)
	case <-ctx.Done():
		h.waiting.Add(-1)
		return ErrOverloaded
	}
	<-j.done
	return nil
}

func (h *PasswordHasher) hash(pw string) string {
	salt := make([]byte, saltLen)
	_, _ = rand.Read(salt)
	p := h.params
	key := argon2.IDKey([]byte(pw), salt, p.Iterations, p.MemoryKiB, p.Parallelism, keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.MemoryKiB, p.Iterations, p.Parallelism,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

func isBcrypt(encoded string) bool {
	return strings.HasPrefix(encoded, "$2a$") || strings.HasPrefix(encoded, "$2b$") || strings.HasPrefix(encoded, "$2y$")
}

func decodeHash(encoded string) (Argon2Params, []byte, []byte, error) {
	var p Argon2Params
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return p, nil, nil, errors.New("not an argon2id hash")
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return p, nil, nil, errors.New("unsupported argon2 version")
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Iterations, &p.Parallelism); err != nil {
		return p, nil, nil, errors.New("bad argon2 parameters")
	}
	if p.MemoryKiB < 8 || p.MemoryKiB > 4<<20 || p.Iterations < 1 || p.Iterations > 100 || p.Parallelism < 1 {
		return p, nil, nil, errors.New("argon2 parameters out of range")
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil {
		return p, nil, nil, errors.New("bad salt")
	}
	key, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 64 {
		return p, nil, nil, errors.New("bad key")
	}
	return p, salt, key, nil
}
