package httpapi

import (
	"cmp"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/sync/singleflight"

	"github.com/revenue-api/revenue-api/internal/apperr"
	"github.com/revenue-api/revenue-api/internal/auth"
	"github.com/revenue-api/revenue-api/internal/revocation"
	"github.com/revenue-api/revenue-api/internal/token"
)

// RevocationFeed publishes this replica's revocations to verifier-only
// services: GET /revocations?cursor=N, with the feed token as a bearer
// credential, answers one signed page (application/jwt) of what a reader
// at cursor lacks.
type RevocationFeed struct {
	Token string // the shared feed token
	Sign  func(revocation.Page) (string, error)
	// PageSize bounds the revocations of one page (0: DefaultFeedPageSize),
	// so that a verifier starting while many revocations are live reads
	// them in pages it can hold, not one page of any size.
	PageSize int
	// KeyID names the key Sign signs with now; a page signed with another
	// is not reused.
	KeyID func() string

	signing singleflight.Group // one signature of a page for every reader waiting for it
	mu      sync.Mutex
	last    signedPage // the page signed last, answered again for a while
}

// signedPage is a page as signed, with its tag and when.
type signedPage struct {
	tag string
	jws string
	at  time.Time
}

// feedPageReuse is how long a signed page is answered again to readers
// asking for the same page: every verifier long-polling a replica wakes at
// the same revocation and asks for the same page, which then costs one
// signature, not one per verifier. A page is valid for a minute from its
// iat, so a reused one still has at least 50 seconds.
const feedPageReuse = 10 * time.Second

// signed returns page, named tag, signed: the last signature of the same
// page if it is recent, else a new one, made once for all the readers
// asking for it at the same time.
func (f *RevocationFeed) signed(page revocation.Page, tag string, now time.Time) (string, error) {
	if f.KeyID != nil {
		tag += " " + f.KeyID() // a new signing key signs anew: the old one may be withdrawn
	}
	f.mu.Lock()
	last := f.last
	f.mu.Unlock()
	if last.tag == tag && !now.Before(last.at) && now.Sub(last.at) < feedPageReuse {
		return last.jws, nil
	}
	v, err, _ := f.signing.Do(tag, func() (any, error) {
		jws, err := f.Sign(page)
		if err != nil {
			return "", err
		}
		f.mu.Lock()
		f.last = signedPage{tag: tag, jws: jws, at: now}
		f.mu.Unlock()
		return jws, nil
	})
	return v.(string), err
}

// DefaultFeedPageSize is the most revocations a page of the feed carries
// (a page ends with its last transaction's, so it can carry a few more):
// about 4 MB of signed page.
const DefaultFeedPageSize = 10_000

func (f *RevocationFeed) pageSize() int {
	if f.PageSize > 0 {
		return f.PageSize
	}
	return DefaultFeedPageSize
}

// checkRevoked refuses a verified token that was revoked since it was
// issued, and every token when the revocation state is too old to tell. It
// runs after the verifier, so a token answered from the verified-token
// cache is checked too. It reads memory only.
func (s *Server) checkRevoked(c *gin.Context, p auth.Principal) bool {
	if s.Revocations == nil {
		return true
	}
	err := s.Revocations.Check(p.SessionID, p.UserID, p.IssuedAt, s.Now())
	switch {
	case err == nil:
		return true
	case errors.Is(err, revocation.ErrRevoked):
		s.unauthorized(c, token.ReasonRevoked, "")
	default: // revocation.ErrStale
		writeProblem(c, err)
	}
	return false
}

// maxFeedWait bounds a long poll well below the server's write timeout.
const maxFeedWait = 10 * time.Second

// lagHeader tells a verifier how long ago this replica last confirmed its
// revocations, in milliseconds, on every answer of the feed: the verifier
// is only as fresh as that (token.FeedPoller), whatever this replica's own
// REVENUE_REVOCATION_MAX_LAG (0: it never refuses for staleness, and
// answers on; the verifier's bound still holds). Unsigned, like a 304.
const lagHeader = "Revocations-Lag"

// maxReportedLag caps the reported lag of a set never confirmed.
const maxReportedLag = 365 * 24 * time.Hour

// revocationFeed answers a verifier's poll: the signed page of what a
// reader at cursor lacks, with an ETag naming it. A reader that sends that
// ETag back (If-None-Match) with wait=N is held until the page changes (a
// revocation arrives, or the cursor moves) for at most N seconds, then gets
// 304: a long poll, so a verifier hears of a revocation as soon as this
// replica does, without asking every second. A replica whose own state is
// stale answers 503 instead of vouching for an incomplete page.
func (s *Server) revocationFeed(c *gin.Context) {
	if !s.feedAuthorized(c.Request.Header.Values("Authorization")) {
		c.Header("WWW-Authenticate", bearerChallenge("invalid_token", "the revocation feed needs its feed token", ""))
		writeProblem(c, apperr.New(apperr.CodeInvalidToken, "Send the revocation feed token in the Authorization header: Bearer TOKEN."))
		return
	}
	var cursor uint64
	if v, ok := c.GetQuery("cursor"); ok {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			writeProblem(c, apperr.New(apperr.CodeInvalidParameter, "cursor must be the cursor of a previous page (a decimal number)."))
			return
		}
		cursor = n
	}
	var wait time.Duration
	if v, ok := c.GetQuery("wait"); ok {
		// Compared in seconds: made a Duration first, a huge n overflows
		// into the range.
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > int(maxFeedWait/time.Second) {
			writeProblem(c, apperr.New(apperr.CodeInvalidParameter,
				fmt.Sprintf("wait must be a whole number of seconds from 0 to %d.", int(maxFeedWait/time.Second))))
			return
		}
		wait = time.Duration(n) * time.Second
	}
	c.Header("Cache-Control", "no-store")
	timeout := time.NewTimer(wait)
	defer timeout.Stop()
	waited := wait == 0
	for {
		changed := s.Revocations.Changed() // before reading: a change in between wakes the wait
		now := s.Now()
		if s.Revocations.Stale(now) {
			writeProblem(c, &apperr.Error{Code: apperr.CodeRevocationsUnavailable,
				Message: "This replica's revocation state is stale. Retry shortly.", RetryAfter: time.Second})
			return
		}
		page := s.Revocations.Since(cursor, now, s.Feed.pageSize())
		tag := pageTag(page)
		c.Header("ETag", tag)
		c.Header(lagHeader, strconv.FormatInt(min(s.Revocations.Lag(now), maxReportedLag).Milliseconds(), 10))
		if c.GetHeader("If-None-Match") != tag {
			s.writeFeedPage(c, page, tag, now)
			return
		}
		if !waited {
			select {
			case <-changed:
			case <-c.Request.Context().Done():
				return
			case <-timeout.C:
				waited = true // once more round: the state may have gone stale meanwhile
			}
			continue
		}
		// A 304 tells the reader it has everything: never for a page
		// with more to follow (a reader asking for the one it has, from
		// a replica behind the one that gave it).
		if page.More {
			s.writeFeedPage(c, page, tag, now)
		} else {
			c.Status(http.StatusNotModified)
		}
		return
	}
}

func (s *Server) writeFeedPage(c *gin.Context, page revocation.Page, tag string, now time.Time) {
	signed, err := s.Feed.signed(page, tag, now)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Data(http.StatusOK, "application/jwt", []byte(signed))
}

// pageTag names a page by its cursor, whether more follow and the
// revocations in it (transaction and row ids: a row id alone can come
// back after a database restore), the same on every replica that would
// answer the same page.
func pageTag(page revocation.Page) string {
	type pos struct {
		xid uint64
		id  int64
	}
	ps := make([]pos, len(page.Revocations))
	for i, r := range page.Revocations {
		ps[i] = pos{r.XID, r.ID}
	}
	slices.SortFunc(ps, func(a, b pos) int {
		if c := cmp.Compare(a.xid, b.xid); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
	h := sha256.New()
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], page.Cursor)
	h.Write(b[:])
	if page.More {
		h.Write([]byte{1})
	}
	for _, p := range ps {
		binary.BigEndian.PutUint64(b[:], p.xid)
		h.Write(b[:])
		binary.BigEndian.PutUint64(b[:], uint64(p.id))
		h.Write(b[:])
	}
	h.Write([]byte(page.Source)) // last: its length needs no delimiter
	return `"` + hex.EncodeToString(h.Sum(nil)[:16]) + `"`
}

// feedAuthorized compares the bearer credential with the feed token in
// constant time (over their hashes, so the length does not leak either).
func (s *Server) feedAuthorized(values []string) bool {
	if len(values) != 1 {
		return false
	}
	scheme, raw, ok := strings.Cut(values[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(raw)))
	want := sha256.Sum256([]byte(s.Feed.Token))
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}
