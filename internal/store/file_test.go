package store

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// withUmask runs the rest of the test with umask m. Not for parallel tests:
// the umask is the process's.
func withUmask(t *testing.T, m int) {
	t.Helper()
	old := syscall.Umask(m)
	t.Cleanup(func() { syscall.Umask(old) })
}

func perm(t *testing.T, path string) os.FileMode {
	t.Helper()
	st, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}

// TestDatabaseFilesOwnerOnly: the database and its -wal and -shm are 0600
// whatever the umask.
func TestDatabaseFilesOwnerOnly(t *testing.T) {
	t.Parallel()
	withUmask(t, 0)
	dir := t.TempDir()
	db := openTest(t, dir)
	if _, err := db.CreateUser(context.Background(), "alice", "admin", "h", false); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, FileName)
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if got := perm(t, p); got != 0o600 {
			t.Errorf("%s: mode %o, want 600", filepath.Base(p), got)
		}
	}
}

// TestOpenTightensMode: an existing database (and -wal, -shm) open to
// others becomes 0600.
func TestOpenTightensMode(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := openTest(t, dir)
	if _, err := db.CreateUser(context.Background(), "alice", "admin", "h", false); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, FileName)
	// Keep db open so that -wal and -shm stay.
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Chmod(p, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	db2 := openTest(t, dir)
	if n, err := db2.CountUsers(context.Background()); err != nil || n != 1 {
		t.Errorf("CountUsers after reopen = %d, %v; want 1", n, err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if got := perm(t, p); got != 0o600 {
			t.Errorf("%s: mode %o after reopen, want 600", filepath.Base(p), got)
		}
	}
}

// TestOpenRefusesSymlink: a devmgr.db (or -wal, -shm) that is a symlink is
// refused, and what it points to is neither created nor changed.
func TestOpenRefusesSymlink(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		link   string // which file is the link
		target string // "" for a missing target
	}{
		{"db to missing file", FileName, ""},
		{"db to existing file", FileName, "precious\n"},
		{"wal to existing file", FileName + "-wal", "precious\n"},
		{"shm to existing file", FileName + "-shm", "precious\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			data := filepath.Join(dir, "data")
			if err := os.Mkdir(data, 0o700); err != nil {
				t.Fatal(err)
			}
			if tc.link != FileName {
				// A real database beside a symlinked sidecar.
				db := openTest(t, data)
				db.Close()
				os.Remove(filepath.Join(data, FileName+"-wal"))
				os.Remove(filepath.Join(data, FileName+"-shm"))
			}
			target := filepath.Join(dir, "target")
			if tc.target != "" {
				if err := os.WriteFile(target, []byte(tc.target), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Symlink(target, filepath.Join(data, tc.link)); err != nil {
				t.Fatal(err)
			}
			db, err := Open(context.Background(), data, testLogger())
			if err == nil {
				db.Close()
				t.Fatal("Open through a symlink succeeded")
			}
			if !strings.Contains(err.Error(), "symbolic link") || !strings.Contains(err.Error(), tc.link) {
				t.Errorf("error %q does not say that %s is a symbolic link", err, tc.link)
			}
			b, rerr := os.ReadFile(target)
			switch {
			case tc.target == "" && rerr == nil:
				t.Errorf("the symlink's missing target was created (%d bytes)", len(b))
			case tc.target != "" && string(b) != tc.target:
				t.Errorf("target changed: %q, %v", b, rerr)
			case tc.target != "" && perm(t, target) != 0o644:
				t.Errorf("target mode changed to %o", perm(t, target))
			}
		})
	}
}

// TestOpenRefusesNonRegular: a devmgr.db that is a directory or a FIFO is
// refused with an error that says so.
func TestOpenRefusesNonRegular(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		make func(string) error
	}{
		{"directory", func(p string) error { return os.Mkdir(p, 0o700) }},
		{"fifo", func(p string) error { return syscall.Mkfifo(p, 0o600) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := tc.make(filepath.Join(dir, FileName)); err != nil {
				t.Fatal(err)
			}
			db, err := Open(context.Background(), dir, testLogger())
			if err == nil {
				db.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), "not a regular file") {
				t.Errorf("error %q does not say it is not a regular file", err)
			}
		})
	}
}
