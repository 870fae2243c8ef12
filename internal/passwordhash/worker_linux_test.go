//go:build linux

package passwordhash

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/revenue-api/revenue-api/internal/syncbuf"
)

// lowerPriorityWithoutIdleClass is lowerProcessPriority in a container
// whose seccomp profile refuses sched_setattr.
func lowerPriorityWithoutIdleClass() error {
	p := systemPriority()
	p.setIdleClass = func(int) error { return syscall.EPERM }
	return p.lower()
}

// A worker process refused SCHED_IDLE still hashes, at nice 19, and the
// server logs it once, however many worker processes start, with the
// reason and nothing of the passwords.
func TestWorkerRefusedIdleClassStillHashes(t *testing.T) {
	var logged syncbuf.Buffer
	log := slog.New(slog.NewJSONHandler(&logged, nil))
	h, err := New(cheap, 2, 4, InWorkerProcesses(func() *exec.Cmd { return testWorkerIn(idleClassRefused) }, log))
	if err != nil {
		t.Fatalf("a worker without SCHED_IDLE: %v, want it to hash all the same", err)
	}
	t.Cleanup(h.Close)
	ctx := context.Background()
	const password = "refused-idle-class-password"
	hashes := make(chan error, 4)
	for range 4 { // both workers start a process
		go func() {
			encoded, err := h.Hash(ctx, password)
			if err == nil {
				var ok bool
				if ok, _, err = h.Verify(ctx, password, encoded); !ok && err == nil {
					err = errors.New("the hash does not verify")
				}
			}
			hashes <- err
		}()
	}
	for range 4 {
		if err := <-hashes; err != nil {
			t.Fatalf("hashing in a worker without SCHED_IDLE: %v", err)
		}
	}
	first := workerPID(t, h, 0)
	for tid, p := range threadPriorities(t, strconv.Itoa(first)) {
		if p != "19/0" {
			t.Errorf("worker thread %s: nice/policy %s, want 19/0 (nice 19 though SCHED_IDLE was refused)", tid, p)
		}
	}
	// A replaced worker process reports it again: not logged again.
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Hash(ctx, password); err != nil {
		t.Fatalf("hash after the worker process was replaced: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(logged.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], `"level":"WARN"`) ||
		!strings.Contains(lines[0], "SCHED_IDLE: operation not permitted") {
		t.Errorf("log %q, want one warning giving the reason (SCHED_IDLE: operation not permitted)", lines)
	}
	if strings.Contains(logged.String(), password) {
		t.Error("the log holds the password")
	}
}

// Without CAP_SYS_ADMIN the kernel changes one autogroup's nice every
// 100 ms, for the whole system, refusing the others with EAGAIN: a worker
// started beside another tries again. No autogroup at all is not a failure.
func TestAutogroupNiceRetriedWhileRefused(t *testing.T) {
	quiet := func(int, int) error { return nil }
	for _, tt := range []struct {
		name    string
		refusal error
		refused int // calls answered with refusal
		wantErr bool
	}{
		{"set at once", nil, 0, false},
		{"refused twice, then set", syscall.EAGAIN, 2, false},
		{"refused every time", syscall.EAGAIN, autogroupTries, true},
		{"no autogroup in the kernel", os.ErrNotExist, autogroupTries, false},
		{"not permitted", syscall.EPERM, 1, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			p := priority{
				setAutogroupNice: func(int) error {
					calls++
					if calls <= tt.refused {
						return fmt.Errorf("write /proc/self/autogroup: %w", tt.refusal)
					}
					return nil
				},
				setNice:      quiet,
				setIdleClass: func(int) error { return nil },
				retryWait:    time.Millisecond,
			}
			err := p.lower()
			if (err != nil) != tt.wantErr {
				t.Fatalf("lower() = %v, want an error: %v", err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "autogroup nice 19") {
				t.Errorf("error %q does not name the step", err)
			}
			if calls > autogroupTries {
				t.Errorf("%d tries, want at most %d", calls, autogroupTries)
			}
		})
	}
}

// The worker process is in a session of its own (so in a CPU group of its
// own where the kernel groups by session), and every thread of it is in the
// SCHED_IDLE class at nice 19; the server's own threads keep theirs.
func TestWorkerProcessRunsAtIdlePriority(t *testing.T) {
	before := threadPriorities(t, "self")
	h := newProcessHasher(t, 1, 4)
	pid := workerPID(t, h, 0)
	if sid, _ := unix.Getsid(pid); sid != pid {
		t.Errorf("worker process %d is in session %d, want a session of its own", pid, sid)
	}
	threads := threadPriorities(t, strconv.Itoa(pid))
	if len(threads) == 0 {
		t.Fatalf("no threads read for worker process %d", pid)
	}
	for tid, p := range threads {
		if p != "19/5" {
			t.Errorf("worker thread %s: nice/policy %s, want 19/5 (nice 19, SCHED_IDLE)", tid, p)
		}
	}
	if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/autogroup"); err == nil && !strings.Contains(string(b), "nice 19") {
		t.Errorf("autogroup of the worker: %q, want nice 19", b)
	}
	for tid, now := range threadPriorities(t, "self") {
		if was, ok := before[tid]; ok && was != now {
			t.Errorf("thread %s of this process went from %s to %s", tid, was, now)
		}
	}
}

// threadPriorities is "nice/policy" of each thread of a process, by id
// (fields 19 and 41 of /proc/<pid>/task/<tid>/stat).
func threadPriorities(t *testing.T, pid string) map[string]string {
	t.Helper()
	tasks, err := os.ReadDir("/proc/" + pid + "/task")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, task := range tasks {
		b, err := os.ReadFile("/proc/" + pid + "/task/" + task.Name() + "/stat")
		if err != nil {
			continue // the thread ended
		}
		_, rest, _ := strings.Cut(string(b), ") ")
		if f := strings.Fields(rest); len(f) > 41-3 {
			out[task.Name()] = f[19-3] + "/" + f[41-3]
		}
	}
	return out
}
