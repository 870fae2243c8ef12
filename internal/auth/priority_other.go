//go:build !linux

package auth

import "os/exec"

// lowerThreadPriority is a no-op where threads have no priority of their own.
func lowerThreadPriority() {}

// lowerProcessPriority is a no-op where the process keeps its priority.
func lowerProcessPriority() {}

// detach is a no-op where processes are not grouped for CPU time.
func detach(*exec.Cmd) {}
