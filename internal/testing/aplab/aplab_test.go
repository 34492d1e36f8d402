package aplab

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/devmgr/devmgr/internal/device"
	"github.com/devmgr/devmgr/internal/testing/lab"
	"github.com/devmgr/devmgr/internal/testing/testutil"
	"github.com/devmgr/devmgr/internal/toolrun"
)

func TestMain(m *testing.M) {
	switch os.Getenv(roleEnv) {
	case roleDevice:
		os.Exit(deviceMain())
	case roleHook:
		os.Exit(hookMain())
	}
	os.Exit(m.Run())
}

// The AP network of the test's config. It differs from the lab's own
// 192.0.2.0/24, whose addresses the test removes, so every address in it
// was put there by provisioning or by the AP's DHCP server.
const (
	apIP        = "192.168.4.1"
	apPrefix    = apIP + "/24"
	dhcpStart   = "192.168.4.100"
	dhcpEnd     = "192.168.4.150"
	consolePort = "443"
	labPrefix   = "aplab"
	// lanPort is a TCP listener on the LAN host; devicePort one on the device.
	lanPort    = "8080"
	devicePort = "9090"
)

// configYAML is the device's config: the lab's interfaces, a WPA2/WPA3
// AP, the console on :443.
func configYAML(allowAPToLAN bool) string {
	return fmt.Sprintf(`ap:
  interface: wlan0
  ssid: aplab
  passphrase: aplab-passphrase
  address: %s
  dhcp: {start: %s, end: %s, lease: 1h}
uplinks: [eth0]
lan: [eth1]
web:
  listen: ":%s"
firewall:
  allow_ap_to_lan: %t
`, apPrefix, dhcpStart, dhcpEnd, consolePort, allowAPToLAN)
}

// TestProvisionedDevice provisions the lab's device with the real
// provisioning code and checks the AP's services from the outside.
func TestProvisionedDevice(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireBinary(t, "ip", "unshare", "udhcpc", "dnsmasq", "nft", "hostapd",
		"systemd-analyze", "nginx", "systemd-sysusers", "systemd-tmpfiles")
	goBin := testutil.GoTool(t)
	start := time.Now()
	step := func(what string) { t.Logf("[%5.1fs] %s", time.Since(start).Seconds(), what) }
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()

	// Registered first, so it runs last: after the lab is gone nothing of
	// this test may be left in /run/netns.
	var l *lab.Lab
	t.Cleanup(func() {
		if l == nil {
			return
		}
		left, _ := filepath.Glob(filepath.Join("/run/netns", labPrefix+"-"+l.ID()+"-*"))
		if len(left) > 0 {
			t.Errorf("namespaces left behind: %v", left)
		}
	})

	dir := t.TempDir()
	// The console runs as its own account and must reach the binary and
	// the config.
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	buildDevmgr(ctx, t, goBin, filepath.Join(dir, "devmgr"))
	step("built devmgr")
	writeConfig(t, dir, false)

	rootForward := readForward(t)
	rootTable := nftTableExists(ctx)

	l = lab.NewT(t, lab.Options{Prefix: labPrefix})
	prepareLab(t, l)
	step("lab up")
	uplinkIP := dhcpUplink(ctx, t, l, os.Args[0])
	step("device uplink eth0 leased " + uplinkIP + " from the upstream")

	// What the lab was before provisioning, so that each check below can
	// fail: no forwarding, no devmgr table, no AP address.
	if got := forwardIn(t, l, lab.Device); got != "0" {
		t.Fatalf("ip_forward in the device before provisioning = %q, want 0", got)
	}
	if out, err := execIn(ctx, l.NS(lab.Device), nil, "nft", "list", "table", "inet", "devmgr"); err == nil {
		t.Fatalf("table inet devmgr exists before provisioning:\n%s", out)
	}

	dev := startDevice(t, l, dir)

	// First provisioning: everything is installed and started; hostapd
	// alone cannot stay up on a veth.
	r := dev.do(ctx, t, cmdProvision)
	step("provisioned")
	t.Logf("first provisioning:\n%s", r.Output)
	checkProvisioned(t, r)
	for _, f := range []string{device.DnsmasqConf, device.NftRuleset, device.HostapdConf} {
		if !slices.Contains(r.Changed, f) {
			t.Errorf("first provisioning did not install %s (changed: %v)", f, r.Changed)
		}
	}
	dnsmasqPID := r.Services[device.UnitDnsmasq].PID

	t.Run("system", func(t *testing.T) {
		if got := apAddresses(t, l); !slices.Equal(got, []string{apPrefix}) {
			t.Errorf("device wlan0 IPv4 addresses = %v, want [%s] (set by provisioning)", got, apPrefix)
		}
		if got := forwardIn(t, l, lab.Device); got != "1" {
			t.Errorf("ip_forward in the device = %q, want 1", got)
		}
		out, err := execIn(ctx, l.NS(lab.Device), nil, "nft", "list", "table", "inet", "devmgr")
		if err != nil || !bytes.Contains(out, []byte("masquerade")) {
			t.Errorf("devmgr ruleset in the device: %v\n%s", err, out)
		}
		if got := readForward(t); got != rootForward {
			t.Errorf("root namespace ip_forward changed: %q -> %q", rootForward, got)
		}
		if !rootTable && nftTableExists(ctx) {
			t.Errorf("table inet devmgr appeared in the root namespace")
		}
	})

	// Both WiFi clients get leases from the AP's dnsmasq.
	clientIPs := dhcpClients(ctx, t, l, os.Args[0], lab.Client1, lab.Client2)
	step("clients leased")
	if clientIPs[lab.Client1] == clientIPs[lab.Client2] {
		t.Errorf("both clients got %s", clientIPs[lab.Client1])
	}
	t.Run("leases", func(t *testing.T) {
		lr := dev.do(ctx, t, cmdLeases)
		for _, role := range []string{lab.Client1, lab.Client2} {
			mac := linkMAC(t, l, role, "wlan0")
			var found bool
			for _, le := range lr.Leases {
				if strings.EqualFold(le.MAC, mac) {
					found = true
					if le.IP != clientIPs[role] || le.Hostname != role {
						t.Errorf("lease of %s = %+v, want ip %s hostname %s", role, le, clientIPs[role], role)
					}
				}
			}
			if !found {
				t.Errorf("no lease for %s (%s) in dnsmasq's leases file: %+v", role, mac, lr.Leases)
			}
		}
	})

	t.Run("dns", func(t *testing.T) {
		for _, role := range []string{lab.Client1, lab.Client2} {
			got, err := lookup(ctx, l, role, apIP, "device.local")
			if err != nil || !slices.Equal(got, []string{apIP}) {
				t.Errorf("device.local from %s = %v, %v; want [%s]", role, got, err, apIP)
			}
		}
		// The AP's DNS serves the AP only.
		if got, err := lookup(ctx, l, lab.Upstream, uplinkIP, "device.local"); err == nil {
			t.Errorf("device.local from the upstream via the uplink address = %v; want no answer", got)
		}
	})

	t.Run("nat", func(t *testing.T) {
		for _, role := range []string{lab.Client1, lab.Client2} {
			gctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			body, err := l.Get(gctx, role, l.HTTPURL())
			cancel()
			if err != nil {
				t.Errorf("upstream HTTP from %s: %v", role, err)
				continue
			}
			host, _, err := net.SplitHostPort(strings.TrimSpace(body))
			if err != nil || host != uplinkIP {
				t.Errorf("upstream saw %s's request from %q, want the device's uplink address %s", role, body, uplinkIP)
			}
		}
	})

	lanSeen := serveTCP(t, l, lab.LANHost, net.JoinHostPort(lab.LANHostIP, lanPort))
	lanAddr := net.JoinHostPort(lab.LANHostIP, lanPort)
	t.Run("ap-to-lan-denied", func(t *testing.T) {
		// The LAN host answers the device itself: the path is there.
		if err := tcpReach(ctx, l, lab.Device, lanAddr); err != nil {
			t.Fatalf("device cannot reach the LAN host: %v", err)
		}
		checkDropped(ctx, t, l, lab.Client1, lanAddr)
	})

	serveTCP(t, l, lab.Device, ":"+devicePort)
	t.Run("console-port", func(t *testing.T) {
		// The real console (devmgr serve, started by provisioning) answers
		// AP clients, on the AP address and on the uplink address.
		for _, host := range []string{apIP, uplinkIP} {
			url := "https://" + net.JoinHostPort(host, consolePort) + "/healthz"
			if err := waitHealthz(ctx, l, lab.Client1, url); err != nil {
				st := dev.do(ctx, t, cmdStatus).Services[device.UnitWeb]
				t.Fatalf("console from a WiFi client: %v\nconsole service %s, last output:\n%s",
					err, st.State, strings.Join(st.Output, "\n"))
			}
		}
		// And the LAN host, on the device's LAN address.
		url := "https://" + net.JoinHostPort(lab.LANGateway, consolePort) + "/healthz"
		if err := waitHealthz(ctx, l, lab.LANHost, url); err != nil {
			t.Errorf("console from the LAN host: %v", err)
		}
		// The upstream reaches the device's uplink address, but not the
		// console port on it.
		if err := tcpReach(ctx, l, lab.Upstream, net.JoinHostPort(uplinkIP, devicePort)); err != nil {
			t.Errorf("upstream cannot reach the device at all (port %s): %v", devicePort, err)
		}
		checkDropped(ctx, t, l, lab.Upstream, net.JoinHostPort(uplinkIP, consolePort))
	})

	t.Run("second-provisioning-changes-nothing", func(t *testing.T) {
		r := dev.do(ctx, t, cmdProvision)
		checkProvisioned(t, r)
		if !strings.HasPrefix(r.Output, "no changes\n") {
			t.Errorf("second provisioning output = %q, want it to start with \"no changes\"", r.Output)
		}
		if len(r.Changed) > 0 || len(r.Removed) > 0 {
			t.Errorf("second provisioning changed %v, removed %v", r.Changed, r.Removed)
		}
		if len(r.Touched) > 0 {
			t.Errorf("second provisioning touched %v", r.Touched)
		}
		if pid := r.Services[device.UnitDnsmasq].PID; pid != dnsmasqPID {
			t.Errorf("dnsmasq restarted without a change: pid %d -> %d", dnsmasqPID, pid)
		}
	})

	t.Run("ap-to-lan-allowed", func(t *testing.T) {
		writeConfig(t, dir, true)
		for len(lanSeen) > 0 {
			<-lanSeen // the device's own connections above
		}
		r := dev.do(ctx, t, cmdProvision)
		checkProvisioned(t, r)
		if !slices.Contains(r.Changed, device.NftRuleset) {
			t.Errorf("allow_ap_to_lan did not change %s (changed: %v)", device.NftRuleset, r.Changed)
		}
		if err := tcpReach(ctx, l, lab.Client1, lanAddr); err != nil {
			t.Errorf("WiFi client cannot reach the LAN host with allow_ap_to_lan true: %v", err)
		}
		select {
		case from := <-lanSeen:
			t.Logf("LAN host saw the WiFi client as %s", from)
		case <-time.After(time.Second):
			t.Errorf("LAN host saw no connection from the WiFi client")
		}
		checkDropped(ctx, t, l, lab.Upstream, net.JoinHostPort(uplinkIP, consolePort))
	})
	step("checks done")
}

// checkProvisioned fails unless the only problem of a run is hostapd,
// which cannot stay up on a veth, and the AP's dnsmasq runs.
func checkProvisioned(t *testing.T, r reply) {
	t.Helper()
	if r.Fatal != "" {
		t.Fatalf("device: %s", r.Fatal)
	}
	if len(r.OtherErrs) > 0 {
		t.Fatalf("provisioning failed: %s\noutput:\n%s", strings.Join(r.OtherErrs, "\n"), r.Output)
	}
	for svc, msg := range r.NotRunning {
		if svc != device.UnitHostapd {
			t.Fatalf("provisioning: %s\noutput:\n%s", msg, r.Output)
		}
		if !strings.Contains(msg, "WiFi") {
			t.Errorf("hostapd's failure does not say why in words: %s", msg)
		}
	}
	if st := r.Services[device.UnitDnsmasq]; st.State != "running" {
		t.Fatalf("AP dnsmasq is %s after provisioning\noutput:\n%s\nerr: %s", st.State, r.Output, r.Err)
	}
}

// prepareLab removes the lab's own addresses from the AP link and the
// WiFi clients (provisioning and DHCP must supply them) and gives the
// device's LAN link its address, which the Network page would set.
func prepareLab(t *testing.T, l *lab.Lab) {
	t.Helper()
	for _, role := range []string{lab.Device, lab.Client1, lab.Client2} {
		h := l.Handle(role)
		link, err := h.LinkByName("wlan0")
		if err != nil {
			t.Fatalf("finding wlan0 in %s: %v", l.NS(role), err)
		}
		addrs, err := h.AddrList(link, netlink.FAMILY_V4)
		if err != nil {
			t.Fatalf("listing addresses in %s: %v", l.NS(role), err)
		}
		for _, a := range addrs {
			if err := h.AddrDel(link, &a); err != nil {
				t.Fatalf("removing %s from wlan0 in %s: %v", a.IPNet, l.NS(role), err)
			}
		}
	}
	h := l.Handle(lab.Device)
	eth1, err := h.LinkByName("eth1")
	if err != nil {
		t.Fatalf("finding eth1 in the device: %v", err)
	}
	a, _ := netlink.ParseAddr(lab.LANDeviceAddr)
	if err := h.AddrAdd(eth1, a); err != nil {
		t.Fatalf("adding %s to the device's eth1: %v", lab.LANDeviceAddr, err)
	}
}

// labDevice is the provisioned device: the test binary in deviceMain, under
// unshare in the lab's device namespace.
type labDevice struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	replies chan reply
	done    chan struct{}
	mu      sync.Mutex
	log     bytes.Buffer // stderr and stray stdout
}

func (d *labDevice) Write(b []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.log.Write(b)
}

func (d *labDevice) logs() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.log.String()
}

func startDevice(t *testing.T, l *lab.Lab, dir string) *labDevice {
	t.Helper()
	ip, err := toolrun.LookPath("ip")
	if err != nil {
		t.Fatal(err)
	}
	argv := []string{"netns", "exec", l.NS(lab.Device),
		"unshare", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc", os.Args[0]}
	d := &labDevice{replies: make(chan reply, 4), done: make(chan struct{})}
	d.cmd = exec.Command(ip, argv...)
	d.cmd.Env = append(os.Environ(), "LC_ALL=C", roleEnv+"="+roleDevice, dirEnv+"="+dir)
	d.cmd.Stderr = d
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stdout, err := d.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if d.stdin, err = d.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("starting the device %q: %v", argv, err)
	}
	go func() {
		defer close(d.done)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			line := sc.Text()
			if js, ok := strings.CutPrefix(line, replyPrefix); ok {
				var r reply
				if err := json.Unmarshal([]byte(js), &r); err != nil {
					r.Fatal = fmt.Sprintf("decoding reply %q: %v", js, err)
				}
				d.replies <- r
				continue
			}
			fmt.Fprintln(d, line)
		}
		_ = d.cmd.Wait()
	}()
	t.Cleanup(func() {
		// Stop the services, then the namespaces' processes are gone
		// with the pid namespace and the mounts with the mount namespace.
		_, _ = io.WriteString(d.stdin, cmdQuit+"\n")
		_ = d.stdin.Close()
		select {
		case <-d.done:
		case <-time.After(20 * time.Second):
			t.Errorf("device did not stop; killing it")
			_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
			<-d.done
		}
		if t.Failed() {
			t.Logf("device log:\n%s", d.logs())
		}
	})
	return d
}

// do sends one command to the device and waits for its reply.
func (d *labDevice) do(ctx context.Context, t *testing.T, cmd string) reply {
	t.Helper()
	if _, err := io.WriteString(d.stdin, cmd+"\n"); err != nil {
		t.Fatalf("sending %q to the device: %v\n%s", cmd, err, d.logs())
	}
	select {
	case r := <-d.replies:
		if r.Fatal != "" {
			t.Fatalf("device %s: %s\n%s", cmd, r.Fatal, d.logs())
		}
		return r
	case <-d.done:
		t.Fatalf("device exited during %s (%v):\n%s", cmd, d.cmd.ProcessState, d.logs())
	case <-ctx.Done():
		t.Fatalf("device %s: %v\n%s", cmd, ctx.Err(), d.logs())
	}
	return reply{}
}

// execIn runs argv in a lab namespace with LC_ALL=C and extra env.
func execIn(ctx context.Context, ns string, env []string, argv ...string) ([]byte, error) {
	ip, err := toolrun.LookPath("ip")
	if err != nil {
		return nil, err
	}
	prog, err := toolrun.LookPath(argv[0])
	if err != nil {
		return nil, err
	}
	args := append([]string{"netns", "exec", ns, prog}, argv[1:]...)
	cmd := exec.CommandContext(ctx, ip, args...)
	cmd.Env = append(append(os.Environ(), "LC_ALL=C"), env...)
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("running %q in %s: %w: %s", argv, ns, err, bytes.TrimSpace(out))
	}
	return out, nil
}

// udhcpc gets one lease on link in a namespace; the test binary is the
// hook that applies it. It returns udhcpc's output.
func udhcpc(ctx context.Context, l *lab.Lab, role, link, hostname, hook string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	out, err := execIn(ctx, l.NS(role), []string{roleEnv + "=" + roleHook},
		"udhcpc", "-i", link, "-f", "-q", "-n", "-t", "5", "-T", "3", "-x", "hostname:"+hostname, "-s", hook)
	if err != nil {
		return "", fmt.Errorf("DHCP on %s in %s: %w", link, l.NS(role), err)
	}
	return string(bytes.TrimSpace(out)), nil
}

// dhcpUplink leases the device's uplink address from the upstream.
func dhcpUplink(ctx context.Context, t *testing.T, l *lab.Lab, hook string) string {
	t.Helper()
	out, err := udhcpc(ctx, l, lab.Device, "eth0", "device", hook)
	if err != nil {
		t.Fatal(err)
	}
	addrs := addresses(t, l, lab.Device, "eth0")
	start, end := netip.MustParseAddr(lab.DHCPStart), netip.MustParseAddr(lab.DHCPEnd)
	for _, a := range addrs {
		p := netip.MustParsePrefix(a)
		if p.Addr().Compare(start) >= 0 && p.Addr().Compare(end) <= 0 {
			return p.Addr().String()
		}
	}
	t.Fatalf("device eth0 addresses %v: none from the upstream's DHCP range\nudhcpc:\n%s", addrs, out)
	return ""
}

// dhcpClients lease the WiFi clients' addresses from the AP, at the same
// time (dnsmasq pings an address before it offers it, which takes
// seconds), and return them by role.
func dhcpClients(ctx context.Context, t *testing.T, l *lab.Lab, hook string, roles ...string) map[string]string {
	t.Helper()
	outs, errs := make([]string, len(roles)), make([]error, len(roles))
	var wg sync.WaitGroup
	for i, role := range roles {
		wg.Go(func() { outs[i], errs[i] = udhcpc(ctx, l, role, "wlan0", role, hook) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	ips := map[string]string{}
	start, end := netip.MustParseAddr(dhcpStart), netip.MustParseAddr(dhcpEnd)
	for i, role := range roles {
		addrs := addresses(t, l, role, "wlan0")
		if len(addrs) != 1 {
			t.Fatalf("%s wlan0 addresses = %v, want one lease\nudhcpc:\n%s", role, addrs, outs[i])
		}
		p := netip.MustParsePrefix(addrs[0])
		if p.Addr().Compare(start) < 0 || p.Addr().Compare(end) > 0 || p.Bits() != 24 {
			t.Fatalf("%s leased %s, want an address in %s-%s/24", role, p, dhcpStart, dhcpEnd)
		}
		ips[role] = p.Addr().String()
		t.Logf("%s leased %s:\n%s", role, p, outs[i])
	}
	return ips
}

func addresses(t *testing.T, l *lab.Lab, role, name string) []string {
	t.Helper()
	h := l.Handle(role)
	link, err := h.LinkByName(name)
	if err != nil {
		t.Fatalf("finding %s in %s: %v", name, l.NS(role), err)
	}
	addrs, err := h.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		t.Fatalf("listing addresses of %s in %s: %v", name, l.NS(role), err)
	}
	var out []string
	for _, a := range addrs {
		out = append(out, a.IPNet.String())
	}
	return out
}

func apAddresses(t *testing.T, l *lab.Lab) []string { return addresses(t, l, lab.Device, "wlan0") }

func linkMAC(t *testing.T, l *lab.Lab, role, name string) string {
	t.Helper()
	link, err := l.Handle(role).LinkByName(name)
	if err != nil {
		t.Fatalf("finding %s in %s: %v", name, l.NS(role), err)
	}
	return link.Attrs().HardwareAddr.String()
}

// forwardIn reads net.ipv4.ip_forward of a lab namespace.
func forwardIn(t *testing.T, l *lab.Lab, role string) string {
	t.Helper()
	var v string
	if err := l.Do(role, func() error {
		b, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
		v = strings.TrimSpace(string(b))
		return err
	}); err != nil {
		t.Fatalf("reading ip_forward in %s: %v", l.NS(role), err)
	}
	return v
}

// readForward reads the root namespace's ip_forward (this goroutine is
// not in a lab namespace: lab.Do uses threads of its own).
func readForward(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	if err != nil {
		t.Fatalf("reading ip_forward: %v", err)
	}
	return strings.TrimSpace(string(b))
}

func nftTableExists(ctx context.Context) bool {
	nft, err := toolrun.LookPath("nft")
	if err != nil {
		return false
	}
	return exec.CommandContext(ctx, nft, "list", "table", "inet", "devmgr").Run() == nil
}

// dialFrom opens a connection from inside a lab namespace (the socket
// stays in the namespace it was made in).
func dialFrom(ctx context.Context, l *lab.Lab, role, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := l.Do(role, func() error {
		var d net.Dialer
		var err error
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("connecting to %s from %s: %w", addr, l.NS(role), err)
	}
	return c, nil
}

// tcpReach says whether a TCP connection to addr from a namespace is
// accepted within 1.5s (the firewall drops, so a denial is a timeout).
func tcpReach(ctx context.Context, l *lab.Lab, role, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	defer cancel()
	c, err := dialFrom(ctx, l, role, "tcp", addr)
	if err != nil {
		return err
	}
	return c.Close()
}

// checkDropped fails unless a TCP connection from a namespace to addr
// times out: the ruleset drops what it denies, while a refusal would only
// mean that nothing listens there.
func checkDropped(ctx context.Context, t *testing.T, l *lab.Lab, role, addr string) {
	t.Helper()
	err := tcpReach(ctx, l, role, addr)
	switch {
	case err == nil:
		t.Errorf("%s reached %s: the firewall should drop it", role, addr)
	case !errors.Is(err, os.ErrDeadlineExceeded) && !errors.Is(err, context.DeadlineExceeded):
		t.Errorf("%s to %s: %v; want the connection dropped (a timeout)", role, addr, err)
	}
}

// serveTCP accepts connections on addr in a namespace and reports each
// peer's address on the returned channel (dropping reports nobody reads).
func serveTCP(t *testing.T, l *lab.Lab, role, addr string) <-chan string {
	t.Helper()
	var ln net.Listener
	if err := l.Do(role, func() error {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err
	}); err != nil {
		t.Fatalf("listening on %s in %s: %v", addr, l.NS(role), err)
	}
	seen := make(chan string, 8)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			select {
			case seen <- c.RemoteAddr().String():
			default:
			}
			_ = c.Close()
		}
	}()
	t.Cleanup(func() { _ = ln.Close() })
	return seen
}

// lookup resolves name from a namespace with the Go resolver, asking
// server:53 only.
func lookup(ctx context.Context, l *lab.Lab, role, server, name string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return dialFrom(ctx, l, role, network, net.JoinHostPort(server, "53"))
	}}
	return r.LookupHost(ctx, name)
}

// waitHealthz polls the console's /healthz over HTTPS from a namespace
// until it answers 200 (the console may still be starting).
func waitHealthz(ctx context.Context, l *lab.Lab, role, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	tr := &http.Transport{
		Proxy:             nil,
		DisableKeepAlives: true,
		// A self-signed certificate made on the console's first start.
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // lab only
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return dialFrom(ctx, l, role, network, addr)
		},
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 3 * time.Second}
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET %s: %s: %s", url, resp.Status, bytes.TrimSpace(b))
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("console %s from %s: %w (last: %v)", url, l.NS(role), ctx.Err(), last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func writeConfig(t *testing.T, dir string, allowAPToLAN bool) {
	t.Helper()
	if err := os.WriteFile(configPath(dir), []byte(configYAML(allowAPToLAN)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// buildDevmgr builds the devmgr binary the units (agent, console) run.
func buildDevmgr(ctx context.Context, t *testing.T, goBin, out string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 40*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", out, "github.com/devmgr/devmgr/cmd/devmgr")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building devmgr: %v\n%s", err, b)
	}
}
