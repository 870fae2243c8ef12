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
	if len(f) < 13 {
		return Stat{}, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	// f[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
	ppid, _ := strconv.Atoi(f[1])
	utime, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return Stat{}, fmt.Errorf("/proc/%d/stat: bad CPU times", pid)
	}
	return Stat{PPID: ppid, CPU: utime + stime}, nil
}

// CPU returns the CPU ticks of pid and of each of its children, by pid;
// nothing for pid 0.
func CPU(pid int) map[int]uint64 {
	out := map[int]uint64{}
	if pid == 0 {
		return out
	}
	if s, err := ReadStat(pid); err == nil {
		out[pid] = s.CPU
	}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		child, err := strconv.Atoi(filepath.Base(d))
		if err != nil || child == pid {
			continue
		}
		if s, err := ReadStat(child); err == nil && s.PPID == pid {
			out[child] = s.CPU
		}
	}
	return out
}

// Delta is the CPU the tree spent between two snapshots of CPU; a process
// that appeared in between counts in full, one that ended not at all.
func Delta(before, after map[int]uint64) uint64 {
	var d uint64
	for pid, t := range after {
		if t >= before[pid] {
			d += t - before[pid]
		}
	}
	return d
}
