//go:build linux

package auth

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

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
