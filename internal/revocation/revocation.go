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
	"errors"
	"sync"
	"sync/atomic"
	"time"
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
// tokens were revoked after it was issued.
var ErrRevoked = errors.New("the access token was revoked")

// ErrStale is the answer when the process has not heard from its source of
// revocations for longer than it may (see Set.Check).
var ErrStale = errors.New("the revocation state is stale")

// userEntry is a user's latest "not before" and how long it matters.
type userEntry struct {
	notBefore time.Time
	expiresAt time.Time
}

// Set is the revocations a process knows of. Reads (Check) take no lock:
// sync.Map's loads are lock-free, and a set with no live revocation is one
// atomic load. Writers (a catch-up, a local commit, pruning) serialize on a
// mutex of their own, which readers never touch.
type Set struct {
	live     atomic.Int64 // entries in sessions + users
	sessions sync.Map     // session id -> time.Time (expiry of the entry)
	users    sync.Map     // user id -> userEntry

	// confirmed is when the source last confirmed the set complete (unix
	// nanoseconds); 0: never. maxLag > 0 refuses every token once the set
	// is older than that.
	confirmed atomic.Int64
	maxLag    time.Duration

	mu        sync.Mutex
	byID      map[int64]Revocation // what the feed republishes
	watermark uint64               // every revocation with XID below it is known
	changed   chan struct{}        // closed and replaced on every change
}

// NewSet returns an empty set. With maxLag > 0, Check refuses every token
// (ErrStale) while the set has not been confirmed for longer than maxLag,
// and before its first confirmation.
func NewSet(maxLag time.Duration) *Set {
	return &Set{maxLag: maxLag, byID: make(map[int64]Revocation), changed: make(chan struct{})}
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
	if sessionID != "" {
		if _, ok := s.sessions.Load(sessionID); ok {
			return ErrRevoked
		}
	}
	if v, ok := s.users.Load(userID); ok && issuedAt.Before(v.(userEntry).notBefore) {
		return ErrRevoked
	}
	return nil
}

// Add records revocations (already-known ones are ignored) and returns how
// many were new. Expired ones are not kept.
func (s *Set) Add(now time.Time, revs ...Revocation) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addLocked(now, revs)
}

func (s *Set) addLocked(now time.Time, revs []Revocation) int {
	added := 0
	for _, r := range revs {
		if _, ok := s.byID[r.ID]; ok || !now.Before(r.ExpiresAt) {
			continue
		}
		s.byID[r.ID] = r
		added++
		switch r.Kind {
		case KindSession:
			if v, ok := s.sessions.Load(r.Subject); !ok {
				s.sessions.Store(r.Subject, r.ExpiresAt)
				s.live.Add(1)
			} else if r.ExpiresAt.After(v.(time.Time)) {
				s.sessions.Store(r.Subject, r.ExpiresAt)
			}
		case KindUser:
			v, ok := s.users.Load(r.Subject)
			if !ok {
				s.users.Store(r.Subject, userEntry{notBefore: r.NotBefore, expiresAt: r.ExpiresAt})
				s.live.Add(1)
				continue
			}
			e := v.(userEntry)
			if r.NotBefore.After(e.notBefore) {
				e.notBefore = r.NotBefore
			}
			if r.ExpiresAt.After(e.expiresAt) {
				e.expiresAt = r.ExpiresAt
			}
			s.users.Store(r.Subject, e)
		}
	}
	if added > 0 {
		s.notifyLocked()
	}
	return added
}

// CatchUp records what a read of the source returned: the revocations and
// the new watermark (every revocation with an XID below it is now known),
// and confirms the set as complete at now.
func (s *Set) CatchUp(now time.Time, revs []Revocation, watermark uint64) int {
	s.mu.Lock()
	added := s.addLocked(now, revs)
	if watermark != s.watermark {
		s.watermark = watermark
		s.notifyLocked()
	}
	s.mu.Unlock()
	s.Confirm(now)
	return added
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

// Since returns the live revocations whose XID is at least cursor, and the
// set's watermark: what a reader that has everything below cursor lacks,
// and the cursor of its next call. The watermark can be below cursor when
// this set lags the one the reader last asked: the reader then asks again
// from the lower cursor, and misses nothing.
func (s *Set) Since(cursor uint64, now time.Time) ([]Revocation, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Revocation
	for _, r := range s.byID {
		if r.XID >= cursor && now.Before(r.ExpiresAt) {
			out = append(out, r)
		}
	}
	return out, s.watermark
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
// refuse is valid any more.
func (s *Set) Prune(now time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	dropped := 0
	for id, r := range s.byID {
		if !now.Before(r.ExpiresAt) {
			delete(s.byID, id)
			dropped++
		}
	}
	s.sessions.Range(func(k, v any) bool {
		if !now.Before(v.(time.Time)) {
			s.sessions.Delete(k)
			s.live.Add(-1)
		}
		return true
	})
	s.users.Range(func(k, v any) bool {
		if !now.Before(v.(userEntry).expiresAt) {
			s.users.Delete(k)
			s.live.Add(-1)
		}
		return true
	})
	if dropped > 0 {
		s.notifyLocked()
	}
	return dropped
}
