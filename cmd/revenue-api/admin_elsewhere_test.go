package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// An admin command run, with no DATABASE_URL, from a directory that holds
// no private PostgreSQL (not where `make run` runs) refuses, naming the
// absolute path it looked in and what to do, and creates nothing there: a
// new cluster of its own would take the change, report success, and the
// running service would never see it. migrate is refused alike: the
// service creates and migrates its private PostgreSQL at every start.
func TestAdminCommandsElsewhereCreateNoPrivatePostgreSQL(t *testing.T) {
	elsewhere := t.TempDir()
	// Reachable by the unprivileged user PostgreSQL runs as when tests run
	// as root, as an operator's directory is: the command must refuse
	// because nothing is there, not because it could not start a server.
	for _, d := range []string{filepath.Dir(elsewhere), elsewhere} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(elsewhere)
	figures := filepath.Join(elsewhere, "figures.csv")
	if err := os.WriteFile(figures, []byte("month,amount\n2026-10,100\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	admin := commandRunner(map[string]string{"REVENUE_WEB_DIR": ""}) // REVENUE_DATA_DIR: the default, .data
	want := "no private PostgreSQL under " + filepath.Join(elsewhere, ".data") +
		" (serve creates it at its first start): run the command from the directory where `make run` runs, set REVENUE_DATA_DIR, or set DATABASE_URL"
	for _, tt := range []struct {
		name  string
		stdin string
		args  []string
	}{
		{"migrate", "", []string{"migrate"}},
		{"orgs add", "", []string{"orgs", "add", "-name", "Initech"}},
		{"users add", "peter-password-1\n", []string{"users", "add", "-org", "Initech", "-email", "peter@initech.example"}},
		{"users disable", "", []string{"users", "disable", "-email", "peter@initech.example"}},
		{"revenue import", "", []string{"revenue", "import", "-org", "Initech", figures}},
		{"revenue set", "", []string{"revenue", "set", "-org", "Initech", "-month", "2026-11", "-amount", "1"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, err := admin(tt.stdin, tt.args...)
			if err == nil || err.Error() != want {
				t.Errorf("%s from another directory: err %v (output %q), want %q", tt.name, err, out, want)
			}
			if _, err := os.Stat(filepath.Join(elsewhere, ".data")); !os.IsNotExist(err) {
				t.Fatalf("%s made %s (stat: %v), want nothing created", tt.name, filepath.Join(elsewhere, ".data"), err)
			}
		})
	}
}

// `keys list` from a directory without the service's keys directory says
// so, with the absolute path, instead of advising `keys generate`, which
// would make a key there; a keys directory that exists but is empty is
// named by its absolute path, as are the files `keys generate` writes.
func TestKeysCommandsNameTheKeysDirectoryAbsolutely(t *testing.T) {
	elsewhere := t.TempDir()
	t.Chdir(elsewhere)
	keys := commandRunner(nil) // REVENUE_KEYS_DIR: the default, keys
	abs := filepath.Join(elsewhere, "keys")

	_, err := keys("", "keys", "list")
	if err == nil || !strings.Contains(err.Error(), "no keys directory "+abs) || !strings.Contains(err.Error(), "REVENUE_KEYS_DIR") {
		t.Errorf("keys list with no keys directory: err %v, want a refusal naming %s and REVENUE_KEYS_DIR", err, abs)
	}
	if _, err := os.Stat(abs); !os.IsNotExist(err) {
		t.Fatalf("keys list made %s (stat: %v), want nothing created", abs, err)
	}

	if err := os.Mkdir(abs, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := keys("", "keys", "list"); err != nil || !strings.Contains(out, "no keys in "+abs+": run `revenue-api keys generate`") {
		t.Errorf("keys list on an empty keys directory: %v, printed %q; want it to name %s", err, out, abs)
	}
	if out, err := keys("", "keys", "generate"); err != nil || !strings.Contains(out, "generated "+abs+string(filepath.Separator)) {
		t.Errorf("keys generate: %v, printed %q; want the key's absolute path under %s", err, out, abs)
	}
}
