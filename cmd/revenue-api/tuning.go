package main

import "runtime/debug"

// gcPercent is the garbage collector's pace unless GOGC is set. Answers are
// small and little memory stays live, so at Go's default (100: collect when
// the heap doubles, and at least every 4 MiB) the collector runs dozens of
// times a second under load, and each run stops and scans every goroutine:
// profiled on GET /me, pacing it four times slower saves more CPU per
// request than authentication costs. (Password hashes allocate their memory
// cost in the hash worker processes, not here.)
const gcPercent = 400

// setGCPace sets the GC pace unless GOGC (read with getenv) is set.
func setGCPace(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
}
