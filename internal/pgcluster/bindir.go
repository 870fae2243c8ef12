package pgcluster

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// debianBinGlob is where Debian and Ubuntu install each major version's server
// binaries; they are not on PATH there.
const debianBinGlob = "/usr/lib/postgresql/*/bin"

// FindBinDir returns the directory holding this machine's PostgreSQL server
// binaries (initdb and postgres): `pg_config --bindir` if it has them, else the
// highest version under /usr/lib/postgresql/*/bin.
func FindBinDir() (string, error) {
	var looked []string
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		dir := strings.TrimSpace(string(out))
		if hasServerBinaries(dir) {
			return dir, nil
		}
		looked = append(looked, dir+" (from pg_config --bindir)")
	} else {
		looked = append(looked, "pg_config --bindir")
	}

	dirs, _ := filepath.Glob(debianBinGlob) // the pattern is valid, so there is no error
	for _, dir := range newestFirst(dirs) {
		if hasServerBinaries(dir) {
			return dir, nil
		}
	}
	looked = append(looked, debianBinGlob)
	return "", binariesNotFound(looked...)
}

// binariesNotFound says what is missing and what to install.
func binariesNotFound(looked ...string) error {
	return fmt.Errorf("PostgreSQL server binaries not found (looked in %s): install them, e.g. `apt-get install postgresql` on Debian, or set DATABASE_URL",
		strings.Join(looked, ", "))
}

// hasServerBinaries reports whether dir holds executable initdb and postgres.
func hasServerBinaries(dir string) bool {
	for _, name := range []string{"initdb", "postgres"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			return false
		}
	}
	return true
}

// newestFirst sorts /usr/lib/postgresql/<version>/bin directories by
// version, highest first, numerically: 15 above 9.6.
func newestFirst(dirs []string) []string {
	slices.SortFunc(dirs, func(a, b string) int {
		return slices.Compare(versionOf(b), versionOf(a))
	})
	return dirs
}

// versionOf returns the numeric parts of the version directory in
// /usr/lib/postgresql/<version>/bin: "9.6" gives [9 6], "15" gives [15].
func versionOf(binDir string) []int {
	var parts []int
	for _, s := range strings.Split(filepath.Base(filepath.Dir(binDir)), ".") {
		n, err := strconv.Atoi(s)
		if err != nil {
			return parts
		}
		parts = append(parts, n)
	}
	return parts
}
