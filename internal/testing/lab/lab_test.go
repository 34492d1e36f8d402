package lab

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"

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
