package toolrun_test

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/devmgr/devmgr/internal/testing/testutil"
	"github.com/devmgr/devmgr/internal/toolrun"
)

func TestRun(t *testing.T) {
	sh := testutil.RequireBinary(t, "sh")
	out, err := toolrun.Run(context.Background(), toolrun.Options{Timeout: 5 * time.Second, Env: []string{"X=y"}}, sh, "-c", `echo "$LC_ALL $X"; echo err >&2`)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(out); got != "C y\nerr\n" {
		t.Errorf("output %q, want LC_ALL, the extra env and stderr", got)
	}

	out, err = toolrun.Run(context.Background(), toolrun.Options{}, sh, "-c", "echo broken; exit 3")
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("error %v, want an exit status 3", err)
	}
	if !strings.Contains(err.Error(), sh+" -c echo broken; exit 3") || !strings.Contains(err.Error(), "broken") {
		t.Errorf("error %q lacks argv or output", err)
	}
	if string(out) != "broken\n" {
		t.Errorf("output on failure %q", out)
	}

	start := time.Now()
	if _, err := toolrun.Run(context.Background(), toolrun.Options{Timeout: 100 * time.Millisecond}, sh, "-c", "sleep 10"); err == nil {
		t.Error("a run past its timeout succeeded")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("timeout took %v", d)
	}
}

func TestRunNewNetns(t *testing.T) {
	testutil.RequireRoot(t)
	ip := testutil.RequireBinary(t, "ip")
	out, err := toolrun.Run(context.Background(), toolrun.Options{Timeout: 5 * time.Second, NewNetns: true}, ip, "-o", "link")
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(string(out)), "\n"); len(lines) != 1 || !strings.Contains(lines[0], " lo:") {
		t.Errorf("links in a new namespace:\n%s", out)
	}
}

func TestLookPath(t *testing.T) {
	if _, err := toolrun.LookPath("sh"); err != nil {
		t.Error(err)
	}
	if _, err := toolrun.LookPath("devmgr-no-such-program"); !errors.Is(err, exec.ErrNotFound) {
		t.Errorf("LookPath of a program that does not exist: %v, want exec.ErrNotFound", err)
	}
}
