package token

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// DirReloader keeps a Keyring in step with a keys directory, so that a
// running service picks up `keys generate`, `rotate` and `prune` without a
// restart. A reload swaps the whole key set at once; a reload that fails
// leaves the previous set in place and logs why.
type DirReloader struct {
	dir  string
	ring *Keyring
	log  *slog.Logger

	mu   sync.Mutex
	seen string // the directory's fingerprint at the last attempt
}

// NewDirReloader loads dir; an error means the service must not start.
func NewDirReloader(dir string, log *slog.Logger) (*DirReloader, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &DirReloader{dir: dir, log: log}
	r.seen = fingerprint(dir)
	ks, err := LoadDir(dir)
	if err != nil {
		return nil, err
	}
	r.ring = NewKeyring(ks)
	return r, nil
}

// Keyring returns the keyring the reloader keeps current.
func (r *DirReloader) Keyring() *Keyring { return r.ring }

// Reload reads the directory again and swaps the new set in. On error the
// keyring keeps its set. trigger says why, for the log.
func (r *DirReloader) Reload(trigger string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reload(trigger)
}

// Poll reloads if the key files or the state file changed since the last
// attempt. A directory that failed to load is not retried until it changes
// again, so a bad file is logged once, not at every poll.
func (r *DirReloader) Poll() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if fingerprint(r.dir) == r.seen {
		return nil
	}
	return r.reload("change")
}

func (r *DirReloader) reload(trigger string) error {
	// The fingerprint is taken before reading, so that a change made while
	// reading is seen at the next poll.
	r.seen = fingerprint(r.dir)
	d, err := OpenDir(r.dir)
	if err == nil {
		var ks *KeySet
		if ks, err = d.KeySet(); err == nil {
			for _, name := range d.Unlisted {
				r.log.Warn("key file ignored: not in the state file", "file", name, "state_file", filepath.Join(r.dir, StateFile))
			}
			r.ring.Replace(ks)
			r.log.Info("keys reloaded", "trigger", trigger, "signing_kid", ks.Signing().ID, "keys", describeKeys(ks))
			return nil
		}
	}
	r.log.Error("key reload failed; keeping the previous keys", "trigger", trigger, "err", err)
	return fmt.Errorf("reload keys: %w", err)
}

// Run polls every interval (never when interval is 0) and reloads
// whenever signals delivers (SIGHUP), until ctx ends.
func (r *DirReloader) Run(ctx context.Context, interval time.Duration, signals <-chan os.Signal) {
	var tick <-chan time.Time
	if interval > 0 {
		t := time.NewTicker(interval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
			_ = r.Poll()
		case <-signals:
			_ = r.Reload("signal")
		}
	}
}

// describeKeys lists "kid:state" pairs for the log.
func describeKeys(ks *KeySet) string {
	var parts []string
	for _, k := range ks.Keys() {
		parts = append(parts, k.ID+":"+string(k.State))
	}
	return strings.Join(parts, " ")
}

// fingerprint summarizes the key files and the state file of dir: for each,
// its name, and the size, modification time and mode of what it names
// (os.Stat follows symlinks: a Kubernetes Secret mounts each file as a link
// into ..data and updates them all by swapping ..data, so the links never
// change); and the state file's contents, which every `keys` command
// rewrites (a rotation keeps its size, and a coarse clock or a copy that
// keeps times can keep its modification time).
func fingerprint(dir string) string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "error: " + err.Error()
	}
	var b strings.Builder
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".pem") && e.Name() != StateFile {
			continue
		}
		info, err := os.Stat(filepath.Join(dir, e.Name()))
		if err != nil {
			fmt.Fprintf(&b, "%s ?\n", e.Name())
			continue
		}
		fmt.Fprintf(&b, "%s %d %d %v\n", e.Name(), info.Size(), info.ModTime().UnixNano(), info.Mode())
	}
	if state, err := os.ReadFile(filepath.Join(dir, StateFile)); err == nil {
		fmt.Fprintf(&b, "%s sha256 %x\n", StateFile, sha256.Sum256(state))
	}
	return b.String()
}
