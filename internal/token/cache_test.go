package token_test

import (
	"encoding/base64"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/revenue-api/revenue-api/internal/auth"
	"github.com/revenue-api/revenue-api/internal/testclock"
	"github.com/revenue-api/revenue-api/internal/token"
)

const (
	cacheIssuer   = "https://issuer.test"
	cacheAudience = "revenue-api-test"
	cacheLeeway   = 30 * time.Second
	cacheTTL      = 15 * time.Minute
)

// cacheTestKeys returns the three shared test keys (keyFileTestKeys) as
// key-set entries.
func cacheTestKeys(t testing.TB) [3]*token.Key {
	t.Helper()
	var out [3]*token.Key
	for i, priv := range keyFileTestKeys(t) {
		out[i] = &token.Key{ID: token.Thumbprint(&priv.PublicKey), Public: &priv.PublicKey, Private: priv}
	}
	return out
}

// cacheFixture is a key set, a signer, the plain verifier and the cache
// wrapping it, all on one clock the test moves (backwards too).
type cacheFixture struct {
	t *testing.T
	*testclock.Clock
	keys    [3]*token.Key // keys[0] signs; keys[1] is also trusted; keys[2] is the attacker's
	keyring *token.Keyring
	signer  *token.Signer
	plain   *token.Verifier // the reference the cache's answers are compared with
	full    *token.Verifier // the one beneath the cache
	cache   *token.CachingVerifier
}

func newCacheFixture(t *testing.T, size int) *cacheFixture {
	t.Helper()
	f := &cacheFixture{t: t, Clock: testclock.New(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)), keys: cacheTestKeys(t)}
	f.keyring = token.NewKeyring(token.NewKeySet([]*token.Key{f.keys[0], f.keys[1]}, f.keys[0]))
	f.signer = token.NewSigner(f.keyring, cacheIssuer, cacheAudience, cacheTTL, f.Now)
	f.plain = token.NewVerifier(f.keyring, cacheIssuer, cacheAudience, cacheLeeway, f.Now)
	f.full = token.NewVerifier(f.keyring, cacheIssuer, cacheAudience, cacheLeeway, f.Now)
	f.cache = token.NewCachingVerifier(f.full, f.keyring, cacheLeeway, f.Now, size)
	return f
}

var alice = auth.Identity{
	UserID: "0b6c3f0e-9d4e-4d7a-8d0c-111111111111", Email: "alice@example.com",
	OrgID: "5f2b1c9a-0000-4000-8000-222222222222", Roles: []string{"finance"},
	Scopes: []string{auth.ScopeRevenueRead}, SessionID: "7c1d2e3f-0000-4000-8000-333333333333",
}

// issue signs a token for alice with the current signing key, now.
func (f *cacheFixture) issue() string {
	f.t.Helper()
	raw, _, err := f.signer.Issue(alice)
	if err != nil {
		f.t.Fatal(err)
	}
	return raw
}

// forge signs claims (alice's, at the current time, changed by edit) with
// key under kid, bypassing the Signer.
func (f *cacheFixture) forge(key *token.Key, kid string, edit func(jwt.MapClaims)) string {
	f.t.Helper()
	now := f.Now()
	claims := jwt.MapClaims{
		"iss": cacheIssuer, "aud": cacheAudience, "sub": alice.UserID, "jti": fmt.Sprint(now.UnixNano()),
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(cacheTTL).Unix(),
		"sid": alice.SessionID, "org_id": alice.OrgID, "email": alice.Email,
		"roles": alice.Roles, "scope": auth.ScopeRevenueRead,
	}
	if edit != nil {
		edit(claims)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = kid
	tok.Header["typ"] = token.TypeAccessToken
	raw, err := tok.SignedString(key.Private)
	if err != nil {
		f.t.Fatal(err)
	}
	return raw
}

// verdict is what a verifier said about a token, comparable across verifiers.
type verdict struct {
	ok        bool
	reason    token.Reason
	principal auth.Principal
}

func (v verdict) String() string {
	if v.ok {
		return "accepted"
	}
	return "rejected (" + string(v.reason) + ")"
}

func verdictOf(p auth.Principal, err error) verdict {
	if err == nil {
		return verdict{ok: true, principal: p}
	}
	reason, ok := token.ReasonOf(err)
	if !ok {
		return verdict{reason: "not a token refusal: " + token.Reason(err.Error())}
	}
	return verdict{reason: reason}
}

// check presents raw to the cache and to the plain verifier and fails
// unless both say the same, and that is want.
func (f *cacheFixture) check(raw string, want verdict) {
	f.t.Helper()
	cached := verdictOf(f.cache.Verify(raw))
	plain := verdictOf(f.plain.Verify(raw))
	if cached.ok != plain.ok || cached.reason != plain.reason || !reflect.DeepEqual(cached.principal, plain.principal) {
		f.t.Fatalf("cache says %v, the plain verifier says %v: the cache must agree with the verifier", cached, plain)
	}
	if cached.ok != want.ok || cached.reason != want.reason {
		f.t.Fatalf("token %v, want %v", cached, want)
	}
}

var accepted = verdict{ok: true}

func rejected(r token.Reason) verdict { return verdict{reason: r} }

// alter replaces from with to in the decoded part (0 header, 1 claims) of
// a token and encodes it again, keeping the signature.
func alter(t *testing.T, raw string, part int, from, to string) string {
	t.Helper()
	parts := strings.Split(raw, ".")
	data, err := base64.RawURLEncoding.DecodeString(parts[part])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), from) {
		t.Fatalf("%s does not contain %s", data, from)
	}
	parts[part] = base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(data), from, to, 1)))
	return strings.Join(parts, ".")
}

// tamper changes one character of the given part (0 header, 1 claims,
// 2 signature) of a token, keeping it well-formed base64url.
func tamper(raw string, part int) string {
	parts := strings.Split(raw, ".")
	b := []byte(parts[part])
	i := len(b) / 2
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	parts[part] = string(b)
	return strings.Join(parts, ".")
}

func TestCachingVerifierAcceptsNothingTheVerifierRejects(t *testing.T) {
	tests := []struct {
		name string
		// run caches a token the verifier accepts (or tries to), changes the
		// world, and returns the token to present then with the verdict wanted.
		run func(f *cacheFixture) (string, verdict)
	}{
		{"a repeated valid token is accepted", func(f *cacheFixture) (string, verdict) {
			raw := f.issue()
			f.check(raw, accepted)
			f.Advance(time.Minute)
			return raw, accepted
		}},
		{"a token expired after it was cached is rejected", func(f *cacheFixture) (string, verdict) {
			raw := f.issue()
			f.check(raw, accepted)
			f.Advance(cacheTTL + cacheLeeway)
			return raw, rejected(token.ReasonExpired)
		}},
		{"a cached token is accepted until the last second of its leeway", func(f *cacheFixture) (string, verdict) {
			raw := f.issue()
			f.check(raw, accepted)
			f.Advance(cacheTTL + cacheLeeway - time.Second)
			return raw, accepted
		}},
		{"a cached token whose nbf is ahead again after the clock went back is rejected", func(f *cacheFixture) (string, verdict) {
			// iat well in the past, so only nbf can refuse it.
			raw := f.forge(f.keys[0], f.keys[0].ID, func(c jwt.MapClaims) { c["iat"] = f.Now().Add(-10 * time.Minute).Unix() })
			f.check(raw, accepted)
			f.Advance(-cacheLeeway - time.Second)
			return raw, rejected(token.ReasonNotYetValid)
		}},
		{"a cached token issued in the future after the clock went back is rejected", func(f *cacheFixture) (string, verdict) {
			raw := f.issue()
			f.check(raw, accepted)
			f.Advance(-cacheLeeway - time.Second)
			return raw, rejected(token.ReasonNotYetValid)
		}},
		{"a token not valid yet is not cached and is accepted once valid", func(f *cacheFixture) (string, verdict) {
			raw := f.forge(f.keys[0], f.keys[0].ID, func(c jwt.MapClaims) {
				c["nbf"] = f.Now().Add(time.Hour).Unix()
				c["exp"] = f.Now().Add(2 * time.Hour).Unix()
			})
			f.check(raw, rejected(token.ReasonNotYetValid))
			f.check(raw, rejected(token.ReasonNotYetValid))
			f.Advance(time.Hour)
			return raw, accepted
		}},
		{"a cached token whose key was pruned is rejected at once", func(f *cacheFixture) (string, verdict) {
			raw := f.issue()
			f.check(raw, accepted)
			f.keyring.Replace(token.NewKeySet([]*token.Key{f.keys[1]}, f.keys[1]))
			return raw, rejected(token.ReasonUnknownKey)
		}},
		{"a cached token is accepted again when its key comes back", func(f *cacheFixture) (string, verdict) {
			raw := f.issue()
			f.check(raw, accepted)
			f.keyring.Replace(token.NewKeySet([]*token.Key{f.keys[1]}, f.keys[1]))
			f.check(raw, rejected(token.ReasonUnknownKey))
			f.keyring.Replace(token.NewKeySet([]*token.Key{f.keys[0], f.keys[1]}, f.keys[1]))
			return raw, accepted
		}},
		{"a cached token whose kid now names another key is rejected", func(f *cacheFixture) (string, verdict) {
			raw := f.issue()
			f.check(raw, accepted)
			impostor := &token.Key{ID: f.keys[0].ID, Public: f.keys[2].Public, Private: f.keys[2].Private}
			f.keyring.Replace(token.NewKeySet([]*token.Key{impostor}, impostor))
			return raw, rejected(token.ReasonSignature)
		}},
		{"a cached token with its kid switched to another trusted key is rejected", func(f *cacheFixture) (string, verdict) {
			raw := f.issue()
			f.check(raw, accepted)
			return alter(t, raw, 0, f.keys[0].ID, f.keys[1].ID), rejected(token.ReasonSignature)
		}},
		{"a cached token with altered claims is rejected", func(f *cacheFixture) (string, verdict) {
			raw := f.issue()
			f.check(raw, accepted)
			return alter(t, raw, 1, `"roles":["finance"]`, `"roles":["admin"]`), rejected(token.ReasonSignature)
		}},
		{"a cached token with a broken header is rejected", func(f *cacheFixture) (string, verdict) {
			raw := f.issue()
			f.check(raw, accepted)
			return alter(t, raw, 0, `{`, `[`), rejected(token.ReasonMalformed)
		}},
		{"a cached token with an altered signature is rejected", func(f *cacheFixture) (string, verdict) {
			raw := f.issue()
			f.check(raw, accepted)
			return tamper(raw, 2), rejected(token.ReasonSignature)
		}},
		{"a cached token with extra bytes appended is rejected", func(f *cacheFixture) (string, verdict) {
			raw := f.issue()
			f.check(raw, accepted)
			return raw + "A", rejected(token.ReasonSignature)
		}},
		{"the same header and claims with another key's signature are rejected", func(f *cacheFixture) (string, verdict) {
			raw := f.forge(f.keys[0], f.keys[0].ID, nil)
			f.check(raw, accepted)
			forged := f.forge(f.keys[2], f.keys[0].ID, nil)
			if forged[:strings.LastIndexByte(forged, '.')] != raw[:strings.LastIndexByte(raw, '.')] {
				t.Fatal("the forgery should differ from the cached token only in its signature")
			}
			return forged, rejected(token.ReasonSignature)
		}},
		{"the same claims signed by an unknown key are rejected", func(f *cacheFixture) (string, verdict) {
			f.check(f.forge(f.keys[0], f.keys[0].ID, nil), accepted)
			return f.forge(f.keys[2], f.keys[2].ID, nil), rejected(token.ReasonUnknownKey)
		}},
		{"the same claims for another audience are rejected", func(f *cacheFixture) (string, verdict) {
			f.check(f.forge(f.keys[0], f.keys[0].ID, nil), accepted)
			return f.forge(f.keys[0], f.keys[0].ID, func(c jwt.MapClaims) { c["aud"] = "someone-else" }), rejected(token.ReasonAudience)
		}},
		{"a token the verifier rejected stays rejected", func(f *cacheFixture) (string, verdict) {
			raw := f.forge(f.keys[2], f.keys[2].ID, nil)
			f.check(raw, rejected(token.ReasonUnknownKey))
			return raw, rejected(token.ReasonUnknownKey)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newCacheFixture(t, 1000)
			raw, want := tt.run(f)
			f.check(raw, want)
			f.check(raw, want) // and again, now that the first answer may have been cached
		})
	}
}

func TestCachingVerifierAnswersRepeatsWithoutTheVerifier(t *testing.T) {
	f := newCacheFixture(t, 1000)
	raw := f.issue()
	want, err := f.plain.Verify(raw)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		got, err := f.cache.Verify(raw)
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("call %d: principal %+v, want %+v", i, got, want)
		}
		got.Roles[0] = "admin" // a careless caller must not change the next answer
	}
	if n := f.full.Verifications(); n != 1 {
		t.Errorf("the full verifier ran %d times for 5 presentations of one token, want 1", n)
	}
	if s := f.cache.Stats(); s.Hits != 4 || s.Misses != 1 || s.Entries != 1 {
		t.Errorf("stats %+v, want 4 hits, 1 miss, 1 entry", s)
	}
}

func TestCachingVerifierNeverStoresRejectedTokens(t *testing.T) {
	f := newCacheFixture(t, 1000)
	for _, raw := range []string{
		"", "not-a-token", tamper(f.issue(), 2), f.forge(f.keys[2], f.keys[2].ID, nil),
		f.forge(f.keys[0], f.keys[0].ID, func(c jwt.MapClaims) { c["exp"] = f.Now().Add(-time.Hour).Unix() }),
		strings.Repeat("A", token.MaxTokenBytes+1),
	} {
		for range 2 {
			if _, err := f.cache.Verify(raw); err == nil {
				t.Fatalf("accepted %.40q", raw)
			}
		}
	}
	if s := f.cache.Stats(); s.Entries != 0 || s.Hits != 0 {
		t.Errorf("stats %+v after only bad tokens, want no entries and no hits", s)
	}
}

func TestCachingVerifierOffIsThePlainVerifier(t *testing.T) {
	f := newCacheFixture(t, 0)
	raw := f.issue()
	for range 3 {
		f.check(raw, accepted)
	}
	f.check(tamper(raw, 2), rejected(token.ReasonSignature))
	f.Advance(cacheTTL + cacheLeeway)
	f.check(raw, rejected(token.ReasonExpired))
	if n := f.full.Verifications(); n != 5 {
		t.Errorf("with size 0 the verifier ran %d times for 5 presentations, want every one", n)
	}
	if s := f.cache.Stats(); s != (token.CacheStats{}) {
		t.Errorf("stats %+v with the cache off, want zero", s)
	}
}

func TestCachingVerifierStaysWithinItsSize(t *testing.T) {
	for _, size := range []int{1, 64, 1100} { // 1100: sixteen shards
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			f := newCacheFixture(t, size)
			tokens := make([]string, 0, size+40)
			for i := range cap(tokens) {
				tokens = append(tokens, f.forge(f.keys[0], f.keys[0].ID, func(c jwt.MapClaims) { c["jti"] = fmt.Sprint("t", i) }))
			}
			for _, raw := range tokens {
				if _, err := f.cache.Verify(raw); err != nil {
					t.Fatal(err)
				}
			}
			if s := f.cache.Stats(); s.Entries > size || s.Entries == 0 {
				t.Errorf("%d entries after %d distinct tokens, want between 1 and %d", s.Entries, len(tokens), size)
			}
			// Evicted or not, every token still verifies, and an expired
			// one never does.
			for _, raw := range tokens[:10] {
				f.check(raw, accepted)
			}
			f.Advance(cacheTTL + cacheLeeway)
			for _, raw := range tokens[len(tokens)-10:] {
				f.check(raw, rejected(token.ReasonExpired))
			}
		})
	}
}

// TestCachingVerifierAgreesWithTheVerifierOverTime walks a clock back and
// forth across every boundary of a few tokens' validity, with keys coming
// and going, and compares every answer of the cache with the verifier's.
func TestCachingVerifierAgreesWithTheVerifierOverTime(t *testing.T) {
	f := newCacheFixture(t, 1000)
	start := f.Now()
	tokens := []string{
		f.issue(),
		f.forge(f.keys[1], f.keys[1].ID, func(c jwt.MapClaims) {
			c["iat"] = start.Add(-5 * time.Minute).Unix()
			c["nbf"] = start.Add(2 * time.Minute).Unix()
			c["exp"] = start.Add(4 * time.Minute).Unix()
		}),
		f.forge(f.keys[0], f.keys[0].ID, func(c jwt.MapClaims) { delete(c, "nbf") }),
	}
	sets := []*token.KeySet{
		token.NewKeySet([]*token.Key{f.keys[0], f.keys[1]}, f.keys[0]),
		token.NewKeySet([]*token.Key{f.keys[0]}, f.keys[0]),
		token.NewKeySet([]*token.Key{f.keys[1]}, f.keys[1]),
	}
	offsets := []time.Duration{0, time.Minute, -time.Minute, 90 * time.Second, 2 * time.Minute, -31 * time.Second,
		4 * time.Minute, 4*time.Minute + 29*time.Second, 4*time.Minute + 30*time.Second, time.Minute,
		15 * time.Minute, 15*time.Minute + 29*time.Second, 15*time.Minute + 30*time.Second, 2 * time.Minute}
	seenAccept, seenReject := 0, 0
	for i, off := range offsets {
		for j, set := range sets {
			f.Set(start.Add(off))
			f.keyring.Replace(set)
			for k, raw := range tokens {
				cached := verdictOf(f.cache.Verify(raw))
				plain := verdictOf(f.plain.Verify(raw))
				if cached.ok != plain.ok || cached.reason != plain.reason {
					t.Fatalf("step %d (clock %+v, key set %d), token %d: cache %v, verifier %v", i, off, j, k, cached, plain)
				}
				if cached.ok {
					seenAccept++
				} else {
					seenReject++
				}
			}
		}
	}
	if seenAccept == 0 || seenReject == 0 || f.cache.Stats().Hits == 0 {
		t.Fatalf("the walk should see acceptances (%d), rejections (%d) and cache hits (%+v)", seenAccept, seenReject, f.cache.Stats())
	}
}

// TestCachingVerifierIsSafeForConcurrentUse verifies from many goroutines
// while keys come and go (run it with -race); once a key is gone for good,
// none of its tokens is accepted any more.
func TestCachingVerifierIsSafeForConcurrentUse(t *testing.T) {
	f := newCacheFixture(t, 8)
	var tokens []string
	for i := range 16 {
		tokens = append(tokens, f.forge(f.keys[i%2], f.keys[i%2].ID, func(c jwt.MapClaims) { c["jti"] = fmt.Sprint("c", i) }))
	}
	both := token.NewKeySet([]*token.Key{f.keys[0], f.keys[1]}, f.keys[0])
	onlyOne := token.NewKeySet([]*token.Key{f.keys[1]}, f.keys[1])
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if i%2 == 0 {
				f.keyring.Replace(onlyOne)
			} else {
				f.keyring.Replace(both)
			}
		}
	})
	var workers sync.WaitGroup
	for g := range 8 {
		workers.Go(func() {
			for i := range 200 {
				_, _ = f.cache.Verify(tokens[(g+i)%len(tokens)])
			}
		})
	}
	workers.Wait()
	close(stop)
	wg.Wait()

	f.keyring.Replace(onlyOne)
	for i, raw := range tokens {
		want := accepted
		if i%2 == 0 {
			want = rejected(token.ReasonUnknownKey)
		}
		f.check(raw, want)
	}
}
