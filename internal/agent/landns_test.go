package agent

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/devmgr/devmgr/internal/agent/api"
	"github.com/devmgr/devmgr/internal/agent/client"
	"github.com/devmgr/devmgr/internal/netif"
	"github.com/devmgr/devmgr/internal/testing/lab"
	"github.com/devmgr/devmgr/internal/testing/testutil"
)

// TestLabLANDNS runs the whole agent (Run) in the lab: the DNS servers of
// a static LAN config and of a DHCP lease reach dnsmasq's servers-file; a
// rolled-back change and a released lease take theirs away; a restarted
// agent writes the file again.
func TestLabLANDNS(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireBinary(t, "ip", "dnsmasq")
	l := lab.NewT(t, lab.Options{}) // the upstream's dnsmasq leases eth0 with DNS server 198.51.100.1
	dir := t.TempDir()
	cfg := l.Config(filepath.Join(dir, "data"))
	cfg.Web.User = "" // root-only socket: this process is the client
	cfg.Uplinks = nil
	cfg.LAN = []string{"eth0", "eth1"}
	cfg.Network.RollbackTimeout = 3 * time.Second
	servers := filepath.Join(dir, "servers")

	run := func() (stop func()) {
		return runLabAgent(t, l, Options{Config: cfg, LeaseFile: filepath.Join(dir, "no-leases"),
			HostapdCtrlDir: filepath.Join(dir, "hostapd"), DNSServersFile: servers, DnsmasqPIDFile: filepath.Join(dir, "dnsmasq.pid")})
	}
	read := func() string {
		t.Helper()
		b, err := os.ReadFile(servers)
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		for _, ln := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(ln, "server=") {
				lines = append(lines, ln)
			}
		}
		return strings.Join(lines, "; ")
	}
	wait := func(what, want string) {
		t.Helper()
		var got string
		testutil.Eventually(t, 15*time.Second, func() bool { got = read(); return got == want },
			func() string { return fmt.Sprintf("%s: servers-file has %q, want %q", what, got, want) })
	}

	stop := run()
	wait("at start, with nothing configured", "")
	if fi, err := os.Stat(servers); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("servers-file mode: %v %v, want 0644 (dnsmasq reads it as nobody)", fi.Mode(), err)
	}

	ctx := context.Background()
	c := client.New(cfg.Agent.Socket)
	defer c.Close()
	confirm := func(ch api.Change, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Confirm(ctx, admin, ch.ID); err != nil {
			t.Fatal(err)
		}
	}

	confirm(c.SetConfig(ctx, admin, "eth0", api.LinkConfig{Mode: "dhcp"}))
	wait("eth0 leased", "server="+lab.UpstreamIP+" # eth0")

	confirm(c.SetConfig(ctx, admin, "eth1", api.LinkConfig{Mode: "static", Addresses: []string{lab.LANDeviceAddr},
		DNS: []string{lab.LANHostIP, "2001:db8::53"}}))
	both := "server=" + lab.UpstreamIP + " # eth0; server=" + lab.LANHostIP + " # eth1; server=2001:db8::53 # eth1"
	wait("eth1 static with DNS", both)

	// Unconfirmed, other servers: in force until the rollback, then gone.
	if _, err := c.SetConfig(ctx, admin, "eth1", api.LinkConfig{Mode: "static", Addresses: []string{lab.LANDeviceAddr},
		DNS: []string{"203.0.113.53"}}); err != nil {
		t.Fatal(err)
	}
	wait("pending change", "server="+lab.UpstreamIP+" # eth0; server=203.0.113.53 # eth1")
	wait("rolled back", both)

	// eth0 static: its lease is released and its server goes.
	confirm(c.SetConfig(ctx, admin, "eth0", api.LinkConfig{Mode: "static", Addresses: []string{"198.51.100.77/24"}}))
	wait("eth0 static", "server="+lab.LANHostIP+" # eth1; server=2001:db8::53 # eth1")

	// A restarted agent (after a reboot cleared /run) writes the file again.
	stop()
	if err := os.Remove(servers); err != nil {
		t.Fatal(err)
	}
	run()
	wait("after a restart", "server="+lab.LANHostIP+" # eth1; server=2001:db8::53 # eth1")
}

// runLabAgent runs the whole agent (Run) on the lab's device namespace
// with o (Audit, Log, NetNS and Ready are set here) until the returned
// stop, which the test's cleanup calls too.
func runLabAgent(t *testing.T, l *lab.Lab, o Options) (stop func()) {
	t.Helper()
	log := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan struct{}), make(chan error, 1)
	o.Audit, o.Log, o.NetNS = &auditLog{}, slog.New(slog.NewTextHandler(log, nil)), l.NSPath(lab.Device)
	o.Ready = func() { close(ready) }
	go func() { done <- Run(ctx, o) }()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("agent: %v\n%s", err, log.String())
	}
	stop = sync.OnceFunc(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent: %v", err)
		}
		if t.Failed() {
			t.Logf("agent log:\n%s", log.String())
		}
	})
	t.Cleanup(stop)
	return stop
}

// The servers-file is readable by dnsmasq (nobody) under the agent's
// UMask=0077. Not parallel: the umask is the process's.
func TestLANDNSFileModeIgnoresUmask(t *testing.T) {
	old := syscall.Umask(0o077)
	t.Cleanup(func() { syscall.Umask(old) })
	dir := t.TempDir()
	file := filepath.Join(dir, "servers")
	d := newLANDNS(file, filepath.Join(dir, "dnsmasq.pid"), slog.New(slog.DiscardHandler))
	d.setApplied(map[string]netif.LinkConfig{"eth1": {Mode: netif.ModeStatic, DNS: []string{"192.0.2.53"}}})
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("servers-file mode %v, want 0644", fi.Mode().Perm())
	}
}
