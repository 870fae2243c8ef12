package auth

import (
	"os"
	"os/exec"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// lowerThreadPriority gives the calling OS thread the lowest CPU priority
// (nice 19). On Linux setpriority with a thread id affects that thread only.
// A failure leaves the normal priority: hashing still works, only less politely.
func lowerThreadPriority() {
	_ = syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), 19)
}

// detach starts cmd's process in a session of its own. Where the kernel
// groups processes by session for CPU time (autogroup, on by default), the
// groups share a CPU equally whatever the priorities inside them: a hash
// worker in the server's group would keep that group busy and make
// PostgreSQL's queries wait behind it (measured: GET /revenue p99 from 7 ms
// to 340 ms beside one hashing process at nice 19 in the server's session;
// unchanged with the process in a session of its own).
func detach(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setsid = true
}

// lowerProcessPriority gives this process's CPU group (its session's
// autogroup, see detach) the lowest weight, and puts every thread of the
// process in the SCHED_IDLE class (at nice 19, should that fail): they run
// only on CPU time nothing else wants, and a waking thread of another
// process (a request's, PostgreSQL's) takes the CPU from them at once.
// Threads started later inherit the class from the thread starting them;
// the list is read twice in case one started during the first pass. Every
// step may fail (no autogroup, a kernel without SCHED_IDLE): hashing then
// still works, only less politely. For a hash worker process only.
func lowerProcessPriority() {
	_ = os.WriteFile("/proc/self/autogroup", []byte("19"), 0)
	for range 2 {
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return
		}
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil {
				continue
			}
			_ = syscall.Setpriority(syscall.PRIO_PROCESS, tid, 19)
			_ = unix.SchedSetAttr(tid, &unix.SchedAttr{Policy: unix.SCHED_IDLE, Nice: 19}, 0)
		}
	}
}
