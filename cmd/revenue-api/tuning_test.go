package main

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func currentGCPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

// Hash workers get a scheduler slot each, only while hashes run.
func TestRuntimeTuningLendsSlotsWhileHashing(t *testing.T) {
	procs := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(procs) })

	var rt runtimeTuning
	a, b := rt.hashing(2), rt.hashing(3)
	a(true)
	if got := runtime.GOMAXPROCS(0); got != procs+2 {
		t.Errorf("one hasher busy: GOMAXPROCS %d, want %d", got, procs+2)
	}
	b(true)
	a(false)
	if got := runtime.GOMAXPROCS(0); got != procs+3 {
		t.Errorf("the other hasher still busy: GOMAXPROCS %d, want %d", got, procs+3)
	}
	b(false)
	if got := runtime.GOMAXPROCS(0); got != procs {
		t.Errorf("no hashing: GOMAXPROCS %d, want %d as before", got, procs)
	}
}

// The GC pace is set unless the operator set GOGC.
func TestRuntimeTuningGCPace(t *testing.T) {
	gc := currentGCPercent()
	t.Cleanup(func() { debug.SetGCPercent(gc) })

	debug.SetGCPercent(100)
	setGCPace(func(string) string { return "" })
	if got := currentGCPercent(); got != gcPercent {
		t.Errorf("GOGC unset: GC percent %d, want %d", got, gcPercent)
	}
	debug.SetGCPercent(150)
	setGCPace(func(k string) string {
		if k == "GOGC" {
			return "150"
		}
		return ""
	})
	if got := currentGCPercent(); got != 150 {
		t.Errorf("GOGC=150 set: GC percent %d, want it left alone", got)
	}
}
