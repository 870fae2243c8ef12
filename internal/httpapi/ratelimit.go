package httpapi

import (
	"net/netip"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/time/rate"

	"github.com/revenue-api/revenue-api/internal/apperr"
)

// rateLimiter keeps one token bucket per client address and route. A bucket
// left alone long enough to refill completely is the same as a new one, so it
// is forgotten; and the number of buckets is capped, so a flood of addresses
// cannot grow memory without bound.
type rateLimiter struct {
	limit rate.Limit
	burst int
	full  time.Duration // time for an empty bucket to refill
	max   int
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// maxBuckets bounds the limiter's memory (about 100 bytes a bucket).
const maxBuckets = 100_000

func newRateLimiter(perSecond float64, burst int, now func() time.Time) *rateLimiter {
	if perSecond <= 0 {
		perSecond = 1
	}
	burst = max(burst, 1)
	full := time.Duration(float64(burst) / perSecond * float64(time.Second))
	return &rateLimiter{limit: rate.Limit(perSecond), burst: burst, full: max(full, time.Second), max: maxBuckets,
		now: now, buckets: map[string]*bucket{}}
}

// allow takes a token for key, or says how long until one is available.
func (l *rateLimiter) allow(key string) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > l.full {
		l.sweep(now)
	}
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= l.max {
			// Full: forget an arbitrary bucket (map order is random), which
			// at worst gives that address a fresh burst. Not a sweep: a walk
			// of every bucket under the lock for every new address let a
			// client cycling addresses stall every login; the sweep above
			// runs once per refill time.
			for k := range l.buckets {
				delete(l.buckets, k)
				break
			}
		}
		b = &bucket{lim: rate.NewLimiter(l.limit, l.burst)}
		l.buckets[key] = b
	}
	b.seen = now
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// sweep drops the buckets that have refilled completely.
func (l *rateLimiter) sweep(now time.Time) {
	for k, b := range l.buckets {
		if now.Sub(b.seen) >= l.full {
			delete(l.buckets, k)
		}
	}
	l.swept = now
}

// rateLimit limits route per client address with a 429 and Retry-After.
func (s *Server) rateLimit(route string) gin.HandlerFunc {
	return func(c *gin.Context) {
		ok, wait := s.limiter.allow(route + "|" + clientKey(s.clientIP(c)))
		if !ok {
			s.Metrics.rateLimited(route)
			writeProblem(c, &apperr.Error{Code: apperr.CodeRateLimited,
				Message: "Too many requests from this address. Retry later.", RetryAfter: wait})
			return
		}
		c.Next()
	}
}

// clientKey is the bucket of a client address. An IPv6 host usually holds a
// whole /64 and could take a fresh address from it for every request, so
// IPv6 addresses share the bucket of their /64. The key is also canonical:
// an IPv4-mapped IPv6 address is its IPv4 address.
func clientKey(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	addr = addr.Unmap()
	if addr.Is6() {
		prefix, _ := addr.Prefix(64)
		return prefix.String()
	}
	return addr.String()
}
