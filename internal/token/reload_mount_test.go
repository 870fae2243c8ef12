package token_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/revenue-api/revenue-api/internal/token"
)

// TestReloaderFollowsASecretMount: a keys directory mounted from a
// Kubernetes Secret holds symlinks into ..data, and an update swaps ..data;
// the links themselves never change. A rotation (which rewrites state.txt
// alone) and a prune published that way reach the keyring at the next poll.
func TestReloaderFollowsASecretMount(t *testing.T) {
	clock := newStepClock()
	work := t.TempDir() // where the operator runs `revenue-api keys`
	k1, err := openDir(t, work).Generate(2048, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	k2, err := openDir(t, work).Generate(2048, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	mount := newSecretMount(t)
	mount.publish(work)
	log, logs := testLogger()
	r, err := token.NewDirReloader(mount.dir, log)
	if err != nil {
		t.Fatal(err)
	}
	ring := r.Keyring()

	clock.Advance(lcPolicy.Publish)
	if _, err := openDir(t, work).Rotate(lcPolicy, 2048, false, clock.Now()); err != nil {
		t.Fatal(err)
	}
	mount.publish(work)
	if err := r.Poll(); err != nil {
		t.Fatal(err)
	}
	if got := ring.Set().Signing().ID; got != k2.ID {
		t.Fatalf("after a rotation published to the mount, %s signs, want %s; logs:\n%s", got, k2.ID, logs)
	}

	clock.Advance(lcPolicy.Retire)
	if _, err := openDir(t, work).Prune(lcPolicy, clock.Now()); err != nil {
		t.Fatal(err)
	}
	mount.publish(work)
	if err := r.Poll(); err != nil {
		t.Fatal(err)
	}
	if _, ok := ring.Lookup(k1.ID); ok {
		t.Errorf("after a prune published to the mount, the keyring still verifies with %s", k1.ID)
	}
}

// TestReloaderSeesAStateFileEditedInPlace: a rotation leaves state.txt the
// same size (current/retired and next/current pad alike); with the
// modification time the same too (a coarse file system clock, or a copy
// that keeps times), its contents still tell the change.
func TestReloaderSeesAStateFileEditedInPlace(t *testing.T) {
	clock, dir, _, r, logs := newReloadFixture(t)
	clock.Advance(time.Minute)
	k2, err := openDir(t, dir).Generate(2048, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Poll(); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, token.StateFile)
	before, err := os.Stat(state)
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(lcPolicy.Publish)
	if _, err := openDir(t, dir).Rotate(lcPolicy, 2048, false, clock.Now()); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(state, before.ModTime(), before.ModTime()); err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(state)
	if err != nil {
		t.Fatal(err)
	}
	if after.Size() != before.Size() || !after.ModTime().Equal(before.ModTime()) {
		t.Fatalf("state.txt went from %d bytes at %s to %d at %s: the test wants both kept",
			before.Size(), before.ModTime(), after.Size(), after.ModTime())
	}
	if err := r.Poll(); err != nil {
		t.Fatal(err)
	}
	if got := r.Keyring().Set().Signing().ID; got != k2.ID {
		t.Errorf("after a rotation that kept state.txt's size and time, %s signs, want %s; logs:\n%s", got, k2.ID, logs)
	}
}

// secretMount is a directory laid out as the kubelet's AtomicWriter lays
// out a mounted Secret: each file NAME is a symlink to ..data/NAME, ..data
// a symlink to a directory of this version's files; an update writes a
// new version's directory, swaps ..data with one rename, then removes the
// links of files gone and the old version's directory.
type secretMount struct {
	t       *testing.T
	dir     string
	version int
}

func newSecretMount(t *testing.T) *secretMount {
	t.Helper()
	return &secretMount{t: t, dir: t.TempDir()}
}

// publish makes the mount show the files of from, as they are now.
func (m *secretMount) publish(from string) {
	t := m.t
	t.Helper()
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	m.version++
	version := fmt.Sprintf("..2026_03_01_10_15_00.%d", m.version)
	if err := os.Mkdir(filepath.Join(m.dir, version), 0o700); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(m.dir, version, e.Name()), data, 0o600)
		names[e.Name()] = true
	}
	old, _ := os.Readlink(filepath.Join(m.dir, "..data"))
	if err := os.Symlink(version, filepath.Join(m.dir, "..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(m.dir, "..data_tmp"), filepath.Join(m.dir, "..data")); err != nil {
		t.Fatal(err)
	}
	for name := range names {
		link := filepath.Join(m.dir, name)
		if _, err := os.Lstat(link); err != nil {
			if err := os.Symlink(filepath.Join("..data", name), link); err != nil {
				t.Fatal(err)
			}
		}
	}
	links, err := os.ReadDir(m.dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		if l.Type()&os.ModeSymlink != 0 && l.Name() != "..data" && !names[l.Name()] {
			if err := os.Remove(filepath.Join(m.dir, l.Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
	if old != "" {
		if err := os.RemoveAll(filepath.Join(m.dir, old)); err != nil {
			t.Fatal(err)
		}
	}
}
