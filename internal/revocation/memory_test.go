package revocation_test

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/revenue-api/revenue-api/internal/revocation"
)

// 100,000 live revocations must stay small and, above all, hold few heap
// objects: the garbage collector's cost follows the pointers it must scan,
// and a set made of many small objects made every collection of a busy
// server tens of milliseconds long.
func TestLargeSetIsCompactForTheCollector(t *testing.T) {
	const n = 100_000
	revs := make([]revocation.Revocation, n)
	for i := range revs {
		if i%10 == 0 {
			revs[i] = userRev(int64(i+1), uint64(i), fmt.Sprintf("%08x-0000-4000-8000-00000000000a", i), t0)
		} else {
			revs[i] = sessionRev(int64(i+1), uint64(i), fmt.Sprintf("%08x-0000-4000-8000-00000000000b", i))
		}
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s := revocation.NewSet(0)
	s.CatchUp(t0, revs, 1)
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(revs) // measured: what the set holds beyond its input
	bytes := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	objects := int64(after.HeapObjects) - int64(before.HeapObjects)
	t.Logf("%d revocations: %d KiB live (%d bytes each), %d heap objects", n, bytes/1024, bytes/n, objects)
	if bytes/n > 300 {
		t.Errorf("%d bytes per revocation, want at most 300", bytes/n)
	}
	if objects > n/10 {
		t.Errorf("%d heap objects for %d revocations, want at most %d: the set must not be made of small objects", objects, n, n/10)
	}
	if s.Len() != n {
		t.Fatalf("Len %d, want %d", s.Len(), n)
	}
}
