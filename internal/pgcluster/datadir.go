package pgcluster

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// serverUser is the unprivileged account that runs initdb and postgres when we
// are root: both refuse to run as root.
type serverUser struct {
	name     string
	uid, gid uint32
}

// unprivilegedUser returns the account to run the server as when we are root:
// the `postgres` system user if it exists, else `nobody`.
func unprivilegedUser() (*serverUser, error) {
	var errs []error
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		uid, err := strconv.ParseUint(u.Uid, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("user %s has uid %q: %w", name, u.Uid, err)
		}
		gid, err := strconv.ParseUint(u.Gid, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("user %s has gid %q: %w", name, u.Gid, err)
		}
		return &serverUser{name: name, uid: uint32(uid), gid: uint32(gid)}, nil
	}
	return nil, fmt.Errorf("running as root, and PostgreSQL refuses to: no unprivileged user to run it as: %w", errors.Join(errs...))
}

// UnprivilegedCredential is the credential, with no supplementary groups,
// of the account a root process runs PostgreSQL (and its tools, such as
// PgBouncer, which refuse root too) as: postgres, else nobody.
func UnprivilegedCredential() (*syscall.Credential, error) {
	u, err := unprivilegedUser()
	if err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: u.uid, Gid: u.gid, Groups: []uint32{}}, nil
}

// credential is what exec needs to run a child as u.
func (u *serverUser) credential() *syscall.Credential {
	return &syscall.Credential{Uid: u.uid, Gid: u.gid}
}

// checkTraversable returns an error naming the first directory from dir up to
// the root that u may not search, because PostgreSQL could not reach its data
// directory or socket through it.
func (u *serverUser) checkTraversable(dir string) error {
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return fmt.Errorf("cannot read the owner of %s", d)
		}
		var searchBit fs.FileMode
		switch {
		case st.Uid == u.uid:
			searchBit = 0o100
		case st.Gid == u.gid:
			searchBit = 0o010
		default:
			searchBit = 0o001
		}
		if fi.Mode().Perm()&searchBit == 0 {
			return fmt.Errorf("directory %s is not traversable by user %s (uid %d), which runs PostgreSQL because it refuses to run as root: chmod o+x %s, or choose a directory elsewhere",
				d, u.name, u.uid, d)
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// chownAll gives u everything under dir that it does not own yet, so that a
// data dir made by another user (or by root) can be reused.
func (u *serverUser) chownAll(dir string) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid == u.uid && st.Gid == u.gid {
			return nil
		}
		return os.Lchown(path, int(u.uid), int(u.gid))
	})
}

// isInitialised reports whether dataDir holds a PostgreSQL cluster.
func isInitialised(dataDir string) (bool, error) {
	_, err := os.Stat(filepath.Join(dataDir, "PG_VERSION"))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	default:
		return false, err
	}
}

// makeEmptyDataDir creates dataDir (mode 0700) if missing, and refuses a
// directory that has files but no cluster, rather than let initdb fail on it.
func makeEmptyDataDir(dataDir string) error {
	if err := os.MkdirAll(filepath.Dir(dataDir), 0o755); err != nil {
		return err
	}
	if err := os.Mkdir(dataDir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	entries, err := os.ReadDir(dataDir)
	if err != nil {
		return err
	}
	if len(entries) > 0 {
		return fmt.Errorf("data dir %s is neither empty nor a PostgreSQL data directory (no PG_VERSION): empty it or choose another", dataDir)
	}
	return os.Chmod(dataDir, 0o700)
}

// checkLockFile refuses a data dir that a live postgres holds, and removes a
// postmaster.pid whose pid now belongs to some other process (common after a
// container restart), which postgres itself would take for a live owner. A
// lock file whose pid is dead is left alone: postgres replaces it, after
// checking that no orphaned backend still uses the old shared memory.
func checkLockFile(dataDir string) error {
	lock, err := readLockFile(dataDir)
	if err != nil || lock.pid == 0 || !processAlive(lock.pid) {
		return err
	}
	if isPostgresFor(lock.pid, dataDir) {
		return fmt.Errorf("data dir %s is %w (pid %d)", dataDir, errInUse, lock.pid)
	}
	lockFile := filepath.Join(dataDir, "postmaster.pid")
	if err := os.Remove(lockFile); err != nil {
		return fmt.Errorf("removing stale %s (pid %d is not PostgreSQL): %w", lockFile, lock.pid, err)
	}
	return nil
}

// errInUse is why Start refuses a data dir that a live postgres holds.
var errInUse = errors.New("in use by another PostgreSQL")

// lockFile is what postmaster.pid says: pid, then data dir, start time,
// port, socket directory, listen address, shared memory key and status,
// one a line (PostgreSQL's src/include/miscadmin.h, LOCK_FILE_LINE_*).
type lockFile struct {
	pid       int // 0 when there is no lock file, or one we cannot read
	port      int
	socketDir string
}

// readLockFile reads dataDir's postmaster.pid. A missing or corrupt one
// gives pid 0: postgres reports a corrupt lock file better than we can.
func readLockFile(dataDir string) (lockFile, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if errors.Is(err, fs.ErrNotExist) {
		return lockFile{}, nil
	}
	if err != nil {
		return lockFile{}, err
	}
	lines := strings.Split(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(lines[0]))
	if err != nil {
		return lockFile{}, nil
	}
	if pid < 0 {
		pid = -pid // a single-user backend writes its pid negated
	}
	lock := lockFile{pid: pid}
	if len(lines) > 4 {
		lock.port, _ = strconv.Atoi(strings.TrimSpace(lines[3]))
		lock.socketDir = strings.TrimSpace(lines[4])
	}
	return lock, nil
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// isPostgresFor reports whether pid is a postgres serving dataDir. When /proc
// cannot tell, it answers yes: refusing to start beats two servers on one data
// dir.
func isPostgresFor(pid int, dataDir string) bool {
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return true
	}
	if name := strings.TrimSpace(string(comm)); name != "postgres" && name != "postmaster" {
		return false
	}
	// postgres runs with its data dir as working directory.
	cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
	if err != nil {
		return true
	}
	want, err := filepath.EvalSymlinks(dataDir)
	if err != nil {
		return true
	}
	return cwd == want
}
