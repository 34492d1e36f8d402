package provision

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/devmgr/devmgr/internal/device"
	"github.com/devmgr/devmgr/internal/service"
	"github.com/devmgr/devmgr/internal/testing/testutil"
)

const nsEnv = "DEVMGR_PROVISION_NS_DIR"

// TestRunOnDevice provisions "/" for real, inside new mount, network and
// pid namespaces where /etc and /var are overlays (writes land in a temp
// dir) and /run is a tmpfs: the machine's own files, sysctl and firewall
// are never touched. The work happens in TestDeviceHelper, re-executed
// under unshare(1).
func TestRunOnDevice(t *testing.T) {
	testutil.RequireRoot(t)
	unshare := testutil.RequireBinary(t, "unshare", "hostapd", "dnsmasq", "nft", "systemd-analyze", "nginx", "systemd-sysusers", "systemd-tmpfiles")
	dir := t.TempDir()
	cmd := exec.Command(unshare, "--mount", "--net", "--pid", "--fork", "--mount-proc",
		os.Args[0], "-test.run=^TestDeviceHelper$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), nsEnv+"="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestDeviceHelper") {
		t.Fatalf("helper in namespaces: %v\n%s", err, out)
	}
	t.Logf("helper:\n%s", out)
}

func TestDeviceHelper(t *testing.T) {
	dir := os.Getenv(nsEnv)
	if dir == "" {
		return // runs only inside TestRunOnDevice's namespaces
	}
	if os.Getpid() != 1 {
		t.Fatal("not in a new pid namespace: refusing to mount over /etc")
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""))
	for _, d := range []string{"etc", "var"} {
		up, work := filepath.Join(dir, d+"-upper"), filepath.Join(dir, d+"-work")
		must(os.MkdirAll(up, 0o755))
		must(os.MkdirAll(work, 0o755))
		must(syscall.Mount("overlay", "/"+d, "overlay", 0, "lowerdir=/"+d+",upperdir="+up+",workdir="+work))
	}
	must(syscall.Mount("tmpfs", "/run", "tmpfs", 0, "mode=0755"))
	lo, err := netlink.LinkByName("lo")
	must(err)
	must(netlink.LinkSetUp(lo))
	for _, n := range []string{"wlan0", "eth0", "eth1"} {
		must(netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: n}, PeerName: n + "p"}))
	}
	// The agent and console stand-in: the units need an existing program.
	// It must be reachable by the console's account.
	must(os.Chmod(dir, 0o755))
	must(os.Chmod(filepath.Dir(dir), 0o755))
	bin := filepath.Join(dir, "devmgr")
	must(os.WriteFile(bin, []byte("#!/bin/sh\nexec sleep 600\n"), 0o755))

	c := testConfig()
	conf := filepath.Join(dir, "devmgr.yaml")
	must(os.WriteFile(conf, []byte("# test\n"), 0o600))
	var out strings.Builder
	o := Options{Root: "/", Stdout: &out, Binary: bin, ConfigPath: conf, Settle: time.Second}
	sup, err := service.NewSupervisor(service.SupervisorConfig{}, Specs(c, o)...)
	must(err)
	defer sup.StopAll(context.Background())
	o.Services = sup
	ctx := context.Background()

	// This kernel has no WiFi: hostapd cannot stay up, and Run says why.
	_, err = Run(ctx, c, o)
	var nr *NotRunningError
	if !errors.As(err, &nr) || nr.Service != device.UnitHostapd || !strings.Contains(err.Error(), "WiFi") {
		t.Fatalf("Run = %v, want hostapd not running with a reason\n%s", err, out.String())
	}
	t.Logf("first run: %v", err)
	if strings.Contains(err.Error(), "starting service") {
		t.Errorf("a service did not start: %v", err)
	}
	dns, err := sup.Status(ctx, device.UnitDnsmasq)
	must(err)
	if !dns.Running() {
		t.Fatalf("dnsmasq not running: %+v", dns)
	}
	if web, _ := sup.Status(ctx, device.UnitWeb); !web.Running() {
		t.Errorf("console not running: %+v", web)
	}
	if b, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); strings.TrimSpace(string(b)) != "1" {
		t.Errorf("ip_forward = %q", b)
	}
	if o, err := exec.Command("nft", "list", "table", "inet", "devmgr").CombinedOutput(); err != nil || !strings.Contains(string(o), "masquerade") {
		t.Errorf("ruleset not applied: %v %s", err, o)
	}
	wlan, _ := netlink.LinkByName("wlan0")
	addrs, _ := netlink.AddrList(wlan, netlink.FAMILY_V4)
	if len(addrs) != 1 || addrs[0].IPNet.String() != "192.168.4.1/24" {
		t.Errorf("wlan0 addresses = %v", addrs)
	}
	if b, _ := os.ReadFile("/etc/passwd"); !strings.Contains(string(b), "\ndevmgr:") {
		t.Errorf("account devmgr not created")
	}
	if st, err := os.Stat(conf); err != nil || st.Mode().Perm() != 0o640 {
		t.Errorf("config not shared with the console: %v %v", st.Mode(), err)
	}
	for _, d := range []string{"/var/lib/devmgr", "/run/devmgr", "/run/devmgr-dns"} {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("directory not created: %v", err)
		}
	}
	if got := statDir(t, c.Agent.StateDir); got != (dirState{os.ModeDir | 0o700, 0, 0}) {
		t.Errorf("agent state directory %s: %+v, want root:root 0700", c.Agent.StateDir, got)
	}

	// Again: no file changes, dnsmasq not restarted.
	out.Reset()
	_, err = Run(ctx, c, o)
	if !errors.As(err, &nr) || nr.Service != device.UnitHostapd {
		t.Fatalf("second Run = %v", err)
	}
	if !strings.HasPrefix(out.String(), "no changes\n") {
		t.Errorf("second run output = %q", out.String())
	}
	if dns2, _ := sup.Status(ctx, device.UnitDnsmasq); dns2.PID != dns.PID {
		t.Errorf("dnsmasq restarted without a change: pid %d -> %d", dns.PID, dns2.PID)
	}
}
