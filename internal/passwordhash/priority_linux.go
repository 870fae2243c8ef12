package passwordhash

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

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
// process in the SCHED_IDLE class at nice 19: they run only on CPU time
// nothing else wants, and a waking thread of another process (a request's,
// PostgreSQL's) takes the CPU from them at once. For a hash worker process
// only. Every step may fail (a container's seccomp or a kernel refusing
// SCHED_IDLE): hashing then still works, only less politely, and the error
// says which steps failed.
func lowerProcessPriority() error { return systemPriority().lower() }

// priority holds the calls lowerProcessPriority makes, so that a test can
// make one fail.
type priority struct {
	setAutogroupNice func(nice int) error
	setNice          func(tid, nice int) error
	setIdleClass     func(tid int) error
	retryWait        time.Duration // after an autogroup change refused with EAGAIN
}

// systemPriority makes the calls to the kernel.
func systemPriority() priority {
	return priority{
		setAutogroupNice: func(nice int) error {
			return os.WriteFile("/proc/self/autogroup", []byte(strconv.Itoa(nice)), 0)
		},
		setNice: func(tid, nice int) error { return syscall.Setpriority(syscall.PRIO_PROCESS, tid, nice) },
		setIdleClass: func(tid int) error {
			return unix.SchedSetAttr(tid, &unix.SchedAttr{Policy: unix.SCHED_IDLE, Nice: 19}, 0)
		},
		retryWait: 100 * time.Millisecond,
	}
}

// autogroupTries bounds the retries of an autogroup change: without
// CAP_SYS_ADMIN the kernel takes one every 100 ms, for the whole system, and
// refuses the others with EAGAIN (several workers starting at once, as
// uid 65532 in the image).
const autogroupTries = 20

func (p priority) lower() error {
	var errs []error
	err := p.setAutogroupNice(19)
	for try := 1; errors.Is(err, syscall.EAGAIN) && try < autogroupTries; try++ {
		time.Sleep(p.retryWait)
		err = p.setAutogroupNice(19)
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) { // no file: a kernel without autogroup
		errs = append(errs, fmt.Errorf("autogroup nice 19: %w", err))
	}
	// Threads started later inherit the class from the thread starting them;
	// the list is read twice in case one started during the first pass.
	var niceErr, idleErr error
	for range 2 {
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			errs = append(errs, fmt.Errorf("listing threads: %w", err))
			break
		}
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil {
				continue
			}
			if err := p.setNice(tid, 19); err != nil && !errors.Is(err, syscall.ESRCH) && niceErr == nil {
				niceErr = fmt.Errorf("nice 19: %w", err)
			}
			if err := p.setIdleClass(tid); err != nil && !errors.Is(err, syscall.ESRCH) && idleErr == nil {
				idleErr = fmt.Errorf("SCHED_IDLE: %w", err)
			}
		}
	}
	return errors.Join(append(errs, niceErr, idleErr)...)
}
