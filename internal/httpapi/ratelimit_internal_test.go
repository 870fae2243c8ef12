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
