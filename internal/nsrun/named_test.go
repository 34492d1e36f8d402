package nsrun

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

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
		if m.point == "/run" || m.point == RunDir {
			out = append(out, fmt.Sprintf("%d:%s", m.id, m.point))
		}
	}
	return strings.Join(out, " ")
}

// mount is one line of /proc/self/mountinfo.
type mount struct {
	id, parent int
	point      string
}

func mountTable(t *testing.T) []mount {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []mount
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			t.Fatalf("mountinfo line %q", line)
		}
		id, err1 := strconv.Atoi(f[0])
		parent, err2 := strconv.Atoi(f[1])
		if err1 != nil || err2 != nil {
			t.Fatalf("mountinfo line %q", line)
		}
		out = append(out, mount{id: id, parent: parent, point: unescapeMountinfo(f[4])})
	}
	return out
}

// unescapeMountinfo undoes the kernel's \ooo escapes in a mountinfo path.
func unescapeMountinfo(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// under lists the mounts that hang, directly or through others, off the
// mount with ID root (the child's own /run: the mounts it inherited stay
// listed beneath it, hidden).
func under(ms []mount, root int) []mount {
	in := map[int]bool{root: true}
	var out []mount
	for changed := true; changed; {
		changed = false
		for _, m := range ms {
			if !in[m.id] && in[m.parent] {
				in[m.id] = true
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
		if m.point == "/run" {
			run0 = m.id // the last one listed is the one just mounted
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
	if len(ms) != 1 || ms[0].point != RunDir {
		t.Errorf("mounts on the new /run at the end: %v, want only %s itself", ms, RunDir)
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
