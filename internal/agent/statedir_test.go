package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/devmgr/devmgr/internal/testing/agentproc"
	"github.com/devmgr/devmgr/internal/testing/lab"
	"github.com/devmgr/devmgr/internal/testing/testutil"
)

// The agent does not start on a state directory another user could
// change: it would act as root on what that user wrote. PrepareStateDir
// refuses each, and so does the whole agent (devmgr agent, in a lab's
// device namespace).
func TestPrepareStateDirRefuses(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireBinary(t, "ip")
	l := lab.NewT(t, lab.Options{NoServers: true})
	tests := map[string]func(t *testing.T, base string) string{
		"group and others may read": func(t *testing.T, base string) string {
			d := filepath.Join(base, "state")
			mustMkdir(t, d, 0o755)
			return d
		},
		"the console's account owns it": func(t *testing.T, base string) string {
			d := filepath.Join(base, "state")
			mustMkdir(t, d, 0o700)
			if err := os.Chown(d, 65534, 65534); err != nil {
				t.Fatal(err)
			}
			return d
		},
		"a symlink": func(t *testing.T, base string) string {
			d := filepath.Join(base, "real")
			mustMkdir(t, d, 0o700)
			l := filepath.Join(base, "state")
			if err := os.Symlink(d, l); err != nil {
				t.Fatal(err)
			}
			return l
		},
		"inside a directory anyone may write": func(t *testing.T, base string) string {
			open := filepath.Join(base, "open")
			mustMkdir(t, open, 0o777)
			if err := os.Chmod(open, 0o777); err != nil {
				t.Fatal(err)
			}
			return filepath.Join(open, "state")
		},
		"inside a directory the console's account owns": func(t *testing.T, base string) string {
			p := filepath.Join(base, "data")
			mustMkdir(t, p, 0o755)
			if err := os.Chown(p, 65534, 65534); err != nil {
				t.Fatal(err)
			}
			return filepath.Join(p, "state")
		},
	}
	for name, mk := range tests {
		t.Run(name, func(t *testing.T) {
			dir := mk(t, t.TempDir())
			err := PrepareStateDir(dir)
			if err == nil || !strings.Contains(err.Error(), "agent.state_dir") {
				t.Errorf("PrepareStateDir = %v, want a refusal naming agent.state_dir", err)
			}
			cfg := l.Config(t.TempDir())
			cfg.Agent.StateDir = dir
			out, err := agentproc.Exit(t, agentproc.Options{Config: cfg, NS: l.NS(lab.Device)})
			if err == nil || !strings.Contains(out, "agent.state_dir") {
				t.Errorf("devmgr agent ended with %v, want a refusal naming agent.state_dir:\n%s", err, out)
			}
		})
	}
	t.Run("made when missing", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "a", "state")
		if err := PrepareStateDir(dir); err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(dir)
		if err != nil || st.Mode().Perm() != 0o700 {
			t.Errorf("state dir %v, %v; want mode 0700", st, err)
		}
		if err := PrepareStateDir(dir); err != nil {
			t.Errorf("second PrepareStateDir: %v", err)
		}
	})
}

func mustMkdir(t *testing.T, d string, mode os.FileMode) {
	t.Helper()
	if err := os.Mkdir(d, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(d, mode); err != nil {
		t.Fatal(err)
	}
}

// The socket is given its group and mode inside a root-only directory and
// renamed into place: that is safe only in a directory no other user can
// change, so Listen refuses any other.
func TestListenRefusesOpenSocketDir(t *testing.T) {
	testutil.RequireRoot(t)
	for name, prep := range map[string]func(dir string){
		"writable by all": func(dir string) { os.Chmod(dir, 0o777) },
		"the console's":   func(dir string) { os.Chown(dir, 65534, 65534) },
	} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "run")
			mustMkdir(t, dir, 0o755)
			prep(dir)
			s, err := New(Config{Socket: filepath.Join(dir, "agent.sock"), Diag: &fakeDiag{}, Audit: &auditLog{}, Log: discard()})
			if err != nil {
				t.Fatal(err)
			}
			if ln, err := s.Listen(); err == nil {
				ln.Close()
				t.Fatal("Listen accepted a socket directory another user can change")
			}
			if _, err := os.Lstat(filepath.Join(dir, "agent.sock")); err == nil {
				t.Error("a socket was placed there")
			}
		})
	}
}
