package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
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
		return ErrWeakPassword.Explain(fmt.Sprintf("at least %d characters", MinPasswordLen))
	case n > MaxPasswordLen:
		return ErrWeakPassword.Explain(fmt.Sprintf("at most %d characters", MaxPasswordLen))
	case strings.TrimSpace(pw) == "":
		return ErrWeakPassword.Explain("not only spaces")
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

// inRange tells whether p is within what a stored hash may ask for.
func (p Argon2Params) inRange() bool {
	return p.MemoryKiB >= 8 && p.MemoryKiB <= 4<<20 && p.Iterations >= 1 && p.Iterations <= 100 && p.Parallelism >= 1
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
// Each worker computes its hashes either in a worker process of its own
// (InWorkerProcesses: what the server does, see ServeHashWorker for why),
// or in this process, on a goroutine locked to an OS thread at the lowest
// CPU priority (see also OnBusy); argon2's own goroutines run at the
// normal priority there.
type PasswordHasher struct {
	params    Argon2Params
	workers   int
	admit     chan struct{} // running + waiting
	jobs      chan *hashJob // unbuffered: a send waits for a free worker
	stop      sync.Once
	stopped   sync.WaitGroup // the workers, until their engines are closed
	engines   []engine
	newEngine func() engine // nil: hash in this process
	dummy     string        // verified for unknown users so they cost the same time
	waiting   atomic.Int64

	mu     sync.Mutex
	hold   time.Duration
	onBusy func(busy bool)
	active int    // admitted jobs
	busy   bool   // onBusy(true) was the last call
	quiet  uint64 // counts the times active fell to 0; a delayed onBusy(false) is for one of them
	closed bool
}

// HasherOption configures NewPasswordHasher.
type HasherOption func(*PasswordHasher)

// InWorkerProcesses makes each worker compute its hashes in a process of
// its own, started with command(): a command whose process runs
// ServeHashWorker on its stdin and stdout (the server runs its own binary
// with the hash-worker argument). A worker process that fails is replaced.
func InWorkerProcesses(command func() *exec.Cmd) HasherOption {
	return func(h *PasswordHasher) {
		h.newEngine = func() engine {
			return &processEngine{idleStop: workerIdleStop, timeout: workerAnswerTimeout, command: func() *exec.Cmd {
				cmd := command()
				detach(cmd)
				return cmd
			}}
		}
	}
}

// NewPasswordHasher returns a hasher with the given cost, concurrency and
// queue. It computes one hash before returning (the dummy hash for unknown
// users), so a worker process that cannot start is reported here.
func NewPasswordHasher(p Argon2Params, workers, queue int, opts ...HasherOption) (*PasswordHasher, error) {
	if workers < 1 {
		return nil, errors.New("password hasher needs at least one worker")
	}
	h := &PasswordHasher{
		params:  p,
		workers: workers,
		admit:   make(chan struct{}, workers+queue),
		jobs:    make(chan *hashJob),
	}
	for _, o := range opts {
		o(h)
	}
	for range workers {
		var e engine = localEngine{}
		if h.newEngine != nil {
			e = h.newEngine()
		}
		h.engines = append(h.engines, e)
		h.stopped.Add(1)
		go h.work(e)
	}
	var pw [24]byte
	_, _ = rand.Read(pw[:])
	dummy, err := h.Hash(context.Background(), base64.RawStdEncoding.EncodeToString(pw[:]))
	if err != nil {
		h.Close()
		return nil, err
	}
	h.dummy = dummy
	return h, nil
}

// QueueDepth is the number of hashes waiting for a worker.
func (h *PasswordHasher) QueueDepth() int { return int(h.waiting.Load()) }

// Hash returns the PHC-format argon2id hash of pw.
func (h *PasswordHasher) Hash(ctx context.Context, pw string) (string, error) {
	salt := make([]byte, saltLen)
	_, _ = rand.Read(salt)
	p := h.params
	key, err := h.do(ctx, &hashRequest{op: opArgon2id, params: p, keyLen: keyLen, password: []byte(pw), salt: salt})
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.MemoryKiB, p.Iterations, p.Parallelism,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// Verify checks pw against encoded. An empty encoded verifies against a
// dummy hash and fails, taking the same time as a real check. rehash reports
// that encoded uses other parameters than the hasher's.
func (h *PasswordHasher) Verify(ctx context.Context, pw, encoded string) (ok, rehash bool, err error) {
	if isBcrypt(encoded) {
		// Accounts imported with bcrypt hashes log in and move to argon2id.
		match, err := h.do(ctx, &hashRequest{op: opBcrypt, hash: []byte(encoded), password: []byte(pw)})
		if err != nil {
			return false, false, err
		}
		ok = len(match) == 1 && match[0] == 1
		return ok, ok, nil
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
	got, err := h.do(ctx, &hashRequest{op: opArgon2id, params: p, keyLen: uint32(len(want)), password: []byte(pw), salt: salt})
	if err != nil {
		return false, false, err
	}
	ok = subtle.ConstantTimeCompare(got, want) == 1
	return ok && real, ok && real && p != h.params, nil
}

// engine computes one worker's hashes.
type engine interface {
	compute(*hashRequest) ([]byte, error)
	close()
}

// localEngine computes hashes in this process.
type localEngine struct{}

func (localEngine) compute(r *hashRequest) ([]byte, error) { return r.compute() }
func (localEngine) close()                                 {}

type hashJob struct {
	req    *hashRequest
	result []byte
	err    error
	done   chan struct{}
}

// work runs hash jobs with its engine. Hashing in this process, it runs
// them on a thread of its own at the lowest priority; the thread is never
// unlocked: it ends with the goroutine (Close), so no other goroutine ever
// runs at its lowered priority.
func (h *PasswordHasher) work(e engine) {
	defer h.stopped.Done()
	defer e.close()
	if _, local := e.(localEngine); local {
		runtime.LockOSThread()
		lowerThreadPriority()
	}
	for j := range h.jobs {
		j.result, j.err = e.compute(j.req)
		close(j.done)
	}
}

// Close stops the workers (and their worker processes, if any), and calls
// OnBusy's f(false) if it is busy. The hasher must not be used afterwards.
func (h *PasswordHasher) Close() {
	h.stop.Do(func() {
		close(h.jobs)
		h.stopped.Wait()
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

func (h *PasswordHasher) do(ctx context.Context, req *hashRequest) ([]byte, error) {
	select {
	case h.admit <- struct{}{}:
	default:
		return nil, ErrOverloaded
	}
	h.started()
	defer func() {
		h.finished()
		<-h.admit
	}()
	j := &hashJob{req: req, done: make(chan struct{})}
	h.waiting.Add(1)
	select {
	case h.jobs <- j:
		h.waiting.Add(-1)
	case <-ctx.Done():
		h.waiting.Add(-1)
		return nil, ErrOverloaded
	}
	<-j.done
	return j.result, j.err
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
	if !p.inRange() {
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
