package provision

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/devmgr/devmgr/internal/testing/testutil"
)

type dirState struct {
	Mode     os.FileMode
	UID, GID uint32
}

func statDir(t *testing.T, p string) dirState {
	t.Helper()
	st, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	sys := st.Sys().(*syscall.Stat_t)
	return dirState{st.Mode(), sys.Uid, sys.Gid}
}

// provision makes agent.state_dir root:root 0700 and corrects one that
// exists; it refuses a symlink or a file in its place and leaves the
// target alone.
func TestMakeStateDir(t *testing.T) {
	testutil.RequireRoot(t)
	root := t.TempDir()
	want := dirState{os.ModeDir | 0o700, 0, 0}

	fresh := filepath.Join(root, "var", "lib", "devmgr-agent")
	if err := makeStateDir(fresh); err != nil {
		t.Fatalf("makeStateDir(new): %v", err)
	}
	if diff := cmp.Diff(want, statDir(t, fresh)); diff != "" {
		t.Errorf("new directory (-want +got):\n%s", diff)
	}

	open := filepath.Join(root, "open")
	if err := os.Mkdir(open, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(open, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if err := makeStateDir(open); err != nil {
		t.Fatalf("makeStateDir(existing): %v", err)
	}
	if diff := cmp.Diff(want, statDir(t, open)); diff != "" {
		t.Errorf("corrected directory (-want +got):\n%s", diff)
	}

	target := filepath.Join(root, "target")
	if err := os.Mkdir(target, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(target, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	before := statDir(t, target)
	link := filepath.Join(root, "link")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := makeStateDir(link); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("makeStateDir(symlink) = %v, want it refused", err)
	}
	if diff := cmp.Diff(before, statDir(t, target)); diff != "" {
		t.Errorf("symlink target changed (-before +after):\n%s", diff)
	}

	file := filepath.Join(root, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := makeStateDir(file); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("makeStateDir(file) = %v, want it refused", err)
	}
}
