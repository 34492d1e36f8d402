package main

import (
	"strings"
	"testing"
	"time"
)

// fakeResult is a target measured on /api/v1/me only: under the loaded
// run rps req/s and cpu per request (of 1000 requests), with one
// connection a p50 of p50.
func fakeResult(name string, rps float64, cpu, p50 time.Duration) *result {
	return &result{name: name, runs: fakeRuns("/api/v1/me", rps, cpu, p50)}
}

// fakeRuns are path's runs under both loads, as fakeResult's.
func fakeRuns(path string, rps float64, cpu, p50 time.Duration) []endpointRun {
	return []endpointRun{
		{path: path, load: load{2, 16}, loadAvg: "0.50 0.40 0.30", cpu: 1000 * cpu,
			wrk: wrkResult{requests: 1000, rps: rps, p50: 700 * time.Microsecond, p99: 3 * time.Millisecond}},
		{path: path, load: load{1, 1}, loadAvg: "0.60 0.40 0.30", cpu: 1000 * cpu,
			wrk: wrkResult{requests: 1000, rps: 1e6 / float64(p50/time.Microsecond), p50: p50, p99: 2 * p50}},
	}
}

// withPage adds runs on / to r, as fakeRuns'.
func withPage(r *result, rps float64, cpu, p50 time.Duration) *result {
	r.runs = append(fakeRuns("/", rps, cpu, p50), r.runs...)
	return r
}

// withLong adds to r a run of 500 connections for 60 s on path at rps
// req/s (CPU 100 µs per request), with p99 and a memory peak of pssMB by
// PSS.
func withLong(r *result, path string, rps float64, p99 time.Duration, pssMB uint64) *result {
	r.long = append(r.long, longResult{path: path, conns: 500, d: time.Minute, loadAtStart: "1.00 0.50 0.25",
		wrk: wrkResult{requests: uint64(rps * 60), rps: rps, p50: p99 / 3, p99: p99}, cpu: time.Duration(rps*60) * 100 * time.Microsecond,
		peak: memory{rss: (pssMB + 2) << 10, pss: pssMB << 10}, hwm: (pssMB + 1) << 10})
	return r
}

func floorReport(floor *result) *report {
	return &report{
		opts:    options{threads: 2, conns: 16, duration: 5 * time.Second},
		root:    true,
		machine: "test machine",
		// Flask: 972 µs CPU/req, 1880 req/s, p50 1.6 ms. devmgr misses 30×
		// on CPU/req and req/s, meets it on the one-connection p50.
		flask:       fakeResult("Flask", 1880, 972*time.Microsecond, 1600*time.Microsecond),
		devmgr:      fakeResult("devmgr", 15000, 60*time.Microsecond, 50*time.Microsecond),
		floor:       floor,
		floorBodies: map[string]int{"/api/v1/me": 45, "/": 21700},
	}
}

func TestReportFloorShort(t *testing.T) {
	md := floorReport(fakeResult("floor", 22600, 43*time.Microsecond, 137*time.Microsecond)).markdown()
	for _, want := range []string{
		"Go floor: devmgr-bench run again as a minimal Go HTTPS server as user `devmgr`: ",
		"devmgr's `/api/v1/me` answer (45-byte body) and `/` with devmgr's `/` dashboard page (21700-byte body), 404 on any other path",
		"The rows \"(Go floor)\" are the floor (a Go HTTPS server answering devmgr's answer to the same path as a constant, same request)",
		"| `/api/v1/me` (Go floor) | 0.50 0.40 0.30 | 22600 | 0.70 ms | 3.00 ms | 43 µs | 1880 | 0.70 ms | 3.00 ms | 972 µs | 12.0× | 1.0× | 22.6× |\n",
		"| `/api/v1/me` (Go floor) | 0.60 0.40 0.30 | 7299 | 0.14 ms | 0.27 ms | 43 µs | 625 | 1.60 ms | 3.20 ms | 972 µs | 11.7× | 11.7× | 22.6× |\n",
		"- `/api/v1/me`: CPU/req 60 µs, 16.2× Flask's 972 µs (≤ 32 µs wanted) — **missed**; req/s 8.0× — **missed**; one-connection p50 32.0× — **met**.\n" +
			"  - CPU/req: the floor, net/http + crypto/tls answering a constant, is 43 µs, 22.6× Flask (devmgr's is 1.40× the floor's): 30× is below what net/http + crypto/tls reaches here.\n" +
			"  - req/s: the floor, net/http + crypto/tls answering a constant, is 22600 req/s, 12.0× Flask (devmgr's is 0.66× the floor's): 30× is below what net/http + crypto/tls reaches here.\n" +
			"- Console + agent idle",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("the report has no %q:\n%s", want, md)
		}
	}
	// The rows come in order: devmgr's, then the floor's.
	if i, j := strings.Index(md, "| `/api/v1/me` | "), strings.Index(md, "| `/api/v1/me` (Go floor) | "); i < 0 || j < i {
		t.Errorf("the floor's row is not after devmgr's:\n%s", md)
	}
	// devmgr met 30× on the p50: nothing about the floor's.
	if strings.Contains(md, "one-connection p50: the floor") {
		t.Errorf("a floor sentence for a met target:\n%s", md)
	}
}

func TestReportFloorReaches(t *testing.T) {
	md := floorReport(fakeResult("floor", 60000, 20*time.Microsecond, 50*time.Microsecond)).markdown()
	if strings.Contains(md, "below what") {
		t.Errorf("a floor at 30× is said to be short of it:\n%s", md)
	}
	for _, want := range []string{
		"  - CPU/req: the floor, net/http + crypto/tls answering a constant, is 20 µs, 48.6× Flask (devmgr's is 3.00× the floor's): a Go console on net/http can reach 30× here.\n",
		"  - req/s: the floor, net/http + crypto/tls answering a constant, is 60000 req/s, 31.9× Flask (devmgr's is 0.25× the floor's): a Go console on net/http can reach 30× here.\n",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("the report has no %q:\n%s", want, md)
		}
	}
}

// With the TLS floor, each target devmgr missed says whether 30× is within
// reach of crypto/tls alone, where the net/http floor falls short of it.
func TestReportTLSFloor(t *testing.T) {
	rep := floorReport(fakeResult("floor", 22600, 43*time.Microsecond, 137*time.Microsecond))
	rep.tlsFloor = fakeResult("TLS floor", 45000, 20*time.Microsecond, 60*time.Microsecond)
	md := rep.markdown()
	for _, want := range []string{
		"TLS floor: devmgr-bench run again as user `devmgr` answering the same bytes (Date written per answer) over crypto/tls alone, without net/http",
		"The rows \"(TLS floor)\" are the TLS floor's (crypto/tls without net/http, the same answers) likewise.",
		"| `/api/v1/me` (TLS floor) | 0.50 0.40 0.30 | 45000 | 0.70 ms | 3.00 ms | 20 µs | 1880 | 0.70 ms | 3.00 ms | 972 µs | 23.9× | 1.0× | 48.6× |\n",
		"  - CPU/req: the floor, net/http + crypto/tls answering a constant, is 43 µs, 22.6× Flask (devmgr's is 1.40× the floor's); the TLS floor, crypto/tls without net/http, is 20 µs, 48.6×: 30× is below what net/http reaches here, within reach only of an HTTP server cheaper than net/http.\n",
		"  - req/s: the floor, net/http + crypto/tls answering a constant, is 22600 req/s, 12.0× Flask (devmgr's is 0.66× the floor's); the TLS floor, crypto/tls without net/http, is 45000 req/s, 23.9×: 30× is below what even crypto/tls alone reaches here.\n",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("the report has no %q:\n%s", want, md)
		}
	}
	// The rows come in order: devmgr's, the floor's, the TLS floor's.
	i, j, k := strings.Index(md, "| `/api/v1/me` | "), strings.Index(md, "| `/api/v1/me` (Go floor) | "), strings.Index(md, "| `/api/v1/me` (TLS floor) | ")
	if i < 0 || j < i || k < j {
		t.Errorf("the rows are not devmgr's, the floor's, the TLS floor's:\n%s", md)
	}
}

func TestReportNoFloor(t *testing.T) {
	rep := floorReport(nil)
	withLong(rep.devmgr, "/", 6000, 140*time.Millisecond, 95)
	md := rep.markdown()
	if !strings.Contains(md, "Go floor: not run (-no-floor).") {
		t.Errorf("the report does not say the floor was skipped:\n%s", md)
	}
	if strings.Contains(md, "(Go floor)") || strings.Contains(md, "the floor,") || strings.Contains(md, "the floor (") || strings.Contains(md, "TLS floor") {
		t.Errorf("floor rows or sentences without a floor:\n%s", md)
	}
}

// dashboardReport is floorReport with / measured too, and the runs with
// 500 connections: devmgr misses 30× on / on all three metrics, its p99
// and memory with 500 connections on /, and its memory on /api/v1/me.
func dashboardReport(floorPageP99 time.Duration) *report {
	rep := floorReport(withPage(fakeResult("floor", 22600, 43*time.Microsecond, 137*time.Microsecond), 13000, 84*time.Microsecond, 150*time.Microsecond))
	// Flask's /: 3000 µs CPU/req, 600 req/s, p50 4 ms.
	withPage(rep.flask, 600, 3000*time.Microsecond, 4000*time.Microsecond)
	withPage(rep.devmgr, 9000, 158*time.Microsecond, 300*time.Microsecond)
	withLong(rep.devmgr, "/api/v1/me", 9000, 60*time.Millisecond, 85)
	withLong(rep.devmgr, "/", 6000, 140*time.Millisecond, 95)
	withLong(rep.floor, "/api/v1/me", 12000, 50*time.Millisecond, 30)
	withLong(rep.floor, "/", 13000, floorPageP99, 34)
	return rep
}

func TestReportFloorDashboard(t *testing.T) {
	md := dashboardReport(86 * time.Millisecond).markdown()
	for _, want := range []string{
		// Both wrk tables, after devmgr's row.
		"| `/` | 0.50 0.40 0.30 | 9000 | 0.70 ms | 3.00 ms | 158 µs | 600 | 0.70 ms | 3.00 ms | 3000 µs | 15.0× | 1.0× | 19.0× |\n" +
			"| `/` (Go floor) | 0.50 0.40 0.30 | 13000 | 0.70 ms | 3.00 ms | 84 µs | 600 | 0.70 ms | 3.00 ms | 3000 µs | 21.7× | 1.0× | 35.7× |\n",
		"| `/` | 0.60 0.40 0.30 | 3333 | 0.30 ms | 0.60 ms | 158 µs | 250 | 4.00 ms | 8.00 ms | 3000 µs | 13.3× | 13.3× | 19.0× |\n" +
			"| `/` (Go floor) | 0.60 0.40 0.30 | 6667 | 0.15 ms | 0.30 ms | 84 µs | 250 | 4.00 ms | 8.00 ms | 3000 µs | 26.7× | 26.7× | 35.7× |\n",
		// The 500-connection table: what the floor is, a row per path.
		"The rows \"(Go floor)\" are the floor (a minimal Go HTTPS server, net/http + crypto/tls, answering devmgr's answer to the same path as a constant: see above) under the same load after devmgr's runs; its CPU and memory are one process's, devmgr's summed over its two processes, console and agent.\n",
		"| `/api/v1/me` | 1.00 0.50 0.25 | 9000 | 20.00 ms | 60.00 ms | 0 | 100 µs | 85.0 MB / 87.0 MB | 86.0 MB |\n" +
			"| `/api/v1/me` (Go floor) | 1.00 0.50 0.25 | 12000 | 16.67 ms | 50.00 ms | 0 | 100 µs | 30.0 MB / 32.0 MB | 31.0 MB |\n" +
			"| `/` | 1.00 0.50 0.25 | 6000 | 46.67 ms | 140.00 ms | 0 | 100 µs | 95.0 MB / 97.0 MB | 96.0 MB |\n" +
			"| `/` (Go floor) | 1.00 0.50 0.25 | 13000 | 28.67 ms | 86.00 ms | 0 | 100 µs | 34.0 MB / 36.0 MB | 35.0 MB |\n",
		// Targets on /: a sentence per missed 30× metric.
		"- `/`: CPU/req 158 µs, 19.0× Flask's 3000 µs (≤ 100 µs wanted) — **missed**; req/s 15.0× — **missed**; one-connection p50 13.3× — **missed**.\n" +
			"  - CPU/req: the floor, net/http + crypto/tls answering a constant, is 84 µs, 35.7× Flask (devmgr's is 1.88× the floor's): a Go console on net/http can reach 30× here.\n" +
			"  - req/s: the floor, net/http + crypto/tls answering a constant, is 13000 req/s, 21.7× Flask (devmgr's is 0.69× the floor's): 30× is below what net/http + crypto/tls reaches here.\n" +
			"  - one-connection p50: the floor, net/http + crypto/tls answering a constant, is 150 µs, 26.7× Flask (devmgr's is 2.00× the floor's): 30× is below what net/http + crypto/tls reaches here.\n",
		// Targets with 500 connections: the floor's p99 and memory where devmgr missed.
		"- 500 connections for 1m0s on `/api/v1/me`: errors 0 — **met**; p99 60.00 ms, under 100 ms — **met**; memory peak 85.0 MB by PSS (RSS 87.0 MB, VmHWM 86.0 MB), under 80 MB — **missed**.\n" +
			"  - memory: the floor, net/http + crypto/tls answering a constant in one process, had p99 50.00 ms and a memory peak of 30.0 MB by PSS (RSS 32.0 MB, VmHWM 31.0 MB): a Go HTTPS server stays under 80 MB here.\n",
		"- 500 connections for 1m0s on `/`: errors 0 — **met**; p99 140.00 ms, under 100 ms — **missed**; memory peak 95.0 MB by PSS (RSS 97.0 MB, VmHWM 96.0 MB), under 80 MB — **missed**.\n" +
			"  - p99 and memory: the floor, net/http + crypto/tls answering a constant in one process, had p99 86.00 ms and a memory peak of 34.0 MB by PSS (RSS 36.0 MB, VmHWM 35.0 MB): a Go HTTPS server answers under 100 ms at p99 here; a Go HTTPS server stays under 80 MB here.\n",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("the report has no %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "beyond even") || strings.Contains(md, "below what even") {
		t.Errorf("a floor within the 500-connection targets is said to miss them:\n%s", md)
	}
}

// The floor, too, misses the p99 target with 500 connections on /.
func TestReportFloorLongMissesP99(t *testing.T) {
	md := dashboardReport(120 * time.Millisecond).markdown()
	want := "- 500 connections for 1m0s on `/`: errors 0 — **met**; p99 140.00 ms, under 100 ms — **missed**; memory peak 95.0 MB by PSS (RSS 97.0 MB, VmHWM 96.0 MB), under 80 MB — **missed**.\n" +
		"  - p99 and memory: the floor, net/http + crypto/tls answering a constant in one process, had p99 120.00 ms and a memory peak of 34.0 MB by PSS (RSS 36.0 MB, VmHWM 35.0 MB): a p99 under 100 ms is beyond even a Go HTTPS server answering a constant here; a Go HTTPS server stays under 80 MB here.\n"
	if !strings.Contains(md, want) {
		t.Errorf("the report has no %q:\n%s", want, md)
	}
	if !strings.Contains(md, "| `/` (Go floor) | 1.00 0.50 0.25 | 13000 | 40.00 ms | 120.00 ms | 0 | 100 µs | 34.0 MB / 36.0 MB | 35.0 MB |\n") {
		t.Errorf("the floor's row with 500 connections on / is missing:\n%s", md)
	}
}

// devmgr meets the targets with 500 connections: nothing about the floor's.
func TestReportFloorLongMet(t *testing.T) {
	rep := dashboardReport(86 * time.Millisecond)
	for i := range rep.devmgr.long {
		rep.devmgr.long[i].wrk.p99 = 90 * time.Millisecond
		rep.devmgr.long[i].peak.pss = 70 << 10
	}
	md := rep.markdown()
	if strings.Contains(md, "in one process, had") {
		t.Errorf("a floor sentence for met targets with 500 connections:\n%s", md)
	}
	if !strings.Contains(md, "| `/` (Go floor) | 1.00 0.50 0.25 |") {
		t.Errorf("the floor's row with 500 connections on / is missing:\n%s", md)
	}
}
