package token

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A lock held longer than the wait fails with the lock file's name and
// who may hold it, not a start that hangs without a word.
func TestLockDirGivesUpNamingTheLockFile(t *testing.T) {
	dir := t.TempDir()
	unlock, err := LockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	start := time.Now()
	second, err := lockDir(dir, 200*time.Millisecond)
	if err == nil {
		second()
		t.Fatal("a second lock was granted while the first was held")
	}
	if waited := time.Since(start); waited < 200*time.Millisecond {
		t.Errorf("gave up after %s, want it to wait 200ms", waited)
	}
	if want := filepath.Join(dir, LockFile); !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "keys") {
		t.Errorf("err %q, want it to name %s and say who may hold it", err, want)
	}
	unlock()
	third, err := lockDir(dir, 200*time.Millisecond)
	if err != nil {
		t.Fatalf("lock after the holder released it: %v", err)
	}
	third()
}
