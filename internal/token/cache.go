package token

import (
	"crypto/rsa"
	"crypto/sha256"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/revenue-api/revenue-api/internal/auth"
)

// PrincipalVerifier turns a raw access token into the principal it asserts.
// *Verifier is one; so is *CachingVerifier, which wraps one.
type PrincipalVerifier interface {
	Verify(raw string) (auth.Principal, error)
}

var (
	_ PrincipalVerifier = (*Verifier)(nil)
	_ PrincipalVerifier = (*CachingVerifier)(nil)
)

// CachingVerifier remembers the tokens its verifier accepted, so a token
// presented again skips the RSA signature check (most of the cost of a
// request). It never decides a rejection and never widens what is accepted:
//
//   - the key is the SHA-256 of the whole token, so a token differing from an
//     accepted one in any byte (a forgery, an altered claim or signature)
//     misses and goes to the full verifier;
//   - only tokens the full verifier accepted are stored;
//   - every hit re-checks exp, nbf and iat against the same clock with the
//     same leeway as the verifier, and that the signing key is still in the
//     current key set: a token expires on time and dies with its key;
//   - an entry failing those checks is dropped and the token goes to the full
//     verifier, which gives the rejection reason.
//
// It holds at most size entries; when full, a new entry replaces an expired
// one, or else the one expiring soonest among a few sampled at random.
type CachingVerifier struct {
	next   *Verifier
	keys   KeyLookup
	leeway time.Duration
	now    func() time.Time
	limit  int // entries per shard; 0: the cache is off
	shards []cacheShard
}

// cacheShard is one lock's worth of the cache; sharding keeps concurrent
// requests from queueing on a single mutex.
type cacheShard struct {
	mu      sync.RWMutex
	entries map[[sha256.Size]byte]*cachedToken
	hits    atomic.Uint64
	misses  atomic.Uint64
	_       [64]byte // keeps neighbouring shards' counters off one cache line
}

// cachedToken is what a hit needs to re-check a token without its signature.
type cachedToken struct {
	principal auth.Principal // ExpiresAt and IssuedAt as the verifier read them
	notBefore time.Time      // zero when the token has no nbf
	kid       string
	key       *rsa.PublicKey // the key kid named when the token was verified
}

const (
	maxCacheShards = 16 // a power of two
	evictionSample = 4
)

// NewCachingVerifier wraps next with a cache of at most size verified
// tokens; size 0 turns the cache off (every call goes to next). leeway and
// now must be the ones next verifies with, and keys the key set it uses.
func NewCachingVerifier(next *Verifier, keys KeyLookup, leeway time.Duration, now func() time.Time, size int) *CachingVerifier {
	c := &CachingVerifier{next: next, keys: keys, leeway: leeway, now: now}
	if size <= 0 {
		return c
	}
	n := maxCacheShards
	for n > 1 && size/n < 64 {
		n /= 2
	}
	c.limit = size / n
	c.shards = make([]cacheShard, n)
	for i := range c.shards {
		c.shards[i].entries = make(map[[sha256.Size]byte]*cachedToken)
	}
	return c
}

// Verify returns the principal of raw from the cache when raw was accepted
// before and is still valid now, and otherwise asks the wrapped verifier.
func (c *CachingVerifier) Verify(raw string) (auth.Principal, error) {
	if c.limit == 0 || len(raw) > MaxTokenBytes {
		return c.next.Verify(raw)
	}
	sum := tokenSum(raw)
	sh := &c.shards[int(sum[0])&(len(c.shards)-1)]

	sh.mu.RLock()
	e := sh.entries[sum]
	sh.mu.RUnlock()
	if e != nil {
		if c.stillValid(e, c.now()) {
			sh.hits.Add(1)
			return clonePrincipal(e.principal), nil
		}
		sh.mu.Lock()
		if sh.entries[sum] == e {
			delete(sh.entries, sum)
		}
		sh.mu.Unlock()
	}
	sh.misses.Add(1)

	p, e, err := c.verifyForEntry(raw)
	if err != nil {
		return p, err
	}
	if e != nil {
		sh.put(sum, e, c.limit, c.now())
	}
	return p, nil
}

// verifyForEntry asks the full verifier, and builds the cache entry of a
// token it accepts from what it checked: nothing is decoded again.
func (c *CachingVerifier) verifyForEntry(raw string) (auth.Principal, *cachedToken, error) {
	p, d, err := c.next.verify(raw)
	if err != nil {
		return p, nil, err
	}
	return p, &cachedToken{principal: clonePrincipal(p), notBefore: d.notBefore, kid: d.kid, key: d.key}, nil
}

// tokenBuffers spare each lookup a copy of the token on the heap ([]byte(raw)
// allocates; a 4 KiB array on the stack would not, but made every
// connection's goroutine grow its stack: both profiled).
var tokenBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// tokenSum is the cache key of raw: its SHA-256.
func tokenSum(raw string) [sha256.Size]byte {
	bp := tokenBuffers.Get().(*[]byte)
	b := append((*bp)[:0], raw...)
	sum := sha256.Sum256(b)
	*bp = b
	tokenBuffers.Put(bp)
	return sum
}

// stillValid repeats the verifier's time checks (golang-jwt's rules: valid
// while now < exp+leeway, once now >= nbf-leeway and now >= iat-leeway) and
// checks that the key the token was verified with is still in the key set.
func (c *CachingVerifier) stillValid(e *cachedToken, now time.Time) bool {
	if !now.Before(e.principal.ExpiresAt.Add(c.leeway)) {
		return false
	}
	if !e.notBefore.IsZero() && now.Before(e.notBefore.Add(-c.leeway)) {
		return false
	}
	if now.Before(e.principal.IssuedAt.Add(-c.leeway)) {
		return false
	}
	pub, ok := c.keys.Lookup(e.kid)
	return ok && (pub == e.key || pub.Equal(e.key))
}

// put stores e, making room first when the shard is full.
func (sh *cacheShard) put(sum [sha256.Size]byte, e *cachedToken, limit int, now time.Time) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if _, ok := sh.entries[sum]; !ok && len(sh.entries) >= limit {
		sh.evictOne(now)
	}
	sh.entries[sum] = e
}

// evictOne drops an expired entry, or else the one expiring soonest among a
// few: map iteration starts at a random place, so this samples at random.
func (sh *cacheShard) evictOne(now time.Time) {
	var victim [sha256.Size]byte
	var soonest time.Time
	seen := 0
	for k, e := range sh.entries {
		if !now.Before(e.principal.ExpiresAt) {
			victim = k
			break
		}
		if seen == 0 || e.principal.ExpiresAt.Before(soonest) {
			victim, soonest = k, e.principal.ExpiresAt
		}
		if seen++; seen == evictionSample {
			break
		}
	}
	delete(sh.entries, victim)
}

// clonePrincipal copies the principal's slices, so that no caller can
// change what the cache hands to the next request with the same token.
func clonePrincipal(p auth.Principal) auth.Principal {
	p.Roles = slices.Clone(p.Roles)
	p.Scopes = slices.Clone(p.Scopes)
	return p
}

// CacheStats counts the cache's answers since it was built.
type CacheStats struct {
	Hits    uint64 // answered from the cache
	Misses  uint64 // sent to the full verifier
	Entries int    // tokens held now
}

// Stats returns the hit and miss counts and the current size.
func (c *CachingVerifier) Stats() CacheStats {
	var s CacheStats
	for i := range c.shards {
		sh := &c.shards[i]
		s.Hits += sh.hits.Load()
		s.Misses += sh.misses.Load()
		sh.mu.RLock()
		s.Entries += len(sh.entries)
		sh.mu.RUnlock()
	}
	return s
}

// RegisterMetrics registers the cache's hit and miss counts and its size on reg.
func (c *CachingVerifier) RegisterMetrics(reg prometheus.Registerer) {
	reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "revenue_token_cache_hits_total",
			Help: "Access tokens accepted from the verified-token cache, without an RSA check.",
		}, func() float64 { return float64(c.Stats().Hits) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "revenue_token_cache_misses_total",
			Help: "Access tokens sent to the full verifier (not cached, expired or key gone).",
		}, func() float64 { return float64(c.Stats().Misses) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "revenue_token_cache_entries",
			Help: "Verified tokens held in the cache.",
		}, func() float64 { return float64(c.Stats().Entries) }),
	)
}
