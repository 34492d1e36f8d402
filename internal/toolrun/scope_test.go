package toolrun

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestScopeArgv(t *testing.T) {
	t.Parallel()
	got := Scope{Unit: "devmgr-command-7", MemoryMax: 256 << 20}.argv([]string{"/usr/bin/uptime", "-p"})
	want := []string{SystemdRun, "--scope", "--quiet", "--collect", "--unit=devmgr-command-7",
		"--property=MemoryMax=268435456", "--", "/usr/bin/uptime", "-p"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got := (Scope{Unit: "u"}).argv([]string{"/x"}); !cmp.Equal(got, []string{SystemdRun, "--scope", "--quiet", "--collect", "--unit=u", "--", "/x"}) {
		t.Errorf("without a memory limit: %q", got)
	}
}

// A run in a transient scope lands in its cgroup. Only where systemd is
// PID 1 (a device, the system VM): a property of the host, not a program
// to install, so elsewhere the test says so and skips.
func TestScopeRun(t *testing.T) {
	if !SystemdBooted() || os.Geteuid() != 0 {
		t.Skip("systemd is not PID 1 here, or not root: transient scopes cannot be made")
	}
	var lines []string
	_, err := Stream(context.Background(), StreamOptions{Scope: &Scope{Unit: "devmgr-test-" + time.Now().Format("150405.000000000"), MemoryMax: 64 << 20}},
		[]string{"/usr/bin/cat", "/proc/self/cgroup"}, func(s string, _ bool) { lines = append(lines, s) })
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) == 0 || !strings.Contains(lines[len(lines)-1], "devmgr-test-") {
		t.Errorf("cgroup %q, want the scope's", lines)
	}
}
