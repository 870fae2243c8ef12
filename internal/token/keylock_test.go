package token_test

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/revenue-api/revenue-api/internal/token"
)

// ensureKeysAtOnce runs EnsureKey n times at once on dir, as n replicas
// starting together do, each with a clock of its own (a millisecond apart,
// so that their key files would not share a name), and returns what each
// call returned.
func ensureKeysAtOnce(t *testing.T, dir string, n int, now time.Time) []*token.Key {
	t.Helper()
	keys := make([]*token.Key, n)
	generated := make([]bool, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			keys[i], generated[i], errs[i] = token.EnsureKey(dir, token.MinKeyBits, now.Add(time.Duration(i)*time.Millisecond))
		})
	}
	close(start)
	wg.Wait()
	made := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("EnsureKey %d: %v", i, errs[i])
		}
		if generated[i] {
			made++
		}
	}
	if made > 1 {
		t.Errorf("%d calls generated a key, want at most one", made)
	}
	return keys
}

// oneCurrentKey checks that dir holds exactly one key file, listed as
// current with nothing unlisted, and returns it.
func oneCurrentKey(t *testing.T, dir string) *token.Key {
	t.Helper()
	pems, _ := filepath.Glob(filepath.Join(dir, "*.pem"))
	d, err := token.OpenDir(dir)
	if err != nil {
		t.Fatalf("open %s: %v", dir, err)
	}
	if len(pems) != 1 || len(d.Keys) != 1 || len(d.Unlisted) != 0 || d.Current() == nil {
		t.Fatalf("%s holds %d key files, %d listed (current: %v), unlisted %v; want one key, current",
			dir, len(pems), len(d.Keys), d.Current() != nil, d.Unlisted)
	}
	return d.Current()
}

// Replicas starting together on one empty, shared keys directory with key
// generation on agree on one key: the first generates it under the lock,
// the others find it once they hold the lock, and every one signs with it.
func TestReplicasStartingTogetherShareOneGeneratedKey(t *testing.T) {
	now := time.Date(2026, 3, 1, 10, 15, 0, 0, time.UTC)
	for _, tt := range []struct {
		name string
		dir  func(t *testing.T) string
	}{
		{"directory missing", func(t *testing.T) string { return filepath.Join(t.TempDir(), "keys") }},
		{"directory empty", func(t *testing.T) string { return t.TempDir() }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := tt.dir(t)
			keys := ensureKeysAtOnce(t, dir, 4, now)
			want := oneCurrentKey(t, dir)
			for i, k := range keys {
				if k == nil || k.ID != want.ID {
					t.Errorf("EnsureKey %d returned %v, want the one key of the directory, kid %s", i, k, want.ID)
				}
			}
		})
	}
}

// A directory that holds a key is left as it is, and its current key is
// returned: a restart, or a replica starting after the first.
func TestEnsureKeyKeepsTheCurrentKey(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 3, 1, 10, 15, 0, 0, time.UTC)
	first, generated, err := token.EnsureKey(dir, token.MinKeyBits, now)
	if err != nil || !generated {
		t.Fatalf("EnsureKey on an empty directory: generated %v, err %v; want a generated key", generated, err)
	}
	again, generated, err := token.EnsureKey(dir, token.MinKeyBits, now.Add(time.Hour))
	if err != nil || generated || again == nil || again.ID != first.ID {
		t.Fatalf("EnsureKey again: key %v, generated %v, err %v; want kid %s, not generated", again, generated, err, first.ID)
	}
	oneCurrentKey(t, dir)
}

// While another process holds the keys directory's lock (a `keys` command,
// a replica generating the first key), a starting service waits for it and
// then uses what that process made.
func TestEnsureKeyWaitsForTheLockHolder(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 3, 1, 10, 15, 0, 0, time.UTC)
	unlock, err := token.LockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		key *token.Key
		err error
	}
	done := make(chan result, 1)
	go func() {
		k, _, err := token.EnsureKey(dir, token.MinKeyBits, now)
		done <- result{k, err}
	}()
	select {
	case r := <-done:
		unlock()
		t.Fatalf("EnsureKey returned (key %v, err %v) while another held the lock, want it to wait", r.key, r.err)
	case <-time.After(300 * time.Millisecond):
	}
	// What the holder does meanwhile: generate the first key.
	d, err := token.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	held, err := d.Generate(token.MinKeyBits, now)
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	r := <-done
	if r.err != nil || r.key == nil || r.key.ID != held.ID {
		t.Fatalf("EnsureKey after the holder generated kid %s: key %v, err %v; want that key", held.ID, r.key, r.err)
	}
	oneCurrentKey(t, dir)
}

// The lock is taken on a file of its own in the directory, which stays
// private and is never taken for a key.
func TestLockFileIsPrivateAndNotAKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	unlock, err := token.LockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	info, err := os.Stat(filepath.Join(dir, token.LockFile))
	if err != nil {
		t.Fatalf("lock file: %v", err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("lock file mode %#o, want 0600", perm)
	}
	if info, err := os.Stat(dir); err != nil || info.Mode().Perm() != 0o700 {
		t.Errorf("keys directory made by LockDir: %v, err %v; want mode 0700", info.Mode().Perm(), err)
	}
	if has, err := token.HasKeys(dir); err != nil || has {
		t.Errorf("HasKeys with only the lock file: %v, %v; want false", has, err)
	}
}
