//go:build linux

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// A hash worker runs the very binary the server runs, even when the file
// at the server's path was replaced after it started (an upgrade in place):
// a server never speaks to a worker of another version.
func TestHashWorkerRunsTheRunningBinary(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "revenue-api")
	data, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), replacedBinaryEnv+"="+bin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("a copy of the binary, replaced on disk, then hashing: %v\n%s", err, out)
	}
}
