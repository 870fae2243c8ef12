package revocation_test

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/revenue-api/revenue-api/internal/revocation"
)

var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

// ids turns short names into the UUIDs the service uses for sessions and
// users.
var ids = map[string]string{}

func uuid(name string) string {
	if v, ok := ids[name]; ok {
		return v
	}
	v := fmt.Sprintf("00000000-0000-4000-8000-%012x", len(ids)+1)
	ids[name] = v
	return v
}

func sessionRev(id int64, xid uint64, sid string) revocation.Revocation {
	return revocation.Revocation{ID: id, XID: xid, Kind: revocation.KindSession, Subject: sid, Reason: "logout",
		NotBefore: t0, RevokedAt: t0, ExpiresAt: t0.Add(16 * time.Minute)}
}

func userRev(id int64, xid uint64, uid string, notBefore time.Time) revocation.Revocation {
	return revocation.Revocation{ID: id, XID: xid, Kind: revocation.KindUser, Subject: uid, Reason: "logout_all",
		NotBefore: notBefore, RevokedAt: notBefore, ExpiresAt: notBefore.Add(16 * time.Minute)}
}

func TestCheck(t *testing.T) {
	s := revocation.NewSet(0)
	if err := s.Check(uuid("s1"), uuid("u1"), t0, t0); err != nil {
		t.Fatalf("empty set: got %v, want nil", err)
	}
	s.Add(t0, sessionRev(1, 10, uuid("s1")), userRev(2, 11, uuid("u2"), t0))
	tests := []struct {
		name     string
		sid, uid string
		iat      time.Time
		want     error
	}{
		{"a token of an ended session is revoked", uuid("s1"), uuid("u1"), t0.Add(time.Minute), revocation.ErrRevoked},
		{"a token of another session of the same user is not", uuid("s9"), uuid("u1"), t0, nil},
		{"a user's token issued before not-before is revoked", uuid("s2"), uuid("u2"), t0.Add(-time.Second), revocation.ErrRevoked},
		{"a user's token issued at not-before is accepted", uuid("s2"), uuid("u2"), t0, nil},
		{"a user's token issued after not-before is accepted", uuid("s3"), uuid("u2"), t0.Add(time.Second), nil},
		{"another user's old token is accepted", uuid("s4"), uuid("u3"), t0.Add(-time.Hour), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.Check(tc.sid, tc.uid, tc.iat, t0); !errors.Is(err, tc.want) && err != tc.want {
				t.Fatalf("Check(%s, %s, %s): got %v, want %v", tc.sid, tc.uid, tc.iat, err, tc.want)
			}
		})
	}
}

func TestUserNotBeforeOnlyMovesForward(t *testing.T) {
	s := revocation.NewSet(0)
	s.Add(t0, userRev(1, 1, uuid("u"), t0.Add(time.Minute)), userRev(2, 2, uuid("u"), t0))
	if err := s.Check(uuid("s"), uuid("u"), t0.Add(30*time.Second), t0); !errors.Is(err, revocation.ErrRevoked) {
		t.Fatalf("an older not-before arriving later must not shorten the newer one: got %v", err)
	}
}

func TestAddIgnoresKnownAndExpired(t *testing.T) {
	s := revocation.NewSet(0)
	if n := s.Add(t0, sessionRev(1, 1, uuid("s1")), sessionRev(1, 1, uuid("s1"))); n != 1 {
		t.Fatalf("the same row twice: added %d, want 1", n)
	}
	expired := sessionRev(2, 2, uuid("s2"))
	expired.ExpiresAt = t0
	if n := s.Add(t0, expired); n != 0 || s.Len() != 1 {
		t.Fatalf("an expired row: added %d (len %d), want 0 (len 1)", n, s.Len())
	}
}

func TestPruneDropsExpired(t *testing.T) {
	s := revocation.NewSet(0)
	s.Add(t0, sessionRev(1, 1, uuid("s1")), userRev(2, 2, uuid("u1"), t0))
	later := sessionRev(3, 3, uuid("s3"))
	later.ExpiresAt = t0.Add(time.Hour)
	s.Add(t0, later)
	if n := s.Prune(t0.Add(20 * time.Minute)); n != 2 {
		t.Fatalf("pruned %d, want 2", n)
	}
	if s.Len() != 1 {
		t.Fatalf("len after prune %d, want 1", s.Len())
	}
	if err := s.Check(uuid("s1"), uuid("u1"), t0.Add(-time.Hour), t0.Add(20*time.Minute)); err != nil {
		t.Fatalf("pruned entries must be gone: got %v", err)
	}
	if err := s.Check(uuid("s3"), uuid("u"), t0, t0.Add(20*time.Minute)); !errors.Is(err, revocation.ErrRevoked) {
		t.Fatalf("a live entry must survive pruning: got %v", err)
	}
}

func TestStaleness(t *testing.T) {
	s := revocation.NewSet(10 * time.Second)
	if err := s.Check(uuid("s"), uuid("u"), t0, t0); !errors.Is(err, revocation.ErrStale) {
		t.Fatalf("never confirmed: got %v, want ErrStale", err)
	}
	s.CatchUp(t0, nil, 5)
	if err := s.Check(uuid("s"), uuid("u"), t0, t0.Add(10*time.Second)); err != nil {
		t.Fatalf("confirmed 10s ago with a 10s bound: got %v, want nil", err)
	}
	if err := s.Check(uuid("s"), uuid("u"), t0, t0.Add(11*time.Second)); !errors.Is(err, revocation.ErrStale) {
		t.Fatalf("confirmed 11s ago with a 10s bound: got %v, want ErrStale", err)
	}
	if !s.Stale(t0.Add(11 * time.Second)) {
		t.Fatal("Stale: want true after 11s")
	}
	if lag := s.Lag(t0.Add(3 * time.Second)); lag != 3*time.Second {
		t.Fatalf("Lag: got %s, want 3s", lag)
	}
	if off := revocation.NewSet(0); off.Check(uuid("s"), uuid("u"), t0, t0) != nil || off.Stale(t0) {
		t.Fatal("maxLag 0 must never refuse for staleness")
	}
}

func TestSinceAndWatermark(t *testing.T) {
	s := revocation.NewSet(0)
	changed := s.Changed()
	s.CatchUp(t0, []revocation.Revocation{sessionRev(1, 100, uuid("a")), sessionRev(2, 105, uuid("b"))}, 103)
	select {
	case <-changed:
	default:
		t.Fatal("Changed: the channel must close when revocations arrive")
	}
	page := s.Since(103, t0, 0)
	if len(page.Revocations) != 1 || page.Revocations[0].ID != 2 || page.Cursor != 103 || page.More {
		t.Fatalf("Since(103): got %+v, want row 2 and cursor 103", page)
	}
	if page := s.Since(0, t0, 0); len(page.Revocations) != 2 {
		t.Fatalf("Since(0): got %d rows, want 2", len(page.Revocations))
	}
	if page := s.Since(0, t0.Add(time.Hour), 0); len(page.Revocations) != 0 {
		t.Fatalf("Since after expiry: got %d rows, want 0", len(page.Revocations))
	}
}

func BenchmarkCheck(b *testing.B) {
	for _, n := range []int{0, 100_000} {
		s := revocation.NewSet(time.Minute)
		revs := make([]revocation.Revocation, n)
		for i := range revs {
			revs[i] = sessionRev(int64(i+1), uint64(i), fmt.Sprintf("%08x-0000-4000-8000-000000000000", i))
		}
		s.CatchUp(t0, revs, 1)
		b.Run(fmt.Sprintf("live=%d", n), func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := s.Check("8d0f5a8e-4a4e-4b65-9a59-1b7f2c1e0a11", "0b1f1d7e-6b1c-4a0c-8d8f-2f3c0e9b7a55", t0, t0); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

func TestManyAdditionsFoldAndStayRevoked(t *testing.T) {
	s := revocation.NewSet(0)
	const n = 3000 // several folds of the recent additions into the base
	for i := range n {
		s.Add(t0, sessionRev(int64(i+1), uint64(i), fmt.Sprintf("%08x-0000-4000-8000-000000000000", i)))
	}
	if s.Len() != n {
		t.Fatalf("Len: %d, want %d", s.Len(), n)
	}
	for i := range n {
		if err := s.Check(fmt.Sprintf("%08x-0000-4000-8000-000000000000", i), uuid("u"), t0, t0); !errors.Is(err, revocation.ErrRevoked) {
			t.Fatalf("session %d after folding: %v, want revoked", i, err)
		}
	}
	if page := s.Since(0, t0, 0); len(page.Revocations) != n {
		t.Fatalf("Since: %d rows, want %d", len(page.Revocations), n)
	}
}

// readAll pages through s from cursor as a feed reader does, limit
// revocations a page, and returns what it read in order, the pages' sizes
// and the last page.
func readAll(t *testing.T, s *revocation.Set, cursor uint64, limit int) ([]revocation.Revocation, []int, revocation.Page) {
	t.Helper()
	var read []revocation.Revocation
	var sizes []int
	for range 1000 {
		page := s.Since(cursor, t0, limit)
		read = append(read, page.Revocations...)
		sizes = append(sizes, len(page.Revocations))
		if !page.More {
			return read, sizes, page
		}
		if page.Cursor <= cursor {
			t.Fatalf("a page with more to follow did not move the cursor: %d after %d", page.Cursor, cursor)
		}
		cursor = page.Cursor
	}
	t.Fatal("the pages never end")
	return nil, nil, revocation.Page{}
}

func TestSinceInPages(t *testing.T) {
	s := revocation.NewSet(0)
	// Transactions 10..29, one revocation each, except 15 (three) and 20
	// (five), added out of order as commits can be; the watermark is 40.
	var revs []revocation.Revocation
	id := int64(0)
	for xid := uint64(29); xid >= 10; xid-- {
		n := 1
		switch xid {
		case 15:
			n = 3
		case 20:
			n = 5
		}
		for range n {
			id++
			revs = append(revs, sessionRev(id, xid, fmt.Sprintf("%08x-0000-4000-8000-000000000002", id)))
		}
	}
	for i := 0; i < len(revs); i += 7 {
		s.Add(t0, revs[i:min(i+7, len(revs))]...)
	}
	s.CatchUp(t0, nil, 40)
	total := len(revs)

	read, sizes, last := readAll(t, s, 0, 4)
	if len(read) != total {
		t.Fatalf("read %d revocations in pages of 4, want %d (pages %v)", len(read), total, sizes)
	}
	seen := map[int64]bool{}
	var lastXID uint64
	for _, r := range read {
		if seen[r.ID] {
			t.Fatalf("row %d read twice", r.ID)
		}
		seen[r.ID] = true
		if r.XID < lastXID {
			t.Fatalf("read out of transaction order: %d after %d", r.XID, lastXID)
		}
		lastXID = r.XID
	}
	if last.Cursor != 40 {
		t.Fatalf("the last page's cursor is %d, want the watermark 40", last.Cursor)
	}
	// Transaction 15's three and 20's five are never split: pages are
	// 4 (10..13), 4 (14, 15×3), 4 (16..19), 5 (20×5), 4 (21..24),
	// 4 (25..28), 1 (29).
	want := []int{4, 4, 4, 5, 4, 4, 1}
	if fmt.Sprint(sizes) != fmt.Sprint(want) {
		t.Fatalf("page sizes %v, want %v", sizes, want)
	}
	// Without a limit, or with one above the count, one page.
	for _, limit := range []int{0, total, total + 1} {
		if page := s.Since(0, t0, limit); page.More || len(page.Revocations) != total || page.Cursor != 40 {
			t.Fatalf("limit %d: %d revocations, more %v, cursor %d; want all %d in one page, cursor 40",
				limit, len(page.Revocations), page.More, page.Cursor, total)
		}
	}
	// Expired revocations neither count nor show, and pruning keeps the
	// order of the rest.
	s.Prune(t0.Add(17 * time.Minute))
	if page := s.Since(0, t0.Add(17*time.Minute), 4); len(page.Revocations) != 0 || page.More {
		t.Fatalf("after expiry: %+v, want an empty last page", page)
	}
}

// A page is never cut above the watermark: transactions below it may still
// commit, and a reader sent past them would never read them. What is at or
// above the watermark goes in the last page, so a reader always finishes.
func TestSincePagesStopAtTheWatermark(t *testing.T) {
	s := revocation.NewSet(0)
	for i := range 6 {
		s.Add(t0, sessionRev(int64(i+1), uint64(100+i), fmt.Sprintf("%08x-0000-4000-8000-000000000003", i)))
	}
	s.CatchUp(t0, nil, 102) // 100 and 101 are settled; 102..105 committed early
	read, sizes, last := readAll(t, s, 0, 2)
	if len(read) != 6 || last.Cursor != 102 || fmt.Sprint(sizes) != "[2 4]" {
		t.Fatalf("pages of 2: read %d in pages %v up to %d; want 2 below the watermark, then the 4 from it in the last page, up to 102",
			len(read), sizes, last.Cursor)
	}
	// A reader at the watermark gets everything from it in one last page,
	// however many that is.
	if page := s.Since(102, t0, 1); page.More || len(page.Revocations) != 4 || page.Cursor != 102 {
		t.Fatalf("from the watermark, pages of 1: %d revocations, more %v, cursor %d; want the last page: all 4, cursor 102",
			len(page.Revocations), page.More, page.Cursor)
	}
}

// A transaction that commits after later ones, added alone, takes its place
// in the feed order: a reader from an earlier cursor gets it.
func TestSinceOrdersALateCommit(t *testing.T) {
	s := revocation.NewSet(0)
	for i, xid := range []uint64{10, 11, 12, 5, 13, 14} {
		s.Add(t0, sessionRev(int64(i+1), xid, fmt.Sprintf("%08x-0000-4000-8000-000000000004", i)))
	}
	s.CatchUp(t0, nil, 20)
	if page := s.Since(12, t0, 0); len(page.Revocations) != 3 {
		t.Fatalf("Since(12): %d revocations, want 3 (12, 13, 14)", len(page.Revocations))
	}
	read, _, _ := readAll(t, s, 0, 2)
	if len(read) != 6 || read[0].XID != 5 {
		t.Fatalf("paged from 0: %+v; want all 6, the late 5 first", read)
	}
	// A large batch (a catch-up) in any order.
	var batch []revocation.Revocation
	for i := range 200 {
		batch = append(batch, sessionRev(int64(100+i), uint64(1000-i), fmt.Sprintf("%08x-0000-4000-8000-000000000005", i)))
	}
	s.CatchUp(t0, batch, 2000)
	read, _, _ = readAll(t, s, 0, 50)
	if len(read) != 206 || !slices.IsSortedFunc(read, func(a, b revocation.Revocation) int { return cmp.Compare(a.XID, b.XID) }) {
		t.Fatalf("after a reversed batch of 200: read %d, in order %v; want 206 in transaction order", len(read),
			slices.IsSortedFunc(read, func(a, b revocation.Revocation) int { return cmp.Compare(a.XID, b.XID) }))
	}
}

// A database restored from a dump hands out again row ids that live
// revocations hold: a revocation is known by its transaction and row id,
// so a new one with an old row id is kept, and the feed carries both.
func TestARowIDReusedAfterARestoreIsANewRevocation(t *testing.T) {
	s := revocation.NewSet(0)
	s.CatchUp(t0, []revocation.Revocation{sessionRev(42, 5000, uuid("before-restore"))}, 5001)
	if n := s.Add(t0, sessionRev(42, 700, uuid("after-restore"))); n != 1 {
		t.Fatalf("Add of row 42 from another transaction: added %d, want 1", n)
	}
	if err := s.Check(uuid("after-restore"), uuid("u"), t0, t0); !errors.Is(err, revocation.ErrRevoked) {
		t.Fatalf("the session revoked after the restore: %v, want revoked", err)
	}
	if n := s.Add(t0, sessionRev(42, 700, uuid("after-restore"))); n != 0 {
		t.Fatalf("the same row again: added %d, want 0", n)
	}
	if page := s.Since(0, t0, 0); len(page.Revocations) != 2 {
		t.Fatalf("the feed carries %d revocations, want both rows 42", len(page.Revocations))
	}
}

// Advance records a partial read without confirming the set.
func TestAdvanceDoesNotConfirm(t *testing.T) {
	s := revocation.NewSet(time.Minute)
	s.Advance(t0, []revocation.Revocation{sessionRev(1, 5, uuid("adv"))}, 6)
	if !s.Stale(t0) || s.Watermark() != 6 {
		t.Fatalf("after Advance: stale %v, watermark %d; want stale (never confirmed), 6", s.Stale(t0), s.Watermark())
	}
	if err := s.Check(uuid("adv"), uuid("u"), t0, t0); !errors.Is(err, revocation.ErrStale) {
		t.Fatalf("Check before any confirmation: %v, want ErrStale", err)
	}
	s.CatchUp(t0, nil, 6)
	if err := s.Check(uuid("adv"), uuid("u"), t0, t0); !errors.Is(err, revocation.ErrRevoked) {
		t.Fatalf("Check after the last page: %v, want ErrRevoked", err)
	}
}

func TestSinceReturnsWhatWasAdded(t *testing.T) {
	s := revocation.NewSet(0)
	in := userRev(7, 42, "0B1F1D7E-6B1C-4A0C-8D8F-2F3C0E9B7A55", t0.Add(time.Second))
	in.Reason = "roles_changed"
	s.Add(t0, in)
	got := s.Since(0, t0, 0).Revocations
	want := in
	want.Subject = "0b1f1d7e-6b1c-4a0c-8d8f-2f3c0e9b7a55" // canonical form
	if len(got) != 1 || got[0].ID != want.ID || got[0].XID != want.XID || got[0].Kind != want.Kind ||
		got[0].Subject != want.Subject || got[0].Reason != want.Reason || !got[0].NotBefore.Equal(want.NotBefore) ||
		!got[0].RevokedAt.Equal(want.RevokedAt) || !got[0].ExpiresAt.Equal(want.ExpiresAt) {
		t.Fatalf("Since: got %+v, want %+v", got, want)
	}
}

func TestSubjectsThatAreNotUUIDsAreIgnored(t *testing.T) {
	s := revocation.NewSet(0)
	for _, bad := range []string{"", "s1", "0b1f1d7e-6b1c-4a0c-8d8f-2f3c0e9b7a5", "0b1f1d7e+6b1c-4a0c-8d8f-2f3c0e9b7a55", "zb1f1d7e-6b1c-4a0c-8d8f-2f3c0e9b7a55"} {
		if n := s.Add(t0, sessionRev(1, 1, bad)); n != 0 {
			t.Fatalf("subject %q: added %d, want 0", bad, n)
		}
	}
	if s.Len() != 0 {
		t.Fatalf("Len: %d, want 0", s.Len())
	}
}

// Readers never block on, or see a torn state from, writers (run with -race).
func TestConcurrentChecksAddsAndPrunes(t *testing.T) {
	s := revocation.NewSet(0)
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
					_ = s.Check(uuid("s1"), uuid("u1"), t0, t0)
				}
			}
		})
	}
	s.Add(t0, sessionRev(1, 1, uuid("s1")))
	for i := range 2500 {
		s.Add(t0, sessionRev(int64(i+10), uint64(i), fmt.Sprintf("%08x-0000-4000-8000-000000000001", i)))
		if i%500 == 0 {
			s.Prune(t0)
		}
		if err := s.Check(uuid("s1"), uuid("u1"), t0, t0); !errors.Is(err, revocation.ErrRevoked) {
			t.Fatalf("after %d additions: the first revocation is gone: %v", i, err)
		}
	}
	close(done)
	wg.Wait()
}

// BenchmarkAddOutOfOrder adds, to 100,000 live revocations, pairs of
// revocations whose transactions committed out of order.
func BenchmarkAddOutOfOrder(b *testing.B) {
	s := revocation.NewSet(0)
	revs := make([]revocation.Revocation, 100_000)
	for i := range revs {
		revs[i] = sessionRev(int64(i+1), uint64(i+10), fmt.Sprintf("%08x-0000-4000-8000-000000000000", i))
	}
	s.CatchUp(t0, revs, 1)
	id, xid := int64(1_000_000), uint64(200_000)
	for b.Loop() {
		id, xid = id+2, xid+2
		s.Add(t0, sessionRev(id, xid, fmt.Sprintf("%08x-0000-4000-8000-000000000001", id)))
		s.Add(t0, sessionRev(id+1, xid-1, fmt.Sprintf("%08x-0000-4000-8000-000000000001", id+1)))
	}
}

// BenchmarkSince is a verifier's long poll answered at the watermark, and
// a verifier's first page, with 100,000 live revocations.
func BenchmarkSince(b *testing.B) {
	s := revocation.NewSet(0)
	revs := make([]revocation.Revocation, 100_000)
	for i := range revs {
		revs[i] = sessionRev(int64(i+1), uint64(i), fmt.Sprintf("%08x-0000-4000-8000-000000000000", i))
	}
	s.CatchUp(t0, revs, uint64(len(revs)))
	b.Run("up-to-date", func(b *testing.B) {
		for b.Loop() {
			if page := s.Since(uint64(len(revs)), t0, 10_000); len(page.Revocations) != 0 {
				b.Fatal("not empty")
			}
		}
	})
	b.Run("first-page", func(b *testing.B) {
		for b.Loop() {
			if page := s.Since(0, t0, 10_000); !page.More {
				b.Fatal("not cut")
			}
		}
	})
}
