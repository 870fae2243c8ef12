package token_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/revenue-api/revenue-api/internal/token"
)

// TestReloaderFollowsTheDirectory: a generate, a rotation and a prune made
// on disk reach the keyring at the next poll, each as one swap.
func TestReloaderFollowsTheDirectory(t *testing.T) {
	clock, dir, k1, r, logs := newReloadFixture(t)
	ring := r.Keyring()
	if err := r.Poll(); err != nil || strings.Contains(logs.String(), "keys reloaded") {
		t.Fatalf("poll of an unchanged directory: err %v, logs %s; want no reload", err, logs)
	}

	clock.Advance(time.Minute)
	k2, err := openDir(t, dir).Generate(2048, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	before := ring.Set()
	if err := r.Poll(); err != nil {
		t.Fatal(err)
	}
	if ring.Set() == before {
		t.Fatal("poll after generate kept the old key set")
	}
	if got, want := jwksKids(ring.Set()), sorted(k1.ID, k2.ID); !slices.Equal(got, want) {
		t.Errorf("after generate the keyring publishes %v, want %v", got, want)
	}
	if ring.Set().Signing().ID != k1.ID {
		t.Errorf("after generate %s signs, want %s until rotation", ring.Set().Signing().ID, k1.ID)
	}

	clock.Advance(lcPolicy.Publish)
	if _, err := openDir(t, dir).Rotate(lcPolicy, 2048, false, clock.Now()); err != nil {
		t.Fatal(err)
	}
	if err := r.Poll(); err != nil {
		t.Fatal(err)
	}
	if ring.Set().Signing().ID != k2.ID {
		t.Errorf("after rotate %s signs, want %s", ring.Set().Signing().ID, k2.ID)
	}

	clock.Advance(lcPolicy.Retire)
	if _, err := openDir(t, dir).Prune(lcPolicy, clock.Now()); err != nil {
		t.Fatal(err)
	}
	if err := r.Poll(); err != nil {
		t.Fatal(err)
	}
	if _, ok := ring.Lookup(k1.ID); ok {
		t.Error("after prune the keyring still verifies with the pruned key")
	}
	if n := strings.Count(logs.String(), `"msg":"keys reloaded"`); n != 3 {
		t.Errorf("%d reloads logged, want 3 (generate, rotate, prune):\n%s", n, logs)
	}
}

// TestFailedReloadKeepsThePreviousKeys: a bad change is logged once with
// its reason, the keyring keeps serving the old set, and the fix is
// picked up.
func TestFailedReloadKeepsThePreviousKeys(t *testing.T) {
	_, dir, k1, r, logs := newReloadFixture(t)
	ring := r.Keyring()
	stateCopy, err := os.ReadFile(filepath.Join(dir, token.StateFile))
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		breakIt func(t *testing.T)
		fixIt   func(t *testing.T)
		wantLog string
	}{
		{"key file made world-readable",
			func(t *testing.T) { chmod(t, k1.File, 0o644) },
			func(t *testing.T) { chmod(t, k1.File, 0o600) },
			"lets group or others read it"},
		{"key file deleted",
			func(t *testing.T) { rename(t, k1.File, k1.File+".bak") },
			func(t *testing.T) { rename(t, k1.File+".bak", k1.File) },
			"no such file or directory"},
		{"state file garbled",
			func(t *testing.T) { appendTo(t, filepath.Join(dir, token.StateFile), "garbage\n") },
			func(t *testing.T) { writeFile(t, filepath.Join(dir, token.StateFile), stateCopy, 0o600) },
			"want `file state since kid`"},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			good := ring.Set()
			tt.breakIt(t)
			if err := r.Poll(); err == nil {
				t.Fatal("poll of a broken directory succeeded, want an error")
			}
			if ring.Set() != good {
				t.Error("a failed reload replaced the key set, want the previous one kept")
			}
			if _, ok := ring.Lookup(k1.ID); !ok || ring.Set().Signing().ID != k1.ID {
				t.Error("after a failed reload the previous key no longer signs and verifies")
			}
			if !strings.Contains(logs.String(), "keeping the previous keys") || !strings.Contains(logs.String(), tt.wantLog) {
				t.Errorf("log lacks the failure and its reason %q:\n%s", tt.wantLog, logs)
			}
			failures := strings.Count(logs.String(), "key reload failed")
			if err := r.Poll(); err != nil {
				t.Errorf("second poll of the same broken directory: %v, want no retry until it changes", err)
			}
			if n := strings.Count(logs.String(), "key reload failed"); n != failures {
				t.Errorf("an unchanged broken directory was logged again (%d failures, want %d)", n, failures)
			}
			tt.fixIt(t)
			if err := r.Poll(); err != nil {
				t.Errorf("poll after the fix: %v", err)
			}
		})
	}
}

// TestReloaderRunsOnSignalAndOnTimer: Run reloads on a signal even when
// polling is off, and polls on its own when it is on.
func TestReloaderRunsOnSignalAndOnTimer(t *testing.T) {
	clock := newStepClock()
	dir := t.TempDir()
	if _, err := openDir(t, dir).Generate(2048, clock.Now()); err != nil {
		t.Fatal(err)
	}
	log, logs := testLogger()
	r, err := token.NewDirReloader(dir, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	signals := make(chan os.Signal)
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx, 0, signals) }()
	clock.Advance(time.Second)
	k2, err := openDir(t, dir).Generate(2048, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	signals <- syscall.SIGHUP
	signals <- syscall.SIGHUP // the first has been handled once this send is received
	if _, ok := r.Keyring().Lookup(k2.ID); !ok {
		t.Errorf("SIGHUP did not load the new key; logs:\n%s", logs)
	}
	if !strings.Contains(logs.String(), `"trigger":"signal"`) {
		t.Errorf("reload on signal not logged as such:\n%s", logs)
	}
	cancel()
	<-done

	ctx, cancel = context.WithCancel(t.Context())
	defer cancel()
	go r.Run(ctx, 20*time.Millisecond, nil)
	clock.Advance(lcPolicy.Publish)
	if _, err := openDir(t, dir).Rotate(lcPolicy, 2048, false, clock.Now()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for r.Keyring().Set().Signing().ID != k2.ID {
		if time.Now().After(deadline) {
			t.Fatalf("polling did not pick up the rotation within 5s; logs:\n%s", logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestReloaderRefusesABadDirectoryAtStart(t *testing.T) {
	dir := t.TempDir()
	k, err := token.Generate(dir, 2048, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	chmod(t, k.File, 0o640)
	log, _ := testLogger()
	if _, err := token.NewDirReloader(dir, log); err == nil || !strings.Contains(err.Error(), k.File) {
		t.Fatalf("NewDirReloader with a group-readable key: %v, want an error naming %s", err, k.File)
	}
}

func chmod(t *testing.T, name string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(name, mode); err != nil {
		t.Fatal(err)
	}
}

func rename(t *testing.T, from, to string) {
	t.Helper()
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
}

func appendTo(t *testing.T, name, text string) {
	t.Helper()
	f, err := os.OpenFile(name, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

// newReloadFixture is a keys directory with one current key and a reloader
// watching it, logging into the returned buffer.
func newReloadFixture(t *testing.T) (*stepClock, string, *token.Key, *token.DirReloader, *syncBuffer) {
	t.Helper()
	clock := newStepClock()
	dir := t.TempDir()
	k1, err := openDir(t, dir).Generate(2048, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	log, logs := testLogger()
	r, err := token.NewDirReloader(dir, log)
	if err != nil {
		t.Fatal(err)
	}
	return clock, dir, k1, r, logs
}
