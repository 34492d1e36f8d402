// Package mountns runs a test in a mount namespace of its own, for tests
// that mount (overlays, loop images): the test binary runs the test again,
// alone, in a child process made with unshare(CLONE_NEWNS), whose mounts
// are all private (Go's os/exec marks / MS_REC|MS_PRIVATE there, as
// unshare(1) does). Nothing the child mounts is seen outside it, and all
// of it goes with the child's namespace when the child ends, even when
// it is killed. A locked OS thread would not do: the code under test runs
// on goroutines that move between threads.
package mountns

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/devmgr/devmgr/internal/mountinfo"
	"github.com/devmgr/devmgr/internal/testing/testutil"
)

// env names the test a child runs, and the parent's mount namespace.
const env = "DEVMGR_MOUNTNS_TEST"

// Private runs the calling test in a child process in a new mount
// namespace. In the parent it returns child false once the child has
// run: the child's failure is the test's, and the parent's test ends. In
// the child it returns true and dir, a tmpfs mounted for the test alone
// on a temporary directory, for everything it mounts and writes; it is
// unmounted with what is mounted below it when the test ends. The test
// needs root and honours -short (testutil.RequireRoot).
func Private(t *testing.T) (dir string, child bool) {
	t.Helper()
	name, parentNS, ok := strings.Cut(os.Getenv(env), " ")
	if !ok || name != t.Name() {
		runChild(t)
		return "", false
	}
	ns, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil || ns == parentNS {
		t.Fatalf("not in a mount namespace of its own (%s, the parent's %s, %v): refusing to mount", ns, parentNS, err)
	}
	dir = t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755,size=512m"); err != nil {
		t.Fatalf("mounting a tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() { unmountAll(t, dir) })
	return dir, true
}

func runChild(t *testing.T) {
	t.Helper()
	testutil.RequireRoot(t)
	ns, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		t.Fatal(err)
	}
	var parts []string
	for _, p := range strings.Split(t.Name(), "/") {
		parts = append(parts, "^"+regexp.QuoteMeta(p)+"$")
	}
	timeout := 10 * time.Minute
	if d, ok := t.Deadline(); ok {
		timeout = time.Until(d) - 5*time.Second
	}
	cmd := exec.Command(os.Args[0], "-test.run="+strings.Join(parts, "/"), "-test.count=1", "-test.v",
		"-test.timeout="+timeout.String())
	cmd.Env = append(os.Environ(), env+"="+t.Name()+" "+ns)
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("%s in a mount namespace of its own: %v\n%s", t.Name(), err, out)
	}
	t.Logf("in a mount namespace of its own:\n%s", out)
}

// unmountAll unmounts dir and what is mounted below it, deepest first. A
// mount that stays busy is detached: the namespace is the test's alone
// and ends with it.
func unmountAll(t *testing.T, dir string) {
	ms, err := mountinfo.Read("/proc/self/mountinfo")
	if err != nil {
		t.Error(err)
		return
	}
	var points []string
	for _, m := range ms {
		if m.Point == dir || strings.HasPrefix(m.Point, dir+"/") {
			points = append(points, m.Point)
		}
	}
	slices.SortFunc(points, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	for _, p := range slices.Compact(points) {
		for unix.Unmount(p, 0) == nil {
		}
		if isMount(p) {
			t.Logf("%s stays busy: detaching it", p)
			_ = unix.Unmount(p, unix.MNT_DETACH)
		}
	}
}

func isMount(p string) bool {
	ms, err := mountinfo.Read("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	_, ok := mountinfo.Top(ms, filepath.Clean(p))
	return ok
}
