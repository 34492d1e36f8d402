// Package consolebench holds the per-endpoint benchmarks behind the CPU
// profiles in bench/RESULTS.md: the console (internal/web on a real store,
// HostSysInfo, the agent client) and the agent (its server on the real
// netlink backend in a lab's device namespace) in one process, so that one
// -cpuprofile holds both sides of a request. It has no code of its own: see
// its _test.go files.
//
//	go test -run '^$' -bench Endpoint/me -cpuprofile me.prof ./bench/consolebench/
//	go tool pprof -top -focus 'http.\(\*conn\).serve' me.prof
//
// The focus leaves out the benchmark's own HTTP client, which runs in the
// same process. The lab needs root; without it the benchmarks skip.
package consolebench
