package main

import (
	"os"
	"testing"

	"github.com/devmgr/devmgr/internal/testing/agentproc"
)

// TestMain lets the test binary stand in for devmgr when a command run as
// root starts itself again as web.user (asWebUser): the child is this
// binary, with devmgr's arguments. The agent tests run the devmgr binary
// itself (agentproc).
func TestMain(m *testing.M) {
	if os.Getenv(asWebUserEnv) != "" {
		main()
		os.Exit(0)
	}
	os.Exit(agentproc.RunTests(m))
}
