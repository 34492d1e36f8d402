//go:build race

package agentproc

// raceEnabled: the tests run with -race, and so does the agent they build.
const raceEnabled = true
