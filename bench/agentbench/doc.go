// Package agentbench holds benchmarks of the agent's API through its typed
// client (agent.Client over the unix socket), the path every network read of
// the console takes, and of the console's reads that make bench's table
// (BenchmarkEndpoint: console and agent in one process, so that one
// -cpuprofile holds both sides of a request; bench/RESULTS.md has their
// profiles). It has no code of its own: see its _test.go files.
//
//	go test -run '^$' -bench Endpoint/me -cpuprofile me.prof ./bench/agentbench/
//	go tool pprof -top -focus 'http.\(\*conn\).serve' me.prof
//
// The focus leaves out the benchmark's own HTTP client, which runs in the
// same process. The lab benchmarks need root; without it they skip.
package agentbench
