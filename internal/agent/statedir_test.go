package agent

import (
	"context"
	"encoding/json"
	"github.com/devmgr/devmgr/internal/agent/api"
	"github.com/devmgr/devmgr/internal/agent/client"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/devmgr/devmgr/internal/change"
	"github.com/devmgr/devmgr/internal/netif"
	"github.com/devmgr/devmgr/internal/testing/lab"
	"github.com/devmgr/devmgr/internal/testing/testutil"
)

// The agent does not start on a state directory another user could
// change: it would act as root on what that user wrote.
func TestPrepareStateDirRefuses(t *testing.T) {
	testutil.RequireRoot(t)
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
			cfg := (&lab.Lab{}).Config(t.TempDir())
			cfg.Agent.StateDir = dir
			if err := Run(context.Background(), Options{Config: cfg, Log: slog.New(slog.DiscardHandler)}); err == nil {
				t.Error("Run started")
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

// The whole agent, started on a state directory holding a forged network
// journal that names the uplink: the uplink stays as it was, the journal
// is set aside, and the agent's own audit log (GET /v1/audit) says so.
// The console's data_dir is never touched.
func TestLabForgedJournalAudited(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireBinary(t, "ip")
	l := lab.NewT(t, lab.Options{NoServers: true})
	dir := t.TempDir()
	cfg := l.Config(filepath.Join(dir, "data"))
	cfg.Web.User = "" // root-only socket: this process is the client
	h, err := netif.OpenAt(l.NSPath(lab.Device))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ctx := context.Background()
	before, err := h.Snapshot(ctx, "eth0")
	if err != nil {
		t.Fatal(err)
	}
	forged := before
	forged.AdminUp, forged.Addresses, forged.Routes = false, []netif.AddrState{}, []netif.Route{}
	j, _ := json.Marshal(map[string]any{
		"change": change.Change{ID: "0123456789abcdef", Kind: netif.Kind, Target: "eth0", Status: change.StatusPending},
		"undo":   map[string]any{"prev": forged},
	})
	if err := PrepareStateDir(cfg.Agent.StateDir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(cfg.Agent.StateDir, "changes"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfg.Agent.StateDir, "changes", "pending.json"), j, 0o600); err != nil {
		t.Fatal(err)
	}

	log := &syncBuffer{}
	rctx, cancel := context.WithCancel(ctx)
	ready, done := make(chan struct{}), make(chan error, 1)
	go func() {
		done <- Run(rctx, Options{
			Config: cfg, Log: slog.New(slog.NewTextHandler(log, nil)),
			NetNS: l.NSPath(lab.Device), LeaseFile: filepath.Join(dir, "no-leases"),
			HostapdCtrlDir: filepath.Join(dir, "hostapd"), DnsmasqPIDFile: filepath.Join(dir, "dnsmasq.pid"),
			Ready: func() { close(ready) },
		})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent: %v", err)
		}
		if t.Failed() {
			t.Logf("agent log:\n%s", log.String())
		}
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("agent: %v\n%s", err, log.String())
	}
	after, _ := h.Snapshot(ctx, "eth0")
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("uplink changed (-before +after):\n%s", diff)
	}
	c := client.New(cfg.Agent.Socket)
	defer c.Close()
	admin := Actor{User: "root", Role: "admin", Source: "local"}
	got, err := c.Audit(ctx, admin, api.AuditQuery{Action: actRejected})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Target != "changes:changes/pending.json" || got[0].User != "agent" || got[0].Time.After(time.Now()) {
		t.Errorf("audit = %+v, want one rejection of changes/pending.json", got)
	}
	if _, err := c.Audit(ctx, Actor{User: "v", Role: "viewer", Source: "local"}, api.AuditQuery{}); err == nil {
		t.Error("a viewer read the agent's audit log")
	}
	if ents, _ := os.ReadDir(cfg.DataDir); len(ents) > 1 { // the socket lives there in the lab config
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("the agent wrote into data_dir: %q", names)
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
