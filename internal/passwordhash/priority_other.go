//go:build !linux

package passwordhash

import "os/exec"

// lowerProcessPriority is a no-op where the process keeps its priority.
func lowerProcessPriority() error { return nil }

// detach is a no-op where processes are not grouped for CPU time.
func detach(*exec.Cmd) {}
