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
	if _, ok := before.Procs[os.Getpid()]; !ok {
		t.Fatalf("CPU(self) = %v, want this process in it", before)
	}
	cmd := exec.Command("sh", "-c", "while :; do :; done") // busy, forking nothing
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	time.Sleep(time.Second)
	after := CPU(os.Getpid())
	if _, ok := after.Procs[cmd.Process.Pid]; !ok {
		t.Fatalf("CPU(self) = %v, want the child %d in it", after, cmd.Process.Pid)
	}
	if d := Delta(before, after); d < ClockTicks/4 {
		t.Errorf("Delta = %d ticks after a child busy for a second, want at least %d", d, ClockTicks/4)
	}
	if len(CPU(0).Procs) != 0 {
		t.Error("CPU(0) is not empty")
	}
}

// A child that ends between two snapshots still counts what it burned
// after the first: its parent's reaped time gets its whole time, and what
// the first snapshot had seen of it is taken off.
func TestDeltaCountsChildrenThatEnded(t *testing.T) {
	cmd := exec.Command("sh", "-c", "while :; do :; done")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	before := CPU(os.Getpid())
	seen := before.Procs[cmd.Process.Pid]
	time.Sleep(time.Second)
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	after := CPU(os.Getpid())
	if _, ok := after.Procs[cmd.Process.Pid]; ok {
		t.Fatal("the reaped child is still in the tree")
	}
	if after.Reaped < before.Reaped+seen {
		t.Fatalf("reaped %d ticks, want at least %d + the child's %d", after.Reaped, before.Reaped, seen)
	}
	if d := Delta(before, after); d < ClockTicks/4 || d > 3*ClockTicks {
		t.Errorf("Delta = %d ticks across a child busy for a second after the first snapshot, then ended; want about %d", d, ClockTicks)
	}
}
