package proctree

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

// A child that burns CPU shows in its parent's tree, and the tree's delta
// grows by about what it burned.
func TestCPUCountsChildren(t *testing.T) {
	before := CPU(os.Getpid())
	if _, ok := before[os.Getpid()]; !ok {
		t.Fatalf("CPU(self) = %v, want this process in it", before)
	}
	cmd := exec.Command("sh", "-c", "while :; do :; done") // busy, forking nothing
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	time.Sleep(time.Second)
	after := CPU(os.Getpid())
	if _, ok := after[cmd.Process.Pid]; !ok {
		t.Fatalf("CPU(self) = %v, want the child %d in it", after, cmd.Process.Pid)
	}
	if d := Delta(before, after); d < ClockTicks/4 {
		t.Errorf("Delta = %d ticks after a child busy for a second, want at least %d", d, ClockTicks/4)
	}
	if len(CPU(0)) != 0 {
		t.Error("CPU(0) is not empty")
	}
}
