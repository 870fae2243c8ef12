package main

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

// The runtime is tuned for serving, and for hashing only while hashes run:
// GC at the default pace and one scheduler slot more per hash worker.
func TestRuntimeTuningFollowsHashing(t *testing.T) {
	procs, gc := runtime.GOMAXPROCS(0), gcPercent()
	t.Cleanup(func() { runtime.GOMAXPROCS(procs); debug.SetGCPercent(gc) })
	debug.SetGCPercent(100)

	var rt runtimeTuning
	rt.serving(func(string) string { return "" })
	if got := gcPercent(); got != gcPercentServing {
		t.Errorf("serving: GC percent %d, want %d", got, gcPercentServing)
	}
	a, b := rt.hashing(2), rt.hashing(3)
	a(true)
	if got := runtime.GOMAXPROCS(0); got != procs+2 {
		t.Errorf("one hasher busy: GOMAXPROCS %d, want %d", got, procs+2)
	}
	if got := gcPercent(); got != 100 {
		t.Errorf("hashing: GC percent %d, want the default 100", got)
	}
	b(true)
	a(false)
	if got := runtime.GOMAXPROCS(0); got != procs+3 {
		t.Errorf("the other hasher still busy: GOMAXPROCS %d, want %d", got, procs+3)
	}
	if got := gcPercent(); got != 100 {
		t.Errorf("still hashing: GC percent %d, want 100", got)
	}
	b(false)
	if got := runtime.GOMAXPROCS(0); got != procs {
		t.Errorf("no hashing: GOMAXPROCS %d, want %d as before", got, procs)
	}
	if got := gcPercent(); got != gcPercentServing {
		t.Errorf("no hashing: GC percent %d, want %d", got, gcPercentServing)
	}
}

// An operator's GOGC is left alone.
func TestRuntimeTuningLeavesGOGCAlone(t *testing.T) {
	gc := gcPercent()
	t.Cleanup(func() { debug.SetGCPercent(gc) })
	debug.SetGCPercent(150)

	var rt runtimeTuning
	rt.serving(func(k string) string {
		if k == "GOGC" {
			return "150"
		}
		return ""
	})
	h := rt.hashing(1)
	h(true)
	h(false)
	if got := gcPercent(); got != 150 {
		t.Errorf("GOGC=150 set: GC percent %d after serving and hashing, want 150", got)
	}
}
