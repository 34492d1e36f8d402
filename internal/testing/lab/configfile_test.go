package lab

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/google/go-cmp/cmp"

	"github.com/devmgr/devmgr/internal/config"
)

func TestWriteConfigRoundTrip(t *testing.T) {
	dir := t.TempDir()
	want := (&Lab{}).Config(filepath.Join(dir, "data"))
	want.Web.Listen = "127.0.0.1:8443"
	want.Agent.Socket = filepath.Join(dir, "run", "agent.sock")
	path := filepath.Join(dir, "lab.yaml")
	if err := WriteConfig(path, want); err != nil {
		t.Fatal(err)
	}
	got, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("config after write and load (-want +got):\n%s", diff)
	}
	bad := want
	bad.AP.Passphrase = "short"
	if err := WriteConfig(path, bad); err == nil {
		t.Error("WriteConfig accepted an invalid config")
	}
}

const fsizeChildEnv = "LAB_WRITECONFIG_FSIZE_CHILD"

// TestWriteConfigReportsWriteError runs WriteConfig in a child process whose
// file size limit (RLIMIT_FSIZE) is smaller than the config, so the write
// fails (EFBIG; Go ignores SIGXFSZ): the error is returned and no truncated
// file takes the config's place.
func TestWriteConfigReportsWriteError(t *testing.T) {
	if os.Getenv(fsizeChildEnv) != "" {
		path := os.Getenv(fsizeChildEnv)
		if err := unix.Setrlimit(unix.RLIMIT_FSIZE, &unix.Rlimit{Cur: 64, Max: 64}); err != nil {
			t.Fatal(err)
		}
		err := WriteConfig(path, (&Lab{}).Config(filepath.Join(filepath.Dir(path), "data")))
		if !errors.Is(err, syscall.EFBIG) {
			t.Errorf("WriteConfig over the file size limit returned %v, want EFBIG", err)
		}
		if _, serr := os.Stat(path); !errors.Is(serr, fs.ErrNotExist) {
			t.Errorf("%s exists after a failed write: %v", path, serr)
		}
		return
	}
	path := filepath.Join(t.TempDir(), "lab.yaml")
	cmd := exec.Command(os.Args[0], "-test.run=^TestWriteConfigReportsWriteError$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), fsizeChildEnv+"="+path)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child with a small file size limit: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "--- PASS: TestWriteConfigReportsWriteError") {
		t.Fatalf("the child ran no test:\n%s", out)
	}
}
