package agent

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/devmgr/devmgr/internal/agent/api"
	"github.com/devmgr/devmgr/internal/device"
	"github.com/devmgr/devmgr/internal/dhcpsrv"
	"github.com/devmgr/devmgr/internal/dnsmasq"
	"github.com/devmgr/devmgr/internal/service"
	"github.com/devmgr/devmgr/internal/testing/dnsmasqtest"
	"github.com/devmgr/devmgr/internal/testing/lab"
	"github.com/devmgr/devmgr/internal/testing/testutil"
)

var leaseOf = regexp.MustCompile(`lease of (\S+) obtained`)

// TestLabStaticLease runs the AP's real dnsmasq in the lab's device
// namespace, supervised as provision does without systemd, and changes it
// through the agent's API. A static lease, confirmed, is what a real DHCP
// client in a WiFi-client namespace gets (dnsmasq read it on SIGHUP, not
// restarted); a new lease and range left unconfirmed restart dnsmasq, hand
// out the new address, and are rolled back when their time comes (the
// test fires the engine's timer): the first static lease again.
func TestLabStaticLease(t *testing.T) {
	testutil.RequireRoot(t)
	dnsmasqBin := testutil.RequireBinary(t, "dnsmasq")
	ipBin := testutil.RequireBinary(t, "ip")
	udhcpc := testutil.RequireBinary(t, "udhcpc")
	l := lab.NewT(t, lab.Options{NoServers: true})
	ctx := context.Background()

	// dnsmasq's own user reads the hosts file again on SIGHUP.
	dir := t.TempDir()
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cfg := l.Config(filepath.Join(dir, "data")) // AP 192.0.2.1/24, range APDHCPStart..APDHCPEnd
	conf := filepath.Join(dir, "dnsmasq.conf")
	o := dnsmasq.Options{LeaseFile: filepath.Join(dir, "leases"), PIDFile: filepath.Join(dir, "dnsmasq.pid"),
		RangeFile: filepath.Join(dir, "dhcp/range.conf"), HostsFile: filepath.Join(dir, "dhcp/hosts")}
	dnsmasqtest.Install(t, "/", conf, cfg, o)

	var out logBuffer
	sup, err := service.NewSupervisor(service.SupervisorConfig{}, service.Spec{Name: device.UnitDnsmasq, Output: &out,
		Argv: []string{ipBin, "netns", "exec", l.NS(lab.Device), dnsmasqBin, "--keep-in-foreground", "--log-facility=-", "--log-dhcp", "--conf-file=" + conf}})
	if err != nil {
		t.Fatal(err)
	}
	if err := sup.Start(ctx, device.UnitDnsmasq); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := sup.StopAll(context.Background()); err != nil {
			t.Errorf("stopping dnsmasq: %v", err)
		}
		if t.Failed() {
			t.Logf("dnsmasq output:\n%s", out.String())
		}
	})
	pid := func() int {
		st, err := sup.Status(ctx, device.UnitDnsmasq)
		if err != nil {
			t.Fatal(err)
		}
		return st.PID
	}
	testutil.Eventually(t, 10*time.Second, func() bool {
		b, err := os.ReadFile(o.PIDFile)
		return err == nil && strings.TrimSpace(string(b)) == fmt.Sprint(pid())
	}, "dnsmasq's pid file")

	ta := newTestAgent(t)
	m, err := dhcpsrv.New(dhcpsrv.Config{Cfg: cfg, Changes: ta.changes, Root: "/", Conf: conf, RangeFile: o.RangeFile,
		HostsFile: o.HostsFile, PIDFile: o.PIDFile, Services: sup, Log: slog.New(slog.NewTextHandler(t.Output(), nil))})
	if err != nil {
		t.Fatal(err)
	}
	ta.start(func(c *Config) { c.DHCP = m })
	c := ta.client

	mac, err := l.MAC(lab.Client1, "wlan0")
	if err != nil {
		t.Fatal(err)
	}
	// lease asks dnsmasq for a lease from the WiFi client, as a client
	// that just joined does, and returns the address it got.
	lease := func() string {
		b, err := l.Exec(ctx, lab.Client1, udhcpc, "-i", "wlan0", "-n", "-q", "-f", "-t", "5", "-T", "1", "-s", "/bin/true")
		if m := leaseOf.FindSubmatch(b); err == nil && m != nil {
			return string(m[1])
		}
		t.Logf("udhcpc: %v: %s", err, b)
		return ""
	}
	gets := func(want string) {
		t.Helper()
		var got string
		testutil.Eventually(t, 30*time.Second, func() bool { got = lease(); return got == want },
			func() string { return fmt.Sprintf("the client's lease is %q, want %s", got, want) })
	}
	if got := lease(); !inRange(got, lab.APDHCPStart, lab.APDHCPEnd) {
		t.Fatalf("before any change the client got %q, want an address of %s..%s", got, lab.APDHCPStart, lab.APDHCPEnd)
	}

	// A static lease: dnsmasq reads it on SIGHUP, without a restart.
	before := pid()
	leases := []api.StaticLease{{MAC: mac, IP: "192.0.2.20", Hostname: "laptop"}}
	ch, err := c.APDHCPUpdate(ctx, admin, api.APDHCPUpdate{StaticLeases: &leases})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.APDHCPConfirm(ctx, admin, ch.ID); err != nil {
		t.Fatal(err)
	}
	gets("192.0.2.20")
	if pid() != before {
		t.Error("dnsmasq was restarted for a static lease; a SIGHUP does")
	}

	// Another address and range, not confirmed: dnsmasq restarts with
	// them, then with the confirmed ones again when the change times out.
	rangeConf, err := os.ReadFile(o.RangeFile)
	if err != nil {
		t.Fatal(err)
	}
	moved := []api.StaticLease{{MAC: mac, IP: "192.0.2.21", Hostname: "laptop"}}
	ch, err = c.APDHCPUpdate(ctx, admin, api.APDHCPUpdate{End: ptr("192.0.2.160"), StaticLeases: &moved})
	if err != nil {
		t.Fatal(err)
	}
	if pid() == before {
		t.Error("dnsmasq was not restarted for a new range")
	}
	gets("192.0.2.21")
	restarted := pid()
	ta.timers.Fire(t)
	if got, err := c.APDHCPChange(ctx, viewer, ch.ID); err != nil || got.Status != api.StatusRolledBack || got.Error != "" {
		t.Fatalf("the change after its time: %+v %v", got, err)
	}
	if b, err := os.ReadFile(o.RangeFile); err != nil || string(b) != string(rangeConf) {
		t.Errorf("range file after the rollback: %s %v, want\n%s", b, err, rangeConf)
	}
	if pid() == restarted {
		t.Error("dnsmasq was not restarted for the rollback")
	}
	gets("192.0.2.20")
	if got, err := c.APDHCP(ctx, viewer); err != nil || got.End != "192.0.2.150" || len(got.StaticLeases) != 1 || got.StaticLeases[0].IP != "192.0.2.20" {
		t.Errorf("settings after the rollback: %+v %v", got, err)
	}
	if strings.Contains(out.String(), "bad ") || strings.Contains(out.String(), "failed") {
		t.Errorf("dnsmasq complained:\n%s", out.String())
	}
}

func inRange(ip, start, end string) bool {
	a, err := netip.ParseAddr(ip)
	return err == nil && !a.Less(netip.MustParseAddr(start)) && !netip.MustParseAddr(end).Less(a)
}
