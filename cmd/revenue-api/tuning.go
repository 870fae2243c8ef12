package main

import (
	"runtime"
	"runtime/debug"
	"sync"
)

// gcPercentServing is the garbage collector's pace while the process only
// serves requests. Their answers are small and little memory stays live,
// so at Go's default (100: collect when the heap doubles, and at least
// every 4 MiB) the collector runs dozens of times a second under load, and
// each run stops and scans every goroutine. Profiled on GET /me, pacing it
// four times slower saves more CPU per request than authentication costs.
const gcPercentServing = 400

// runtimeTuning sets the Go runtime for what the process is doing; it is
// process-wide, as the runtime's settings are.
//
// Serving requests: GC at gcPercentServing (unless GOGC is set, which is
// then left alone), GOMAXPROCS as the runtime chose it.
//
// While password hashes run: each one allocates its memory cost (19 MiB by
// default), so the GC goes back to its default pace and a login flood does
// not multiply the heap; and GOMAXPROCS is raised by the number of hash
// workers, so their low-priority threads never hold a scheduler slot a
// request needs. An idle extra slot is not free (it costs every request
// scheduler and GC work), which is why it is lent only while hashing.
type runtimeTuning struct {
	mu        sync.Mutex
	gc        bool // ours to set: GOGC is not set
	baseProcs int  // GOMAXPROCS before the first extra slot
	extra     int  // slots lent to busy hashers
}

var tuning runtimeTuning

// serving applies the serving settings; getenv tells whether GOGC is set.
func (t *runtimeTuning) serving(getenv func(string) string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.gc = getenv("GOGC") == ""
	if t.gc && t.extra == 0 {
		debug.SetGCPercent(gcPercentServing)
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
		if t.gc {
			gcPercent := gcPercentServing
			if t.extra > 0 {
				gcPercent = 100
			}
			debug.SetGCPercent(gcPercent)
		}
	}
}
