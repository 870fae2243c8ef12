package token

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// MaxJWKSBytes bounds a fetched JWKS: a few dozen RSA keys fit, and a
// misbehaving issuer cannot make a verifier buffer more.
const MaxJWKSBytes = 64 << 10

// MinJWKSLifetime is the shortest time a fetched JWKS is used before it is
// fetched again, whatever the issuer's Cache-Control says (max-age=0 or
// no-store would otherwise mean a fetch per request).
const MinJWKSLifetime = time.Second

// RemoteOptions configure RemoteKeys.
type RemoteOptions struct {
	// URL is the issuer's JWKS. Its user info, if any, is neither sent nor
	// logged (see publicURL).
	URL string
	// Timeout bounds one fetch, connection to last byte.
	Timeout time.Duration
	// MaxAge is the longest a fetched set is used before it is fetched
	// again, whatever the issuer's Cache-Control max-age says, and the
	// lifetime when it says nothing.
	MaxAge time.Duration
	// RefetchInterval is the least time between fetches caused by tokens
	// with an unknown kid, and the wait before retrying a failed fetch.
	RefetchInterval time.Duration
	// Client makes the requests; nil means one with Timeout that follows no
	// redirects.
	Client *http.Client
	Log    *slog.Logger
	Now    func() time.Time
}

// RemoteKeys is the key set of a verifier-only process: the public keys of
// an issuer's JWKS, fetched at start, refreshed when the issuer's cache
// lifetime ends, and fetched again for a token with an unknown kid at most
// once per RefetchInterval, so that a flood of forged kids cannot hammer the
// issuer. A known kid never causes a fetch. A fetch that fails, or whose
// answer is malformed, too large, too slow or holds an unacceptable key,
// is logged and the last good set kept.
type RemoteKeys struct {
	opt    RemoteOptions
	url    string // opt.URL without user info: requested and logged
	urlErr error  // why opt.URL is not a URL: every fetch fails with it
	client *http.Client
	set    atomic.Pointer[KeySet]

	mu          sync.Mutex
	inflight    chan struct{} // closed when the running fetch ends
	unknownKid  chan struct{} // a lookup missed: Run refetches (rate limited)
	lastAttempt time.Time
	lastErr     error
	expires     time.Time // when the set should be fetched again
	etag        string
}

var _ KeyLookup = (*RemoteKeys)(nil)

// errRefetchTooSoon is an unknown kid seen less than RefetchInterval after the last fetch.
var errRefetchTooSoon = errors.New("JWKS fetched too recently to fetch again for an unknown kid")

// NewRemoteKeys returns a RemoteKeys holding no keys yet: call Refresh, then Run.
func NewRemoteKeys(opt RemoteOptions) *RemoteKeys {
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	client := opt.Client
	if client == nil {
		client = &http.Client{Timeout: opt.Timeout, CheckRedirect: refuseRedirects}
	}
	r := &RemoteKeys{opt: opt, client: client, unknownKid: make(chan struct{}, 1)}
	if u, err := publicURL(opt.URL); err != nil {
		r.urlErr = fmt.Errorf("JWKS URL: %w", err)
	} else {
		r.url = u.String()
	}
	return r
}

// refuseRedirects is the redirect policy of the clients that ask the
// issuer: the URL is configured, and a redirect elsewhere is refused, not
// followed (the answer is the redirect itself, which fails as any answer
// but the expected one). A followed redirect would also take the feed
// token along: Go's client forwards Authorization to the same host on any
// port, and to its subdomains.
func refuseRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// publicURL parses rawURL and drops its user info (RFC 3986 §3.2.1):
// the URLs of the issuer are logged, and a credential in one would be
// logged with it. The configuration refuses user info; this keeps it out
// of requests, logs and errors anyway. The error does not repeat rawURL,
// and one comes for a URL without a host, which may hold a credential
// elsewhere ("user:password@host" parses as scheme "user").
func publicURL(rawURL string) (*url.URL, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return nil, errors.New("not a URL with a host")
	}
	u.User = nil
	return u, nil
}

// Lookup returns the key with kid from the set in memory; it never waits
// for the network. An unknown kid asks Run, in the background, to refetch the
// JWKS, at most once per RefetchInterval (a miss sooner is fetched for when
// it ends): the token that named it is refused, and a key the issuer has
// since published is found by the requests after the refetch.
// (Staged rotation publishes keys before they sign, so a legitimate token
// normally never names a key its verifiers have not fetched.)
func (r *RemoteKeys) Lookup(kid string) (*rsa.PublicKey, bool) {
	if ks := r.set.Load(); ks != nil {
		if pub, ok := ks.Lookup(kid); ok {
			return pub, true
		}
	}
	select {
	case r.unknownKid <- struct{}{}:
	default: // a refetch is already asked for
	}
	return nil, false
}

// Set returns the last good key set, or nil before the first.
func (r *RemoteKeys) Set() *KeySet { return r.set.Load() }

// Ready reports whether a key set has been fetched.
func (r *RemoteKeys) Ready() error {
	if r.set.Load() != nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.lastErr != nil {
		return fmt.Errorf("no key set from %s yet: %w", r.url, r.lastErr)
	}
	return fmt.Errorf("no key set from %s yet", r.url)
}

// Refresh fetches the JWKS now (or waits for the fetch under way).
func (r *RemoteKeys) Refresh(ctx context.Context) error { return r.refresh(ctx, false) }

// NextRefresh returns when Run fetches next: when the set's lifetime ends,
// or RefetchInterval after a failed fetch.
func (r *RemoteKeys) NextRefresh() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.lastErr != nil || r.set.Load() == nil {
		return r.lastAttempt.Add(r.opt.RefetchInterval)
	}
	return r.expires
}

// Run refreshes the set whenever NextRefresh comes, and when a lookup missed
// (at most once per RefetchInterval: a miss sooner than that is fetched for
// when the interval ends), until ctx ends.
func (r *RemoteKeys) Run(ctx context.Context) {
	var missed time.Time // a lookup missed too soon after a fetch: fetch then
	for {
		next := r.NextRefresh()
		if !missed.IsZero() && missed.Before(next) {
			next = missed
		}
		t := time.NewTimer(max(0, next.Sub(r.opt.Now())))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-r.unknownKid:
			t.Stop()
			if errors.Is(r.refresh(ctx, true), errRefetchTooSoon) {
				missed = r.lastFetch().Add(r.opt.RefetchInterval)
			} else {
				missed = time.Time{}
			}
		case <-t.C:
			missed = time.Time{}
			_ = r.Refresh(ctx)
		}
	}
}

// lastFetch is when the last fetch began.
func (r *RemoteKeys) lastFetch() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastAttempt
}

func (r *RemoteKeys) refresh(ctx context.Context, unknownKid bool) error {
	r.mu.Lock()
	if ch := r.inflight; ch != nil {
		r.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.lastErr
	}
	now := r.opt.Now()
	if unknownKid && !r.lastAttempt.IsZero() && now.Sub(r.lastAttempt) < r.opt.RefetchInterval {
		r.mu.Unlock()
		return errRefetchTooSoon
	}
	ch := make(chan struct{})
	r.inflight, r.lastAttempt = ch, now
	etag := ""
	if r.set.Load() != nil {
		etag = r.etag
	}
	r.mu.Unlock()

	ks, newETag, lifetime, err := r.fetch(ctx, etag)

	r.mu.Lock()
	defer r.mu.Unlock()
	r.inflight, r.lastErr = nil, err
	close(ch)
	if err != nil {
		r.opt.Log.Warn("JWKS fetch failed; keeping the last good key set", "url", r.url, "err", err,
			"have_keys", r.set.Load() != nil, "retry_in", r.opt.RefetchInterval, "unknown_kid", unknownKid)
		return err
	}
	r.expires = r.opt.Now().Add(lifetime)
	if ks == nil { // not modified
		r.opt.Log.Debug("JWKS not modified", "url", r.url, "cache_for", lifetime)
		return nil
	}
	r.set.Store(ks)
	r.etag = newETag
	r.opt.Log.Info("JWKS fetched", "url", r.url, "kids", keyIDs(ks), "cache_for", lifetime, "unknown_kid", unknownKid)
	return nil
}

// fetch GETs the JWKS. A nil set with no error means 304 Not Modified.
func (r *RemoteKeys) fetch(ctx context.Context, etag string) (*KeySet, string, time.Duration, error) {
	if r.urlErr != nil {
		return nil, "", 0, r.urlErr
	}
	ctx, cancel := context.WithTimeout(ctx, r.opt.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return nil, "", 0, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, "", 0, r.explain(ctx, err)
	}
	defer resp.Body.Close()
	lifetime := r.lifetime(resp.Header.Get("Cache-Control"), resp.Header.Get("Age"))
	switch {
	case resp.StatusCode == http.StatusNotModified && etag != "":
		return nil, "", lifetime, nil
	case resp.StatusCode != http.StatusOK:
		return nil, "", 0, fmt.Errorf("JWKS answer has status %d, want 200", resp.StatusCode)
	case resp.ContentLength > MaxJWKSBytes:
		return nil, "", 0, fmt.Errorf("JWKS answer of %d bytes is larger than %d", resp.ContentLength, MaxJWKSBytes)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxJWKSBytes+1))
	if err != nil {
		return nil, "", 0, fmt.Errorf("read JWKS answer: %w", r.explain(ctx, err))
	}
	if len(body) > MaxJWKSBytes {
		return nil, "", 0, fmt.Errorf("JWKS answer is larger than %d bytes", MaxJWKSBytes)
	}
	ks, err := ParseJWKS(body)
	if err != nil {
		return nil, "", 0, err
	}
	return ks, resp.Header.Get("ETag"), lifetime, nil
}

// explain names the timeout when a fetch ran out of time.
func (r *RemoteKeys) explain(ctx context.Context, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("no complete JWKS answer within %s: %w", r.opt.Timeout, err)
	}
	return err
}

// lifetime is how long to use an answer: the issuer's max-age (no-store and
// no-cache count as 0), else MaxAge, at most MaxAge, less the answer's Age
// (a shared cache in between, a CDN, says how long it has held it: RFC 9111
// §4.2.3), and at least MinJWKSLifetime. So a key the issuer stopped
// publishing is dropped within MaxAge of that, cache or not.
func (r *RemoteKeys) lifetime(cacheControl, age string) time.Duration {
	held := time.Duration(0)
	if n, err := strconv.ParseInt(strings.TrimSpace(age), 10, 64); err == nil && n > 0 {
		held = time.Duration(min(n, int64(24*time.Hour/time.Second))) * time.Second
	}
	d, found := r.opt.MaxAge, false
	for _, dir := range strings.Split(cacheControl, ",") {
		name, value, _ := strings.Cut(strings.ToLower(strings.TrimSpace(dir)), "=")
		switch name {
		case "no-store", "no-cache":
			d, found = 0, true
		case "max-age":
			if n, err := strconv.ParseInt(strings.Trim(value, `"`), 10, 64); err == nil && n >= 0 && !found {
				d, found = time.Duration(min(n, int64(24*time.Hour/time.Second)))*time.Second, true
			}
		}
	}
	return max(MinJWKSLifetime, min(d, r.opt.MaxAge)-held)
}

func keyIDs(ks *KeySet) []string {
	var out []string
	for _, k := range ks.Keys() {
		out = append(out, k.ID)
	}
	return out
}

// ParseJWKS reads a JSON Web Key Set (RFC 7517) of RSA signature keys.
// The whole set is refused if any key is unacceptable: not RSA, meant for
// another algorithm or use, smaller than MinKeyBits or larger than
// MaxKeyBits, carrying private members, or without a unique kid. Our
// issuer publishes nothing else, so anything else is a fault to notice.
func ParseJWKS(data []byte) (*KeySet, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("JWKS is not a JSON object with a keys array: %w", err)
	}
	if len(doc.Keys) == 0 {
		return nil, errors.New("JWKS holds no keys")
	}
	var keys []*Key
	seen := map[string]bool{}
	for i, raw := range doc.Keys {
		k, err := parseJWK(raw)
		if err != nil {
			return nil, fmt.Errorf("JWKS key %d: %w", i, err)
		}
		if seen[k.ID] {
			return nil, fmt.Errorf("JWKS key %d: kid %q appears twice", i, k.ID)
		}
		seen[k.ID] = true
		keys = append(keys, k)
	}
	return NewKeySet(keys, nil), nil
}

func parseJWK(raw json.RawMessage) (*Key, error) {
	var j struct {
		Kty string `json:"kty"`
		Kid string `json:"kid"`
		Use string `json:"use"`
		Alg string `json:"alg"`
		N   string `json:"n"`
		E   string `json:"e"`
		// Private members (RFC 7518 §6.3.2): never in a published set.
		D   json.RawMessage `json:"d"`
		P   json.RawMessage `json:"p"`
		Q   json.RawMessage `json:"q"`
		DP  json.RawMessage `json:"dp"`
		DQ  json.RawMessage `json:"dq"`
		QI  json.RawMessage `json:"qi"`
		Oth json.RawMessage `json:"oth"`
	}
	if err := json.Unmarshal(raw, &j); err != nil {
		return nil, fmt.Errorf("not a valid JWK: %w", err)
	}
	switch {
	case j.Kty != "RSA":
		return nil, fmt.Errorf("kty %q, want RSA", j.Kty)
	case j.Kid == "" || len(j.Kid) > 256:
		return nil, errors.New("kid missing or longer than 256 characters")
	case j.Alg != "" && j.Alg != "RS256":
		return nil, fmt.Errorf("kid %q: alg %q, want RS256", j.Kid, j.Alg)
	case j.Use != "" && j.Use != "sig":
		return nil, fmt.Errorf("kid %q: use %q, want sig", j.Kid, j.Use)
	case j.D != nil || j.P != nil || j.Q != nil || j.DP != nil || j.DQ != nil || j.QI != nil || j.Oth != nil:
		return nil, fmt.Errorf("kid %q: the JWKS publishes private key members", j.Kid)
	}
	nb, err := base64.RawURLEncoding.Strict().DecodeString(j.N)
	if err != nil {
		return nil, fmt.Errorf("kid %q: n is not base64url", j.Kid)
	}
	eb, err := base64.RawURLEncoding.Strict().DecodeString(j.E)
	if err != nil {
		return nil, fmt.Errorf("kid %q: e is not base64url", j.Kid)
	}
	n, e := new(big.Int).SetBytes(nb), new(big.Int).SetBytes(eb)
	if bits := n.BitLen(); bits < MinKeyBits || bits > MaxKeyBits {
		return nil, fmt.Errorf("kid %q: RSA key of %d bits, want %d to %d", j.Kid, bits, MinKeyBits, MaxKeyBits)
	}
	if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 || e.Bit(0) == 0 {
		return nil, fmt.Errorf("kid %q: unacceptable RSA exponent", j.Kid)
	}
	pub := &rsa.PublicKey{N: n, E: int(e.Int64())}
	return &Key{ID: j.Kid, Public: pub}, nil
}
