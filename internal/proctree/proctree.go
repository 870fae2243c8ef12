// Package proctree reads the CPU time of a process and of its children from
// /proc (Linux), for the benchmarks: a server and its hash workers, or
// PostgreSQL's postmaster and its backends.
package proctree

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ClockTicks is USER_HZ, the unit of the CPU times in /proc: 100 on every
// Linux architecture Go supports (sysconf(_SC_CLK_TCK) reports the same).
const ClockTicks = 100

// Stat is what /proc/<pid>/stat says about a process that we use.
type Stat struct {
	PPID int
	CPU  uint64 // utime + stime, in clock ticks
	// Reaped is cutime + cstime: the CPU of the children it has waited for.
	Reaped uint64
}

// ReadStat reads /proc/<pid>/stat.
func ReadStat(pid int) (Stat, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return Stat{}, err
	}
	// The command name is in parentheses and may hold spaces or ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return Stat{}, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 15 {
		return Stat{}, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	// f[0] is field 3 (state): ppid is field 4, utime 14, stime 15, cutime
	// 16, cstime 17.
	ppid, _ := strconv.Atoi(f[1])
	var t [4]uint64
	for i := range t {
		v, err := strconv.ParseUint(f[11+i], 10, 64)
		if err != nil {
			return Stat{}, fmt.Errorf("/proc/%d/stat: bad CPU times", pid)
		}
		t[i] = v
	}
	return Stat{PPID: ppid, CPU: t[0] + t[1], Reaped: t[2] + t[3]}, nil
}

// Tree is the CPU of a process and its children at one moment.
type Tree struct {
	Procs  map[int]uint64 // CPU ticks of the process and of each child, by pid
	Reaped uint64         // ticks of the children the process has waited for
}

// CPU reads the CPU ticks of pid and of each of its children; nothing for
// pid 0.
func CPU(pid int) Tree {
	out := Tree{Procs: map[int]uint64{}}
	if pid == 0 {
		return out
	}
	if s, err := ReadStat(pid); err == nil {
		out.Procs[pid], out.Reaped = s.CPU, s.Reaped
	}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		child, err := strconv.Atoi(filepath.Base(d))
		if err != nil || child == pid {
			continue
		}
		if s, err := ReadStat(child); err == nil && s.PPID == pid {
			out.Procs[child] = s.CPU
		}
	}
	return out
}

// Delta is the CPU the tree spent between two snapshots. A child that
// appeared in between counts in full. A child that ended in between counts
// what it spent after the first snapshot: its whole time reaches its
// parent's reaped time when the parent waits for it (PostgreSQL's
// postmaster and a server with its hash workers wait at once), and what it
// had spent before is taken off.
func Delta(before, after Tree) uint64 {
	var d int64
	for pid, t := range after.Procs {
		if t >= before.Procs[pid] {
			d += int64(t - before.Procs[pid])
		}
	}
	d += int64(after.Reaped) - int64(before.Reaped)
	for pid, t := range before.Procs {
		if _, alive := after.Procs[pid]; !alive {
			d -= int64(t)
		}
	}
	return uint64(max(d, 0))
}
