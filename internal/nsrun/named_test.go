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

	"github.com/devmgr/devmgr/internal/testutil"
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
	mps, err := MountPoints()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, mp := range mps {
		if mp == "/run" || mp == RunDir {
			out = append(out, mp)
		}
	}
	return strings.Join(out, " ")
}

func freshRunDirChild(t *testing.T) {
	ip := os.Getenv("NSRUN_IP")
	if err := unix.Mount("tmpfs", "/run", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755,size=1m"); err != nil {
		t.Fatalf("mounting a tmpfs on /run: %v", err)
	}
	if err := os.Mkdir(RunDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if m, err := isMountPoint(RunDir); err != nil || m {
		t.Fatalf("%s is a mount point (%v) before the test: %v", RunDir, m, err)
	}

	name := fmt.Sprintf("nsrun-fresh-%d", os.Getpid())
	ns, err := NewNamed(name)
	if err != nil {
		t.Fatal(err)
	}
	ns.Close()
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(ip, args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	run("netns", "exec", name, "true")
	// iproute2 bind-mounts /run/netns over itself unless it is a mount point already.
	other := name + "-ip"
	run("netns", "add", other)
	run("netns", "del", other)

	if err := DeleteNamed(name); err != nil {
		t.Error(err)
	}
	if _, err := os.Lstat(filepath.Join(RunDir, name)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s still exists after DeleteNamed: %v", filepath.Join(RunDir, name), err)
	}
	mps, err := MountPoints()
	if err != nil {
		t.Fatal(err)
	}
	for _, mp := range mps {
		if strings.HasPrefix(mp, RunDir+"/") {
			t.Errorf("still mounted: %s", mp)
		}
	}
	if err := DeleteNamed(name); err != nil {
		t.Errorf("deleting a deleted namespace: %v", err)
	}

	// Preparing again (as another process would) stacks no second bind mount.
	if err := prepareRunDir(RunDir); err != nil {
		t.Fatal(err)
	}
	if mps, err = MountPoints(); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, mp := range mps {
		if mp == RunDir {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%s is mounted %d times, want once", RunDir, n)
	}
}

func TestUnescapeMountinfo(t *testing.T) {
	for in, want := range map[string]string{
		`/run/netns`:         "/run/netns",
		`/mnt/a\040b`:        "/mnt/a b",
		`/mnt/tab\011x\134y`: "/mnt/tab\tx\\y",
		`/mnt/odd\04`:        `/mnt/odd\04`,
	} {
		if got := unescapeMountinfo(in); got != want {
			t.Errorf("unescapeMountinfo(%q) = %q, want %q", in, got, want)
		}
	}
}
