package main

import (
	"runtime/debug"
	"testing"
)

func currentGCPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
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
