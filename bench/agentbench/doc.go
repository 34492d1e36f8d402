// Package agentbench holds benchmarks of the agent's API through its typed
// client (agent.Client over the unix socket), the path every network read of
// the console takes. It has no code of its own: see its _test.go files and
// bench/README in the top-level README's "Benchmarks" section.
package agentbench
