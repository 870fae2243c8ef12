package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/revenue-api/revenue-api/internal/token"
)

// TestKeysCommandsWalkTheLifecycle drives generate, list, rotate and prune
// with a controlled clock and the default durations: publish 5m (JWKS
// max-age) + 5s (reload), retire 15m (token lifetime) + 30s (leeway) + 5s.
func TestKeysCommandsWalkTheLifecycle(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	env := map[string]string{"REVENUE_KEYS_DIR": dir}
	now := time.Date(2026, 3, 1, 10, 15, 0, 0, time.UTC)
	keys := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := keysCommandAt(context.Background(), args, func(k string) string { return env[k] }, &out, func() time.Time { return now })
		return out.String(), err
	}
	must := func(want string, args ...string) string {
		t.Helper()
		out, err := keys(args...)
		if err != nil {
			t.Fatalf("keys %v: %v", args, err)
		}
		if !strings.Contains(out, want) {
			t.Fatalf("keys %v printed:\n%s\nwant it to contain %q", args, out, want)
		}
		return out
	}
	refused := func(want string, args ...string) {
		t.Helper()
		_, err := keys(args...)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("keys %v: err %v, want a refusal containing %q", args, err, want)
		}
	}

	refused("no keys directory "+dir, "list")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	must("no keys in "+dir, "list")
	must("as current", "generate")
	k1 := onlyKey(t, dir, token.StateCurrent)

	now = now.Add(time.Second)
	must("rotate` after 2026-03-01T10:20:06Z (in 5m5s)", "generate")
	k2 := onlyKey(t, dir, token.StateNext)
	refused("already holds a next key (kid "+k2.ID, "generate")

	out := must("KID", "list")
	for _, want := range []string{"STATE", "AGE", "FILE", k1.ID + "  current", k2.ID + "  next", "rotate after 2026-03-01T10:20:06Z", k2.File} {
		if !strings.Contains(out, want) {
			t.Errorf("list lacks %q:\n%s", want, out)
		}
	}

	now = now.Add(5*time.Minute + 4*time.Second)
	refused("rotate after then (in 1s)", "rotate")
	if onlyKey(t, dir, token.StateCurrent).ID != k1.ID {
		t.Fatal("a refused rotation changed the current key")
	}
	now = now.Add(time.Second)
	env["REVENUE_KEYS_RELOAD_INTERVAL"] = "0" // reloads on SIGHUP only: the advice says so
	must("kid "+k2.ID+" is now current: it signs new tokens once the service reloads (send it SIGHUP", "rotate")
	delete(env, "REVENUE_KEYS_RELOAD_INTERVAL")
	if onlyKey(t, dir, token.StateCurrent).ID != k2.ID || onlyKey(t, dir, token.StateRetired).ID != k1.ID {
		t.Fatal("after rotate the states are not k2 current, k1 retired")
	}
	must("prune after 2026-03-01T10:35:41Z", "list")

	out = must("nothing to prune", "prune")
	if !strings.Contains(out, "kept retired kid "+k1.ID) {
		t.Errorf("early prune does not say what it kept and why:\n%s", out)
	}
	now = now.Add(15*time.Minute + 35*time.Second)
	must("pruned kid "+k1.ID, "prune")
	if _, err := os.Stat(k1.File); !os.IsNotExist(err) {
		t.Errorf("pruned key file still there: %v", err)
	}
	if out := must(k2.ID, "list"); strings.Contains(out, k1.ID) {
		t.Errorf("list shows the pruned key:\n%s", out)
	}

	must("no next key: generated", "rotate")
	onlyKey(t, dir, token.StateNext)
	now = now.Add(time.Second)
	must("is now current", "rotate", "-force")
}

// onlyKey returns the one key of dir in state s.
func onlyKey(t *testing.T, dir string, s token.KeyState) *token.Key {
	t.Helper()
	d, err := token.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var found []*token.Key
	for _, k := range d.Keys {
		if k.State == s {
			found = append(found, k)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d keys are %s, want 1", len(found), s)
	}
	return found[0]
}

func TestKeysCommandsRefuseBadUse(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"no subcommand", nil, []string{}, "want a subcommand"},
		{"unknown subcommand", nil, []string{"frob"}, `unknown subcommand "frob"`},
		{"weak key size", nil, []string{"generate", "-bits", "1024"}, "outside 2048 to 8192 bits"},
		{"unknown flag", nil, []string{"list", "-force"}, "flag provided but not defined"},
		{"stray argument", nil, []string{"prune", "now"}, "takes no arguments"},
		{"bad setting", map[string]string{"REVENUE_JWKS_MAX_AGE": "soon"}, []string{"list"}, "REVENUE_JWKS_MAX_AGE"},
		{"reload interval too short", map[string]string{"REVENUE_KEYS_RELOAD_INTERVAL": "10ms"}, []string{"list"}, "REVENUE_KEYS_RELOAD_INTERVAL: must be 0"},
		{"refetch interval too short", map[string]string{"REVENUE_JWKS_REFETCH_INTERVAL": "1ms"}, []string{"list"}, "REVENUE_JWKS_REFETCH_INTERVAL"},
		{"fetch timeout too long", map[string]string{"REVENUE_JWKS_FETCH_TIMEOUT": "1h"}, []string{"list"}, "REVENUE_JWKS_FETCH_TIMEOUT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"REVENUE_KEYS_DIR": t.TempDir()}
			for k, v := range tt.env {
				env[k] = v
			}
			err := run(context.Background(), append([]string{"keys"}, tt.args...), func(k string) string { return env[k] },
				strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("keys %v: err %v, want one containing %q", tt.args, err, tt.want)
			}
		})
	}
}

// TestServeRefusesUnsafeKeyDirectories: serve stops before touching the
// database, with one line naming the file at fault.
func TestServeRefusesUnsafeKeyDirectories(t *testing.T) {
	now := time.Date(2026, 3, 1, 10, 15, 0, 0, time.UTC)
	generated := func(t *testing.T, dir string) *token.Key {
		t.Helper()
		d, err := token.OpenDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		k, err := d.Generate(2048, now)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string) (wantFile, wantReason string)
	}{
		{"listed key missing", func(t *testing.T, dir string) (string, string) {
			k := generated(t, dir)
			if err := os.Remove(k.File); err != nil {
				t.Fatal(err)
			}
			return k.File, "no such file or directory"
		}},
		{"group-readable key", func(t *testing.T, dir string) (string, string) {
			k := generated(t, dir)
			if err := os.Chmod(k.File, 0o640); err != nil {
				t.Fatal(err)
			}
			return k.File, "chmod 600"
		}},
		{"wrong key type", func(t *testing.T, dir string) (string, string) {
			ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			der, _ := x509.MarshalPKCS8PrivateKey(ec)
			name := filepath.Join(dir, "ec.pem")
			if err := os.WriteFile(name, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
				t.Fatal(err)
			}
			return name, "want an RSA private key"
		}},
		{"key file is a directory", func(t *testing.T, dir string) (string, string) {
			name := filepath.Join(dir, "dir.pem")
			if err := os.Mkdir(name, 0o700); err != nil {
				t.Fatal(err)
			}
			return name, "not a regular file"
		}},
		{"state file others may change", func(t *testing.T, dir string) (string, string) {
			generated(t, dir)
			name := filepath.Join(dir, token.StateFile)
			if err := os.Chmod(name, 0o666); err != nil {
				t.Fatal(err)
			}
			return name, "group or others change it"
		}},
		{"no current key", func(t *testing.T, dir string) (string, string) {
			k := generated(t, dir)
			name := filepath.Join(dir, token.StateFile)
			data, _ := os.ReadFile(name)
			data = bytes.Replace(data, []byte(filepath.Base(k.File)+"  current"), []byte(filepath.Base(k.File)+"  retired"), 1)
			if err := os.WriteFile(name, data, 0o600); err != nil {
				t.Fatal(err)
			}
			return name, "no current key"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			wantFile, wantReason := tt.setup(t, dir)
			env := map[string]string{"DATABASE_URL": "postgres://unused@127.0.0.1:1/none", "REVENUE_KEYS_DIR": dir}
			var stderr bytes.Buffer
			err := run(context.Background(), []string{"serve"}, func(k string) string { return env[k] }, strings.NewReader(""), &stderr, &stderr)
			if err == nil {
				t.Fatal("serve started, want a refusal")
			}
			msg := err.Error()
			if !strings.Contains(msg, wantFile) || !strings.Contains(msg, wantReason) || strings.Contains(msg, "\n") {
				t.Errorf("serve: %q, want one line naming %s and saying %q", msg, wantFile, wantReason)
			}
		})
	}
}
