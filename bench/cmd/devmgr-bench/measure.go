package main

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"maps"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// load is one wrk setting.
type load struct{ threads, conns int }

// wrkResult is what one wrk run reports.
type wrkResult struct {
	requests     uint64
	rps          float64
	p50, p99     time.Duration
	non2xx       uint64
	socketErrors string // "" when none
}

// run is one endpoint under one load.
type endpointRun struct {
	path string
	load load
	// loadAvg is the machine's load average as the run began.
	loadAvg string
	wrk     wrkResult
	// childFaults is the growth of cminflt summed over the server's
	// processes: zero means none of them reaped a child during the run.
	childFaults uint64
	// forks is the growth of /proc/stat "processes" (every fork on the
	// machine, ours and other people's) during the run.
	forks uint64
	// cpu is the CPU time the server's processes (and the children they
	// reaped) used during the run: divided by the requests, the server
	// time of one request, whatever else the machine was doing.
	cpu time.Duration
}

func (r endpointRun) cpuPerRequest() time.Duration {
	if r.wrk.requests == 0 {
		return 0
	}
	return r.cpu / time.Duration(r.wrk.requests)
}

// result is everything measured of one target.
type result struct {
	name  string
	procs map[string]uint64 // role → idle VmRSS KiB (summed per role)
	// idlePSSProcs is role → idle PSS KiB.
	idlePSSProcs map[string]uint64
	idleRSS      uint64 // KiB, summed over the processes
	idlePSS      uint64
	loadedRSS    uint64 // after the wrk runs
	peakRSS      uint64 // VmHWM summed
	runs         []endpointRun
	nprocesses   int
	loadEnd      time.Time // when the last wrk run ended
	// settledRSS and settledPSS are read after the target idled for
	// options.settle since loadEnd: longer than the Go runtime's forced GC
	// period (2 minutes), so garbage is collected and returned to the OS.
	settledRSS, settledPSS uint64
	settledAfter           time.Duration
	settledProcs           map[string]uint64 // role → settled VmRSS KiB
	// startRSS is read once the server answers, before anyone signs in.
	startRSS uint64
	start    memory
	// The burst of logins, the long runs with many connections and the
	// cold starts (nil, none: not run).
	burst *burstResult
	long  []longResult
	cold  *coldResult
}

const (
	warmupRequests = 50
	idleWait       = 3 * time.Second
)

func measure(ctx context.Context, o options, t target) (*result, error) {
	c := client()
	defer c.CloseIdleConnections()
	for _, ep := range t.endpoints {
		if err := get(ctx, c, t, ep); err != nil {
			return nil, fmt.Errorf("checking %s: %w", ep, err)
		}
	}
	log.Printf("%s: warming up (%d requests per endpoint), then %s idle", t.name, warmupRequests, idleWait)
	for range warmupRequests {
		for _, ep := range t.endpoints {
			if err := get(ctx, c, t, ep); err != nil {
				return nil, fmt.Errorf("warm-up: %w", err)
			}
		}
	}
	c.CloseIdleConnections()
	if err := sleep(ctx, idleWait); err != nil {
		return nil, err
	}
	r := &result{name: t.name, procs: map[string]uint64{}, idlePSSProcs: map[string]uint64{}, startRSS: t.startRSS, start: t.start}
	procs := t.procs()
	r.nprocesses = len(procs)
	for pid, role := range procs {
		rss := statusKB(pid, "VmRSS")
		if rss == 0 {
			return nil, fmt.Errorf("reading the memory of %s (pid %d)", role, pid)
		}
		r.procs[role] += rss
		r.idleRSS += rss
		r.idlePSS += pssKB(pid)
		r.idlePSSProcs[role] += pssKB(pid)
	}
	loads := []load{{o.threads, o.conns}, {1, 1}}
	for _, l := range loads {
		for _, ep := range t.endpoints {
			pids := slices.Collect(maps.Keys(t.procs()))
			loadAvg := loadavg()
			before, forks := sumStat(pids), forksTotal()
			w, err := runWrk(ctx, o.duration, l, t, ep)
			if err != nil {
				return nil, err
			}
			after, forks2 := sumStat(pids), forksTotal()
			er := endpointRun{path: ep, load: l, loadAvg: loadAvg, wrk: w, childFaults: after.cminflt - before.cminflt, forks: forks2 - forks,
				cpu: time.Duration(after.cpu-before.cpu) * clockTick}
			log.Printf("%s %s -t%d -c%d: %.0f req/s, p50 %s, p99 %s, %d requests, CPU %s/request, child faults +%d, forks on the machine +%d",
				t.name, ep, l.threads, l.conns, w.rps, w.p50, w.p99, w.requests, er.cpuPerRequest(), er.childFaults, er.forks)
			if w.non2xx > 0 {
				return nil, fmt.Errorf("wrk %s: %d answers not 2xx/3xx: the numbers would not be of the real page", ep, w.non2xx)
			}
			if w.socketErrors != "" {
				log.Printf("%s %s: wrk socket errors: %s", t.name, ep, w.socketErrors)
			}
			r.runs = append(r.runs, er)
			if err := sleep(ctx, time.Second); err != nil {
				return nil, err
			}
		}
	}
	r.loadEnd = time.Now()
	for pid := range t.procs() {
		r.loadedRSS += statusKB(pid, "VmRSS")
		r.peakRSS += statusKB(pid, "VmHWM")
	}
	return r, nil
}

// settle waits until the target has idled for d after its load, then
// reads its memory.
func settle(ctx context.Context, r *result, t target, d time.Duration) error {
	if wait := time.Until(r.loadEnd.Add(d)); wait > 0 {
		log.Printf("%s: idle until %s (%s after its load) for the settled memory", t.name, r.loadEnd.Add(d).Format("15:04:05"), d)
		if err := sleep(ctx, wait); err != nil {
			return err
		}
	}
	r.settledAfter = time.Since(r.loadEnd).Round(time.Second)
	r.settledProcs = map[string]uint64{}
	for pid, role := range t.procs() {
		rss := statusKB(pid, "VmRSS")
		if rss == 0 {
			return fmt.Errorf("reading the memory of pid %d: the process is gone", pid)
		}
		r.settledRSS += rss
		r.settledPSS += pssKB(pid)
		r.settledProcs[role] += rss
	}
	return nil
}

// sumStat adds up the counters of pids.
func sumStat(pids []int) procStat {
	var sum procStat
	for _, p := range pids {
		if st, err := readStat(p); err == nil {
			sum.cminflt += st.cminflt
			sum.cpu += st.cpu
		}
	}
	return sum
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

func runWrk(ctx context.Context, d time.Duration, l load, t target, path string) (wrkResult, error) {
	secs := max(1, int(d.Round(time.Second)/time.Second))
	cmd := exec.CommandContext(ctx, "wrk", "-t", strconv.Itoa(l.threads), "-c", strconv.Itoa(l.conns),
		"-d", strconv.Itoa(secs)+"s", "--timeout", "5s", "--latency", "-H", "Cookie: "+t.cookie, t.base+path)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return wrkResult{}, fmt.Errorf("wrk %s: %w\n%s", path, err, out.String())
	}
	w, err := parseWrk(out.String())
	if err != nil {
		return w, fmt.Errorf("wrk %s: %w\n%s", path, err, out.String())
	}
	return w, nil
}

var (
	reRPS      = regexp.MustCompile(`(?m)^Requests/sec:\s+([0-9.]+)`)
	reRequests = regexp.MustCompile(`(?m)^\s*(\d+) requests in`)
	reP50      = regexp.MustCompile(`(?m)^\s+50%\s+(\S+)`)
	reP99      = regexp.MustCompile(`(?m)^\s+99%\s+(\S+)`)
	reNon2xx   = regexp.MustCompile(`(?m)Non-2xx or 3xx responses:\s+(\d+)`)
	reSockErr  = regexp.MustCompile(`(?m)Socket errors:\s+(.*)$`)
)

// parseWrk reads wrk --latency output.
func parseWrk(s string) (wrkResult, error) {
	var w wrkResult
	m := reRPS.FindStringSubmatch(s)
	if m == nil {
		return w, fmt.Errorf("no Requests/sec in the output")
	}
	w.rps, _ = strconv.ParseFloat(m[1], 64)
	if m := reRequests.FindStringSubmatch(s); m != nil {
		w.requests, _ = strconv.ParseUint(m[1], 10, 64)
	}
	for _, x := range []struct {
		re  *regexp.Regexp
		dst *time.Duration
	}{{reP50, &w.p50}, {reP99, &w.p99}} {
		m := x.re.FindStringSubmatch(s)
		if m == nil {
			return w, fmt.Errorf("no latency percentiles in the output")
		}
		d, err := time.ParseDuration(m[1])
		if err != nil {
			return w, fmt.Errorf("parsing latency %q: %w", m[1], err)
		}
		*x.dst = d
	}
	if m := reNon2xx.FindStringSubmatch(s); m != nil {
		w.non2xx, _ = strconv.ParseUint(m[1], 10, 64)
	}
	if m := reSockErr.FindStringSubmatch(s); m != nil {
		w.socketErrors = strings.TrimSpace(m[1])
	}
	return w, nil
}
