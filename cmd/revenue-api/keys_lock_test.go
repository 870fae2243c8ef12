package main

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/revenue-api/revenue-api/internal/config"
	"github.com/revenue-api/revenue-api/internal/token"
)

// keysAtOnce runs each of the given keys commands at the same moment on
// the keys directory dir, each with a clock of its own a millisecond apart
// (so their key files would not share a name), and returns their errors.
func keysAtOnce(t *testing.T, dir string, commands ...[]string) []error {
	t.Helper()
	env := map[string]string{"REVENUE_KEYS_DIR": dir}
	base := time.Now()
	errs := make([]error, len(commands))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, args := range commands {
		wg.Go(func() {
			<-start
			now := base.Add(time.Duration(i) * time.Millisecond)
			errs[i] = keysCommandAt(context.Background(), args, func(k string) string { return env[k] }, &bytes.Buffer{},
				func() time.Time { return now })
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// noUnlistedKeys fails if dir holds a key file its state file does not name:
// the trace of two writers of the state file interleaving.
func noUnlistedKeys(t *testing.T, dir string) *token.Dir {
	t.Helper()
	d, err := token.OpenDir(dir)
	if err != nil {
		t.Fatalf("open %s: %v", dir, err)
	}
	if len(d.Unlisted) > 0 {
		t.Fatalf("%s holds key files its state file does not name (one writer overwrote another's state): %v", dir, d.Unlisted)
	}
	return d
}

// Two operators running `keys generate` at once on an empty directory take
// turns: the first key is current, the second next, and a third at the
// same moment is refused because a next key exists, as it is one at a time.
func TestKeysCommandsAtOnceTakeTurns(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	errs := keysAtOnce(t, dir, []string{"generate"}, []string{"generate"}, []string{"generate"})
	var refused int
	for _, err := range errs {
		switch {
		case err == nil:
		case strings.Contains(err.Error(), "already holds a next key"):
			refused++
		default:
			t.Fatalf("keys generate: %v", err)
		}
	}
	d := noUnlistedKeys(t, dir)
	if refused != 1 || len(d.Keys) != 2 || d.Current() == nil || d.Next() == nil {
		t.Errorf("three `keys generate` at once: %d refused, %d keys listed (current %v, next %v); want 1 refused, a current and a next key",
			refused, len(d.Keys), d.Current() != nil, d.Next() != nil)
	}
}

// Replicas starting on one empty directory while an operator runs `keys
// generate` and `keys prune`: each replica signs with the one current key,
// and no writer's change is lost.
func TestServeStartsAndKeysCommandsShareOneDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	cfg, err := config.Load(testEnv(map[string]string{
		"DATABASE_URL": "postgres://unused@127.0.0.1:1/none", "REVENUE_KEYS_GENERATE": "true", "REVENUE_KEYS_DIR": dir,
	}))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	const replicas = 3
	signing := make([]string, replicas)
	errs := make([]error, replicas)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Go(func() {
			<-start
			now := time.Now().Add(time.Duration(10+i) * time.Millisecond)
			r, err := loadKeys(cfg, log, func() time.Time { return now })
			if errs[i] = err; err == nil {
				signing[i] = r.Keyring().Set().Signing().ID
			}
		})
	}
	var cmdErrs []error
	wg.Go(func() {
		<-start
		cmdErrs = keysAtOnce(t, dir, []string{"generate"}, []string{"prune"})
	})
	close(start)
	wg.Wait()
	for i, err := range append(errs, cmdErrs...) {
		if err != nil {
			t.Fatalf("start or command %d: %v", i, err)
		}
	}
	d := noUnlistedKeys(t, dir)
	if d.Current() == nil {
		t.Fatalf("no current key in %s after the starts and commands", dir)
	}
	for i, kid := range signing {
		if kid != d.Current().ID {
			t.Errorf("replica %d signs with kid %s, want the current key %s", i, kid, d.Current().ID)
		}
	}
}
