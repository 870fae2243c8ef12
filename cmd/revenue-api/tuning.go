package main

import (
	"runtime"
	"runtime/debug"
	"sync"
)

// gcPercent is the garbage collector's pace unless GOGC is set. Answers are
// small and little memory stays live, so at Go's default (100: collect when
// the heap doubles, and at least every 4 MiB) the collector runs dozens of
// times a second under load, and each run stops and scans every goroutine:
// profiled on GET /me, pacing it four times slower saves more CPU per
// request than authentication costs. Under a login flood, where each hash
// allocates its memory cost (19 MiB by default), the same pace keeps
// collections, and the pauses they cause token-protected requests, four
// times rarer, for a heap of about five times the hashes in flight (about
// 100 MiB per hash worker at the default cost, against 40 at GOGC=100).
const gcPercent = 400

// runtimeTuning lends scheduler slots to password hashing; it is
// process-wide, as the runtime's settings are. While password hashes run,
// GOMAXPROCS is raised by the number of hash workers, so their
// low-priority threads never hold a scheduler slot a request needs; an
// idle extra slot is not free (it costs every request scheduler and GC
// work), so it is lent only while hashing.
type runtimeTuning struct {
	mu        sync.Mutex
	baseProcs int // GOMAXPROCS before the first extra slot
	extra     int // slots lent to busy hashers
}

var tuning runtimeTuning

// setGCPace sets the GC pace unless GOGC (read with getenv) is set.
func setGCPace(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
}

// hashing is a hasher's OnBusy callback for workers hash workers.
func (t *runtimeTuning) hashing(workers int) func(busy bool) {
	return func(busy bool) {
		t.mu.Lock()
		defer t.mu.Unlock()
		if busy {
			if t.extra == 0 {
				t.baseProcs = runtime.GOMAXPROCS(0)
			}
			t.extra += workers
		} else {
			t.extra -= workers
		}
		runtime.GOMAXPROCS(t.baseProcs + t.extra)
	}
}
