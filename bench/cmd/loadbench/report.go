package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

type report struct {
	opts                  options
	started, finished     time.Time
	loadBefore, loadAfter string
	variants              []*variant
	pressure              *pressureResult
	propagation           *propagationResult
	goBench               []goBenchRow
}

func (r *report) write(w io.Writer) {
	o := r.opts
	fmt.Fprintf(w, "# revenue-api benchmark\n\n")
	fmt.Fprintf(w, "%s, %s/%s, %d CPUs, %s. wrk pinned to CPU %d (1 thread); servers and PostgreSQL pinned to CPU %d. "+
		"%d interleaved rounds of %s per variant, medians shown (req/s also min–max). Load average %s before, %s after; took %s.\n\n",
		r.started.UTC().Format("2006-01-02 15:04 UTC"), runtime.GOOS, runtime.GOARCH, onlineCPUs(), cpuModel(),
		o.loadCPU, o.serverCPU, o.rounds, o.duration, r.loadBefore, r.loadAfter, r.finished.Sub(r.started).Round(time.Second))

	if len(r.goBench) > 0 {
		fmt.Fprintf(w, "## Go benchmarks (one CPU, medians)\n\n")
		fmt.Fprintf(w, "| benchmark | time/op | B/op | allocs/op |\n|---|---:|---:|---:|\n")
		for _, b := range r.goBench {
			fmt.Fprintf(w, "| %s | %s | %.0f | %.0f |\n", b.name, fmtNs(b.nsPerOp), b.bytesPerOp, b.allocsPerOp)
		}
		fmt.Fprintln(w)
	}

	fmt.Fprintf(w, "## HTTP on loopback (%d connections; POST /login %d, POST /token/refresh %d)\n\n", o.conns, o.loginConns, o.refreshConns)
	fmt.Fprintf(w, "| endpoint | variant | req/s | p50 ms | p99 ms | server CPU µs/req | PostgreSQL CPU µs/req | peak RSS MiB | × no-auth | × golang-jwt | × PG session |\n")
	fmt.Fprintf(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, v := range r.variants {
		if len(v.samples) == 0 {
			continue
		}
		rps := field(v.samples, func(s sample) float64 { return s.rps })
		peak := median(field(v.samples, func(s sample) float64 { return float64(s.peakKiB) }))
		fmt.Fprintf(w, "| %s | %s | %.0f (%.0f–%.0f) | %.2f | %.2f | %.1f | %s | %.1f | %s | %s | %s |\n",
			v.endpoint, v.label, median(rps), slices.Min(rps), slices.Max(rps),
			median(field(v.samples, func(s sample) float64 { return s.p50 })),
			median(field(v.samples, func(s sample) float64 { return s.p99 })),
			median(field(v.samples, func(s sample) float64 { return s.cpuServer })),
			dbCPU(v), peak/1024,
			r.ratio(v, modeNoAuth), r.ratio(v, modeJWT), r.ratio(v, modeSession))
	}
	fmt.Fprintf(w, "\nRatios are medians of per-round ratios of req/s to the baseline for the same endpoint. "+
		"CPU per request is the server's (with its password-hashing worker processes, for revenue-api) and PostgreSQL's utime+stime over the run divided by the requests answered. "+
		"Peak RSS is VmHWM, reset before each run (median over the rounds), summed over the server and its hash worker processes; it includes memory held when the run began. "+
		"Bad answers (non-2xx, socket errors): %s.\n\n", r.badAnswers())

	r.writeTargets(w)
	r.writeMemory(w)
	r.writeRevocations(w)
	r.writePressure(w)
	r.writeNoise(w)
}

func dbCPU(v *variant) string {
	c := median(field(v.samples, func(s sample) float64 { return s.cpuDB }))
	if c < 0.5 {
		return "–"
	}
	return fmt.Sprintf("%.1f", c)
}

func (r *report) find(endpoint, kind string) *variant {
	for _, v := range r.variants {
		if v.endpoint == endpoint && v.kind == kind {
			return v
		}
	}
	return nil
}

// ratioOf is the median over rounds of v's req/s over the baseline's.
func (r *report) ratioOf(v *variant, kind string) (float64, bool) {
	rs := perRoundRatios(v, r.find(v.endpoint, kind))
	if rs == nil {
		return 0, false
	}
	return median(rs), true
}

// perRoundRatios is v's req/s over b's in each round; nil when they cannot
// be paired.
func perRoundRatios(v, b *variant) []float64 {
	if v == nil || b == nil || len(b.samples) != len(v.samples) || len(v.samples) == 0 {
		return nil
	}
	rs := make([]float64, len(v.samples))
	for i := range v.samples {
		if b.samples[i].rps == 0 {
			return nil
		}
		rs[i] = v.samples[i].rps / b.samples[i].rps
	}
	return rs
}

func (r *report) ratio(v *variant, kind string) string {
	if v.kind == kind {
		return "1"
	}
	x, ok := r.ratioOf(v, kind)
	if !ok {
		return "–"
	}
	return fmt.Sprintf("%.2f", x)
}

func (r *report) badAnswers() string {
	var parts []string
	for _, v := range r.variants {
		var n uint64
		for _, s := range v.samples {
			n += s.bad
		}
		if v.mem != nil {
			n += v.mem.bad
		}
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%s %s: %d", v.endpoint, v.label, n))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "; ")
}

func (r *report) writeTargets(w io.Writer) {
	fmt.Fprintf(w, "## Targets\n\n| target | measured | met |\n|---|---|:-:|\n")
	row := func(name, measured string, ok bool) {
		mark := "no"
		if ok {
			mark = "yes"
		}
		fmt.Fprintf(w, "| %s | %s | %s |\n", name, measured, mark)
	}
	ratioRow := func(name, endpoint, kind, base string, want float64) {
		v := r.find(endpoint, kind)
		if v == nil {
			return
		}
		x, ok := r.ratioOf(v, base)
		row(name, fmt.Sprintf("%.2f×", x), ok && x >= want)
	}
	ratioRow("GET /me, cache off ≥ 1× minimal golang-jwt", "GET /me", kindAPINoCache, modeJWT, 1)
	ratioRow("(context) GET /me, cache off vs minimal golang-jwt with the same response headers ≥ 1×", "GET /me", kindAPINoCache, kindJWTHeaders, 1)
	ratioRow("GET /me, cache on ≥ 1× minimal golang-jwt", "GET /me", kindAPI, modeJWT, 1)
	ratioRow("GET /me, cache on, repeated token ≥ 0.8× no-auth", "GET /me", kindAPI, modeNoAuth, 0.8)
	ratioRow("GET /me, cache on, repeated token ≥ 2× PostgreSQL session", "GET /me", kindAPI, modeSession, 2)
	ratioRow("(context) GET /me, cache on vs no-auth with the same response headers ≥ 0.8×", "GET /me", kindAPI, kindNoAuthHeaders, 0.8)
	ratioRow("(context) GET /me, cache on, no access log vs no-auth with the same response headers ≥ 0.8×", "GET /me", kindAPIQuiet, kindNoAuthHeaders, 0.8)
	many := groupThousands(r.opts.revocations)
	ratioRow("GET /me, cache on, "+many+" live revocations ≥ 0.95× none", "GET /me", kindRevManyCache, kindRev0Cache, 0.95)
	ratioRow("GET /me, cache off, "+many+" live revocations ≥ 0.95× none", "GET /me", kindRevManyNoCache, kindRev0NoCache, 0.95)
	ratioRow("GET /revenue, cache on ≥ 1× PostgreSQL session", "GET /revenue", kindAPI, modeSession, 1)
	ratioRow("GET /revenue, cache off ≥ 1× PostgreSQL session", "GET /revenue", kindAPINoCache, modeSession, 1)
	for _, kind := range []string{kindAPI, kindAPINoCache} {
		if v := r.find("GET /me", kind); v != nil && v.mem != nil {
			mib := float64(v.mem.peakKiB) / 1024
			row(fmt.Sprintf("GET /me (%s), peak RSS at %d connections < 64 MiB", v.label, r.opts.memConns), fmt.Sprintf("%.1f MiB", mib), mib < 64)
		}
	}
	if p := r.pressure; p != nil {
		x := p.p99Ratio()
		row("GET /revenue p99 with a login flood ≤ 2× without", fmt.Sprintf("%.2f×", x), x <= 2)
		n, prompt := p.promptRejections()
		row("logins beyond capacity: prompt 429/503 with Retry-After", fmt.Sprintf("%d of %d probes refused with Retry-After, slowest refusal %s", prompt, n, p.slowestRejection().Round(time.Millisecond)), prompt > 0 && p.slowestRejection() < time.Second)
	}
	fmt.Fprintln(w)
}

func (r *report) writeMemory(w io.Writer) {
	fmt.Fprintf(w, "## Peak memory, GET /me with %d connections\n\n| variant | req/s | p99 ms | peak RSS MiB |\n|---|---:|---:|---:|\n", r.opts.memConns)
	for _, v := range r.variants {
		if v.mem != nil {
			fmt.Fprintf(w, "| %s | %.0f | %.2f | %.1f |\n", v.label, v.mem.rps, v.mem.p99, float64(v.mem.peakKiB)/1024)
		}
	}
	fmt.Fprintln(w)
}

func (r *report) writeRevocations(w io.Writer) {
	pairs := []struct{ cache, none, many string }{
		{"on", kindRev0Cache, kindRevManyCache},
		{"off", kindRev0NoCache, kindRevManyNoCache},
	}
	many := groupThousands(r.opts.revocations)
	var rows []string
	for _, p := range pairs {
		none, lots := r.find("GET /me", p.none), r.find("GET /me", p.many)
		rs := perRoundRatios(lots, none)
		if rs == nil {
			continue
		}
		cpu := func(v *variant) float64 {
			return median(field(v.samples, func(s sample) float64 { return s.cpuServer }))
		}
		p99 := func(v *variant) float64 { return median(field(v.samples, func(s sample) float64 { return s.p99 })) }
		mem := func(v *variant) string {
			if v.mem == nil {
				return "–"
			}
			return fmt.Sprintf("%.1f", float64(v.mem.peakKiB)/1024)
		}
		rows = append(rows, fmt.Sprintf("| %s | **%.2f** (%.2f–%.2f) | %.2f → %.2f | %.1f → %.1f | %s → %s |",
			p.cache, median(rs), slices.Min(rs), slices.Max(rs), p99(none), p99(lots), cpu(none), cpu(lots), mem(none), mem(lots)))
	}
	p := r.propagation
	if len(rows) == 0 && p == nil {
		return
	}
	fmt.Fprintf(w, "## Revocations\n\n")
	if len(rows) > 0 {
		fmt.Fprintf(w, "GET /me on the same server started on two copies of one database, one of them holding %s live revocations "+
			"(nine in ten of sessions, one in ten of users; loaded at start, checked in the start-up log), the other none; "+
			"rows of the table above, run in the same interleaved rounds. The ratio is the median of per-round ratios of req/s (min–max over the rounds); "+
			"the other columns go from none to %s.\n\n", many, many)
		fmt.Fprintf(w, "| token cache | req/s %s / none | p99 ms | server CPU µs/req | peak RSS MiB at %d connections |\n|---|---:|---:|---:|---:|\n", many, r.opts.memConns)
		fmt.Fprintf(w, "%s\n\n", strings.Join(rows, "\n"))
	}

	if p == nil {
		return
	}
	fmt.Fprintf(w, "Time from POST /logout answered by one replica to the same token refused (401) by another process: %d logouts, "+
		"each of a fresh login whose token was first accepted (so cached) by the process timed, then GET /me polled every %s from the logout's answer "+
		"(a time is the 401's arrival: at most a poll interval and a request late). The verifier-only process is timed on %d of them, "+
		"each after a random wait of up to its feed's poll interval, so that they fall at any phase of its poll. "+
		"The client runs on the load generator's CPU; the replicas, the verifier and PostgreSQL share the server CPU.\n\n",
		r.opts.logouts, p.Every, len(p.Verifier))
	fmt.Fprintf(w, "| refused by | logouts | p50 ms | p99 ms | max ms | refused on the first poll |\n|---|---:|---:|---:|---:|---:|\n")
	for _, c := range []struct {
		name  string
		ds    []time.Duration
		first int
	}{
		{"another replica of the same database (LISTEN/NOTIFY)", p.Replica, p.ReplicaFirst},
		{"a verifier-only process (long-polling the first replica's signed feed)", p.Verifier, p.VerifierFirst},
	} {
		if len(c.ds) == 0 {
			continue
		}
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %d |\n", c.name, len(c.ds),
			fmtMs(percentile(c.ds, 50)), fmtMs(percentile(c.ds, 99)), fmtMs(slices.Max(c.ds)), c.first)
	}
	if len(p.Failures) > 0 {
		fmt.Fprintf(w, "\nNot refused in time: %s.\n", strings.Join(p.Failures, "; "))
	}
	fmt.Fprintln(w)
}

func (p *pressureResult) p99Ratio() float64 {
	a := median(field(p.alone, func(s sample) float64 { return s.p99 }))
	f := median(field(p.flooded, func(s sample) float64 { return s.p99 }))
	if a == 0 {
		return 0
	}
	return f / a
}

// promptRejections counts the probes and those answered 429 or 503 with a
// Retry-After header.
func (p *pressureResult) promptRejections() (all, rejected int) {
	for _, pr := range p.probes {
		all++
		if (pr.status == 429 || pr.status == 503) && pr.retryAfter != "" {
			rejected++
		}
	}
	return all, rejected
}

func (p *pressureResult) slowestRejection() time.Duration {
	var d time.Duration
	for _, pr := range p.probes {
		if pr.status == 429 || pr.status == 503 {
			d = max(d, pr.took)
		}
	}
	return d
}

func (r *report) writePressure(w io.Writer) {
	p := r.pressure
	if p == nil {
		return
	}
	fmt.Fprintf(w, "## Login under pressure\n\n")
	fmt.Fprintf(w, "GET /revenue at a steady rate well below capacity (%d connections, each pausing %s between requests: at most %d req/s), "+
		"alone and while a second wrk floods POST /login (%d connections, each pausing %s between logins: up to %.0f logins/s offered, "+
		"about 25 times what one hash worker can do). Hash workers and queue: the service's defaults "+
		"(REVENUE_HASH_WORKERS = CPUs − 1, at least 1, so 1 on the server's one CPU; REVENUE_HASH_QUEUE = 32); the login rate limit is raised out of the way.\n\n",
		r.opts.pressureConns, p.pace.Round(time.Millisecond), p.rate, p.floodConns, p.floodPace, p.floodOfferedRPS)
	fmt.Fprintf(w, "| GET /revenue | req/s | p50 ms | p99 ms | server CPU µs/req (with its hash worker processes: during the flood, hashing included) |\n|---|---:|---:|---:|---:|\n")
	for _, c := range []struct {
		name string
		ss   []sample
	}{{"alone", p.alone}, {"during the login flood", p.flooded}} {
		fmt.Fprintf(w, "| %s | %.0f | %.2f | %.2f | %.1f |\n", c.name,
			median(field(c.ss, func(s sample) float64 { return s.rps })),
			median(field(c.ss, func(s sample) float64 { return s.p50 })),
			median(field(c.ss, func(s sample) float64 { return s.p99 })),
			median(field(c.ss, func(s sample) float64 { return s.cpuServer })))
	}
	fmt.Fprintf(w, "\np99 during the flood / p99 alone: **%.2f×** (median of the two medians).\n\n", p.p99Ratio())

	statuses := map[string]int64{}
	var retry int64
	for _, s := range p.flood {
		for k, v := range s.statuses {
			statuses[k] += v
		}
		retry += s.retryAfter
	}
	keys := make([]string, 0, len(statuses))
	for k := range statuses {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	var total int64
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s: %d", k, statuses[k]))
		total += statuses[k]
	}
	fmt.Fprintf(w, "The flood's answers, all rounds: %s (%d in all; %d carried Retry-After); flood p50 %.1f ms, p99 %.1f ms (mixes slow successes with fast refusals).\n\n",
		strings.Join(parts, ", "), total, retry,
		median(field(p.flood, func(s sample) float64 { return s.p50 })), median(field(p.flood, func(s sample) float64 { return s.p99 })))

	byStatus := map[int][]float64{}
	ra := map[int]map[string]int{}
	for _, pr := range p.probes {
		byStatus[pr.status] = append(byStatus[pr.status], float64(pr.took.Microseconds())/1000)
		if ra[pr.status] == nil {
			ra[pr.status] = map[string]int{}
		}
		ra[pr.status][pr.retryAfter]++
	}
	fmt.Fprintf(w, "Single logins probed during the flood (one every 250 ms):\n\n| status | count | median ms | max ms | Retry-After |\n|---|---:|---:|---:|---|\n")
	codes := make([]int, 0, len(byStatus))
	for c := range byStatus {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	for _, c := range codes {
		var ras []string
		for v, n := range ra[c] {
			if v == "" {
				v = "none"
			}
			ras = append(ras, fmt.Sprintf("%s ×%d", v, n))
		}
		slices.Sort(ras)
		fmt.Fprintf(w, "| %d | %d | %.1f | %.1f | %s |\n", c, len(byStatus[c]), median(byStatus[c]), slices.Max(byStatus[c]), strings.Join(ras, ", "))
	}
	fmt.Fprintln(w)
}

func (r *report) writeNoise(w io.Writer) {
	var others, othersLoad, spread []float64
	for _, v := range r.variants {
		for _, s := range v.samples {
			others = append(others, s.others*100)
			othersLoad = append(othersLoad, s.othersLoad*100)
		}
		rps := field(v.samples, func(s sample) float64 { return s.rps })
		if m := median(rps); m > 0 && len(rps) > 0 {
			spread = append(spread, (slices.Max(rps)-slices.Min(rps))/m*100)
		}
	}
	if len(others) == 0 {
		return
	}
	fmt.Fprintf(w, "## Noise\n\nCPU used by processes not under test during the timed runs: on the server CPU median %.0f%% (max %.0f%%), "+
		"on the load-generator CPU median %.0f%% (max %.0f%%). Spread of req/s between rounds (max−min)/median: median %.0f%%, worst %.0f%%.\n",
		median(others), slices.Max(others), median(othersLoad), slices.Max(othersLoad), median(spread), slices.Max(spread))
}

// goBenchRow is one benchmark's medians over its -count runs.
type goBenchRow struct {
	name                             string
	nsPerOp, bytesPerOp, allocsPerOp float64
	nsRuns, bytesRuns, allocsRuns    []float64
}

// parseGoBench reads `go test -bench -benchmem` output.
func parseGoBench(path string) ([]goBenchRow, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var rows []*goBenchRow
	byName := map[string]*goBenchRow{}
	pkg := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = rest[strings.LastIndexByte(rest, '/')+1:]
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 4 || !strings.HasPrefix(fields[0], "Benchmark") {
			continue
		}
		name := pkg + "." + strings.TrimPrefix(fields[0], "Benchmark")
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i]
			}
		}
		row := byName[name]
		if row == nil {
			row = &goBenchRow{name: name}
			byName[name] = row
			rows = append(rows, row)
		}
		for i := 2; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				continue
			}
			switch fields[i+1] {
			case "ns/op":
				row.nsRuns = append(row.nsRuns, v)
			case "B/op":
				row.bytesRuns = append(row.bytesRuns, v)
			case "allocs/op":
				row.allocsRuns = append(row.allocsRuns, v)
			}
		}
	}
	out := make([]goBenchRow, 0, len(rows))
	for _, r := range rows {
		r.nsPerOp, r.bytesPerOp, r.allocsPerOp = median(r.nsRuns), median(r.bytesRuns), median(r.allocsRuns)
		out = append(out, *r)
	}
	return out, sc.Err()
}

func fmtNs(ns float64) string {
	switch {
	case ns >= 1e6:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.2f µs", ns/1e3)
	}
	return fmt.Sprintf("%.0f ns", ns)
}

// onlineCPUs counts the machine's CPUs (runtime.NumCPU sees only the ones
// this process is pinned to).
func onlineCPUs() int {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return 0
	}
	n := 0
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "processor") {
			n++
		}
	}
	return n
}

func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(rest), ":"))
		}
	}
	return "unknown CPU"
}
