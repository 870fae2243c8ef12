// Package revocation holds the revoked access tokens a process knows of, in
// memory, and answers "is this verified token revoked?" without a lock, a
// database or a network call. Revocations come from PostgreSQL (every
// replica: LISTEN/NOTIFY plus a catch-up by cursor) or from the issuer's
// signed feed (verifier-only processes); this package only keeps them.
//
// A revocation names either a session (every token carrying that sid) or a
// user (every token of that sub issued before a moment: a per-user "not
// before"). It is kept only until no token it could refuse can still be
// valid, so the set stays as small as the access-token lifetime allows.
package revocation

import (
	"cmp"
	"context"
	"log/slog"
	"maps"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/revenue-api/revenue-api/internal/apperr"
)

// Kind is what a revocation names.
type Kind string

// The kinds of revocation.
const (
	KindSession Kind = "session" // Subject is a session id
	KindUser    Kind = "user"    // Subject is a user id; tokens issued before NotBefore
)

// Revocation is one revoked session or one user's "not before".
type Revocation struct {
	ID        int64  // the row id in PostgreSQL: identity, for de-duplication
	XID       uint64 // the writing transaction's id: the catch-up cursor orders by it
	Kind      Kind
	Subject   string
	Reason    string    // logout, logout_all, ended_by_user, refresh_token_reuse, user_disabled, password_changed, roles_changed, …
	NotBefore time.Time // KindUser: tokens issued (iat) before this are refused
	RevokedAt time.Time
	ExpiresAt time.Time // after this no token it could refuse is valid any more
}

// ErrRevoked is the answer to a token whose session ended or whose user's
// tokens were revoked after it was issued: an invalid token whose Reason is
// token.ReasonRevoked (package token imports this one).
var ErrRevoked = &apperr.Error{Code: apperr.CodeInvalidToken, Message: "the access token was revoked", Reason: "revoked"}

// ErrStale is the answer when the process has not heard from its source of
// revocations for longer than it may (see Set.Check).
var ErrStale = apperr.New(apperr.CodeRevocationsUnavailable, "The service cannot currently tell whether tokens were revoked. Retry shortly.")

// id is a session or user id (a UUID) in 16 bytes: the maps below hold no
// pointers, so the garbage collector never scans them, however many
// revocations are live.
type id [16]byte

// parseID reads a UUID in its canonical 36-character form. Ids that are not
// UUIDs cannot be revoked (every id the service issues is one).
func parseID(s string) (id, bool) {
	var u id
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, false
	}
	j := 0
	for i := 0; i < 36; i += 2 {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			i--
			continue
		}
		hi, ok1 := fromHex(s[i])
		lo, ok2 := fromHex(s[i+1])
		if !ok1 || !ok2 {
			return u, false
		}
		u[j] = hi<<4 | lo
		j++
	}
	return u, true
}

func fromHex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func (u id) String() string {
	const digits = "0123456789abcdef"
	b := make([]byte, 0, 36)
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b = append(b, '-')
		}
		b = append(b, digits[c>>4], digits[c&0xf])
	}
	return string(b)
}

// userEntry is a user's latest "not before" and how long it matters, in
// Unix nanoseconds.
type userEntry struct {
	notBefore int64
	expiresAt int64
}

// snapshot is a published, never-changed pair of lookup maps.
type snapshot struct {
	sessions map[id]int64 // session id -> expiry of the entry
	users    map[id]userEntry
}

func newSnapshot(sessions, users int) *snapshot {
	return &snapshot{sessions: make(map[id]int64, sessions), users: make(map[id]userEntry, users)}
}

// record is a Revocation as the set keeps it, without pointers.
type record struct {
	xid       uint64
	kind      Kind
	subject   id
	reason    uint8 // index into Set.reasons
	notBefore int64
	revokedAt int64
	expiresAt int64
}

// position is a revocation's place in the feed: by transaction id, then
// row id.
type position struct {
	xid uint64
	id  int64
}

func comparePositions(a, b position) int {
	if c := cmp.Compare(a.xid, b.xid); c != 0 {
		return c
	}
	return cmp.Compare(a.id, b.id)
}

// foldAt is the size at which recent additions are folded into the base
// maps: each addition copies the small map, each fold the large one.
const foldAt = 1024

// maxReasons bounds the distinct reasons kept; more (only a feed could
// send them) are kept as "other".
const maxReasons = 64

// Set is the revocations a process knows of. Reads (Check) take no lock:
// they load two immutable snapshots through atomic pointers, a large base
// and a small map of recent additions, and a set with no live revocation
// is one atomic load. Writers (a catch-up, a local commit, pruning)
// serialize on a mutex of their own, which readers never touch, and publish
// new snapshots: an addition copies the recent map, and every foldAt
// additions (or a prune) the base is rebuilt.
type Set struct {
	live   atomic.Int64 // distinct sessions and users with a revocation
	base   atomic.Pointer[snapshot]
	recent atomic.Pointer[snapshot]

	// confirmed is when the source last confirmed the set complete (unix
	// nanoseconds); 0: never. maxLag > 0 refuses every token once the set
	// is older than that.
	confirmed atomic.Int64
	maxLag    time.Duration

	mu sync.Mutex
	// byPos is what the feed republishes, by transaction id and row id:
	// a row id alone is not an identity across a database restored from a
	// dump, whose id sequence hands out again ids that live revocations
	// hold.
	byPos     map[position]record
	order     []position // byPos's keys in feed order, for Since
	reasons   []string
	reasonIdx map[string]uint8
	watermark uint64        // every revocation with XID below it is known
	source    string        // the incarnation of the source (Page.Source)
	changed   chan struct{} // closed and replaced on every change
}

// NewSet returns an empty set. With maxLag > 0, Check refuses every token
// (ErrStale) while the set has not been confirmed for longer than maxLag,
// and before its first confirmation.
func NewSet(maxLag time.Duration) *Set {
	s := &Set{maxLag: maxLag, byPos: make(map[position]record), reasonIdx: make(map[string]uint8), changed: make(chan struct{})}
	s.base.Store(newSnapshot(0, 0))
	s.recent.Store(newSnapshot(0, 0))
	return s
}

// Check returns ErrRevoked when the token of (sessionID, userID, issuedAt)
// is revoked, ErrStale when the set is too old to tell, and nil otherwise.
// now is the request's time.
func (s *Set) Check(sessionID, userID string, issuedAt, now time.Time) error {
	if s.maxLag > 0 && now.UnixNano()-s.confirmed.Load() > int64(s.maxLag) {
		return ErrStale
	}
	if s.live.Load() == 0 {
		return nil
	}
	sid, sok := parseID(sessionID)
	uid, uok := parseID(userID)
	iat := issuedAt.UnixNano()
	for _, snap := range [2]*snapshot{s.recent.Load(), s.base.Load()} {
		if len(snap.sessions) > 0 && sok {
			if _, ok := snap.sessions[sid]; ok {
				return ErrRevoked
			}
		}
		if len(snap.users) > 0 && uok {
			if e, ok := snap.users[uid]; ok && iat < e.notBefore {
				return ErrRevoked
			}
		}
	}
	return nil
}

// Add records revocations (already-known ones are ignored) and returns how
// many were new. Expired ones, and ones whose subject is not a UUID, are
// not kept.
func (s *Set) Add(now time.Time, revs ...Revocation) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addLocked(now, revs)
}

func (s *Set) addLocked(now time.Time, revs []Revocation) int {
	var fresh []record
	var added []position
	for _, r := range revs {
		subject, ok := parseID(r.Subject)
		if _, known := s.byPos[position{r.XID, r.ID}]; known || !ok || !now.Before(r.ExpiresAt) || (r.Kind != KindSession && r.Kind != KindUser) {
			continue
		}
		rec := record{xid: r.XID, kind: r.Kind, subject: subject, reason: s.reasonLocked(r.Reason),
			notBefore: r.NotBefore.UnixNano(), revokedAt: r.RevokedAt.UnixNano(), expiresAt: r.ExpiresAt.UnixNano()}
		s.byPos[position{r.XID, r.ID}] = rec
		fresh = append(fresh, rec)
		added = append(added, position{r.XID, r.ID})
	}
	if len(fresh) == 0 {
		return 0
	}
	s.placeLocked(added)
	base, old := s.base.Load(), s.recent.Load()
	recent := newSnapshot(len(old.sessions)+len(fresh), len(old.users)+len(fresh))
	maps.Copy(recent.sessions, old.sessions)
	maps.Copy(recent.users, old.users)
	for _, rec := range fresh {
		if merge(recent, base, rec) {
			s.live.Add(1)
		}
	}
	if len(recent.sessions)+len(recent.users) >= foldAt {
		// The base with the recent additions is published first, then an
		// empty recent map: a reader in between sees them twice, never
		// not at all.
		folded := newSnapshot(len(base.sessions)+len(recent.sessions), len(base.users)+len(recent.users))
		maps.Copy(folded.sessions, base.sessions)
		maps.Copy(folded.users, base.users)
		for k, v := range recent.sessions {
			folded.sessions[k] = max(v, folded.sessions[k])
		}
		for k, v := range recent.users {
			folded.users[k] = mergeUser(folded.users[k], v)
		}
		s.base.Store(folded)
		recent = newSnapshot(0, 0)
	}
	s.recent.Store(recent)
	s.notifyLocked()
	return len(fresh)
}

// sortAbove is the size of a batch of additions (a catch-up) that is
// appended and sorted with the rest at once, rather than placed one by one.
const sortAbove = 16

// placeLocked puts added into s.order. Additions come mostly in transaction
// order and are appended; one that does not (a transaction that committed
// after a later one) is inserted in its place, a search and a move of the
// few positions after it, where sorting the whole order again cost ~0.2 ms
// at 100,000 live revocations.
func (s *Set) placeLocked(added []position) {
	if len(added) > sortAbove {
		s.order = append(s.order, added...)
		if tail := s.order[max(0, len(s.order)-len(added)-1):]; !slices.IsSortedFunc(tail, comparePositions) {
			slices.SortFunc(s.order, comparePositions)
		}
		return
	}
	for _, p := range added {
		if n := len(s.order); n == 0 || comparePositions(p, s.order[n-1]) > 0 {
			s.order = append(s.order, p)
			continue
		}
		i, _ := slices.BinarySearchFunc(s.order, p, comparePositions)
		s.order = slices.Insert(s.order, i, p)
	}
}

// merge adds rec to recent (whose entry may also be in base) and reports
// whether its subject had no entry in either.
func merge(recent, base *snapshot, rec record) bool {
	switch rec.kind {
	case KindSession:
		_, inBase := base.sessions[rec.subject]
		old, inRecent := recent.sessions[rec.subject]
		recent.sessions[rec.subject] = max(old, rec.expiresAt, base.sessions[rec.subject])
		return !inBase && !inRecent
	default:
		e := userEntry{notBefore: rec.notBefore, expiresAt: rec.expiresAt}
		b, inBase := base.users[rec.subject]
		old, inRecent := recent.users[rec.subject]
		recent.users[rec.subject] = mergeUser(mergeUser(old, b), e)
		return !inBase && !inRecent
	}
}

// mergeUser keeps the later "not before" and the later expiry.
func mergeUser(a, b userEntry) userEntry {
	return userEntry{notBefore: max(a.notBefore, b.notBefore), expiresAt: max(a.expiresAt, b.expiresAt)}
}

func (s *Set) reasonLocked(reason string) uint8 {
	if i, ok := s.reasonIdx[reason]; ok {
		return i
	}
	if len(s.reasons) >= maxReasons {
		reason = "other"
		if i, ok := s.reasonIdx[reason]; ok {
			return i
		}
	}
	i := uint8(len(s.reasons))
	s.reasons = append(s.reasons, reason)
	s.reasonIdx[reason] = i
	return i
}

// CatchUp records what a read of the source returned: the revocations and
// the new watermark (every revocation with an XID below it is now known),
// and confirms the set as complete at now.
func (s *Set) CatchUp(now time.Time, revs []Revocation, watermark uint64) int {
	added := s.Advance(now, revs, watermark)
	s.Confirm(now)
	return added
}

// Advance is CatchUp for a partial read (a feed page with more to follow):
// it records the revocations and the watermark but does not confirm the
// set complete.
func (s *Set) Advance(now time.Time, revs []Revocation, watermark uint64) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	added := s.addLocked(now, revs)
	if watermark != s.watermark {
		s.watermark = watermark
		s.notifyLocked()
	}
	return added
}

// SetSource records which incarnation of the source the set's cursors now
// count in (see Page.Source); a change wakes the feed's waiting readers.
func (s *Set) SetSource(source string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if source != s.source {
		s.source = source
		s.notifyLocked()
	}
}

// Confirm records that the source answered at now and nothing is missing.
func (s *Set) Confirm(now time.Time) {
	if n := now.UnixNano(); n > s.confirmed.Load() {
		s.confirmed.Store(n)
	}
}

// Watermark is the cursor of the next catch-up: every revocation whose
// transaction id is below it is known.
func (s *Set) Watermark() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.watermark
}

// Lag is how long ago the set was last confirmed complete; a very long time
// if never.
func (s *Set) Lag(now time.Time) time.Duration {
	c := s.confirmed.Load()
	if c == 0 {
		return time.Duration(1<<63 - 1)
	}
	return now.Sub(time.Unix(0, c))
}

// MaxLag is the staleness past which Check refuses tokens; 0: never.
func (s *Set) MaxLag() time.Duration { return s.maxLag }

// Stale reports whether the set is older than MaxLag.
func (s *Set) Stale(now time.Time) bool { return s.maxLag > 0 && s.Lag(now) > s.maxLag }

// Len is how many sessions and users have a live revocation.
func (s *Set) Len() int { return int(s.live.Load()) }

// Page is what Since answers a reader.
type Page struct {
	// Source names the incarnation of the source the cursors count in (a
	// database server's run: its transaction ids may repeat another's). A
	// reader whose cursor came from another source must start again from 0.
	Source      string
	Revocations []Revocation
	// Cursor is the reader's next cursor: it then has every revocation
	// with an XID below it.
	Cursor uint64
	// More is set when the page was cut at limit: the reader must ask
	// again from Cursor before it has everything this set has.
	More bool
}

// Since returns the live revocations whose XID is at least cursor, in XID
// order, at most about limit of them (limit <= 0: all): what a reader that
// has everything below cursor lacks, and the cursor of its next call.
//
// A whole page carries the set's watermark as its cursor. The watermark
// can be below cursor when this set lags the one the reader last asked:
// the reader then asks again from the lower cursor, and misses nothing.
// A page is cut at limit only where the XID changes (one transaction's
// revocations are never split: a page can exceed limit by the rest of one
// transaction's) and only at or below the watermark: its cursor is the
// next page's first XID, and the reader then has every revocation below
// it, while a transaction above the watermark may still be running and
// commit below any later XID. So every page with more to follow moves the
// reader's cursor forward, and the revocations at or above the watermark
// all go in the last page.
func (s *Set) Since(cursor uint64, now time.Time, limit int) Page {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := now.UnixNano()
	start, _ := slices.BinarySearchFunc(s.order, position{xid: cursor}, comparePositions)
	var out []Revocation
	var lastXID uint64
	for _, p := range s.order[start:] {
		r := s.byPos[p]
		if n >= r.expiresAt {
			continue
		}
		if limit > 0 && len(out) >= limit && r.xid != lastXID && r.xid <= s.watermark {
			return Page{Source: s.source, Revocations: out, Cursor: r.xid, More: true}
		}
		lastXID = r.xid
		out = append(out, Revocation{ID: p.id, XID: r.xid, Kind: r.kind, Subject: r.subject.String(),
			Reason: s.reasons[r.reason], NotBefore: time.Unix(0, r.notBefore), RevokedAt: time.Unix(0, r.revokedAt),
			ExpiresAt: time.Unix(0, r.expiresAt)})
	}
	return Page{Source: s.source, Revocations: out, Cursor: s.watermark}
}

// Changed returns a channel closed at the next change of the set.
func (s *Set) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

func (s *Set) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// Prune drops the revocations that expired by now: no token they could
// refuse is valid any more. It rebuilds the lookup maps.
func (s *Set) Prune(now time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := now.UnixNano()
	dropped := 0
	for p, r := range s.byPos {
		if n >= r.expiresAt {
			delete(s.byPos, p)
			dropped++
		}
	}
	if dropped == 0 {
		return 0
	}
	s.order = slices.DeleteFunc(s.order, func(p position) bool {
		_, kept := s.byPos[p]
		return !kept
	})
	base, recent := s.base.Load(), s.recent.Load()
	next := newSnapshot(len(base.sessions)+len(recent.sessions), len(base.users)+len(recent.users))
	for _, snap := range []*snapshot{base, recent} {
		for k, v := range snap.sessions {
			if n < v {
				next.sessions[k] = max(v, next.sessions[k])
			}
		}
		for k, v := range snap.users {
			if n < v.expiresAt {
				next.users[k] = mergeUser(next.users[k], v)
			}
		}
	}
	s.base.Store(next)
	s.recent.Store(newSnapshot(0, 0))
	s.live.Store(int64(len(next.sessions) + len(next.users)))
	s.notifyLocked()
	return dropped
}

// Store is where revocations are kept beyond this process's memory (an
// issuer's PostgreSQL table), to be pruned like the set.
type Store interface {
	// PruneRevocations deletes the revocations that expired before cutoff
	// and returns how many.
	PruneRevocations(ctx context.Context, cutoff time.Time) (int64, error)
}

// RunPruning drops revocations that outlived every token they could refuse,
// every d until ctx ends: from s, and from store unless it is nil.
func (s *Set) RunPruning(ctx context.Context, every time.Duration, store Store, log *slog.Logger, now func() time.Time) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.Prune(now())
		if store == nil {
			continue
		}
		if n, err := store.PruneRevocations(ctx, now()); err != nil {
			log.Warn("revocation pruning failed", "err", err)
		} else if n > 0 {
			log.Info("revocations pruned", "deleted", n)
		}
	}
}

// RegisterMetrics registers on reg the set's lag (for alerting before
// REVENUE_REVOCATION_MAX_LAG makes the replica unready) and its size.
func (s *Set) RegisterMetrics(reg prometheus.Registerer, now func() time.Time) {
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "revenue_revocation_lag_seconds",
			Help: "Seconds since the revocation state was last confirmed complete (database catch-up or issuer feed).",
		}, func() float64 {
			lag := s.Lag(now())
			if lag > 100*365*24*time.Hour {
				return math.Inf(1) // never confirmed
			}
			return lag.Seconds()
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "revenue_revocations_live",
			Help: "Sessions and users with a revocation still in force, held in memory.",
		}, func() float64 { return float64(s.Len()) }),
	)
}
