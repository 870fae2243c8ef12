package token

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/revenue-api/revenue-api/internal/revocation"
)

// TypeRevocationFeed is the JOSE typ of a page of the revocation feed. It
// differs from an access token's, so neither can pass for the other.
const TypeRevocationFeed = "revocations+jwt"

// feedLifetime bounds how long a signed page may be replayed.
const feedLifetime = time.Minute

// Event types of OpenID CAEP (Continuous Access Evaluation Profile 1.0),
// chosen by what was revoked: a session, all of a user's sessions, a
// credential, or the claims (roles) tokens carry.
const (
	EventSessionRevoked    = "https://schemas.openid.net/secevent/caep/event-type/session-revoked"
	EventCredentialChange  = "https://schemas.openid.net/secevent/caep/event-type/credential-change"
	EventTokenClaimsChange = "https://schemas.openid.net/secevent/caep/event-type/token-claims-change"
)

// FeedSubject is an RFC 9493 subject identifier of format "opaque": the
// session id (sid) or the user id (sub) of the tokens it revokes.
type FeedSubject struct {
	Format string `json:"format"`
	ID     string `json:"id"`
}

// FeedEvent is one revocation as the feed publishes it: CAEP's event type,
// subject and event_timestamp, and what a verifier needs to apply it.
type FeedEvent struct {
	Type           string      `json:"type"`
	Subject        FeedSubject `json:"subject"`
	SubjectKind    string      `json:"subject_kind"` // "session" (sid) or "user" (sub)
	EventTimestamp int64       `json:"event_timestamp"`
	NotBefore      int64       `json:"not_before"` // user: tokens with iat before it are revoked
	ExpiresAt      int64       `json:"expires_at"` // no token it revokes is valid after it
	Reason         string      `json:"reason"`
	ID             int64       `json:"id"`
	XID            string      `json:"xid"`
}

// feedClaims is a signed page of the feed.
type feedClaims struct {
	jwt.RegisteredClaims
	// Source names the incarnation of the issuer's database the cursor
	// counts in (revocation.Page.Source); absent from older issuers.
	Source string      `json:"source,omitempty"`
	Cursor string      `json:"cursor"`
	More   bool        `json:"more,omitempty"` // cut at the page size: ask again from Cursor at once
	Events []FeedEvent `json:"events"`
}

func eventType(r revocation.Revocation) string {
	switch r.Reason {
	case "password_changed":
		return EventCredentialChange
	case "roles_changed":
		return EventTokenClaimsChange
	}
	return EventSessionRevoked
}

// SignRevocations signs one page of the feed with the current key: the
// revocations, the cursor of the reader's next call and whether more
// follow.
func (s *Signer) SignRevocations(page revocation.Page) (string, error) {
	now := s.now().Truncate(time.Second)
	events := make([]FeedEvent, 0, len(page.Revocations))
	for _, r := range page.Revocations {
		events = append(events, FeedEvent{
			Type:           eventType(r),
			Subject:        FeedSubject{Format: "opaque", ID: r.Subject},
			SubjectKind:    string(r.Kind),
			EventTimestamp: r.RevokedAt.Unix(),
			NotBefore:      r.NotBefore.Unix(),
			ExpiresAt:      r.ExpiresAt.Unix(),
			Reason:         r.Reason,
			ID:             r.ID,
			XID:            strconv.FormatUint(r.XID, 10),
		})
	}
	return s.sign(&feedClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    s.issuer,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(feedLifetime)),
		},
		Source: page.Source,
		Cursor: strconv.FormatUint(page.Cursor, 10),
		More:   page.More,
		Events: events,
	}, TypeRevocationFeed)
}

// ParseRevocations verifies a page of the feed (RS256 by a key of keys,
// typ, iss, exp, iat) and returns it.
func ParseRevocations(raw string, keys KeyLookup, issuer string, leeway time.Duration, now func() time.Time) (revocation.Page, error) {
	p := jwt.NewParser(jwt.WithValidMethods([]string{jwt.SigningMethodRS256.Alg()}), jwt.WithIssuer(issuer),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithLeeway(leeway), jwt.WithTimeFunc(now))
	var c feedClaims
	_, err := p.ParseWithClaims(raw, &c, func(t *jwt.Token) (any, error) {
		if typ, _ := t.Header["typ"].(string); typ != TypeRevocationFeed {
			return nil, fmt.Errorf("typ %q is not %s", typ, TypeRevocationFeed)
		}
		for _, h := range forbiddenHeaders {
			if _, ok := t.Header[h]; ok {
				return nil, fmt.Errorf("header %q is not accepted", h)
			}
		}
		kid, _ := t.Header["kid"].(string)
		pub, ok := keys.Lookup(kid)
		if !ok {
			return nil, fmt.Errorf("unknown kid %q", kid)
		}
		return pub, nil
	})
	if err != nil {
		return revocation.Page{}, fmt.Errorf("revocation feed: %w", err)
	}
	cursor, err := strconv.ParseUint(c.Cursor, 10, 64)
	if err != nil {
		return revocation.Page{}, fmt.Errorf("revocation feed: cursor %q is not a number", c.Cursor)
	}
	revs := make([]revocation.Revocation, 0, len(c.Events))
	for _, e := range c.Events {
		kind := revocation.Kind(e.SubjectKind)
		xid, err := strconv.ParseUint(e.XID, 10, 64)
		if err != nil || (kind != revocation.KindSession && kind != revocation.KindUser) || e.Subject.ID == "" {
			return revocation.Page{}, fmt.Errorf("revocation feed: event %d is malformed", e.ID)
		}
		revs = append(revs, revocation.Revocation{ID: e.ID, XID: xid, Kind: kind, Subject: e.Subject.ID, Reason: e.Reason,
			NotBefore: time.Unix(e.NotBefore, 0), RevokedAt: time.Unix(e.EventTimestamp, 0), ExpiresAt: time.Unix(e.ExpiresAt, 0)})
	}
	return revocation.Page{Source: c.Source, Revocations: revs, Cursor: cursor, More: c.More}, nil
}

// FeedPoller keeps a verifier-only process's revocation.Set complete from
// the issuer's feed: it asks for what it lacks by cursor, with the feed
// token, verifies each page against the issuer's JWKS and applies it. With
// LongPoll set, the issuer holds each request until something changes (up
// to LongPoll, shortened to fit the set's MaxLag: see wait), so a
// revocation arrives as soon as the issuer has it; after a failure, or
// without a wait, it asks again every Interval. It never runs inside a
// request.
type FeedPoller struct {
	URL      string // the issuer's /revocations; user info is neither sent nor logged (see publicURL)
	Token    string // the feed token, sent as a bearer credential
	Issuer   string
	Keys     KeyLookup // the issuer's keys (the JWKS this process verifies tokens with)
	Set      *revocation.Set
	Interval time.Duration // between polls without a wait, and after a failure
	LongPoll time.Duration // the longest the issuer may hold a poll; 0: none
	Timeout  time.Duration // bound on one poll beyond its wait
	Leeway   time.Duration
	// Client makes the requests (nil: Go's default transport). Whatever
	// its CheckRedirect, the poller follows no redirect: a redirect is a
	// failed poll, and the feed token goes to URL alone.
	Client *http.Client
	Log    *slog.Logger
	Now    func() time.Time

	etag   string // names the page last applied
	more   bool   // the page last applied was cut: more pages follow, and the set is not yet confirmed
	source string // the incarnation of the issuer's database the set's cursor counts in
}

// Poll asks the feed once and applies what it answers. A page cut at the
// issuer's page size (More) is applied without confirming the set: only the
// last page of a catch-up does.
func (f *FeedPoller) Poll(ctx context.Context) error {
	wait := f.wait()
	ctx, cancel := context.WithTimeout(ctx, f.Timeout+wait)
	defer cancel()
	u, err := publicURL(f.URL)
	if err != nil {
		return fmt.Errorf("revocation feed URL: %w", err)
	}
	q := u.Query()
	q.Set("cursor", strconv.FormatUint(f.Set.Watermark(), 10))
	if wait > 0 {
		q.Set("wait", strconv.Itoa(int(wait/time.Second)))
	}
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+f.Token)
	req.Header.Set("Accept", "application/jwt")
	if f.etag != "" {
		req.Header.Set("If-None-Match", f.etag)
	}
	resp, err := f.client().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	confirmed := issuerConfirmed(f.Now(), resp.Header.Get("Revocations-Lag"))
	switch resp.StatusCode {
	case http.StatusNotModified:
		// The issuer vouches that nothing changed (a stale issuer answers
		// 503, and a page with more to follow is never answered 304).
		if !f.more {
			f.Set.Confirm(confirmed)
		}
		return nil
	case http.StatusOK:
	default:
		if resp.StatusCode >= 300 && resp.StatusCode < 400 {
			return fmt.Errorf("revocation feed answered %s: a redirect, not followed (the feed token goes to the configured URL alone)", resp.Status)
		}
		return fmt.Errorf("revocation feed answered %s", resp.Status)
	}
	page, err := ParseRevocations(string(body), f.Keys, f.Issuer, f.Leeway, f.Now)
	if err != nil {
		return err
	}
	switch {
	case page.Source == "" || f.source == "" || page.Source == f.source:
		// One run of the issuer's database (or an issuer too old to say).
		if page.Source != "" {
			f.source = page.Source
		}
	case page.Source < f.source:
		// A replica still on an older run (it has not reconnected yet):
		// its cursor counts in other ids. Not applied, not confirmed.
		return fmt.Errorf("revocation feed: a replica on an older run of the issuer's database (%s, this verifier follows %s)", page.Source, f.source)
	default:
		// A newer run (a failover, a restart after a crash): it may have
		// given a revocation an id below this set's cursor. Keep what
		// came, and read everything again before confirming.
		f.Set.Advance(f.Now(), page.Revocations, 0)
		f.source, f.etag, f.more = page.Source, "", true
		if f.Log != nil {
			f.Log.Warn("the issuer's database changed; reading every revocation again", "source", page.Source)
		}
		return nil
	}
	f.Set.Advance(f.Now(), page.Revocations, page.Cursor)
	if !page.More {
		f.Set.Confirm(confirmed)
	}
	f.etag, f.more = resp.Header.Get("ETag"), page.More
	return nil
}

// issuerConfirmed is when the issuer last confirmed what it answered: now,
// less the lag it reports in Revocations-Lag (milliseconds). An issuer
// that sends none (an older release) counts as confirmed now.
func issuerConfirmed(now time.Time, lag string) time.Time {
	ms, err := strconv.ParseInt(lag, 10, 64)
	if err != nil || ms <= 0 {
		return now
	}
	return now.Add(-time.Duration(min(ms, int64(maxIssuerLag/time.Millisecond))) * time.Millisecond)
}

// maxIssuerLag bounds the lag read from an issuer (a year: never confirmed).
const maxIssuerLag = 365 * 24 * time.Hour

// wait is how long to let the issuer hold a poll. Every answer, 304
// included, confirms the set, so the wait must leave room within the
// set's MaxLag: LongPoll, shortened so that a poll that hangs until its
// timeout, the pause of Interval after it and a retry held the whole wait
// still confirm the set in time (2 × wait + Timeout + Interval ≤ MaxLag).
// Whole seconds, the feed's unit; 0 (no long poll: a poll every Interval,
// answered at once) when not one second fits.
func (f *FeedPoller) wait() time.Duration {
	w := f.LongPoll
	if lag := f.Set.MaxLag(); lag > 0 {
		w = min(w, (lag-f.Timeout-f.Interval)/2)
	}
	return max(0, w.Truncate(time.Second))
}

// client is Client, or the default one, with no redirect followed.
func (f *FeedPoller) client() *http.Client {
	var c http.Client
	if f.Client != nil {
		c = *f.Client
	}
	c.CheckRedirect = refuseRedirects
	return &c
}

// CatchUp polls until the set is complete (one page, or every page of a
// catch-up cut at the issuer's page size), or a page repeats (the issuer
// cannot yet answer further; Run goes on from there).
func (f *FeedPoller) CatchUp(ctx context.Context) error {
	for {
		last := f.etag
		if err := f.Poll(ctx); err != nil || !f.more || f.etag == last {
			return err
		}
	}
}

// minPollGap keeps a long-polling loop from spinning when the issuer
// answers at once again and again.
const minPollGap = 10 * time.Millisecond

// Run polls until ctx ends. Failures are logged once per change of error;
// the set's lag grows meanwhile, and the process's staleness policy decides.
func (f *FeedPoller) Run(ctx context.Context) {
	where := "(not a URL)"
	if u, err := publicURL(f.URL); err == nil {
		where = u.String()
	}
	f.Log.Info("following the revocation feed", "url", where, "long_poll", f.wait().String(), "retry_every", f.Interval.String())
	var lastErr, lastPage string
	for {
		before := f.Set.Watermark()
		err := f.Poll(ctx)
		switch {
		case err != nil && err.Error() != lastErr:
			f.Log.Warn("revocation feed poll failed", "url", where, "err", err)
			lastErr = err.Error()
		case err == nil && lastErr != "":
			f.Log.Info("revocation feed reachable again", "url", where)
			lastErr = ""
		}
		pause := minPollGap
		switch {
		case err != nil:
			pause = f.Interval
		case f.more && f.etag != lastPage && f.Set.Watermark() > before:
			// The rest of a catch-up: the issuer answers the next page at
			// once (it differs from the one named by If-None-Match).
		case f.wait() == 0 || f.more:
			// A page with more to follow came again, or sent the cursor
			// back (a replica behind the one that gave the last page).
			pause = f.Interval
		}
		lastPage = f.etag
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
	}
}
