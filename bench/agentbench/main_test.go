package agentbench

import (
	"os"
	"testing"

	"github.com/devmgr/devmgr/internal/testing/agentproc"
)

// The lab benchmark runs devmgr agent (agentproc).
func TestMain(m *testing.M) { os.Exit(agentproc.RunTests(m)) }
