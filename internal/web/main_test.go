package web

import (
	"os"
	"testing"

	"github.com/devmgr/devmgr/internal/testing/agentproc"
)

// The lab tests run devmgr agent (agentproc).
func TestMain(m *testing.M) { os.Exit(agentproc.RunTests(m)) }
