package httpapi

import (
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/time/rate"
)

// rateLimiter keeps one token bucket per client address and route. Buckets
// idle for a while are forgotten, so memory stays bounded by recent clients.
type rateLimiter struct {
	limit rate.Limit
	burst int
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

const bucketIdle = 10 * time.Minute

func newRateLimiter(perSecond float64, burst int, now func() time.Time) *rateLimiter {
	if perSecond <= 0 {
		perSecond = 1
	}
	return &rateLimiter{limit: rate.Limit(perSecond), burst: max(burst, 1), now: now, buckets: map[string]*bucket{}}
}

// allow takes a token for key, or says how long until one is available.
func (l *rateLimiter) allow(key string) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > bucketIdle {
		for k, b := range l.buckets {
			if now.Sub(b.seen) > bucketIdle {
				delete(l.buckets, k)
			}
		}
		l.swept = now
	}
	b, ok := l.buckets[key]
	if !ok {
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

// rateLimit limits route per client address with a 429 and Retry-After.
func (s *Server) rateLimit(route string) gin.HandlerFunc {
	return func(c *gin.Context) {
		ok, wait := s.limiter.allow(route + "|" + c.ClientIP())
		if !ok {
			s.Metrics.rateLimited(route)
			writeProblem(c, &problemError{
				status: http.StatusTooManyRequests, code: "rate_limited",
				detail:     "Too many requests from this address. Retry later.",
				retryAfter: int(math.Ceil(wait.Seconds())),
			})
			return
		}
		c.Next()
	}
}
