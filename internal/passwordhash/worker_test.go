package passwordhash

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// hashWorkerEnv makes this test binary a hash worker process (TestMain):
// "1" a worker like the server's, idleClassRefused one whose kernel
// refuses SCHED_IDLE.
const (
	hashWorkerEnv    = "REVENUE_PASSWORDHASH_TEST_WORKER"
	idleClassRefused = "idle-class-refused"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(hashWorkerEnv); mode != "" {
		lower := lowerProcessPriority
		if mode == idleClassRefused {
			lower = lowerPriorityWithoutIdleClass
		}
		if err := serveWorker(os.Stdin, os.Stdout, lower); err != nil {
			os.Exit(2)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// testWorker starts this test binary as a hash worker process.
func testWorker() *exec.Cmd { return testWorkerIn("1") }

// testWorkerIn starts this test binary as a hash worker process in mode.
func testWorkerIn(mode string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = []string{hashWorkerEnv + "=" + mode}
	cmd.Stderr = os.Stderr
	return cmd
}

func newProcessHasher(t *testing.T, workers, queue int) *Hasher {
	t.Helper()
	h, err := New(cheap, workers, queue, InWorkerProcesses(testWorker, slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

func workerPID(t *testing.T, h *Hasher, i int) int {
	t.Helper()
	pid := h.engines[i].(*processEngine).pid()
	if pid == 0 {
		t.Fatalf("worker %d has no process", i)
	}
	return pid
}

// Hashes made by worker processes verify in this process and the other way
// round: the two compute the same argon2id and bcrypt answers.
func TestWorkerProcessesHashLikeThisProcess(t *testing.T) {
	remote := newProcessHasher(t, 1, 4)
	local, err := New(cheap, 1, 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(local.Close)
	ctx := context.Background()
	// A worker process hashes and this process verifies, then the reverse.
	for _, pair := range [][2]*Hasher{{remote, local}, {local, remote}} {
		encoded, err := pair[0].Hash(ctx, "correct horse battery")
		if err != nil {
			t.Fatal(err)
		}
		if ok, _, err := pair[1].Verify(ctx, "correct horse battery", encoded); !ok || err != nil {
			t.Errorf("Verify(right password) = %v, %v; want true", ok, err)
		}
		if ok, _, err := pair[1].Verify(ctx, "wrong horse battery", encoded); ok || err != nil {
			t.Errorf("Verify(wrong password) = %v, %v; want false", ok, err)
		}
	}
	imported, err := bcrypt.GenerateFromPassword([]byte("imported-password"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if ok, rehash, err := remote.Verify(ctx, "imported-password", string(imported)); !ok || !rehash || err != nil {
		t.Errorf("bcrypt in a worker process: ok=%v rehash=%v err=%v, want a match to move to argon2id", ok, rehash, err)
	}
	if ok, _, err := remote.Verify(ctx, "not-the-password", string(imported)); ok || err != nil {
		t.Errorf("bcrypt with the wrong password in a worker process: ok=%v err=%v", ok, err)
	}
}

// A worker process that dies is replaced: the next hash gets a new process.
// Close ends the worker processes.
func TestWorkerProcessReplacedAndClosed(t *testing.T) {
	h := newProcessHasher(t, 1, 4)
	first := workerPID(t, h, 0)
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	encoded, err := h.Hash(ctx, "survives a dead worker")
	if err != nil {
		t.Fatalf("hash after the worker process was killed: %v", err)
	}
	if ok, _, err := h.Verify(ctx, "survives a dead worker", encoded); !ok || err != nil {
		t.Fatalf("verify: %v %v", ok, err)
	}
	second := workerPID(t, h, 0)
	if second == first {
		t.Fatalf("worker process %d still in use after it was killed", first)
	}
	h.Close()
	if err := syscall.Kill(second, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("worker process %d after Close: kill(0) = %v, want it gone", second, err)
	}
}

// A worker process without work for its idle time is stopped, so an idle
// service holds no hashing process; the next hash starts a new one.
func TestWorkerProcessStopsWhenIdle(t *testing.T) {
	const idle = 200 * time.Millisecond
	quick := func(h *Hasher) {
		h.newEngine = func() engine { return &processEngine{command: testWorker, idleStop: idle, timeout: time.Minute} }
	}
	h, err := New(cheap, 1, 4, quick)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	first := workerPID(t, h, 0)
	deadline := time.Now().Add(10 * time.Second)
	for h.engines[0].(*processEngine).pid() != 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if pid := h.engines[0].(*processEngine).pid(); pid != 0 {
		t.Fatalf("worker process %d still running long after its idle time", pid)
	}
	if err := syscall.Kill(first, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("idle worker process %d: kill(0) = %v, want it gone", first, err)
	}
	// Busy again: a hash every idle/4 keeps one process.
	if _, err := h.Hash(context.Background(), "after a quiet spell"); err != nil {
		t.Fatalf("hash after the idle stop: %v", err)
	}
	second := workerPID(t, h, 0)
	for range 6 {
		time.Sleep(idle / 4)
		if _, err := h.Hash(context.Background(), "steady logins"); err != nil {
			t.Fatal(err)
		}
	}
	if pid := workerPID(t, h, 0); pid != second {
		t.Errorf("worker process changed from %d to %d while hashes kept coming", second, pid)
	}
}

// A worker process that cannot start fails the hasher's construction with
// the reason, instead of failing logins later.
func TestWorkerProcessThatCannotStart(t *testing.T) {
	missing := func() *exec.Cmd { return exec.Command("/nonexistent/revenue-api", "hash-worker") }
	h, err := New(cheap, 1, 4, InWorkerProcesses(missing, slog.New(slog.DiscardHandler)))
	if err == nil {
		h.Close()
		t.Fatal("NewPasswordHasher with a missing worker binary succeeded")
	}
	if !strings.Contains(err.Error(), "starting the hash worker process") {
		t.Errorf("error %q does not say what failed", err)
	}
}

// A worker process that answers nonsense is treated as failed: the hash
// fails with an error, nothing panics, and nothing it sent is echoed.
func TestWorkerProcessAnsweringNonsense(t *testing.T) {
	liar := func() *exec.Cmd {
		// Reads nothing, answers a status byte then a length past the limit.
		return exec.Command("/bin/sh", "-c", `printf '\000\377\377\377\377'; sleep 5`)
	}
	h, err := New(cheap, 1, 4, InWorkerProcesses(liar, slog.New(slog.DiscardHandler)))
	if err == nil {
		h.Close()
		t.Fatal("NewPasswordHasher with a worker answering nonsense succeeded")
	}
	if !errors.Is(err, errWorkerGone) {
		t.Errorf("error %v, want errWorkerGone", err)
	}
}

// A worker process that takes the request and never answers is given up
// on after the answer timeout (and replaced once), instead of holding its
// place in the pool for ever.
func TestWorkerProcessThatNeverAnswers(t *testing.T) {
	silent := func(h *Hasher) {
		h.newEngine = func() engine {
			return &processEngine{idleStop: time.Minute, timeout: 200 * time.Millisecond, command: func() *exec.Cmd {
				return exec.Command("/bin/sh", "-c", "exec sleep 30")
			}}
		}
	}
	start := time.Now()
	h, err := New(cheap, 1, 4, silent)
	if err == nil {
		h.Close()
		t.Fatal("NewPasswordHasher with a silent worker succeeded")
	}
	if !errors.Is(err, errWorkerGone) {
		t.Errorf("error %v, want errWorkerGone", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("gave up after %s, want about two answer timeouts", took)
	}
}

// The worker's side of the protocol (run in this process, without lowering
// its priority): reports its priority first, answers each request, reports
// bad parameters without stopping, and stops at a malformed frame.
func TestServeHashWorkerFrames(t *testing.T) {
	request := func(r *hashRequest) []byte {
		var b bytes.Buffer
		w := bufio.NewWriter(&b)
		if err := r.encode(w); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	good := request(&hashRequest{op: opArgon2id, params: cheap, keyLen: 32, password: []byte("pw"), salt: []byte("saltsaltsaltsalt")})
	outOfRange := request(&hashRequest{op: opArgon2id, params: Params{MemoryKiB: 1, Iterations: 1, Parallelism: 1}, keyLen: 32})
	var in bytes.Buffer
	in.Write(good)
	in.Write(outOfRange)
	in.Write(good)
	var out bytes.Buffer
	refused := func() error { return errors.New("SCHED_IDLE: operation not permitted") }
	if err := serveWorker(&in, &out, refused); err != nil {
		t.Fatalf("serveWorker at the end of its input: %v, want nil", err)
	}
	r := bufio.NewReader(&out)
	var statuses []byte
	for range 4 {
		status, err := r.ReadByte()
		if err != nil {
			t.Fatal(err)
		}
		body, err := readString(r)
		if err != nil {
			t.Fatal(err)
		}
		if status == statusOK && len(body) != 32 {
			t.Errorf("key of %d bytes, want 32", len(body))
		}
		statuses = append(statuses, status)
	}
	if !bytes.Equal(statuses, []byte{statusError, statusOK, statusError, statusOK}) {
		t.Errorf("statuses %v, want the priority report's error, then ok, error, ok", statuses)
	}

	var huge [5]byte
	huge[0] = opBcrypt
	binary.LittleEndian.PutUint32(huge[1:], maxFrameString+1)
	for name, frame := range map[string][]byte{
		"unknown op":      {9},
		"truncated":       good[:10],
		"string too long": huge[:],
	} {
		done := make(chan error, 1)
		go func() { done <- serveHashes(bytes.NewReader(frame), &bytes.Buffer{}) }()
		select {
		case err := <-done:
			if !errors.Is(err, errFrame) {
				t.Errorf("%s: %v, want errFrame", name, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: serveHashes did not return", name)
		}
	}
}

// Whatever bytes reach a worker, decoding never panics and never reads a
// string past its bound; what it accepts, encoded again, decodes the same.
func FuzzDecodeHashRequest(f *testing.F) {
	var b bytes.Buffer
	w := bufio.NewWriter(&b)
	_ = (&hashRequest{op: opArgon2id, params: cheap, keyLen: 32, password: []byte("pw"), salt: []byte("saltsaltsaltsalt")}).encode(w)
	f.Add(b.Bytes())
	b.Reset()
	_ = (&hashRequest{op: opBcrypt, hash: []byte("$2a$04$abcdefghijklmnopqrstuv"), password: []byte("pw")}).encode(w)
	f.Add(b.Bytes())
	f.Add([]byte{opBcrypt, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := decodeRequest(bufio.NewReader(bytes.NewReader(data)))
		if err != nil {
			return
		}
		if len(req.password) > maxFrameString || len(req.salt) > maxFrameString || len(req.hash) > maxFrameString {
			t.Fatalf("a string past the bound was accepted")
		}
		var again bytes.Buffer
		if err := req.encode(bufio.NewWriter(&again)); err != nil {
			t.Fatal(err)
		}
		back, err := decodeRequest(bufio.NewReader(&again))
		if err != nil {
			t.Fatalf("re-encoded request does not decode: %v", err)
		}
		if back.op != req.op || back.params != req.params || back.keyLen != req.keyLen ||
			!bytes.Equal(back.password, req.password) || !bytes.Equal(back.salt, req.salt) || !bytes.Equal(back.hash, req.hash) {
			t.Fatalf("round trip changed the request: %+v -> %+v", req, back)
		}
	})
}
