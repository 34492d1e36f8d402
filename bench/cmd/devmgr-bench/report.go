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

// Targets of the project standard.
const (
	targetIdleKB    = 25 * 1024
	targetReadTime  = 5 * time.Millisecond
	targetFlaskGain = 30.0
)

type report struct {
	start        time.Time
	opts         options
	root         bool
	machine      string
	devmgr       *result
	flask        *result
	flaskSkipped string
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
	p("\n### Memory\n\n")
	p("Warm: %d requests per endpoint, then %s idle. Settled: idle for the time shown after the last wrk run (the Go runtime forces a GC every 2 minutes; the freed memory is then returned to the OS).\n\n", warmupRequests, idleWait)
	p("| | RSS at start | processes (warm RSS) | warm RSS | warm PSS | RSS after load | peak (VmHWM) | settled RSS | settled PSS |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range []*result{d, f} {
		if r == nil {
			continue
		}
		var parts []string
		for _, role := range slices.Sorted(maps.Keys(r.procs)) {
			parts = append(parts, fmt.Sprintf("%s %s", role, mb(r.procs[role])))
		}
		p("| %s | %s | %d: %s | %s | %s | %s | %s | %s | %s |\n", r.name, mb(r.startRSS), r.nprocesses, strings.Join(parts, ", "),
			mb(r.idleRSS), mb(r.idlePSS), mb(r.loadedRSS), mb(r.peakRSS), r.settled(r.settledRSS), r.settled(r.settledPSS))
	}
	if f != nil {
		p("| Flask ÷ devmgr | %s | | %s | %s | %s | %s | %s | %s |\n", ratio(float64(f.startRSS), float64(d.startRSS)), ratio(float64(f.idleRSS), float64(d.idleRSS)),
			ratio(float64(f.idlePSS), float64(d.idlePSS)), ratio(float64(f.loadedRSS), float64(d.loadedRSS)),
			ratio(float64(f.peakRSS), float64(d.peakRSS)), ratio(float64(f.settledRSS), float64(d.settledRSS)),
			ratio(float64(f.settledPSS), float64(d.settledPSS)))
	}
	paths := d.endpointsUnion(f)
	loads := []load{{o.threads, o.conns}, {1, 1}}
	for _, l := range loads {
		p("\n### wrk -t%d -c%d -d%s --latency (authenticated GETs)\n\n", l.threads, l.conns, o.duration)
		p("| endpoint | devmgr req/s | p50 | p99 | CPU/req | Flask req/s | p50 | p99 | CPU/req | req/s gain | p50 gain | CPU/req gain |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n")
		for _, path := range paths {
			dr, fr := d.find(path, l), f.find(path, l)
			cells := []string{"`" + path + "`"}
			for _, r := range []*endpointRun{dr, fr} {
				if r == nil {
					cells = append(cells, "–", "–", "–", "–")
					continue
				}
				cells = append(cells, fmt.Sprintf("%.0f", r.wrk.rps), ms(r.wrk.p50), ms(r.wrk.p99), ms(r.cpuPerRequest()))
			}
			if dr != nil && fr != nil {
				cells = append(cells, ratio(dr.wrk.rps, fr.wrk.rps), ratio(float64(fr.wrk.p50), float64(dr.wrk.p50)),
					ratio(float64(fr.cpuPerRequest()), float64(dr.cpuPerRequest())))
			} else {
				cells = append(cells, "–", "–", "–")
			}
			p("| %s |\n", strings.Join(cells, " | "))
		}
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
	p("\n### Targets\n\n")
	idle, idleWhen := d.idleRSS, "warm, "+idleWait.String()+" idle"
	if d.settledRSS > 0 {
		idle, idleWhen = d.settledRSS, "settled, "+d.settledAfter.String()+" idle"
	}
	var split []string
	for _, role := range slices.Sorted(maps.Keys(d.settledProcs)) {
		split = append(split, role+" "+mb(d.settledProcs[role]))
	}
	if len(split) > 0 {
		idleWhen += ": " + strings.Join(split, ", ")
	}
	p("- Idle RSS of console + agent under 25 MB: %s (%s; warm %s, at start %s) — %s.\n",
		mb(idle), idleWhen, mb(d.idleRSS), mb(d.startRSS), metIf(idle < targetIdleKB))
	var worstCPU, worstP50 time.Duration
	var worstCPUPath, worstP50Path string
	for _, r := range d.runs {
		if r.load == loads[0] && r.cpuPerRequest() > worstCPU {
			worstCPU, worstCPUPath = r.cpuPerRequest(), r.path
		}
		if r.load == (load{1, 1}) && r.wrk.p50 > worstP50 {
			worstP50, worstP50Path = r.wrk.p50, r.path
		}
	}
	p("- A read under 5 ms of server time: CPU of serve + agent per request under load, worst %s on `%s` — %s; "+
		"p50 latency at one connection (wrk and TLS included), worst %s on `%s` — %s. p99s above are not server time: they include waiting for the CPUs this shared box gives others.\n",
		ms(worstCPU), worstCPUPath, metIf(worstCPU < targetReadTime), ms(worstP50), worstP50Path, metIf(worstP50 < targetReadTime))
	spawned := false
	for _, r := range d.runs {
		spawned = spawned || r.childFaults > 0
	}
	p("- Reads never start a process (no child reaped by serve or agent during any run): %s.\n", metIf(!spawned))
	if f != nil {
		minGain, minPath, minCPU, minCPUPath := 0.0, "", 0.0, ""
		for _, dr := range d.runs {
			fr := f.find(dr.path, dr.load)
			if fr == nil || dr.load != loads[0] || fr.wrk.rps == 0 {
				continue
			}
			if g := dr.wrk.rps / fr.wrk.rps; minPath == "" || g < minGain {
				minGain, minPath = g, dr.path
			}
			if dr.cpuPerRequest() > 0 {
				if g := float64(fr.cpuPerRequest()) / float64(dr.cpuPerRequest()); minCPUPath == "" || g < minCPU {
					minCPU, minCPUPath = g, dr.path
				}
			}
		}
		p("- More than 30× the Flask design on every endpoint: req/s under load lowest %.1f× (`%s`) — %s; CPU per request lowest %.1f× (`%s`) — %s.\n",
			minGain, minPath, metIf(minGain > targetFlaskGain), minCPU, minCPUPath, metIf(minCPU > targetFlaskGain))
	}
	return b.String()
}

func (r *result) settled(kb uint64) string {
	if kb == 0 {
		return "–"
	}
	return fmt.Sprintf("%s (%s)", mb(kb), r.settledAfter)
}

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
