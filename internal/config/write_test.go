package config

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// writable is a valid config with every section a generated one has.
func writable(dir string) Config {
	c := Default()
	c.DataDir = filepath.Join(dir, "data")
	c.Web.Listen = "127.0.0.1:8443"
	c.Agent.Socket = filepath.Join(dir, "run", "agent.sock")
	c.AP.Passphrase = "correct horse battery"
	return c
}

func TestWriteRoundTrip(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	want := writable(dir)
	path := filepath.Join(dir, "lab.yaml")
	const header = "# Generated; rewritten on every start.\n"
	if err := Write(path, want, header); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("config after write and load (-want +got):\n%s", diff)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(b), header) {
		t.Errorf("file does not start with the header:\n%s", b)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v (%v), want 0644", st.Mode(), err)
	}
	private := filepath.Join(dir, "device.yaml")
	if err := WriteKeeping(private, want, header); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(private); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("WriteKeeping: mode %v (%v), want 0600", st.Mode(), err)
	}
	if err := os.Chmod(private, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := WriteKeeping(private, want, header); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(private); err != nil || st.Mode().Perm() != 0o640 {
		t.Errorf("WriteKeeping over a 0640 file: mode %v (%v), want it kept", st.Mode(), err)
	}
	bad := want
	bad.AP.Passphrase = "short"
	if err := Write(path, bad, ""); err == nil {
		t.Error("Write accepted an invalid config")
	}
	if again, err := Load(path); err != nil || !cmp.Equal(want, again) {
		t.Errorf("a refused Write changed the file: %v", err)
	}
}

const fsizeChildEnv = "CONFIG_WRITE_FSIZE_CHILD"

// TestWriteReportsWriteError runs Write in a child process whose file size
// limit (RLIMIT_FSIZE) is smaller than the config, so the write fails
// (EFBIG; Go ignores SIGXFSZ): the error is returned and no truncated file
// takes the config's place.
func TestWriteReportsWriteError(t *testing.T) {
	if os.Getenv(fsizeChildEnv) != "" {
		path := os.Getenv(fsizeChildEnv)
		if err := unix.Setrlimit(unix.RLIMIT_FSIZE, &unix.Rlimit{Cur: 64, Max: 64}); err != nil {
			t.Fatal(err)
		}
		err := Write(path, writable(filepath.Dir(path)), "")
		if !errors.Is(err, syscall.EFBIG) {
			t.Errorf("Write over the file size limit returned %v, want EFBIG", err)
		}
		if _, serr := os.Stat(path); !errors.Is(serr, fs.ErrNotExist) {
			t.Errorf("%s exists after a failed write: %v", path, serr)
		}
		ents, _ := os.ReadDir(filepath.Dir(path))
		for _, e := range ents {
			t.Errorf("left behind: %s", e.Name())
		}
		return
	}
	t.Parallel()
	path := filepath.Join(t.TempDir(), "lab.yaml")
	cmd := exec.Command(os.Args[0], "-test.run=^TestWriteReportsWriteError$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), fsizeChildEnv+"="+path)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child with a small file size limit: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "--- PASS: TestWriteReportsWriteError") {
		t.Fatalf("the child ran no test:\n%s", out)
	}
}

// WriteKeeping replaces a file keeping its mode and group: a config that
// holds the AP passphrase never becomes readable by others.
func TestWriteKeepingKeepsModeAndOwner(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "devmgr.yaml")
	if err := os.WriteFile(path, []byte("{}\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		if err := os.Chown(path, 0, 12345); err != nil {
			t.Fatal(err)
		}
	}
	want := writable(dir)
	want.AP.SSID = "Restored"
	if err := WriteKeeping(path, want, "# restored\n"); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o640 {
		t.Errorf("mode %#o, want 0640", st.Mode().Perm())
	}
	if gid := st.Sys().(*syscall.Stat_t).Gid; os.Geteuid() == 0 && gid != 12345 {
		t.Errorf("group %d, want 12345", gid)
	}
	// A new file is its owner's alone.
	fresh := filepath.Join(dir, "new.yaml")
	if err := WriteKeeping(fresh, want, ""); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(fresh); st.Mode().Perm() != 0o600 {
		t.Errorf("new file mode %#o, want 0600", st.Mode().Perm())
	}
}
