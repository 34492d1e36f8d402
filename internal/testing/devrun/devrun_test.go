package devrun

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"github.com/devmgr/devmgr/internal/testing/testutil"
)

func TestBlockedFor(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} { // t.TempDir makes both 0700
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if bad, _ := BlockedFor(dir, &syscall.Credential{Uid: 65534, Gid: 65534}); bad != "" {
		testutil.Missing(t, "%s is closed to other users", bad)
	}
	closed := filepath.Join(dir, "closed")
	group := filepath.Join(dir, "group")
	for _, d := range []string{closed, group} {
		if err := os.MkdirAll(filepath.Join(d, "data"), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(group, 0o710); err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(group, &st); err != nil {
		t.Fatal(err)
	}
	other := &syscall.Credential{Uid: st.Uid + 12345, Gid: st.Gid + 12345}
	member := &syscall.Credential{Uid: st.Uid + 12345, Gid: st.Gid + 12345, Groups: []uint32{st.Gid}}
	if bad, _ := BlockedFor(filepath.Join(dir, "x"), other); bad != "" {
		t.Errorf("BlockedFor(open dir) = %q", bad)
	}
	if bad, mode := BlockedFor(filepath.Join(closed, "data"), other); bad != closed || mode != 0o700 {
		t.Errorf("BlockedFor(closed) = %q, %04o; want %q, 0700", bad, mode, closed)
	}
	if bad, _ := BlockedFor(filepath.Join(group, "data"), other); bad != group {
		t.Errorf("BlockedFor(group dir, not a member) = %q, want %q", bad, group)
	}
	if bad, _ := BlockedFor(filepath.Join(group, "data"), member); bad == group {
		t.Errorf("BlockedFor(group dir, member) = %q, want it passable", bad)
	}
	owner := &syscall.Credential{Uid: st.Uid, Gid: st.Gid}
	if bad, _ := BlockedFor(filepath.Join(closed, "data"), owner); bad == closed {
		t.Errorf("BlockedFor(closed, owner) = %q, want it passable", bad)
	}
}

func TestPrefixWriter(t *testing.T) {
	var buf bytes.Buffer
	w := &prefixWriter{mu: &sync.Mutex{}, w: &buf, prefix: "agent | "}
	for _, s := range []string{"one\ntw", "o\n", "three"} {
		if _, err := w.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	w.flush()
	if got, want := buf.String(), "agent | one\nagent | two\nagent | three\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
