package auth

import "syscall"

// lowerThreadPriority gives the calling OS thread the lowest CPU priority
// (nice 19). On Linux setpriority with a thread id affects that thread only.
// A failure leaves the normal priority: hashing still works, only less politely.
func lowerThreadPriority() {
	_ = syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), 19)
}
