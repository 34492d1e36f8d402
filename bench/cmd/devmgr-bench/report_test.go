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
	return &result{name: name, runs: []endpointRun{
		{path: "/api/v1/me", load: load{2, 16}, loadAvg: "0.50 0.40 0.30", cpu: 1000 * cpu,
			wrk: wrkResult{requests: 1000, rps: rps, p50: 700 * time.Microsecond, p99: 3 * time.Millisecond}},
		{path: "/api/v1/me", load: load{1, 1}, loadAvg: "0.60 0.40 0.30", cpu: 1000 * cpu,
			wrk: wrkResult{requests: 1000, rps: 1e6 / float64(p50/time.Microsecond), p50: p50, p99: 2 * p50}},
	}}
}

func floorReport(floor *result) *report {
	return &report{
		opts:    options{threads: 2, conns: 16, duration: 5 * time.Second},
		root:    true,
		machine: "test machine",
		// Flask: 972 µs CPU/req, 1880 req/s, p50 1.6 ms. devmgr misses 30×
		// on CPU/req and req/s, meets it on the one-connection p50.
		flask:     fakeResult("Flask", 1880, 972*time.Microsecond, 1600*time.Microsecond),
		devmgr:    fakeResult("devmgr", 15000, 60*time.Microsecond, 50*time.Microsecond),
		floor:     floor,
		floorBody: 45,
	}
}

func TestReportFloorShort(t *testing.T) {
	md := floorReport(fakeResult("floor", 22600, 43*time.Microsecond, 137*time.Microsecond)).markdown()
	for _, want := range []string{
		"Go floor: devmgr-bench run again as a minimal Go HTTPS server as user `devmgr`: ",
		"devmgr's 45-byte `/api/v1/me` answer",
		"The row `/api/v1/me` (Go floor) is the floor",
		"| `/api/v1/me` (Go floor) | 0.50 0.40 0.30 | 22600 | 0.70 ms | 3.00 ms | 43 µs | 1880 | 0.70 ms | 3.00 ms | 972 µs | 12.0× | 1.0× | 22.6× |\n",
		"| `/api/v1/me` (Go floor) | 0.60 0.40 0.30 | 7299 | 0.14 ms | 0.27 ms | 43 µs | 625 | 1.60 ms | 3.20 ms | 972 µs | 11.7× | 11.7× | 22.6× |\n",
		"- `/api/v1/me`: CPU/req 60 µs, 16.2× Flask's 972 µs (≤ 32 µs wanted) — **missed**; req/s 8.0× — **missed**; one-connection p50 32.0× — **met**.\n" +
			"  - CPU/req: the floor, net/http + crypto/tls answering a constant, is 43 µs, 22.6× Flask (devmgr's is 1.40× the floor's): 30× is below what a Go HTTPS server reaches here.\n" +
			"  - req/s: the floor, net/http + crypto/tls answering a constant, is 22600 req/s, 12.0× Flask (devmgr's is 0.66× the floor's): 30× is below what a Go HTTPS server reaches here.\n" +
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
		"  - CPU/req: the floor, net/http + crypto/tls answering a constant, is 20 µs, 48.6× Flask (devmgr's is 3.00× the floor's): a Go HTTPS server can reach 30× here.\n",
		"  - req/s: the floor, net/http + crypto/tls answering a constant, is 60000 req/s, 31.9× Flask (devmgr's is 0.25× the floor's): a Go HTTPS server can reach 30× here.\n",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("the report has no %q:\n%s", want, md)
		}
	}
}

func TestReportNoFloor(t *testing.T) {
	md := floorReport(nil).markdown()
	if !strings.Contains(md, "Go floor: not run (-no-floor).") {
		t.Errorf("the report does not say the floor was skipped:\n%s", md)
	}
	if strings.Contains(md, "(Go floor)") || strings.Contains(md, "the floor,") {
		t.Errorf("floor rows or sentences without a floor:\n%s", md)
	}
}
