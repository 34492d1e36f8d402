package lab

import (
	"context"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/devmgr/devmgr/internal/dhcp"
	"github.com/devmgr/devmgr/internal/diag"
	"github.com/devmgr/devmgr/internal/dnsmasq"
	"github.com/devmgr/devmgr/internal/netif"
	"github.com/devmgr/devmgr/internal/testing/testutil"
	"github.com/devmgr/devmgr/internal/toolrun"
)

func labNamespaces(t *testing.T, base string) []string {
	t.Helper()
	ents, err := os.ReadDir("/run/netns")
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), base) {
			out = append(out, e.Name())
		}
	}
	return out
}

func TestLabBuildsAndCloses(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireBinary(t, "ip", "dnsmasq")
	l := NewT(t, Options{})
	base := l.NS("")
	if got := labNamespaces(t, base); len(got) != len(Roles) {
		t.Fatalf("namespaces %v, want %d", got, len(Roles))
	}
	ctx := context.Background()
	// The LAN host reaches nothing yet, but the AP clients reach the AP address over the bridge.
	if _, err := toolrun.LookPath("ping"); err == nil {
		if out, err := l.Exec(ctx, Client1, "ping", "-c1", "-W2", "192.0.2.1"); err != nil {
			t.Errorf("client1 to AP: %v\n%s", err, out)
		}
		if out, err := l.Exec(ctx, Client2, "ping", "-c1", "-W2", "192.0.2.11"); err != nil {
			t.Errorf("client2 to client1: %v\n%s", err, out)
		}
	}
	// The upstream HTTP server reports the address it saw.
	body, err := l.Get(ctx, LANHost, l.HTTPURL())
	if err == nil {
		t.Errorf("LAN host reached upstream without a route: %q", body)
	}
	body, err = l.Get(ctx, Upstream, l.HTTPURL())
	if err != nil {
		t.Fatal(err)
	}
	if host, _, err := net.SplitHostPort(strings.TrimSpace(body)); err != nil || host != UpstreamIP {
		t.Errorf("HTTP body %q, want the client address %s:port", body, UpstreamIP)
	}
	// The upstream dnsmasq answers DNS.
	if bb, err := toolrun.LookPath("busybox"); err == nil {
		out, err := l.Exec(ctx, Upstream, bb, "nslookup", UpstreamName, UpstreamIP)
		if err != nil || !strings.Contains(string(out), UpstreamIP) {
			t.Errorf("nslookup %s: %v\n%s", UpstreamName, err, out)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got := labNamespaces(t, base); len(got) != 0 {
		t.Errorf("after Close: namespaces %v remain", got)
	}
	if _, err := os.Stat(l.ownerFile()); !os.IsNotExist(err) {
		t.Errorf("owner file remains: %v", err)
	}
}

func TestTwoLabsDoNotCollide(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireBinary(t, "ip")
	a := NewT(t, Options{NoServers: true})
	b := NewT(t, Options{NoServers: true})
	if a.NS(Device) == b.NS(Device) {
		t.Fatalf("two labs share %s", a.NS(Device))
	}
}

// TestCleanStale builds a lab in a child process that dies without
// closing it, then removes it with CleanStale.
func TestCleanStale(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireBinary(t, "ip", "dnsmasq")
	if os.Getenv("DEVMGR_LAB_CRASH") == "1" {
		l, err := New(context.Background(), nil, Options{Prefix: "dmcrash"})
		if err != nil {
			os.Exit(3)
		}
		os.Stdout.WriteString("BASE " + l.NS("") + "\n")
		panic("crashing with the lab up")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestCleanStale$")
	cmd.Env = append(os.Environ(), "DEVMGR_LAB_CRASH=1")
	out, _ := cmd.CombinedOutput()
	i := strings.Index(string(out), "BASE ")
	if i < 0 {
		t.Fatalf("child did not build a lab:\n%s", out)
	}
	base := strings.Fields(string(out)[i+5:])[0]
	if got := labNamespaces(t, base); len(got) != len(Roles) {
		t.Fatalf("crashed lab left %v, want %d namespaces", got, len(Roles))
	}
	// A live lab with the same prefix is left alone.
	live := NewT(t, Options{Prefix: "dmcrash", NoServers: true})
	if err := CleanStale("dmcrash"); err != nil {
		t.Fatal(err)
	}
	if got := labNamespaces(t, base); len(got) != 0 {
		t.Errorf("after CleanStale: %v remain", got)
	}
	if got := labNamespaces(t, live.NS("")); len(got) != len(Roles) {
		t.Errorf("CleanStale removed a live lab: %v", got)
	}
	// dnsmasq of the crashed lab is gone too.
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		b, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if strings.Contains(string(b), base) {
			t.Errorf("process %s of the crashed lab remains: %q", e.Name(), b)
		}
	}
}

func TestUplinkStaticAndForwarding(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireBinary(t, "ip", "dnsmasq")
	l := NewT(t, Options{UplinkStatic: true, Forwarding: true})
	ctx := context.Background()
	body, err := l.Get(ctx, Device, l.HTTPURL())
	if err != nil {
		t.Fatal(err)
	}
	if host, _, _ := net.SplitHostPort(strings.TrimSpace(body)); host != "198.51.100.2" {
		t.Errorf("upstream saw %q, want the device's uplink address", body)
	}
	out, err := l.Exec(ctx, Device, "cat", "/proc/sys/net/ipv4/ip_forward")
	if err != nil || strings.TrimSpace(string(out)) != "1" {
		t.Errorf("ip_forward in device ns = %q, %v", out, err)
	}
}

// With WiFiDHCP the clients lease their addresses from the AP's dnsmasq
// (here with devmgr's own DHCP client, as devrun does): the leases file
// names each client's MAC, address and role, and the AP's DNS answers the
// upstream's names.
func TestWiFiDHCP(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireBinary(t, "ip", "dnsmasq")
	l := NewT(t, Options{WiFiDHCP: true, UplinkStatic: true})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got := map[string]string{} // MAC → address
	for _, role := range WiFiClients {
		h, err := netif.OpenAt(l.NSPath(role))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		if addrs, _ := h.Netlink().AddrList(mustLink(t, h, "wlan0"), netlink.FAMILY_V4); len(addrs) != 0 {
			t.Errorf("%s wlan0 has %v before DHCP, want no static address", role, addrs)
		}
		m, err := dhcp.NewManager(dhcp.Config{Handle: h})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(m.Close)
		if err := m.Start(ctx, "wlan0"); err != nil {
			t.Fatal(err)
		}
		var lease dhcp.Lease
		testutil.Eventually(t, 20*time.Second, func() bool {
			var ok bool
			lease, ok = m.Lease("wlan0")
			return ok
		}, "a lease for %s", role)
		mac, err := l.MAC(role, "wlan0")
		if err != nil {
			t.Fatal(err)
		}
		p := netip.MustParsePrefix(lease.Address)
		if p.Addr().Less(netip.MustParseAddr(APDHCPStart)) || netip.MustParseAddr(APDHCPEnd).Less(p.Addr()) || lease.Router != APIP {
			t.Errorf("%s lease %+v, want an address in %s-%s via %s", role, lease, APDHCPStart, APDHCPEnd, APIP)
		}
		got[mac] = p.Addr().String()
	}
	leases, err := dnsmasq.ReadLeases(l.APLeaseFile())
	if err != nil {
		t.Fatal(err)
	}
	for _, le := range leases {
		if got[le.MAC] != le.IP || !slices.Contains(WiFiClients, le.Hostname) {
			t.Errorf("lease %+v, want one of the clients %v with its role as hostname", le, got)
		}
		delete(got, le.MAC)
	}
	if len(got) > 0 {
		t.Errorf("no lease in %s for %v", l.APLeaseFile(), got)
	}
	var res diag.DNSResult
	if err := l.Do(Client1, func() error {
		var err error
		res, err = diag.Resolver{}.Lookup(ctx, diag.DNSRequest{Name: UpstreamName, Server: APIP})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if res.Error != "" || len(res.Answers) != 1 || res.Answers[0].Value != UpstreamIP {
		t.Errorf("%s through the AP's DNS: %+v", UpstreamName, res)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{l.APLeaseFile(), l.runFile("ap.dnsmasq.pid")} {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("%s after Close: %v", f, err)
		}
	}
}

func mustLink(t *testing.T, h *netif.Handle, name string) netlink.Link {
	t.Helper()
	ln, err := h.Netlink().LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	return ln
}
