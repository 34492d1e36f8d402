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

// A run in a transient scope lands in its cgroup where systemd is PID 1
// (a device, the system VM); elsewhere the run fails rather than running
// the program outside its scope.
func TestScopeRun(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("prerequisite missing under CI: root")
		}
		t.Skip("not root: transient scopes cannot be made")
	}
	if !SystemdBooted() {
		var ran bool
		code, err := Stream(context.Background(), StreamOptions{Scope: &Scope{Unit: "devmgr-test-" + time.Now().Format("150405.000000000"), MemoryMax: 64 << 20}},
			[]string{"/usr/bin/echo", "ran"}, func(s string, _ bool) { ran = ran || s == "ran" })
		if (err == nil && code == 0) || ran {
			t.Errorf("without systemd as PID 1 a scoped run gave exit %d, err %v and ran=%v; want it refused, the program not run", code, err, ran)
		}
		return
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
