package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/revenue-api/revenue-api/internal/proctree"
)

// The process tree's CPU time, shared with internal/systemtest's data-tier bench.
var (
	treeCPU   = proctree.CPU
	treeDelta = proctree.Delta
)

const clockTicks = proctree.ClockTicks

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
