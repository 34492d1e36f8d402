package main

import (
	"fmt"
	"maps"
	"os"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Targets of issue 14.
const (
	targetGain      = 30.0 // × the Flask design: CPU per request, req/s, one-connection p50
	targetIdleKB    = 25 * 1024
	targetBurstKB   = 60 * 1024
	targetAfterKB   = 30 * 1024
	targetLongKB    = 80 * 1024
	targetLongP99   = 100 * time.Millisecond
	targetColdStart = 100 * time.Millisecond
	targetRead      = 5 * time.Millisecond
)

type report struct {
	start        time.Time
	opts         options
	root         bool
	machine      string
	devmgr       *result
	flask        *result
	flaskSkipped string
	// floor is the minimal Go HTTPS server's runs on floorPages' paths
	// (nil: not run) and floorBodies the length of its answer to each,
	// devmgr's.
	floor       *result
	floorBodies map[string]int
	// tlsFloor is the TLS floor's runs (crypto/tls without net/http, the
	// same answers; nil: not run).
	tlsFloor *result
}

// machine describes this host in one line.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := fieldKB("/proc/meminfo", "MemTotal")
	var u syscall.Utsname
	_ = syscall.Uname(&u)
	kernel := ""
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		kernel += string(rune(c))
	}
	load, _ := os.ReadFile("/proc/loadavg")
	return fmt.Sprintf("%s, %d CPUs, %.1f GiB RAM, Linux %s, %s; load average at start %s",
		model, runtime.NumCPU(), float64(mem)/(1<<20), kernel, runtime.Version(),
		strings.Join(strings.Fields(string(load))[:3], " "))
}

func mb(kb uint64) string { return fmt.Sprintf("%.1f MB", float64(kb)/1024) }

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

func (r *result) find(path string, l load) *endpointRun {
	if r == nil {
		return nil
	}
	for i := range r.runs {
		if r.runs[i].path == path && r.runs[i].load == l {
			return &r.runs[i]
		}
	}
	return nil
}

func ratio(a, b float64) string {
	if a == 0 || b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f×", a/b)
}

func (rep *report) markdown() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	o := rep.opts
	d, f := rep.devmgr, rep.flask
	p("## %s\n\n", rep.start.UTC().Format("2006-01-02 15:04 UTC"))
	p("Machine: %s.\n\n", rep.machine)
	if rep.root {
		p("devmgr: `devmgr-dev run` as root: agent (root) in a throwaway lab's device namespace, console as user `devmgr`.\n")
	} else {
		p("devmgr: `devmgr-dev run` without root: console only (no agent, no /api/v1/interfaces).\n")
	}
	if f != nil {
		p("Flask: bench/flask/app.py under gunicorn, 2 workers × 4 threads (gthread, keep-alive), same account, TLS with the same kind of self-signed P-256 pair.\n")
	} else {
		p("Flask: not run (%s).\n", rep.flaskSkipped)
	}
	if rep.floor != nil {
		var answers []string
		for _, pg := range floorPages {
			answers = append(answers, fmt.Sprintf("`%s` with devmgr's `%s` %s (%d-byte body)", pg.path, pg.path, pg.what, rep.floorBodies[pg.path]))
		}
		p("Go floor: devmgr-bench run again as a minimal Go HTTPS server%s: net/http + crypto/tls from the same toolchain, the console's TLS config and http.Server timeouts, the same kind of self-signed P-256 pair, one handler answering GET, as constants captured from devmgr for the signed-in bench user (header but Date, and body: the same bytes), %s, 404 on any other path, no auth or middleware; measured on those paths only, with devmgr's requests. The least a Go console on net/http + crypto/tls can cost here.\n",
			map[bool]string{true: " as user `devmgr`", false: ""}[rep.root], strings.Join(answers, " and "))
	} else {
		p("Go floor: not run (-no-floor).\n")
	}
	if rep.tlsFloor != nil {
		p("TLS floor: devmgr-bench run again%s answering the same bytes (Date written per answer) over crypto/tls alone, without net/http: a loop per connection reads a request's line and header and writes the answer in one write; no timeouts, no header map, no other goroutine. Between it and the Go floor is net/http's own cost per request.\n",
			map[bool]string{true: " as user `devmgr`", false: ""}[rep.root])
	}
	paths := d.endpointsUnion(f)
	loads := []load{{o.threads, o.conns}, {1, 1}}
	for _, l := range loads {
		p("\n### wrk -t%d -c%d -d%s --latency (authenticated GETs)\n\n", l.threads, l.conns, o.duration)
		p("CPU/req: CPU time of the server's processes during the run ÷ its requests. Gains are Flask ÷ devmgr (req/s: devmgr ÷ Flask); the target is %.0f×. Load: the machine's load average as the devmgr run began.", targetGain)
		if rep.floor != nil {
			p(" The rows \"(Go floor)\" are the floor (a Go HTTPS server answering devmgr's answer to the same path as a constant, same request) in devmgr's columns, their gains over Flask's on that path, and the load at their own run's start.")
		}
		if rep.tlsFloor != nil {
			p(" The rows \"(TLS floor)\" are the TLS floor's (crypto/tls without net/http, the same answers) likewise.")
		}
		p("\n\n")
		p("| endpoint | load | devmgr req/s | p50 | p99 | CPU/req | Flask req/s | p50 | p99 | CPU/req | req/s gain | p50 gain | CPU/req gain |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
		row := func(label string, dr, fr *endpointRun) {
			cells := []string{label, "–"}
			if dr != nil {
				cells[1] = dr.loadAvg
			}
			for _, r := range []*endpointRun{dr, fr} {
				if r == nil {
					cells = append(cells, "–", "–", "–", "–")
					continue
				}
				cells = append(cells, fmt.Sprintf("%.0f", r.wrk.rps), ms(r.wrk.p50), ms(r.wrk.p99), us(r.cpuPerRequest()))
			}
			if dr != nil && fr != nil {
				cells = append(cells, ratio(dr.wrk.rps, fr.wrk.rps), ratio(float64(fr.wrk.p50), float64(dr.wrk.p50)),
					ratio(float64(fr.cpuPerRequest()), float64(dr.cpuPerRequest())))
			} else {
				cells = append(cells, "–", "–", "–")
			}
			p("| %s |\n", strings.Join(cells, " | "))
		}
		for _, path := range paths {
			row("`"+path+"`", d.find(path, l), f.find(path, l))
			if fl := rep.floor.find(path, l); fl != nil {
				row("`"+path+"` (Go floor)", fl, f.find(path, l))
			}
			if tl := rep.tlsFloor.find(path, l); tl != nil {
				row("`"+path+"` (TLS floor)", tl, f.find(path, l))
			}
		}
	}

	p("\n### Memory\n\n")
	p("PSS (shared pages divided among the processes that map them: serve and agent map the one binary, gunicorn's workers are forks) and RSS from /proc/PID/smaps_rollup, summed over the processes. ")
	p("At start: once the server answers, before anyone signs in. Warm: after %d requests per endpoint and %s idle. Settled: idle for the time shown after the last load. ", warmupRequests, idleWait)
	p("Burst: %d logins at once (the console hashes at most two at a time); peak of readings every 50 ms, and VmHWM (reset first), then %s after the burst ended.\n\n", o.burst, burstAfter)
	p("| | processes | at start PSS / RSS | warm PSS / RSS | settled PSS / RSS | burst: load | before | peak | VmHWM | %s after |\n|---|---|---|---|---|---|---|---|---|---|\n", burstAfter)
	for _, r := range []*result{d, f} {
		if r == nil {
			continue
		}
		var parts []string
		for _, role := range slices.Sorted(maps.Keys(r.procs)) {
			parts = append(parts, fmt.Sprintf("%s %s PSS", role, mb(r.idlePSSProcs[role])))
		}
		settled := "–"
		if r.settledPSS > 0 {
			settled = fmt.Sprintf("%s / %s (%s)", mb(r.settledPSS), mb(r.settledRSS), r.settledAfter)
		}
		bl, bb, bp, bh, ba := "–", "–", "–", "–", "–"
		if br := r.burst; br != nil {
			bl, bb, bp, bh, ba = br.loadAtStart, pr(br.before), pr(br.peak), hwm(br.hwm), pr(br.after)
			if br.failed > 0 {
				bp += fmt.Sprintf(" (%d of %d logins failed)", br.failed, br.logins)
			}
		}
		p("| %s | %d: %s | %s | %s / %s | %s | %s | %s | %s | %s | %s |\n", r.name, r.nprocesses, strings.Join(parts, ", "), pr(r.start),
			mb(r.idlePSS), mb(r.idleRSS), settled, bl, bb, bp, bh, ba)
	}

	if len(d.long) > 0 {
		p("\n### %d keep-alive connections (devmgr)\n\n", d.long[0].conns)
		p("`wrk -t2 -c%d -d%s --latency --timeout 5s`, on the same two cores as the servers. Memory: peak of readings every 500 ms, and VmHWM (reset first).", d.long[0].conns, d.long[0].d)
		if rep.floor != nil && len(rep.floor.long) > 0 {
			devmgrProcs := "its console alone (no agent without root)"
			if rep.root {
				devmgrProcs = "summed over its two processes, console and agent"
			}
			p(" The rows \"(Go floor)\" are the floor (a minimal Go HTTPS server, net/http + crypto/tls, answering devmgr's answer to the same path as a constant: see above) under the same load after devmgr's runs; its CPU and memory are one process's, devmgr's %s.", devmgrProcs)
		}
		p("\n\n")
		p("| endpoint | load | req/s | p50 | p99 | errors | CPU/req | memory peak PSS / RSS | VmHWM |\n|---|---|---|---|---|---|---|---|---|\n")
		row := func(label string, lr *longResult) {
			p("| %s | %s | %.0f | %s | %s | %s | %s | %s | %s |\n", label, lr.loadAtStart, lr.wrk.rps, ms(lr.wrk.p50), ms(lr.wrk.p99),
				lr.errors(), us(lr.cpuPerRequest()), pr(lr.peak), hwm(lr.hwm))
		}
		for _, lr := range d.long {
			row("`"+lr.path+"`", &lr)
			if fl := rep.floor.findLong(lr.path); fl != nil {
				row("`"+lr.path+"` (Go floor)", fl)
			}
		}
	}
	if c := d.cold; c != nil {
		p("\n### Cold start (devmgr)\n\n")
		var runs []string
		for _, r := range c.runs {
			runs = append(runs, ms(r))
		}
		p("`devmgr serve` started on the same data (another port) %d times, timed from exec to its first 200 to the signed-in session's `GET /api/v1/me` (TLS handshake included), load average %s: median %s, worst %s (%s).\n",
			len(c.runs), c.loadAtStart, ms(c.median()), ms(c.worst()), strings.Join(runs, ", "))
	}

	p("\n### Processes started by reads (during the -c%d runs)\n\n", o.conns)
	p("Child faults: growth of `cminflt` (/proc/PID/stat: page faults of reaped children) summed over the server's processes; 0 means no child process ended. Forks: growth of `processes` in /proc/stat, the whole machine's (other users' work included).\n\n")
	p("| endpoint | devmgr requests | child faults | forks | Flask requests | child faults | forks |\n|---|---|---|---|---|---|---|\n")
	for _, path := range paths {
		cells := []string{"`" + path + "`"}
		for _, r := range []*endpointRun{d.find(path, loads[0]), f.find(path, loads[0])} {
			if r == nil {
				cells = append(cells, "–", "–", "–")
				continue
			}
			cells = append(cells, fmt.Sprint(r.wrk.requests), fmt.Sprint(r.childFaults), fmt.Sprint(r.forks))
		}
		p("| %s |\n", strings.Join(cells, " | "))
	}
	rep.targets(p, paths, loads)
	return b.String()
}

// targets writes the targets, each met or missed with its number.
func (rep *report) targets(p func(string, ...any), paths []string, loads []load) {
	d, f := rep.devmgr, rep.flask
	p("\n### Targets (issue 14)\n\n")
	if f != nil {
		for _, path := range paths {
			dr, fr := d.find(path, loads[0]), f.find(path, loads[0])
			d1, f1 := d.find(path, load{1, 1}), f.find(path, load{1, 1})
			if dr == nil || fr == nil || d1 == nil || f1 == nil || dr.cpuPerRequest() == 0 {
				continue
			}
			cpuGain, rpsGain, p50Gain := gains(dr, d1, fr, f1)
			p("- `%s`: CPU/req %s, %.1f× Flask's %s (≤ %s wanted) — %s; req/s %.1f× — %s; one-connection p50 %.1f× — %s.\n", path,
				us(dr.cpuPerRequest()), cpuGain, us(fr.cpuPerRequest()), us(time.Duration(float64(fr.cpuPerRequest())/targetGain)), metIf(cpuGain >= targetGain),
				rpsGain, metIf(rpsGain >= targetGain), p50Gain, metIf(p50Gain >= targetGain))
			rep.floorTargets(p, path, dr, d1, fr, f1)
		}
	}
	idle, when := d.start, "at start"
	if d.settledPSS > 0 {
		idle, when = memory{d.settledRSS, d.settledPSS}, "settled, "+d.settledAfter.String()+" idle"
	}
	p("- Console + agent idle at most 25 MB by PSS: %s (%s; RSS %s; PSS / RSS at start %s) — %s.\n", mb(idle.pss), when,
		mb(idle.rss), pr(d.start), metIf(idle.pss <= targetIdleKB))
	if br := d.burst; br != nil {
		p("- %d logins at once: peak %s by PSS (RSS %s, VmHWM %s), at most 60 MB — %s; %s after: %s by PSS (RSS %s), under 30 MB — %s.\n",
			br.logins, mb(br.peak.pss), mb(br.peak.rss), hwm(br.hwm), metIf(br.peak.pss <= targetBurstKB && br.failed == 0), burstAfter,
			mb(br.after.pss), mb(br.after.rss), metIf(br.after.pss < targetAfterKB))
	}
	for _, lr := range d.long {
		p("- %d connections for %s on `%s`: errors %s — %s; p99 %s, under 100 ms — %s; memory peak %s by PSS (RSS %s, VmHWM %s), under 80 MB — %s.\n",
			lr.conns, lr.d, lr.path, lr.errors(), metIf(lr.ok()), ms(lr.wrk.p99), metIf(lr.wrk.p99 < targetLongP99),
			mb(lr.peak.pss), mb(lr.peak.rss), hwm(lr.hwm), metIf(lr.peak.pss < targetLongKB))
		rep.floorLongTargets(p, lr)
	}
	if c := d.cold; c != nil {
		p("- Cold start: first authenticated answer %s after exec (median; worst %s), within 100 ms — %s.\n", ms(c.median()), ms(c.worst()), metIf(c.worst() <= targetColdStart))
	}
	var worst time.Duration
	var worstPath string
	for _, r := range d.runs {
		if r.load == loads[0] && r.cpuPerRequest() > worst {
			worst, worstPath = r.cpuPerRequest(), r.path
		}
	}
	p("- A read under 5 ms of server time: worst CPU/req %s on `%s` — %s.\n", us(worst), worstPath, metIf(worst < targetRead))
	spawned := false
	for _, r := range d.runs {
		spawned = spawned || r.childFaults > 0
	}
	p("- Reads never start a process (no child reaped by serve or agent during any run): %s.\n", metIf(!spawned))
}

// gains are devmgr's (or the floor's) over Flask's: CPU/req and req/s
// under the loaded runs (r, fr), p50 with one connection (r1, f1).
func gains(r, r1, fr, f1 *endpointRun) (cpu, rps, p50 float64) {
	return float64(fr.cpuPerRequest()) / float64(r.cpuPerRequest()), r.wrk.rps / fr.wrk.rps, float64(f1.wrk.p50) / float64(r1.wrk.p50)
}

// floorTargets follows path's targets with, for each that devmgr missed,
// the floors' numbers and gains over Flask: whether 30× is within reach
// of a Go console on net/http here, or only of a server cheaper than
// net/http (the TLS floor), or of neither.
func (rep *report) floorTargets(p func(string, ...any), path string, dr, d1, fr, f1 *endpointRun) {
	o := rep.opts
	fl, fl1 := rep.floor.find(path, load{o.threads, o.conns}), rep.floor.find(path, load{1, 1})
	if fl == nil || fl1 == nil || fl.cpuPerRequest() == 0 || fl1.wrk.p50 == 0 {
		return
	}
	tl, tl1 := rep.tlsFloor.find(path, load{o.threads, o.conns}), rep.tlsFloor.find(path, load{1, 1})
	withTLS := tl != nil && tl1 != nil && tl.cpuPerRequest() > 0 && tl1.wrk.p50 > 0
	dCPU, dRPS, dP50 := gains(dr, d1, fr, f1)
	cpu, rps, p50 := gains(fl, fl1, fr, f1)
	var tCPU, tRPS, tP50 float64
	if withTLS {
		tCPU, tRPS, tP50 = gains(tl, tl1, fr, f1)
	}
	type metric struct {
		name                      string
		devmgrGain, gain, tlsGain float64
		value, tlsValue           string
		devmgrOverFloor           float64
	}
	rows := []metric{
		{name: "CPU/req", devmgrGain: dCPU, gain: cpu, tlsGain: tCPU, value: us(fl.cpuPerRequest()), devmgrOverFloor: float64(dr.cpuPerRequest()) / float64(fl.cpuPerRequest())},
		{name: "req/s", devmgrGain: dRPS, gain: rps, tlsGain: tRPS, value: fmt.Sprintf("%.0f req/s", fl.wrk.rps), devmgrOverFloor: dr.wrk.rps / fl.wrk.rps},
		{name: "one-connection p50", devmgrGain: dP50, gain: p50, tlsGain: tP50, value: us(fl1.wrk.p50), devmgrOverFloor: float64(d1.wrk.p50) / float64(fl1.wrk.p50)},
	}
	if withTLS {
		rows[0].tlsValue, rows[1].tlsValue, rows[2].tlsValue = us(tl.cpuPerRequest()), fmt.Sprintf("%.0f req/s", tl.wrk.rps), us(tl1.wrk.p50)
	}
	for _, m := range rows {
		if m.devmgrGain >= targetGain {
			continue
		}
		tlsPart, reach := "", fmt.Sprintf("a Go console on net/http can reach %.0f× here", targetGain)
		if withTLS {
			tlsPart = fmt.Sprintf("; the TLS floor, crypto/tls without net/http, is %s, %.1f×", m.tlsValue, m.tlsGain)
		}
		switch {
		case m.gain >= targetGain:
		case !withTLS:
			reach = fmt.Sprintf("%.0f× is below what net/http + crypto/tls reaches here", targetGain)
		case m.tlsGain >= targetGain:
			reach = fmt.Sprintf("%.0f× is below what net/http reaches here, within reach only of an HTTP server cheaper than net/http", targetGain)
		default:
			reach = fmt.Sprintf("%.0f× is below what even crypto/tls alone reaches here", targetGain)
		}
		p("  - %s: the floor, net/http + crypto/tls answering a constant, is %s, %.1f× Flask (devmgr's is %.2f× the floor's)%s: %s.\n",
			m.name, m.value, m.gain, m.devmgrOverFloor, tlsPart, reach)
	}
}

// floorLongTargets follows a run with many connections that missed its p99
// or memory target with the floor's p99 and memory on the same path and
// load: whether any Go HTTPS server meets them here.
func (rep *report) floorLongTargets(p func(string, ...any), lr longResult) {
	fl := rep.floor.findLong(lr.path)
	if fl == nil || fl.conns != lr.conns {
		return
	}
	var missed, verdicts []string
	if lr.wrk.p99 >= targetLongP99 {
		missed = append(missed, "p99")
		if fl.wrk.p99 < targetLongP99 {
			verdicts = append(verdicts, "a Go HTTPS server answers under 100 ms at p99 here")
		} else {
			verdicts = append(verdicts, "a p99 under 100 ms is beyond even a Go HTTPS server answering a constant here")
		}
	}
	if lr.peak.pss >= targetLongKB {
		missed = append(missed, "memory")
		if fl.peak.pss < targetLongKB {
			verdicts = append(verdicts, "a Go HTTPS server stays under 80 MB here")
		} else {
			verdicts = append(verdicts, "80 MB is below what even a Go HTTPS server answering a constant takes here")
		}
	}
	if len(missed) == 0 {
		return
	}
	errs := ""
	if !fl.ok() {
		errs = ", errors " + fl.errors()
	}
	p("  - %s: the floor, net/http + crypto/tls answering a constant in one process, had p99 %s and a memory peak of %s by PSS (RSS %s, VmHWM %s)%s: %s.\n",
		strings.Join(missed, " and "), ms(fl.wrk.p99), mb(fl.peak.pss), mb(fl.peak.rss), hwm(fl.hwm), errs, strings.Join(verdicts, "; "))
}

// findLong is r's run with many connections on path (nil: none).
func (r *result) findLong(path string) *longResult {
	if r == nil {
		return nil
	}
	for i := range r.long {
		if r.long[i].path == path {
			return &r.long[i]
		}
	}
	return nil
}

// pr is a memory reading: PSS / RSS.
func pr(m memory) string { return mb(m.pss) + " / " + mb(m.rss) }

func hwm(kb uint64) string {
	if kb == 0 {
		return "–"
	}
	return mb(kb)
}

func us(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond)) }

func metIf(ok bool) string {
	if ok {
		return "**met**"
	}
	return "**missed**"
}

// endpointsUnion lists the endpoints of d, then any more of f.
func (d *result) endpointsUnion(f *result) []string {
	var out []string
	for _, r := range []*result{d, f} {
		if r == nil {
			continue
		}
		for _, x := range r.runs {
			if !slices.Contains(out, x.path) {
				out = append(out, x.path)
			}
		}
	}
	return out
}
