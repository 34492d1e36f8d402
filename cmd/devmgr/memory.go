package main

import (
	"os"
	"runtime/debug"
)

// Memory limits of the long-running processes (GOMEMLIMIT), chosen by
// measurement (bench/RESULTS.md): the console holds about 2 MB live when
// idle, two 19 MiB password hashes at most during a burst of logins, and
// about 35 MB with 500 connections open; the agent a few MB. The limit
// makes the collector work harder as the process nears it instead of
// letting the heap double past it, so that the device's memory is bounded
// under load. GOGC stays at its default: 400 saved about a tenth of a
// read's CPU but doubled the console's heap after load. The environment's
// GOMEMLIMIT (a unit's Environment=) wins.
const (
	serveMemoryLimit = 64 << 20
	agentMemoryLimit = 32 << 20
)

// setMemoryLimit sets the process's soft memory limit to limit unless
// GOMEMLIMIT says otherwise.
func setMemoryLimit(limit int64) {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(limit)
	}
}
