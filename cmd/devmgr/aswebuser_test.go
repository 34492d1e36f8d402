package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/devmgr/devmgr/internal/testing/testutil"
)

// Run by root, the user and token commands act as web.user: a database
// the console's account replaced by a symlink cannot make root create,
// change or hand over a file elsewhere.
func TestRootCLISymlinkedDatabase(t *testing.T) {
	testutil.RequireRoot(t)
	e := newCLIEnv(t)
	if err := os.Mkdir(e.dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	giveToNobody(t, e.dataDir)
	rootOnly := t.TempDir() // 0700 root: stands for /etc
	existing := filepath.Join(rootOnly, "passwd")
	if err := os.WriteFile(existing, []byte("keep\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{
		"to a missing file":   filepath.Join(rootOnly, "ld.so.preload"),
		"to an existing file": existing,
	} {
		t.Run(name, func(t *testing.T) {
			db := filepath.Join(e.dataDir, "devmgr.db")
			os.Remove(db)
			if err := os.Symlink(target, db); err != nil {
				t.Fatal(err)
			}
			_, _, err := e.run("a-long-enough-password\n", "user", "add", "mallory", "--role", "admin", "--password-stdin")
			if err == nil {
				t.Fatal("user add worked on a symlinked database")
			}
			st, statErr := os.Stat(target)
			switch {
			case target == existing:
				b, _ := os.ReadFile(existing)
				if string(b) != "keep\n" || st.Sys().(*syscall.Stat_t).Uid != 0 {
					t.Errorf("target changed: %q, uid %d", b, st.Sys().(*syscall.Stat_t).Uid)
				}
			case statErr == nil:
				t.Errorf("root created %s (uid %d)", target, st.Sys().(*syscall.Stat_t).Uid)
			}
		})
	}
}

// The database a root run creates belongs to web.user, never to root.
func TestRootCLICreatesAsWebUser(t *testing.T) {
	testutil.RequireRoot(t)
	e := newCLIEnv(t)
	e.must("a-long-enough-password\n", "user", "add", "alice", "--role", "admin", "--password-stdin")
	for _, n := range []string{"", "devmgr.db"} {
		st, err := os.Stat(filepath.Join(e.dataDir, n))
		if err != nil {
			t.Fatal(err)
		}
		if uid := st.Sys().(*syscall.Stat_t).Uid; uid == 0 {
			t.Errorf("%s is root's", filepath.Join(e.dataDir, n))
		}
	}
	if out := e.must("", "user", "list"); !strings.Contains(out, "alice") {
		t.Errorf("user list = %q", out)
	}
}

// A web.user that does not exist is a clear refusal, not a root run.
func TestRootCLIUnknownWebUser(t *testing.T) {
	testutil.RequireRoot(t)
	e := newCLIEnv(t)
	if err := os.WriteFile(e.config, []byte("data_dir: "+e.dataDir+"\nweb: {user: no-such-devmgr-user}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.fails(`web.user "no-such-devmgr-user"`, "", "user", "list")
	if _, err := os.Stat(e.dataDir); err == nil {
		t.Error("data_dir was created by root")
	}
}
