package agent

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/devmgr/devmgr/internal/agent/api"
	"github.com/devmgr/devmgr/internal/agent/client"
	"github.com/devmgr/devmgr/internal/netif"
	"github.com/devmgr/devmgr/internal/testing/lab"
	"github.com/devmgr/devmgr/internal/testing/testutil"
)

// TestLabPendingDHCP runs the whole agent (Run) in the lab, where eth1's
// LAN has no DHCP server and eth0's upstream has one. A pending change to
// mode dhcp sits on its interface with who made it and what it changes,
// and says it waits for a lease while none is bound; the interface says
// "waiting", then "bound" once a server answers. The agent's traffic
// history gives the interfaces their rates.
func TestLabPendingDHCP(t *testing.T) {
	testutil.RequireRoot(t)
	ping := testutil.RequireBinary(t, "ping", "ip", "dnsmasq")
	l := lab.NewT(t, lab.Options{})
	dir := t.TempDir()
	cfg := l.Config(filepath.Join(dir, "data"))
	cfg.Web.User = "" // root-only socket: this process is the client
	cfg.Uplinks = nil
	cfg.LAN = []string{"eth0", "eth1"}
	cfg.Network.RollbackTimeout = 10 * time.Minute // nothing rolls back during the test
	runLabAgent(t, l, Options{Config: cfg, LeaseFile: filepath.Join(dir, "no-leases"), HostapdCtrlDir: filepath.Join(dir, "hostapd")})
	ctx := context.Background()
	c := client.New(cfg.Agent.Socket)
	defer c.Close()

	// eth1, never configured, to dhcp: nobody answers.
	ch, err := c.SetConfig(ctx, admin, "eth1", api.LinkConfig{Mode: "dhcp"})
	if err != nil {
		t.Fatal(err)
	}
	if ch.User != admin.User || ch.Waiting != netif.WaitingForLease || ch.Status != api.StatusPending {
		t.Errorf("the 202 answer: %+v", ch)
	}
	if diff := cmp.Diff([]api.FieldChange{{Field: "mode", Old: "", New: "dhcp"}}, ch.Changes); diff != "" {
		t.Errorf("what the change does (-want +got):\n%s", diff)
	}
	eth1, err := c.Interface(ctx, viewer, "eth1")
	if err != nil {
		t.Fatal(err)
	}
	if eth1.DHCPState != api.DHCPWaiting || eth1.Pending == nil || eth1.Pending.ID != ch.ID ||
		eth1.Pending.Waiting == "" || eth1.Pending.User != admin.User || eth1.Mode != "" || eth1.Lease != nil {
		t.Errorf("eth1 while its change is pending: %+v (pending %+v)", eth1, eth1.Pending)
	}
	if h, err := c.Health(ctx); err != nil || h.Pending == nil || h.Pending.Waiting == "" {
		t.Errorf("health: %+v %v", h.Pending, err)
	}
	eth0, err := c.Interface(ctx, viewer, "eth0")
	if err != nil || eth0.Pending != nil || eth0.DHCPState != "" {
		t.Errorf("eth0 has another's change or a DHCP state: %+v %v", eth0, err)
	}
	// Confirmed without a lease: the admin was told; the link still waits.
	if got, err := c.Confirm(ctx, admin, ch.ID); err != nil || got.Waiting != "" {
		t.Fatalf("confirm: %+v %v", got, err)
	}
	if eth1, err = c.Interface(ctx, viewer, "eth1"); err != nil || eth1.DHCPState != api.DHCPWaiting || eth1.Pending != nil || eth1.Mode != "dhcp" {
		t.Errorf("eth1 confirmed in mode dhcp without a lease: %+v %v", eth1, err)
	}

	// eth0 to dhcp: the upstream's server answers.
	ch, err = c.SetConfig(ctx, admin, "eth0", api.LinkConfig{Mode: "dhcp"})
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 20*time.Second, func() bool {
		eth0, err = c.Interface(ctx, viewer, "eth0")
		return err == nil && eth0.DHCPState == api.DHCPBound
	}, func() string { return fmt.Sprintf("eth0 bound: %+v %v", eth0, err) })
	if eth0.Lease == nil || eth0.Pending == nil || eth0.Pending.ID != ch.ID || eth0.Pending.Waiting != "" {
		t.Errorf("eth0 bound with its change pending: %+v (pending %+v)", eth0, eth0.Pending)
	}
	if got, err := c.Change(ctx, viewer, ch.ID); err != nil || got.Waiting != "" || got.Status != api.StatusPending {
		t.Errorf("the bound change: %+v %v", got, err)
	}
	if _, err := c.Confirm(ctx, admin, ch.ID); err != nil {
		t.Fatal(err)
	}

	// Traffic over eth0, sampled every 10 s by the agent: a rate, and a
	// sample in the history.
	if out, err := l.Exec(ctx, lab.Device, ping, "-c5", "-i0.2", "-s1000", "-W3", lab.UpstreamIP); err != nil {
		t.Fatalf("upstream not reachable over the lease: %v\n%s", err, out)
	}
	var tr api.Traffic
	testutil.Eventually(t, 25*time.Second, func() bool {
		tr, err = c.Traffic(ctx, viewer, "eth0", time.Time{})
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
	if eth0, err = c.Interface(ctx, viewer, "eth0"); err != nil || eth0.RxRate == nil || eth0.TxRate == nil {
		t.Errorf("eth0 without rates: %+v %v", eth0, err)
	}
	if all, err := c.Traffic(ctx, viewer, "", time.Time{}); err != nil || len(all.Interfaces) != 4 {
		t.Errorf("traffic of every interface (lo, wlan0, eth0, eth1): %+v %v", all, err)
	}
}
