package revocation_test

import (
	"errors"
	"fmt"
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
	got, next := s.Since(103, t0)
	if len(got) != 1 || got[0].ID != 2 || next != 103 {
		t.Fatalf("Since(103): got %v next %d, want row 2 and 103", got, next)
	}
	got, _ = s.Since(0, t0)
	if len(got) != 2 {
		t.Fatalf("Since(0): got %d rows, want 2", len(got))
	}
	if got, _ := s.Since(0, t0.Add(time.Hour)); len(got) != 0 {
		t.Fatalf("Since after expiry: got %d rows, want 0", len(got))
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
	if got, _ := s.Since(0, t0); len(got) != n {
		t.Fatalf("Since: %d rows, want %d", len(got), n)
	}
}

func TestSinceReturnsWhatWasAdded(t *testing.T) {
	s := revocation.NewSet(0)
	in := userRev(7, 42, "0B1F1D7E-6B1C-4A0C-8D8F-2F3C0E9B7A55", t0.Add(time.Second))
	in.Reason = "roles_changed"
	s.Add(t0, in)
	got, _ := s.Since(0, t0)
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
