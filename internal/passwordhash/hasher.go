// Package passwordhash hashes and verifies passwords (argon2id; bcrypt for
// imported accounts) in a bounded pool of workers, each computing its
// hashes in a worker process of its own at the lowest CPU priority. It
// satisfies auth.PasswordHasher.
package passwordhash

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/argon2"

	"github.com/revenue-api/revenue-api/internal/auth"
)

var _ auth.PasswordHasher = (*Hasher)(nil)

// Params are the argon2id cost parameters. OWASP's password storage
// cheat sheet recommends at least m=19 MiB, t=2, p=1.
type Params struct {
	MemoryKiB   uint32
	Iterations  uint32
	Parallelism uint8
}

// inRange tells whether p is within what a stored hash may ask for.
func (p Params) inRange() bool {
	return p.MemoryKiB >= 8 && p.MemoryKiB <= 4<<20 && p.Iterations >= 1 && p.Iterations <= 100 && p.Parallelism >= 1
}

// DefaultParams are OWASP's recommended minimum.
var DefaultParams = Params{MemoryKiB: 19456, Iterations: 2, Parallelism: 1}

const (
	saltLen = 16
	keyLen  = 32
)

// Hasher hashes argon2id passwords, and verifies argon2id and (for
// imported accounts) bcrypt hashes, in a bounded pool:
// at most workers hashes run at once and at most queue wait, so a flood of
// logins cannot take every CPU from token verification. Past that it fails
// fast with auth.ErrOverloaded.
//
// The server's workers compute their hashes in worker processes
// (InWorkerProcesses; see ServeWorker for why); without that option they
// compute them in this process, which is for tests and short-lived tools.
type Hasher struct {
	params    Params
	workers   int
	admit     chan struct{} // running + waiting
	jobs      chan *hashJob // unbuffered: a send waits for a free worker
	stop      sync.Once
	stopped   sync.WaitGroup // the workers, until their engines are closed
	engines   []engine
	newEngine func() engine // nil: hash in this process
	dummy     string        // verified for unknown users so they cost the same time
	waiting   atomic.Int64
}

// Option configures New.
type Option func(*Hasher)

// InWorkerProcesses makes each worker compute its hashes in a process of
// its own, started with command(): a command whose process runs
// ServeWorker on its stdin and stdout (the server runs its own binary
// with the hash-worker argument). A worker process that fails is replaced.
// A worker process that cannot lower its CPU priority (a container that
// forbids SCHED_IDLE) still hashes; log gets one warning saying so.
func InWorkerProcesses(command func() *exec.Cmd, log *slog.Logger) Option {
	return func(h *Hasher) {
		var once sync.Once
		report := func(reason string) {
			once.Do(func() {
				log.Warn("password hash workers run at normal CPU priority: hashing may slow requests during a login flood", "reason", reason)
			})
		}
		h.newEngine = func() engine {
			return &processEngine{idleStop: workerIdleStop, timeout: workerAnswerTimeout, report: report, command: func() *exec.Cmd {
				cmd := command()
				detach(cmd)
				return cmd
			}}
		}
	}
}

// New returns a hasher with the given cost, concurrency and
// queue. It computes one hash before returning (the dummy hash for unknown
// users), so a worker process that cannot start is reported here.
func New(p Params, workers, queue int, opts ...Option) (*Hasher, error) {
	if workers < 1 {
		return nil, errors.New("password hasher needs at least one worker")
	}
	h := &Hasher{
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
func (h *Hasher) QueueDepth() int { return int(h.waiting.Load()) }

// RegisterMetrics exports the queue's depth on reg.
func (h *Hasher) RegisterMetrics(reg prometheus.Registerer) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "revenue_password_hash_queue_depth", Help: "Password hashes waiting for a worker.",
	}, func() float64 { return float64(h.QueueDepth()) }))
}

// Hash returns the PHC-format argon2id hash of pw.
func (h *Hasher) Hash(ctx context.Context, pw string) (string, error) {
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
func (h *Hasher) Verify(ctx context.Context, pw, encoded string) (ok, rehash bool, err error) {
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

// work runs hash jobs with its engine until Close.
func (h *Hasher) work(e engine) {
	defer h.stopped.Done()
	defer e.close()
	for j := range h.jobs {
		j.result, j.err = e.compute(j.req)
		close(j.done)
	}
}

// Close stops the workers (and their worker processes, if any). The hasher
// must not be used afterwards.
func (h *Hasher) Close() {
	h.stop.Do(func() {
		close(h.jobs)
		h.stopped.Wait()
	})
}

func (h *Hasher) do(ctx context.Context, req *hashRequest) ([]byte, error) {
	select {
	case h.admit <- struct{}{}:
	default:
		return nil, auth.ErrOverloaded
	}
	defer func() { <-h.admit }()
	j := &hashJob{req: req, done: make(chan struct{})}
	h.waiting.Add(1)
	select {
	case h.jobs <- j:
		h.waiting.Add(-1)
	case <-ctx.Done():
		h.waiting.Add(-1)
		return nil, auth.ErrOverloaded
	}
	<-j.done
	return j.result, j.err
}

func isBcrypt(encoded string) bool {
	return strings.HasPrefix(encoded, "$2a$") || strings.HasPrefix(encoded, "$2b$") || strings.HasPrefix(encoded, "$2y$")
}

func decodeHash(encoded string) (Params, []byte, []byte, error) {
	var p Params
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
