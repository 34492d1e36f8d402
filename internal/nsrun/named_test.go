package nsrun

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/devmgr/devmgr/internal/mountinfo"
	"github.com/devmgr/devmgr/internal/testing/testutil"
)

const freshChildEnv = "NSRUN_FRESH_RUNDIR_CHILD"

// TestNewNamedOnFreshRunDir reproduces a machine that never ran `ip netns`:
// in a private mount namespace (a child process; nothing reaches the root
// mount namespace) /run is a new tmpfs and /run/netns a plain directory. A
// namespace made by NewNamed must survive iproute2's own first-use
// bind-mount of /run/netns (`ip netns add`) and still be deleted cleanly.
// Without PrepareRunDir the delete fails with "device or resource busy" and
// the namespace stays mounted, hidden under the bind mount.
func TestNewNamedOnFreshRunDir(t *testing.T) {
	if os.Getenv(freshChildEnv) == "1" {
		freshRunDirChild(t)
		return
	}
	testutil.RequireRoot(t)
	ip := testutil.RequireBinary(t, "ip")

	before := runMounts(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestNewNamedOnFreshRunDir$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), freshChildEnv+"=1", "NSRUN_IP="+ip, "LC_ALL=C")
	// Go makes every mount of the new mount namespace private (MS_REC|MS_PRIVATE on /).
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("test in a private mount namespace: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "--- PASS: TestNewNamedOnFreshRunDir") {
		t.Fatalf("the child ran no test:\n%s", out)
	}
	if after := runMounts(t); after != before {
		t.Errorf("the root mount namespace changed under /run: %q, was %q", after, before)
	}
}

// runMounts lists the mounts at /run and /run/netns.
func runMounts(t *testing.T) string {
	t.Helper()
	var out []string
	for _, m := range mountTable(t) {
		if m.Point == "/run" || m.Point == RunDir {
			out = append(out, fmt.Sprintf("%d:%s", m.ID, m.Point))
		}
	}
	return strings.Join(out, " ")
}

func mountTable(t *testing.T) []mountinfo.Mount {
	t.Helper()
	ms, err := mountinfo.Read("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// under lists the mounts that hang, directly or through others, off the
// mount with ID root (the child's own /run: the mounts it inherited stay
// listed beneath it, hidden).
func under(ms []mountinfo.Mount, root int) []mountinfo.Mount {
	in := map[int]bool{root: true}
	var out []mountinfo.Mount
	for changed := true; changed; {
		changed = false
		for _, m := range ms {
			if !in[m.ID] && in[m.Parent] {
				in[m.ID] = true
				out = append(out, m)
				changed = true
			}
		}
	}
	return out
}

func freshRunDirChild(t *testing.T) {
	ip := os.Getenv("NSRUN_IP")
	if err := unix.Mount("tmpfs", "/run", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755,size=1m"); err != nil {
		t.Fatalf("mounting a tmpfs on /run: %v", err)
	}
	var run0 int
	for _, m := range mountTable(t) {
		if m.Point == "/run" {
			run0 = m.ID // the last one listed is the one just mounted
		}
	}
	if err := os.Mkdir(RunDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if ms := under(mountTable(t), run0); len(ms) > 0 {
		t.Fatalf("mounts on the new /run before the test: %v", ms)
	}

	name := fmt.Sprintf("nsrun-fresh-%d", os.Getpid())
	ns, err := NewNamed(name)
	if err != nil {
		t.Fatal(err)
	}
	ns.Close()
	ipRun := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(ip, args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	ipRun("netns", "exec", name, "true")
	// iproute2 bind-mounts /run/netns over itself unless it is a mount point already.
	other := name + "-ip"
	ipRun("netns", "add", other)
	ipRun("netns", "del", other)

	if err := DeleteNamed(name); err != nil {
		t.Error(err)
	}
	if _, err := os.Lstat(filepath.Join(RunDir, name)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s still exists after DeleteNamed: %v", filepath.Join(RunDir, name), err)
	}
	if err := DeleteNamed(name); err != nil {
		t.Errorf("deleting a deleted namespace: %v", err)
	}
	// Preparing again (as another process would) stacks no second bind mount.
	if err := prepareRunDir(RunDir); err != nil {
		t.Fatal(err)
	}
	ms := under(mountTable(t), run0)
	if len(ms) != 1 || ms[0].Point != RunDir {
		t.Errorf("mounts on the new /run at the end: %v, want only %s itself", ms, RunDir)
	}
}
