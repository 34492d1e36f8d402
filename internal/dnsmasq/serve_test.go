package dnsmasq

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/nsrun"
	"github.com/devmgr/devmgr/internal/testing/testutil"
)

// TestRenderedConfigServes runs real dnsmasq with a rendered config in a
// pair of throwaway namespaces joined by a veth (the AP interface stand-in):
// a real DHCP client gets a lease inside the range, the leases file parses,
// and <hostname>.<domain> resolves to the AP address. A name only a LAN DNS
// server knows resolves once that server is in the servers-file and
// dnsmasq got Reload's SIGHUP.
func TestRenderedConfigServes(t *testing.T) {
	testutil.RequireRoot(t)
	dnsmasqBin := testutil.RequireBinary(t, "dnsmasq")
	ipBin := testutil.RequireBinary(t, "ip")
	udhcpc := testutil.RequireBinary(t, "udhcpc")

	ap, cl := fmt.Sprintf("dm-ap-%d", os.Getpid()), fmt.Sprintf("dm-cl-%d", os.Getpid())
	ipCmd := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(ipBin, args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	for _, name := range []string{ap, cl} {
		ns, err := nsrun.NewNamed(name)
		if err != nil {
			t.Fatal(err)
		}
		ns.Close()
		t.Cleanup(func() {
			if err := nsrun.DeleteNamed(name); err != nil {
				t.Error(err)
			}
		})
	}
	ipCmd("link", "add", "wlan0", "netns", ap, "type", "veth", "peer", "name", "sta0", "netns", cl)
	ipCmd("-n", ap, "addr", "add", "192.168.4.1/24", "dev", "wlan0")
	ipCmd("-n", ap, "link", "set", "wlan0", "up")
	ipCmd("-n", ap, "link", "set", "lo", "up")
	ipCmd("-n", cl, "link", "set", "sta0", "up")

	dir := t.TempDir()
	for _, d := range []string{dir, filepath.Dir(dir)} { // dnsmasq reads the servers-file as nobody
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	c := config.Default()
	c.AP.DHCP.Start, c.AP.DHCP.End = "192.168.4.50", "192.168.4.60"
	o := Options{LeaseFile: filepath.Join(dir, "leases"), PIDFile: filepath.Join(dir, "pid"), ServersFile: filepath.Join(dir, "servers")}
	conf, err := Render(c, o)
	if err != nil {
		t.Fatal(err)
	}
	confPath := filepath.Join(dir, "dnsmasq.conf")
	if err := os.WriteFile(confPath, conf, 0o644); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	d := exec.Command(ipBin, "netns", "exec", ap, dnsmasqBin, "--keep-in-foreground", "--log-facility=-", "-C", confPath)
	d.Stdout, d.Stderr = &log, &log
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = d.Process.Kill()
		_ = d.Wait()
		if t.Failed() {
			t.Logf("dnsmasq output:\n%s", log.String())
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, ipBin, "netns", "exec", cl, udhcpc, "-i", "sta0", "-n", "-q", "-f", "-t", "5", "-T", "1", "-s", "/bin/true").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "lease of 192.168.4.") {
		t.Fatalf("udhcpc: %v: %s", err, out)
	}
	leases, err := ReadLeases(o.LeaseFile)
	if err != nil {
		t.Fatal(err)
	}
	if len(leases) != 1 || !inRange(leases[0].IP, "192.168.4.50", "192.168.4.60") || leases[0].MAC == "" || time.Until(leases[0].Expiry) < 23*time.Hour {
		t.Fatalf("leases = %+v, want one 24h lease in 192.168.4.50..60", leases)
	}

	ipCmd("-n", cl, "addr", "add", leases[0].IP+"/24", "dev", "sta0")
	helper := exec.CommandContext(ctx, ipBin, "netns", "exec", cl, os.Args[0], "-test.run=^TestHelperResolve$")
	helper.Env = append(os.Environ(), "DEVMGR_RESOLVE_HELPER=1")
	res, err := helper.CombinedOutput()
	if err != nil {
		t.Fatalf("resolving in the client namespace: %v: %s", err, res)
	}
	if got := strings.TrimSpace(lastLine(string(res))); got != "device.local=192.168.4.1 device=192.168.4.1 ptr=device.local." {
		t.Errorf("lookups = %q", got)
	}

	// A LAN DNS server: another dnsmasq on 127.0.0.2 in the AP namespace
	// that alone knows lan-only.test (a TXT record: stop-dns-rebind would
	// drop a private A record).
	var lanLog bytes.Buffer
	lanDNS := exec.Command(ipBin, "netns", "exec", ap, dnsmasqBin, "--keep-in-foreground", "--log-facility=-",
		"--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--bind-interfaces", "--listen-address=127.0.0.2",
		"--pid-file=", "--txt-record=lan-only.test,from the LAN DNS")
	lanDNS.Stdout, lanDNS.Stderr = &lanLog, &lanLog
	if err := lanDNS.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = lanDNS.Process.Kill()
		_ = lanDNS.Wait()
		if t.Failed() {
			t.Logf("LAN dnsmasq output:\n%s", lanLog.String())
		}
	})
	txt := func() string {
		t.Helper()
		h := exec.CommandContext(ctx, ipBin, "netns", "exec", cl, os.Args[0], "-test.run=^TestHelperResolve$")
		h.Env = append(os.Environ(), "DEVMGR_RESOLVE_HELPER=txt")
		out, _ := h.CombinedOutput()
		return strings.TrimSpace(lastLine(string(out)))
	}
	if got := txt(); got != "txt=" {
		t.Fatalf("lan-only.test before the servers-file names its server: %q, want no answer", got)
	}
	servers := RenderServers([]Server{{Addr: netip.MustParseAddr("127.0.0.2"), Interface: "eth1"}})
	if err := os.WriteFile(o.ServersFile, servers, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Reload(o.PIDFile); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	var got string
	testutil.Eventually(t, 5*time.Second, func() bool { got = txt(); return got == "txt=from the LAN DNS" },
		func() string { return fmt.Sprintf("lan-only.test after Reload: %q, want the LAN server's TXT", got) })
}

// TestHelperResolve is run by TestRenderedConfigServes inside the client
// namespace; it prints the answers of dnsmasq at 192.168.4.1.
func TestHelperResolve(t *testing.T) {
	mode := os.Getenv("DEVMGR_RESOLVE_HELPER")
	if mode == "" {
		return // only a helper for TestRenderedConfigServes, which sets the variable
	}
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "udp", "192.168.4.1:53")
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if mode == "txt" {
		txt, _ := r.LookupTXT(ctx, "lan-only.test")
		fmt.Println("txt=" + strings.Join(txt, ","))
		return
	}
	var parts []string
	for _, n := range []string{"device.local", "device"} {
		a, err := r.LookupHost(ctx, n)
		if err != nil {
			t.Fatalf("lookup %s: %v", n, err)
		}
		parts = append(parts, n+"="+strings.Join(a, ","))
	}
	names, err := r.LookupAddr(ctx, "192.168.4.1")
	if err != nil {
		t.Fatalf("reverse lookup: %v", err)
	}
	parts = append(parts, "ptr="+strings.Join(names, ","))
	fmt.Println(strings.Join(parts, " "))
}

func inRange(ip, start, end string) bool {
	a, err := netip.ParseAddr(ip)
	return err == nil && !a.Less(netip.MustParseAddr(start)) && !netip.MustParseAddr(end).Less(a)
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], "=") {
			return lines[i]
		}
	}
	return ""
}
