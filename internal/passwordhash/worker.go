package passwordhash

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// A hash worker process computes password hashes for the server over a
// pair of pipes: one request on its stdin, one answer on its stdout, in
// turn. It holds no state, reads no environment, logs nothing (it tells
// the server what it could not do), and exits when its stdin closes (the
// server closed it, or died).
//
// Why a process: argon2 runs its work in goroutines of its own, which the
// serving process cannot keep at a low priority, and allocates its memory
// cost (19 MiB by default) per hash, which makes the serving process's
// garbage collector run, and stop every request, several times a second
// during a login flood. In a worker process, every thread is in the
// SCHED_IDLE class (lowerProcessPriority), so any request's thread takes
// the CPU from a hash at once, and the hashes' memory is collected there.
//
// Frames are little-endian. A worker starts with an answer to no request,
// its priority report: statusOK, or statusError with the steps of
// lowerProcessPriority that failed. A request is an op byte, then for opArgon2id
// iterations, memory (KiB) and key length as uint32, parallelism as a byte,
// the password and the salt; for opBcrypt the stored hash and the password.
// Byte strings are a uint32 length and the bytes. An answer is a status
// byte, then one byte string: the key, a single byte 1 or 0 for a bcrypt
// match, or an error message (statusError), which never holds a password.
const (
	opArgon2id = 1
	opBcrypt   = 2

	statusOK    = 0
	statusError = 1

	// maxFrameString bounds every byte string either side reads, so a
	// corrupt frame cannot make the other allocate without limit.
	maxFrameString = 64 << 10
)

// errFrame reports a frame that breaks the protocol.
var errFrame = errors.New("hash worker: malformed frame")

// hashRequest is one hash for a worker.
type hashRequest struct {
	op       byte
	params   Params // opArgon2id
	keyLen   uint32 // opArgon2id
	password []byte
	salt     []byte // opArgon2id
	hash     []byte // opBcrypt: the stored hash
}

func (r *hashRequest) encode(w *bufio.Writer) error {
	_ = w.WriteByte(r.op)
	switch r.op {
	case opArgon2id:
		var b [13]byte
		binary.LittleEndian.PutUint32(b[0:], r.params.Iterations)
		binary.LittleEndian.PutUint32(b[4:], r.params.MemoryKiB)
		binary.LittleEndian.PutUint32(b[8:], r.keyLen)
		b[12] = r.params.Parallelism
		_, _ = w.Write(b[:])
		writeString(w, r.password)
		writeString(w, r.salt)
	case opBcrypt:
		writeString(w, r.hash)
		writeString(w, r.password)
	}
	return w.Flush()
}

func decodeRequest(r *bufio.Reader) (*hashRequest, error) {
	op, err := r.ReadByte()
	if err != nil {
		return nil, err // io.EOF between requests: the server is done
	}
	req := &hashRequest{op: op}
	switch op {
	case opArgon2id:
		var b [13]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, errFrame
		}
		req.params = Params{
			Iterations:  binary.LittleEndian.Uint32(b[0:]),
			MemoryKiB:   binary.LittleEndian.Uint32(b[4:]),
			Parallelism: b[12],
		}
		req.keyLen = binary.LittleEndian.Uint32(b[8:])
		if req.password, err = readString(r); err != nil {
			return nil, err
		}
		if req.salt, err = readString(r); err != nil {
			return nil, err
		}
	case opBcrypt:
		if req.hash, err = readString(r); err != nil {
			return nil, err
		}
		if req.password, err = readString(r); err != nil {
			return nil, err
		}
	default:
		return nil, errFrame
	}
	return req, nil
}

// compute runs req in this process.
func (r *hashRequest) compute() ([]byte, error) {
	switch r.op {
	case opArgon2id:
		p := r.params
		if !p.inRange() || r.keyLen < 16 || r.keyLen > 64 {
			return nil, errors.New("argon2 parameters out of range")
		}
		return argon2.IDKey(r.password, r.salt, p.Iterations, p.MemoryKiB, p.Parallelism, r.keyLen), nil
	case opBcrypt:
		if bcrypt.CompareHashAndPassword(r.hash, r.password) == nil {
			return []byte{1}, nil
		}
		return []byte{0}, nil
	}
	return nil, errFrame
}

func writeString(w *bufio.Writer, s []byte) {
	var n [4]byte
	binary.LittleEndian.PutUint32(n[:], uint32(len(s)))
	_, _ = w.Write(n[:])
	_, _ = w.Write(s)
}

func readString(r *bufio.Reader) ([]byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, errFrame
	}
	size := binary.LittleEndian.Uint32(n[:])
	if size > maxFrameString {
		return nil, errFrame
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, errFrame
	}
	return b, nil
}

// ServeWorker is a hash worker process's main loop: it lowers the
// process's CPU priority (and reports what failed of that), then answers
// requests from in on out until in ends. It returns nil at the end of in,
// and an error for a malformed request (after which the server starts a
// new worker).
func ServeWorker(in io.Reader, out io.Writer) error {
	return serveWorker(in, out, lowerProcessPriority)
}

// serveWorker is ServeWorker with lowerPriority to lower it.
func serveWorker(in io.Reader, out io.Writer, lowerPriority func() error) error {
	w := bufio.NewWriter(out)
	if err := lowerPriority(); err != nil {
		_ = w.WriteByte(statusError)
		writeString(w, []byte(strings.ReplaceAll(err.Error(), "\n", "; ")))
	} else {
		_ = w.WriteByte(statusOK)
		writeString(w, nil)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return serveHashes(in, out)
}

func serveHashes(in io.Reader, out io.Writer) error {
	r, w := bufio.NewReader(in), bufio.NewWriter(out)
	for {
		req, err := decodeRequest(r)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		result, err := req.compute()
		if err != nil {
			_ = w.WriteByte(statusError)
			writeString(w, []byte(err.Error()))
		} else {
			_ = w.WriteByte(statusOK)
			writeString(w, result)
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}
}

// workerIdleStop is how long a worker process may go without work before
// it is stopped: a service that is not hashing holds no hashing process
// (the next hash starts one, in a few milliseconds).
const workerIdleStop = 10 * time.Second

// workerAnswerTimeout bounds the wait for one answer: a hash at the lowest
// priority may wait for the CPU, but a worker silent this long is stuck, and
// is replaced.
const workerAnswerTimeout = time.Minute

// processEngine hands one worker's hashes to its worker process, started on
// first use, started again after it fails, and stopped after idleStop
// without work.
type processEngine struct {
	command  func() *exec.Cmd
	idleStop time.Duration
	timeout  time.Duration       // for one answer
	report   func(reason string) // a worker's priority could not be lowered; may be nil

	mu   sync.Mutex // one request at a time; held by compute
	used uint64     // computes so far: an idle stop ends only a process unused since
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  io.ReadCloser
	w    *bufio.Writer
	r    *bufio.Reader
	exit chan struct{} // closed once cmd has been waited for
}

// compute asks the worker process for req, and once more of a new process
// if that one failed (it may have been killed while idle).
func (e *processEngine) compute(req *hashRequest) ([]byte, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.used++
	defer e.stopWhenIdle(e.used)
	for try := 0; ; try++ {
		if e.cmd == nil {
			if err := e.start(); err != nil {
				return nil, err
			}
		}
		result, err := e.exchange(req)
		if !errors.Is(err, errWorkerGone) {
			return result, err
		}
		e.stop()
		if try == 1 {
			return nil, err
		}
	}
}

// errWorkerGone wraps failures after which the worker process is replaced.
var errWorkerGone = errors.New("hash worker process failed")

func (e *processEngine) exchange(req *hashRequest) ([]byte, error) {
	if err := req.encode(e.w); err != nil {
		return nil, fmt.Errorf("%w: %v", errWorkerGone, err)
	}
	status, body, err := e.answer()
	if err != nil {
		return nil, err
	}
	if status == statusError {
		return nil, fmt.Errorf("hash worker: %s", body)
	}
	return body, nil
}

// answer reads the worker's next answer, within the answer timeout.
func (e *processEngine) answer() (status byte, body []byte, err error) {
	if d, ok := e.out.(interface{ SetReadDeadline(time.Time) error }); ok {
		_ = d.SetReadDeadline(time.Now().Add(e.timeout))
	}
	status, err = e.r.ReadByte()
	if err != nil {
		return 0, nil, fmt.Errorf("%w: %v", errWorkerGone, err)
	}
	body, err = readString(e.r)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: %v", errWorkerGone, err)
	}
	if status != statusOK && status != statusError {
		return 0, nil, fmt.Errorf("%w: %v", errWorkerGone, errFrame)
	}
	return status, body, nil
}

func (e *processEngine) start() error {
	cmd := e.command()
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		in.Close()
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting the hash worker process: %w", err)
	}
	e.cmd, e.in, e.out, e.w, e.r = cmd, in, out, bufio.NewWriter(in), bufio.NewReader(out)
	e.exit = make(chan struct{})
	go func(cmd *exec.Cmd, exit chan struct{}) {
		_ = cmd.Wait()
		close(exit)
	}(cmd, e.exit)
	status, body, err := e.answer() // the priority report
	if err != nil {
		e.stop()
		return err
	}
	if status == statusError && e.report != nil {
		e.report(string(body))
	}
	return nil
}

// stopWhenIdle stops the worker process idleStop from now unless it has
// been used again by then.
func (e *processEngine) stopWhenIdle(used uint64) {
	time.AfterFunc(e.idleStop, func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		if e.used == used {
			e.stop()
		}
	})
}

// stop ends the worker process (it holds no state) and waits for it.
func (e *processEngine) stop() {
	if e.cmd == nil {
		return
	}
	_ = e.in.Close()
	if e.cmd.Process != nil {
		_ = e.cmd.Process.Kill()
	}
	<-e.exit
	e.cmd = nil
}

func (e *processEngine) close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.stop()
}

// pid is the worker process's id, 0 when none runs (for tests).
func (e *processEngine) pid() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cmd == nil || e.cmd.Process == nil {
		return 0
	}
	return e.cmd.Process.Pid
}
