package httpapi

import (
	"fmt"
	"testing"
	"time"
)

func TestRateLimiterMemoryIsBounded(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := newRateLimiter(1, 5, func() time.Time { return now })
	l.max = 100
	for i := range 1000 {
		l.allow(fmt.Sprintf("client-%d", i))
	}
	if n := len(l.buckets); n > l.max {
		t.Errorf("%d buckets after 1000 addresses, want at most %d", n, l.max)
	}

	// A bucket that has refilled completely is forgotten at the next sweep.
	now = now.Add(l.full + time.Second)
	l.allow("late-comer")
	if n := len(l.buckets); n != 1 {
		t.Errorf("%d buckets after every other one refilled, want 1", n)
	}
}

func TestRateLimiterForgetsNothingThatStillLimits(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := newRateLimiter(1, 2, func() time.Time { return now })
	l.allow("a")
	l.allow("a")
	if ok, wait := l.allow("a"); ok || wait <= 0 {
		t.Fatalf("third request in a burst of 2: ok=%v wait=%s, want refused", ok, wait)
	}
	// A sweep while the bucket is still short of tokens keeps it.
	now = now.Add(500 * time.Millisecond)
	l.sweep(now)
	if ok, _ := l.allow("a"); ok {
		t.Error("a sweep reset a bucket that was still limiting")
	}
}

// TestFullRateLimiterDoesNotScanPerAddress: once the map is full, a new
// address costs one eviction, not a walk of every bucket under the lock
// (which let a client cycling addresses, an IPv6 /48 say, slow every
// login and refresh to a crawl); the periodic sweep still runs on time.
func TestFullRateLimiterDoesNotScanPerAddress(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	now := start
	l := newRateLimiter(1, 5, func() time.Time { return now })
	l.max = 100
	for i := range l.max {
		l.allow(fmt.Sprintf("client-%d", i))
	}
	swept := l.swept
	for i := range 50 {
		now = now.Add(time.Millisecond)
		l.allow(fmt.Sprintf("newcomer-%d", i))
	}
	if !l.swept.Equal(swept) {
		t.Errorf("the buckets were swept at %s, for a new address into a full map; want no sweep before %s", l.swept.Sub(start), l.full)
	}
	if n := len(l.buckets); n != l.max {
		t.Errorf("%d buckets, want the map kept at %d", n, l.max)
	}
	now = start.Add(l.full + time.Second)
	l.allow("later")
	if !l.swept.Equal(now) {
		t.Errorf("no sweep after %s", l.full)
	}
}
