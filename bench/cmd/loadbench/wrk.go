package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// load is one wrk invocation: what to send, how hard and for how long.
type load struct {
	method  string
	url     string
	headers map[string]string
	body    string
	conns   int
	// pace, when set, makes every connection wait that long between a
	// response and its next request: a steady rate instead of saturation.
	pace time.Duration
	// statuses asks wrk to count answers by status and Retry-After (costs
	// the load generator a Lua call per response).
	statuses bool
	// lua is script code added after the summary (luaDone), for loads
	// whose requests depend on earlier answers.
	lua string
}

// wrkResult is the summary wrk's done() hook prints.
type wrkResult struct {
	Requests   uint64           `json:"requests"`
	DurationUS uint64           `json:"duration_us"`
	ErrConnect uint64           `json:"err_connect"`
	ErrRead    uint64           `json:"err_read"`
	ErrWrite   uint64           `json:"err_write"`
	ErrStatus  uint64           `json:"err_status"`
	ErrTimeout uint64           `json:"err_timeout"`
	P50US      float64          `json:"p50_us"`
	P90US      float64          `json:"p90_us"`
	P99US      float64          `json:"p99_us"`
	MaxUS      float64          `json:"max_us"`
	Statuses   map[string]int64 `json:"statuses"`
	RetryAfter int64            `json:"retry_after"`
	CPU        time.Duration    `json:"-"` // wrk's own user+system time
}

func (r wrkResult) rps() float64 {
	if r.DurationUS == 0 {
		return 0
	}
	return float64(r.Requests) / (float64(r.DurationUS) / 1e6)
}

func (r wrkResult) errors() uint64 {
	return r.ErrConnect + r.ErrRead + r.ErrWrite + r.ErrTimeout
}

// script writes the Lua script for l into dir and returns its path.
func (l load) script(dir, name string) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "wrk.method = %q\n", l.method)
	if l.body != "" {
		fmt.Fprintf(&b, "wrk.body = %q\n", l.body)
	}
	for k, v := range l.headers {
		fmt.Fprintf(&b, "wrk.headers[%q] = %q\n", k, v)
	}
	if l.pace > 0 {
		fmt.Fprintf(&b, "function delay() return %d end\n", max(1, l.pace.Milliseconds()))
	}
	if l.statuses {
		b.WriteString(luaCountStatuses)
	}
	b.WriteString(luaDone)
	b.WriteString(l.lua)
	path := fmt.Sprintf("%s/%s.lua", dir, name)
	return path, os.WriteFile(path, []byte(b.String()), 0o600)
}

const luaCountStatuses = `
statuses = {}
retry_after = 0
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if headers["Retry-After"] then retry_after = retry_after + 1 end
end
`

// luaDone prints one line of JSON after the run, summing the counts kept by
// each thread's Lua state.
const luaDone = `
local threads = {}
function setup(thread) table.insert(threads, thread) end
function done(summary, latency, requests)
  local counts, retry = {}, 0
  for _, t in ipairs(threads) do
    local s = t:get("statuses")
    if type(s) == "table" then
      for k, v in pairs(s) do counts[k] = (counts[k] or 0) + v end
    end
    retry = retry + (tonumber(t:get("retry_after")) or 0)
  end
  local parts = {}
  for k, v in pairs(counts) do table.insert(parts, string.format('"%d":%d', k, v)) end
  local e = summary.errors
  io.write(string.format('LOADBENCH {"requests":%d,"duration_us":%d,"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,"err_timeout":%d,"p50_us":%.1f,"p90_us":%.1f,"p99_us":%.1f,"max_us":%.1f,"statuses":{%s},"retry_after":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    table.concat(parts, ","), retry))
end
`

// runWrk runs wrk pinned to cpu with one thread for d and returns its summary.
func runWrk(ctx context.Context, cpu int, script, url string, conns int, d time.Duration) (wrkResult, error) {
	args := []string{"-c", strconv.Itoa(cpu), "wrk", "-t1", "-c", strconv.Itoa(conns),
		"-d", fmt.Sprintf("%ds", max(1, int(d.Seconds()))), "--timeout", "10s", "-s", script, url}
	cmd := exec.CommandContext(ctx, "taskset", args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return wrkResult{}, fmt.Errorf("wrk %s: %v: %s%s", url, err, out.String(), errOut.String())
	}
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "LOADBENCH "); ok {
			var r wrkResult
			if err := json.Unmarshal([]byte(rest), &r); err != nil {
				return wrkResult{}, fmt.Errorf("wrk summary %q: %w", rest, err)
			}
			r.CPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
			return r, nil
		}
	}
	return wrkResult{}, fmt.Errorf("wrk %s printed no summary:\n%s%s", url, out.String(), errOut.String())
}
