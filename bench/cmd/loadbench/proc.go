package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, the unit of the CPU times in /proc: 100 on every
// Linux architecture Go supports (sysconf(_SC_CLK_TCK) reports the same).
const clockTicks = 100

// procStat is what /proc/<pid>/stat says about a process that we use.
type procStat struct {
	ppid int
	cpu  uint64 // utime + stime, in clock ticks
}

func readProcStat(pid int) (procStat, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	// The command name is in parentheses and may hold spaces or ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 13 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	// f[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
	ppid, _ := strconv.Atoi(f[1])
	utime, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return procStat{}, fmt.Errorf("/proc/%d/stat: bad CPU times", pid)
	}
	return procStat{ppid: ppid, cpu: utime + stime}, nil
}

// treeCPU returns the CPU ticks of pid and of each of its children, by pid:
// PostgreSQL's postmaster and its backends, or a server and its hash
// worker processes.
func treeCPU(pid int) map[int]uint64 {
	out := map[int]uint64{}
	if s, err := readProcStat(pid); err == nil {
		out[pid] = s.cpu
	}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		child, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		if s, err := readProcStat(child); err == nil && s.ppid == pid {
			out[child] = s.cpu
		}
	}
	return out
}

// treeDelta is the CPU the tree spent between two snapshots; a process that
// appeared in between counts in full.
func treeDelta(before, after map[int]uint64) uint64 {
	var d uint64
	for pid, t := range after {
		if t >= before[pid] {
			d += t - before[pid]
		}
	}
	return d
}

// peakRSSKiB is VmHWM, the most resident memory the process ever had.
func peakRSSKiB(pid int) uint64 {
	return statusField(pid, "VmHWM:")
}

func statusField(pid int, name string) uint64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), name); ok {
			n, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// cpuTimes is one CPU's line of /proc/stat: busy and total clock ticks.
type cpuTimes struct{ busy, total uint64 }

func readCPUTimes(cpu int) cpuTimes {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuTimes{}
	}
	prefix := fmt.Sprintf("cpu%d ", cpu)
	for _, line := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		var t cpuTimes
		for i, field := range strings.Fields(line)[1:] {
			n, _ := strconv.ParseUint(field, 10, 64)
			if i >= 8 { // guest time is already counted in user
				break
			}
			t.total += n
			if i != 3 && i != 4 { // idle, iowait
				t.busy += n
			}
		}
		return t
	}
	return cpuTimes{}
}

func (a cpuTimes) sub(b cpuTimes) cpuTimes {
	return cpuTimes{busy: a.busy - b.busy, total: a.total - b.total}
}

// allowedCPUs returns this process's Cpus_allowed_list, e.g. "1" or "0-1".
func allowedCPUs() string {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
			return strings.TrimSpace(rest)
		}
	}
	return ""
}

func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
