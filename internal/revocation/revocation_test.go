package revocation_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/revenue-api/revenue-api/internal/revocation"
)

var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

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
	if err := s.Check("s1", "u1", t0, t0); err != nil {
		t.Fatalf("empty set: got %v, want nil", err)
	}
	s.Add(t0, sessionRev(1, 10, "s1"), userRev(2, 11, "u2", t0))
	tests := []struct {
		name     string
		sid, uid string
		iat      time.Time
		want     error
	}{
		{"a token of an ended session is revoked", "s1", "u1", t0.Add(time.Minute), revocation.ErrRevoked},
		{"a token of another session of the same user is not", "s9", "u1", t0, nil},
		{"a user's token issued before not-before is revoked", "s2", "u2", t0.Add(-time.Second), revocation.ErrRevoked},
		{"a user's token issued at not-before is accepted", "s2", "u2", t0, nil},
		{"a user's token issued after not-before is accepted", "s3", "u2", t0.Add(time.Second), nil},
		{"another user's old token is accepted", "s4", "u3", t0.Add(-time.Hour), nil},
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
	s.Add(t0, userRev(1, 1, "u", t0.Add(time.Minute)), userRev(2, 2, "u", t0))
	if err := s.Check("s", "u", t0.Add(30*time.Second), t0); !errors.Is(err, revocation.ErrRevoked) {
		t.Fatalf("an older not-before arriving later must not shorten the newer one: got %v", err)
	}
}

func TestAddIgnoresKnownAndExpired(t *testing.T) {
	s := revocation.NewSet(0)
	if n := s.Add(t0, sessionRev(1, 1, "s1"), sessionRev(1, 1, "s1")); n != 1 {
		t.Fatalf("the same row twice: added %d, want 1", n)
	}
	expired := sessionRev(2, 2, "s2")
	expired.ExpiresAt = t0
	if n := s.Add(t0, expired); n != 0 || s.Len() != 1 {
		t.Fatalf("an expired row: added %d (len %d), want 0 (len 1)", n, s.Len())
	}
}

func TestPruneDropsExpired(t *testing.T) {
	s := revocation.NewSet(0)
	s.Add(t0, sessionRev(1, 1, "s1"), userRev(2, 2, "u1", t0))
	later := sessionRev(3, 3, "s3")
	later.ExpiresAt = t0.Add(time.Hour)
	s.Add(t0, later)
	if n := s.Prune(t0.Add(20 * time.Minute)); n != 2 {
		t.Fatalf("pruned %d, want 2", n)
	}
	if s.Len() != 1 {
		t.Fatalf("len after prune %d, want 1", s.Len())
	}
	if err := s.Check("s1", "u1", t0.Add(-time.Hour), t0.Add(20*time.Minute)); err != nil {
		t.Fatalf("pruned entries must be gone: got %v", err)
	}
	if err := s.Check("s3", "u", t0, t0.Add(20*time.Minute)); !errors.Is(err, revocation.ErrRevoked) {
		t.Fatalf("a live entry must survive pruning: got %v", err)
	}
}

func TestStaleness(t *testing.T) {
	s := revocation.NewSet(10 * time.Second)
	if err := s.Check("s", "u", t0, t0); !errors.Is(err, revocation.ErrStale) {
		t.Fatalf("never confirmed: got %v, want ErrStale", err)
	}
	s.CatchUp(t0, nil, 5)
	if err := s.Check("s", "u", t0, t0.Add(10*time.Second)); err != nil {
		t.Fatalf("confirmed 10s ago with a 10s bound: got %v, want nil", err)
	}
	if err := s.Check("s", "u", t0, t0.Add(11*time.Second)); !errors.Is(err, revocation.ErrStale) {
		t.Fatalf("confirmed 11s ago with a 10s bound: got %v, want ErrStale", err)
	}
	if !s.Stale(t0.Add(11 * time.Second)) {
		t.Fatal("Stale: want true after 11s")
	}
	if lag := s.Lag(t0.Add(3 * time.Second)); lag != 3*time.Second {
		t.Fatalf("Lag: got %s, want 3s", lag)
	}
	if off := revocation.NewSet(0); off.Check("s", "u", t0, t0) != nil || off.Stale(t0) {
		t.Fatal("maxLag 0 must never refuse for staleness")
	}
}

func TestSinceAndWatermark(t *testing.T) {
	s := revocation.NewSet(0)
	changed := s.Changed()
	s.CatchUp(t0, []revocation.Revocation{sessionRev(1, 100, "a"), sessionRev(2, 105, "b")}, 103)
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
			revs[i] = sessionRev(int64(i+1), uint64(i), "session-"+string(rune('a'+i%26))+time.Duration(i).String())
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
