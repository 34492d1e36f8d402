package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/devmgr/devmgr/internal/agent"
	"github.com/devmgr/devmgr/internal/agent/api"
	agentclient "github.com/devmgr/devmgr/internal/agent/client"
	"github.com/devmgr/devmgr/internal/auth"
	"github.com/devmgr/devmgr/internal/change"
	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/netif"
	"github.com/devmgr/devmgr/internal/testing/agentproc"
	"github.com/devmgr/devmgr/internal/testing/lab"
	"github.com/devmgr/devmgr/internal/testing/testutil"
)

// These tests run the whole agent, `devmgr agent` (serveAgent), in a lab's
// device namespace (agentproc): what its composition does at start and
// over restarts.

var (
	agentAdmin  = api.Actor{User: "alice", Role: auth.Admin, Source: "192.0.2.50"}
	agentViewer = api.Actor{User: "victor", Role: auth.Viewer, Source: "192.0.2.52"}
)

// labAgent builds a lab, and a config of its device under a test
// directory (data_dir DIR/data), for devmgr agent.
func labAgent(t *testing.T, o lab.Options) (l *lab.Lab, cfg config.Config, dir string) {
	t.Helper()
	testutil.RequireRoot(t)
	testutil.RequireBinary(t, "ip")
	l = lab.NewT(t, o)
	dir = t.TempDir()
	return l, l.Config(filepath.Join(dir, "data")), dir
}

// labLinks is the state of the device namespace's links.
func labLinks(t *testing.T, h *netif.Handle) map[string]netif.State {
	t.Helper()
	return lab.DeviceState(t, func(n string) (netif.State, error) { return h.Snapshot(context.Background(), n) })
}

// TestLabRestart: SIGKILL with a change pending, then a restart, rolls the
// change back; a confirmed change is applied again by the next agent.
func TestLabRestart(t *testing.T) {
	l, cfg, dir := labAgent(t, lab.Options{NoServers: true})
	cfg.Agent.Socket = filepath.Join(dir, "agent.sock")
	cfg.Agent.StateDir = filepath.Join(dir, "state")
	cfg.Web.User = "nobody"
	cfg.Network.RollbackTimeout = 10 * time.Minute
	o := agentproc.Options{Config: cfg, NS: l.NS(lab.Device)}
	h, err := netif.OpenAt(l.NSPath(lab.Device))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ctx := context.Background()
	c := agentclient.New(cfg.Agent.Socket)
	defer c.Close()
	static := api.LinkConfig{Mode: "static", Addresses: []string{lab.LANDeviceAddr}}

	before := labLinks(t, h)
	p := agentproc.Start(t, o)
	ch, err := c.SetConfig(ctx, agentAdmin, "eth1", static)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := h.Snapshot(ctx, "eth1"); len(st.Addresses) == 0 {
		t.Fatal("change not applied")
	}
	p.Kill()

	p = agentproc.Start(t, o) // replaces the stale socket, rolls back
	if diff := cmp.Diff(before, labLinks(t, h)); diff != "" {
		t.Errorf("after SIGKILL and restart (-before +after):\n%s", diff)
	}
	if got, err := c.Change(ctx, agentViewer, ch.ID); err != nil || got.Status != api.StatusRolledBack {
		t.Errorf("change after restart: %+v %v, want rolled_back", got, err)
	}

	// Confirmed, then a clean stop, a lost address (as after a reboot)
	// and a restart: the agent applies the confirmed config again.
	ch, err = c.SetConfig(ctx, agentAdmin, "eth1", static)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Confirm(ctx, agentAdmin, ch.ID); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(); err != nil {
		t.Fatalf("clean stop: %v", err)
	}
	if _, err := os.Lstat(cfg.Agent.Socket); err == nil {
		t.Error("socket left after a clean stop")
	}
	if out, err := l.Exec(ctx, lab.Device, "ip", "addr", "flush", "dev", "eth1", "scope", "global"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	agentproc.Start(t, o)
	eth1, err := c.Interface(ctx, agentViewer, "eth1")
	if err != nil {
		t.Fatal(err)
	}
	if eth1.Mode != "static" || !slices.Contains(eth1.Addresses, lab.LANDeviceAddr) {
		t.Errorf("eth1 after restart: mode %q addresses %v", eth1.Mode, eth1.Addresses)
	}
}

// TestLabLANDNS: the DNS servers of a static LAN config and of a DHCP
// lease reach dnsmasq's servers-file; a rolled-back change and a released
// lease take theirs away; a restarted agent writes the file again.
func TestLabLANDNS(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireBinary(t, "dnsmasq")
	// The upstream's dnsmasq leases eth0 with DNS server 198.51.100.1.
	l, cfg, dir := labAgent(t, lab.Options{})
	cfg.Web.User = "root" // a root-only socket: this process is the client
	cfg.Uplinks = nil
	cfg.LAN = []string{"eth0", "eth1"}
	cfg.Network.RollbackTimeout = 10 * time.Second // the shortest devmgr accepts
	servers := filepath.Join(dir, "servers")
	o := agentproc.Options{Config: cfg, NS: l.NS(lab.Device), DNSServers: servers}

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

	p := agentproc.Start(t, o)
	wait("at start, with nothing configured", "")
	if fi, err := os.Stat(servers); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("servers-file mode: %v %v, want 0644 (dnsmasq reads it as nobody)", fi.Mode(), err)
	}

	ctx := context.Background()
	c := agentclient.New(cfg.Agent.Socket)
	defer c.Close()
	confirm := func(ch api.Change, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Confirm(ctx, agentAdmin, ch.ID); err != nil {
			t.Fatal(err)
		}
	}

	confirm(c.SetConfig(ctx, agentAdmin, "eth0", api.LinkConfig{Mode: "dhcp"}))
	wait("eth0 leased", "server="+lab.UpstreamIP+" # eth0")

	confirm(c.SetConfig(ctx, agentAdmin, "eth1", api.LinkConfig{Mode: "static", Addresses: []string{lab.LANDeviceAddr},
		DNS: []string{lab.LANHostIP, "2001:db8::53"}}))
	both := "server=" + lab.UpstreamIP + " # eth0; server=" + lab.LANHostIP + " # eth1; server=2001:db8::53 # eth1"
	wait("eth1 static with DNS", both)

	// Unconfirmed, other servers: in force until the rollback, then gone.
	if _, err := c.SetConfig(ctx, agentAdmin, "eth1", api.LinkConfig{Mode: "static", Addresses: []string{lab.LANDeviceAddr},
		DNS: []string{"203.0.113.53"}}); err != nil {
		t.Fatal(err)
	}
	wait("pending change", "server="+lab.UpstreamIP+" # eth0; server=203.0.113.53 # eth1")
	wait("rolled back", both)

	// eth0 static: its lease is released and its server goes.
	confirm(c.SetConfig(ctx, agentAdmin, "eth0", api.LinkConfig{Mode: "static", Addresses: []string{"198.51.100.77/24"}}))
	wait("eth0 static", "server="+lab.LANHostIP+" # eth1; server=2001:db8::53 # eth1")

	// A restarted agent (after a reboot cleared /run) writes the file again.
	if err := p.Stop(); err != nil {
		t.Errorf("agent: %v", err)
	}
	if err := os.Remove(servers); err != nil {
		t.Fatal(err)
	}
	agentproc.Start(t, o)
	wait("after a restart", "server="+lab.LANHostIP+" # eth1; server=2001:db8::53 # eth1")
}

// The whole agent, started on a state directory holding a forged network
// journal that names the uplink: the uplink stays as it was, the journal
// is set aside, and the agent's own audit log (GET /v1/audit) says so.
// The console's data_dir is never touched.
func TestLabForgedJournalAudited(t *testing.T) {
	l, cfg, _ := labAgent(t, lab.Options{NoServers: true})
	cfg.Web.User = "root" // a root-only socket: this process is the client
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
	if err := agent.PrepareStateDir(cfg.Agent.StateDir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(cfg.Agent.StateDir, "changes"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfg.Agent.StateDir, "changes", "pending.json"), j, 0o600); err != nil {
		t.Fatal(err)
	}

	agentproc.Start(t, agentproc.Options{Config: cfg, NS: l.NS(lab.Device)})
	after, _ := h.Snapshot(ctx, "eth0")
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("uplink changed (-before +after):\n%s", diff)
	}
	c := agentclient.New(cfg.Agent.Socket)
	defer c.Close()
	root := api.Actor{User: "root", Role: "admin", Source: "local"}
	got, err := c.Audit(ctx, root, api.AuditQuery{Action: api.ActRejected})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Target != "changes:changes/pending.json" || got[0].User != "agent" || got[0].Time.After(time.Now()) {
		t.Errorf("audit = %+v, want one rejection of changes/pending.json", got)
	}
	if _, err := c.Audit(ctx, api.Actor{User: "v", Role: "viewer", Source: "local"}, api.AuditQuery{}); err == nil {
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

// TestLabPendingDHCP: in the lab, where eth1's LAN has no DHCP server and
// eth0's upstream has one, a pending change to mode dhcp sits on its
// interface with who made it and what it changes, and says it waits for a
// lease while none is bound; the interface says "waiting", then "bound"
// once a server answers. The agent's traffic history gives the interfaces
// their rates.
func TestLabPendingDHCP(t *testing.T) {
	testutil.RequireRoot(t)
	ping := testutil.RequireBinary(t, "ping", "dnsmasq")
	l, cfg, _ := labAgent(t, lab.Options{})
	cfg.Web.User = "root" // a root-only socket: this process is the client
	cfg.Uplinks = nil
	cfg.LAN = []string{"eth0", "eth1"}
	cfg.Network.RollbackTimeout = 10 * time.Minute // nothing rolls back during the test
	agentproc.Start(t, agentproc.Options{Config: cfg, NS: l.NS(lab.Device)})
	ctx := context.Background()
	c := agentclient.New(cfg.Agent.Socket)
	defer c.Close()

	// eth1, never configured, to dhcp: nobody answers.
	ch, err := c.SetConfig(ctx, agentAdmin, "eth1", api.LinkConfig{Mode: "dhcp"})
	if err != nil {
		t.Fatal(err)
	}
	if ch.User != agentAdmin.User || ch.Waiting != netif.WaitingForLease || ch.Status != api.StatusPending {
		t.Errorf("the 202 answer: %+v", ch)
	}
	if diff := cmp.Diff([]api.FieldChange{{Field: "mode", Old: "", New: "dhcp"}}, ch.Changes); diff != "" {
		t.Errorf("what the change does (-want +got):\n%s", diff)
	}
	eth1, err := c.Interface(ctx, agentViewer, "eth1")
	if err != nil {
		t.Fatal(err)
	}
	if eth1.DHCPState != api.DHCPWaiting || eth1.Pending == nil || eth1.Pending.ID != ch.ID ||
		eth1.Pending.Waiting == "" || eth1.Pending.User != agentAdmin.User || eth1.Mode != "" || eth1.Lease != nil {
		t.Errorf("eth1 while its change is pending: %+v (pending %+v)", eth1, eth1.Pending)
	}
	if h, err := c.Health(ctx); err != nil || h.Pending == nil || h.Pending.Waiting == "" {
		t.Errorf("health: %+v %v", h.Pending, err)
	}
	eth0, err := c.Interface(ctx, agentViewer, "eth0")
	if err != nil || eth0.Pending != nil || eth0.DHCPState != "" {
		t.Errorf("eth0 has another's change or a DHCP state: %+v %v", eth0, err)
	}
	// Confirmed without a lease: the agentAdmin was told; the link still waits.
	if got, err := c.Confirm(ctx, agentAdmin, ch.ID); err != nil || got.Waiting != "" {
		t.Fatalf("confirm: %+v %v", got, err)
	}
	if eth1, err = c.Interface(ctx, agentViewer, "eth1"); err != nil || eth1.DHCPState != api.DHCPWaiting || eth1.Pending != nil || eth1.Mode != "dhcp" {
		t.Errorf("eth1 confirmed in mode dhcp without a lease: %+v %v", eth1, err)
	}

	// eth0 to dhcp: the upstream's server answers.
	ch, err = c.SetConfig(ctx, agentAdmin, "eth0", api.LinkConfig{Mode: "dhcp"})
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 20*time.Second, func() bool {
		eth0, err = c.Interface(ctx, agentViewer, "eth0")
		return err == nil && eth0.DHCPState == api.DHCPBound
	}, func() string { return fmt.Sprintf("eth0 bound: %+v %v", eth0, err) })
	if eth0.Lease == nil || eth0.Pending == nil || eth0.Pending.ID != ch.ID || eth0.Pending.Waiting != "" {
		t.Errorf("eth0 bound with its change pending: %+v (pending %+v)", eth0, eth0.Pending)
	}
	if got, err := c.Change(ctx, agentViewer, ch.ID); err != nil || got.Waiting != "" || got.Status != api.StatusPending {
		t.Errorf("the bound change: %+v %v", got, err)
	}
	if _, err := c.Confirm(ctx, agentAdmin, ch.ID); err != nil {
		t.Fatal(err)
	}

	// Traffic over eth0, sampled every 10 s by the agent: a rate, and a
	// sample in the history.
	if out, err := l.Exec(ctx, lab.Device, ping, "-c5", "-i0.2", "-s1000", "-W3", lab.UpstreamIP); err != nil {
		t.Fatalf("upstream not reachable over the lease: %v\n%s", err, out)
	}
	var tr api.Traffic
	testutil.Eventually(t, 25*time.Second, func() bool {
		tr, err = c.Traffic(ctx, agentViewer, "eth0", time.Time{})
		if err != nil || len(tr.Interfaces) != 1 {
			return false
		}
		for _, s := range tr.Interfaces[0].Samples {
			if s.TxBps > 0 && s.RxBps > 0 {
				return true
			}
		}
		return false
	}, func() string { return fmt.Sprintf("a traffic sample of eth0: %+v %v", tr, err) })
	if tr.IntervalSeconds != 10 {
		t.Errorf("interval %d s, want 10", tr.IntervalSeconds)
	}
	if eth0, err = c.Interface(ctx, agentViewer, "eth0"); err != nil || eth0.RxRate == nil || eth0.TxRate == nil {
		t.Errorf("eth0 without rates: %+v %v", eth0, err)
	}
	if all, err := c.Traffic(ctx, agentViewer, "", time.Time{}); err != nil || len(all.Interfaces) != 4 {
		t.Errorf("traffic of every interface (lo, wlan0, eth0, eth1): %+v %v", all, err)
	}
}

// TestLabCommands: devmgr agent serves its command catalog: interface
// parameters offer the device namespace's links (the LAN's only with
// lan_only) and run there, and a clean stop ends a run that is still
// going: the history and the audit log (both in agent.state_dir) record
// it as interrupted, as the next agent shows.
func TestLabCommands(t *testing.T) {
	l, cfg, dir := labAgent(t, lab.Options{NoServers: true})
	testutil.RequireBinary(t, "sleep")
	cfg.Agent.Socket = filepath.Join(dir, "agent.sock")
	cfg.Agent.StateDir = filepath.Join(dir, "state")
	cfg.Web.User = "nobody"
	cfg.Commands = []config.Command{
		{ID: "link", Title: "Link", Argv: []string{"/usr/bin/ip", "-o", "link", "show", "dev", "{iface}"}, Roles: []auth.Role{auth.Admin},
			Params: config.Params{{Name: "iface", Type: config.ParamInterface}}},
		{ID: "lan-link", Title: "LAN link", Argv: []string{"/usr/bin/ip", "-o", "link", "show", "dev", "{iface}"}, Roles: []auth.Role{auth.Admin},
			Params: config.Params{{Name: "iface", Type: config.ParamInterface, LANOnly: true}}},
		{ID: "wait", Title: "Wait", Argv: []string{"/usr/bin/sleep", "300"}, Roles: []auth.Role{auth.Admin}},
	}
	o := agentproc.Options{Config: cfg, NS: l.NS(lab.Device)}
	p := agentproc.Start(t, o)
	ctx := context.Background()
	c := agentclient.New(cfg.Agent.Socket)
	defer c.Close()

	cmds, err := c.Commands(ctx, agentAdmin)
	if err != nil || len(cmds) != 3 {
		t.Fatalf("commands: %+v %v", cmds, err)
	}
	if got := cmds[0].Params[0].Choices; !slices.Equal(got, []string{"eth0", "eth1", "lo", "wlan0"}) {
		t.Errorf("the interfaces offered: %q, want the device namespace's", got)
	}
	if got := cmds[1].Params[0].Choices; !slices.Equal(got, []string{"eth1"}) {
		t.Errorf("the LAN interfaces offered: %q, want eth1 (config lan)", got)
	}
	if _, err := c.StartRun(ctx, agentAdmin, "lan-link", map[string]string{"iface": "eth0"}); !api.IsStatus(err, 400) {
		t.Errorf("lan-link eth0: %v, want 400", err)
	}
	st, err := c.StartRun(ctx, agentAdmin, "link", map[string]string{"iface": "wlan0"})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	res, err := c.FollowRun(ctx, agentAdmin, st.RunID, 0, func(_ int64, s string) { out = append(out, s) })
	if err != nil || res.Status != api.RunOK || len(out) != 1 || !strings.Contains(out[0], "wlan0") {
		t.Errorf("ip link show dev wlan0 in the device namespace: %q %+v %v", out, res, err)
	}

	// A clean stop while wait runs.
	st, err = c.StartRun(ctx, agentAdmin, "wait", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(); err != nil {
		t.Fatalf("clean stop: %v", err)
	}
	agentproc.Start(t, o)
	run, err := c.Run(ctx, agentAdmin, st.RunID)
	if err != nil || run.Status != api.RunInterrupted {
		t.Errorf("the run the stop ended: %+v %v, want interrupted", run, err)
	}
	entries, err := c.Audit(ctx, agentAdmin, api.AuditQuery{Action: api.ActCommandRun})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Target+" "+e.Result)
	}
	// Newest first: wait interrupted; then, in an order the two runs'
	// timing decides, wait started and link ended and started; lan-link
	// refused first of all.
	want := []string{"wait failed", "wait ok", "link ok", "link ok", "lan-link invalid"}
	if len(got) == len(want) {
		slices.Sort(got[1 : len(got)-1])
		slices.Sort(want[1 : len(want)-1])
	}
	if !slices.Equal(got, want) {
		t.Errorf("audit of the runs: %q, want %q", got, want)
	}
	if len(entries) > 0 && !strings.Contains(entries[0].Detail, "interrupted") {
		t.Errorf("the stopped run's audit entry: %+v", entries[0])
	}
}
