package agent

import (
	"bytes"
	"context"
	"fmt"
	"github.com/devmgr/devmgr/internal/agent/api"
	"github.com/devmgr/devmgr/internal/agent/client"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/devmgr/devmgr/internal/netif"
	"github.com/devmgr/devmgr/internal/testing/lab"
	"github.com/devmgr/devmgr/internal/testing/testutil"
)

// agentProc is an agent (Run) in a child process.
type agentProc struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startAgentProc(t *testing.T, cfgPath, ns, socket string) *agentProc {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), runEnv+"="+cfgPath+" "+ns)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &agentProc{cmd: cmd, out: out, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("agent output:\n%s", out.String())
		}
	})
	c := client.New(socket)
	defer c.Close()
	var err error
	testutil.Eventually(t, 15*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if _, err = c.Health(ctx); err == nil {
			return true
		}
		select {
		case <-p.done:
			t.Fatalf("agent exited at start: %v", p.err)
		default:
		}
		return false
	}, func() string { return fmt.Sprintf("agent did not answer: %v", err) })
	return p
}

func (p *agentProc) stop(t *testing.T, sig syscall.Signal) error {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	<-p.done
	return p.err
}

// TestLabRestart: SIGKILL with a change pending, then a restart, rolls the
// change back; a confirmed change is applied again by the next agent.
func TestLabRestart(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireBinary(t, "ip")
	l := lab.NewT(t, lab.Options{NoServers: true})
	dir := t.TempDir()
	socket := filepath.Join(dir, "agent.sock")
	cfgPath := filepath.Join(dir, "devmgr.yaml")
	yaml := fmt.Sprintf(`data_dir: %s
agent: {socket: %s, state_dir: %s}
web: {user: nobody}
ap: {interface: wlan0, passphrase: lab-passphrase, address: %q, dhcp: {start: 192.0.2.100, end: 192.0.2.150, lease: 1h}}
uplinks: [eth0]
lan: [eth1]
network: {rollback_timeout: 10m}
`, filepath.Join(dir, "data"), socket, filepath.Join(dir, "state"), lab.APAddress)
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	h, err := netif.OpenAt(l.NSPath(lab.Device))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ctx := context.Background()
	ns := l.NSPath(lab.Device)
	c := client.New(socket)
	defer c.Close()
	static := api.LinkConfig{Mode: "static", Addresses: []string{lab.LANDeviceAddr}}

	before := snapshotAll(t, h)
	p := startAgentProc(t, cfgPath, ns, socket)
	ch, err := c.SetConfig(ctx, admin, "eth1", static)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := h.Snapshot(ctx, "eth1"); len(st.Addresses) == 0 {
		t.Fatal("change not applied")
	}
	_ = p.stop(t, syscall.SIGKILL)

	p = startAgentProc(t, cfgPath, ns, socket) // replaces the stale socket, rolls back
	if diff := cmp.Diff(before, snapshotAll(t, h)); diff != "" {
		t.Errorf("after SIGKILL and restart (-before +after):\n%s", diff)
	}
	if got, err := c.Change(ctx, viewer, ch.ID); err != nil || got.Status != StatusRolledBack {
		t.Errorf("change after restart: %+v %v, want rolled_back", got, err)
	}

	// Confirmed, then a clean stop, a lost address (as after a reboot)
	// and a restart: the agent applies the confirmed config again.
	ch, err = c.SetConfig(ctx, admin, "eth1", static)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Confirm(ctx, admin, ch.ID); err != nil {
		t.Fatal(err)
	}
	if err := p.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("clean stop: %v", err)
	}
	if _, err := os.Lstat(socket); err == nil {
		t.Error("socket left after a clean stop")
	}
	if out, err := l.Exec(ctx, lab.Device, "ip", "addr", "flush", "dev", "eth1", "scope", "global"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	startAgentProc(t, cfgPath, ns, socket)
	eth1, err := c.Interface(ctx, viewer, "eth1")
	if err != nil {
		t.Fatal(err)
	}
	if eth1.Mode != "static" || !slices.Contains(eth1.Addresses, lab.LANDeviceAddr) {
		t.Errorf("eth1 after restart: mode %q addresses %v", eth1.Mode, eth1.Addresses)
	}
}
