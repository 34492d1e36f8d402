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
	if err := WritePrivate(private, want, header); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(private); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("WritePrivate: mode %v (%v), want 0600", st.Mode(), err)
	}
	if err := os.Chmod(private, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := WritePrivate(private, want, header); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(private); err != nil || st.Mode().Perm() != 0o640 {
		t.Errorf("WritePrivate over a 0640 file: mode %v (%v), want it kept", st.Mode(), err)
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
