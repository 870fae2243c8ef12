package pgcluster

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestCheckTraversable(t *testing.T) {
	closed := filepath.Join(t.TempDir(), "closed")
	inner := filepath.Join(closed, "inner")
	if err := os.MkdirAll(inner, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(closed, 0o700); err != nil {
		t.Fatal(err)
	}

	owner := &serverUser{name: "owner", uid: uint32(os.Getuid()), gid: uint32(os.Getgid())}
	if err := owner.checkTraversable(inner); err != nil {
		t.Errorf("the owner of every directory on the way: %v, want nil", err)
	}

	stranger := &serverUser{name: "stranger", uid: owner.uid + 12345, gid: owner.gid + 12345}
	err := stranger.checkTraversable(inner)
	if err == nil || !strings.Contains(err.Error(), "directory "+closed+" is not traversable by user stranger") {
		t.Errorf("a stranger: %v, want an error naming %s", err, closed)
	}
}

func TestNewestFirstComparesVersionsAsNumbers(t *testing.T) {
	got := newestFirst([]string{
		"/usr/lib/postgresql/9.6/bin",
		"/usr/lib/postgresql/15/bin",
		"/usr/lib/postgresql/10/bin",
	})
	want := []string{
		"/usr/lib/postgresql/15/bin",
		"/usr/lib/postgresql/10/bin",
		"/usr/lib/postgresql/9.6/bin",
	}
	if !slices.Equal(got, want) {
		t.Errorf("newestFirst = %v, want %v", got, want)
	}
}

func TestQuoteValueSurvivesParsing(t *testing.T) {
	for _, host := range []string{"/tmp/revenue-pg-1", `/tmp/with space/it's\here`, ""} {
		cfg, err := pgx.ParseConfig("host=" + quoteValue("/x") + " host=" + quoteValue(host) + " dbname=" + quoteValue("d b"))
		if err != nil {
			t.Errorf("host %q: %v", host, err)
			continue
		}
		if host != "" && cfg.Host != host {
			t.Errorf("host %q came back as %q", host, cfg.Host)
		}
		if cfg.Database != "d b" {
			t.Errorf("dbname %q came back as %q", "d b", cfg.Database)
		}
	}
}
