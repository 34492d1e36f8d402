package agentproc

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/devmgr/devmgr/internal/testing/testutil"
)

// BinEnv names the devmgr binary to run instead of building one.
const BinEnv = "DEVMGR_BIN"

// built is the binary Binary built for this test process.
var built struct {
	once      sync.Once
	dir, path string
	err       error
}

// Binary is the devmgr binary agents run: $DEVMGR_BIN, or ./cmd/devmgr
// built on the first call into a temporary directory that RunTests
// removes.
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(BinEnv); p != "" {
		abs, err := filepath.Abs(p)
		if err == nil {
			_, err = os.Stat(abs)
		}
		if err != nil {
			t.Fatalf("%s=%s: %v", BinEnv, p, err)
		}
		return abs
	}
	goTool := testutil.GoTool(t)
	built.once.Do(func() { built.dir, built.path, built.err = build(goTool) })
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.path
}

// build builds ./cmd/devmgr as the device gets it (no cgo), or with the
// race detector when the tests run with it.
func build(goTool string) (dir, path string, err error) {
	dir, err = os.MkdirTemp("", "devmgr-agentproc-")
	if err != nil {
		return "", "", err
	}
	path = filepath.Join(dir, "devmgr")
	args, cgo := []string{"build", "-o", path}, "CGO_ENABLED=0"
	if raceEnabled {
		args, cgo = append(args, "-race"), "CGO_ENABLED=1"
	}
	args = append(args, "github.com/devmgr/devmgr/cmd/devmgr")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool, args...)
	cmd.Env = append(os.Environ(), cgo)
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return "", "", fmt.Errorf("building devmgr (%s %q): %w\n%s", goTool, args, err, out)
	}
	return dir, path, nil
}

// RunTests runs m's tests, then removes the binary Binary built for them,
// if it built one. A package whose tests start agents has
//
//	func TestMain(m *testing.M) { os.Exit(agentproc.RunTests(m)) }
func RunTests(m *testing.M) int {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	return code
}
