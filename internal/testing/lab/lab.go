// Package lab builds a simulated devmgr device out of network namespaces
// and veth pairs, for tests and the demo. It never changes the root
// namespace: every link is created straight into a lab namespace.
//
// Topology (namespace roles in capitals, names <prefix>-<id>-<role>):
//
//	CLI1 wlan0 192.0.2.11/24 ─┐
//	CLI2 wlan0 192.0.2.12/24 ─┼─ AIR br0 ── DEV wlan0 192.0.2.1/24 (AP stand-in)
//	                                           with Options.WiFiDHCP: dnsmasq, DHCP 192.0.2.100-150
//	                                           for the clients (no static address then), DNS
//	                                           forwarded to the upstream
//	                                       DEV eth0 (uplink, unaddressed) ── UP eth0 198.51.100.1/24
//	                                           dnsmasq: DHCP 198.51.100.100-199, DNS (upstream.lab.test)
//	                                           HTTP :80 answers with the client's address (RemoteAddr)
//	                                       DEV eth1 (LAN, unaddressed) ── LAN eth0 203.0.113.2/24, gw 203.0.113.1
//
// Usage:
//
//	l := lab.NewT(t, lab.Options{})         // root; Close on t.Cleanup
//	l, err := lab.New(ctx, log, lab.Options{}); defer l.Close()
//	l.NS(lab.Device), l.NSPath(lab.Device)  // name, /run/netns path
//	l.Exec(ctx, lab.LANHost, "ping", "-c1", "203.0.113.1")
//	l.Do(lab.Device, func() error { ... })  // Go code inside a namespace
//	l.Config(dataDir)                       // a config.Config matching the lab
//	lab.CleanStale("dmlab")                 // remove labs of dead processes
package lab

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/nsrun"
	"github.com/devmgr/devmgr/internal/toolrun"
)

// Namespace roles.
const (
	Device   = "dev"
	Air      = "air"
	Client1  = "cli1"
	Client2  = "cli2"
	Upstream = "up"
	LANHost  = "lan"
)

// Roles lists every namespace role in creation order.
var Roles = []string{Device, Air, Client1, Client2, Upstream, LANHost}

// Addresses in the lab (TEST-NET ranges only).
const (
	APAddress        = "192.0.2.1/24"
	Client1Address   = "192.0.2.11/24"
	Client2Address   = "192.0.2.12/24"
	UpstreamAddress  = "198.51.100.1/24"
	UpstreamIP       = "198.51.100.1"
	DHCPStart        = "198.51.100.100"
	DHCPEnd          = "198.51.100.199"
	LANHostAddress   = "203.0.113.2/24"
	LANHostIP        = "203.0.113.2"
	LANDeviceAddr    = "203.0.113.1/24" // what a test sets on DEV eth1
	LANGateway       = "203.0.113.1"
	APIP             = "192.0.2.1"
	APDHCPStart      = "192.0.2.100" // Options.WiFiDHCP, and Config's ap.dhcp
	APDHCPEnd        = "192.0.2.150"
	UplinkDeviceAddr = "198.51.100.2/24"   // Options.UplinkStatic
	UpstreamName     = "upstream.lab.test" // answered by the upstream dnsmasq
	HTTPPort         = 80
)

// DefaultPrefix starts every lab namespace name.
const DefaultPrefix = "dmlab"

// DefaultStateDir records which process owns which lab.
const DefaultStateDir = "/run/devmgr-lab"

// Options configure a lab.
type Options struct {
	Prefix    string        // default DefaultPrefix
	StateDir  string        // default DefaultStateDir
	LeaseTime time.Duration // dnsmasq lease time, default 2m (dnsmasq's minimum)
	NoServers bool          // no dnsmasq, no HTTP server
	// UplinkStatic gives DEV eth0 UplinkDeviceAddr and a default route via
	// the upstream, for tests that need the uplink without DHCP.
	UplinkStatic bool
	// Forwarding turns on IPv4 forwarding in the device namespace.
	Forwarding bool
	// WiFiDHCP runs the access point's DHCP and DNS server on DEV wlan0,
	// as devmgr provision does on a device: dnsmasq, leases
	// APDHCPStart-APDHCPEnd named after the client roles in APLeaseFile,
	// DNS forwarded to the upstream's. The WiFi clients then have no static
	// address: they lease one from it (devrun runs devmgr's DHCP client
	// there; this package cannot import it).
	WiFiDHCP bool
}

// Lab is one running lab.
type Lab struct {
	log  *slog.Logger
	opts Options
	id   string

	mu      sync.Mutex
	ns      map[string]netns.NsHandle
	handles map[string]*netlink.Handle
	daemons []*daemon // the dnsmasqs
	http    *http.Server
	spawn   chan func()
	closed  bool
}

// daemon is a server the lab runs in one of its namespaces.
type daemon struct {
	cmd  *exec.Cmd
	done chan struct{}
}

type owner struct {
	PID   int    `json:"pid"`
	Start string `json:"start"` // /proc/PID/stat starttime, against PID reuse
}

// TB is the part of testing.TB that NewT uses.
type TB interface {
	Helper()
	Cleanup(func())
	Fatalf(format string, args ...any)
	Logf(format string, args ...any)
}

// NewT builds a lab for a test and removes it when the test ends, even
// when it fails or panics. Stale labs of dead processes are removed first.
func NewT(t TB, opts Options) *Lab {
	t.Helper()
	prefix := opts.Prefix
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if err := CleanStaleIn(opts.StateDir, prefix); err != nil {
		t.Logf("cleaning stale labs: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := New(ctx, slog.New(slog.NewTextHandler(tbWriter{t}, nil)), opts)
	if err != nil {
		t.Fatalf("building lab: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Logf("closing lab: %v", err)
		}
	})
	return l
}

type tbWriter struct{ t TB }

func (w tbWriter) Write(b []byte) (int, error) {
	w.t.Logf("%s", bytes.TrimRight(b, "\n"))
	return len(b), nil
}

// New builds a lab. On error everything made so far is removed.
func New(ctx context.Context, log *slog.Logger, opts Options) (l *Lab, err error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if strings.Contains(opts.Prefix, "-") || strings.Contains(opts.Prefix, "/") {
		return nil, fmt.Errorf("lab prefix %q must not contain - or /", opts.Prefix)
	}
	if opts.StateDir == "" {
		opts.StateDir = DefaultStateDir
	}
	if opts.LeaseTime == 0 {
		opts.LeaseTime = 2 * time.Minute
	}
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	l = &Lab{
		log: log, opts: opts, id: hex.EncodeToString(b),
		ns: map[string]netns.NsHandle{}, handles: map[string]*netlink.Handle{},
	}
	l.log = log.With("lab", l.base())
	if err := os.MkdirAll(opts.StateDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating lab state directory: %w", err)
	}
	// Claim the lab before making anything, so CleanStale never takes a
	// lab that is being built.
	start, err := procStart(os.Getpid())
	if err != nil {
		return nil, err
	}
	ob, _ := json.Marshal(owner{PID: os.Getpid(), Start: start})
	if err := os.WriteFile(l.ownerFile(), ob, 0o644); err != nil {
		return nil, fmt.Errorf("recording lab owner: %w", err)
	}
	defer func() {
		if err != nil {
			if cerr := l.Close(); cerr != nil {
				l.log.Error("removing half-built lab", "err", cerr)
			}
			l = nil
		}
	}()
	l.startSpawner()
	if err := l.build(ctx); err != nil {
		return l, err
	}
	if !opts.NoServers {
		if err := l.startServers(ctx); err != nil {
			return l, err
		}
	}
	l.log.Info("lab up")
	return l, nil
}

func (l *Lab) base() string      { return l.opts.Prefix + "-" + l.id }
func (l *Lab) ownerFile() string { return filepath.Join(l.opts.StateDir, l.base()+".json") }
func (l *Lab) runFile(s string) string {
	return filepath.Join(l.opts.StateDir, l.base()+"."+s)
}

// ID is the lab's random part, e.g. a1b2c3.
func (l *Lab) ID() string { return l.id }

// NS is the name of the namespace of a role, e.g. dmlab-a1b2c3-dev.
func (l *Lab) NS(role string) string { return l.base() + "-" + role }

// NSPath is the bind-mount path of a role's namespace.
func (l *Lab) NSPath(role string) string { return filepath.Join(nsrun.RunDir, l.NS(role)) }

// HTTPURL is the upstream HTTP server; its body is the client address it saw.
func (l *Lab) HTTPURL() string { return fmt.Sprintf("http://%s:%d/", UpstreamIP, HTTPPort) }

// DHCPLeaseFile is the upstream dnsmasq's lease file.
func (l *Lab) DHCPLeaseFile() string { return l.runFile("leases") }

// DNSMasqLog is the upstream dnsmasq's log file.
func (l *Lab) DNSMasqLog() string { return l.runFile("dnsmasq.log") }

// APLeaseFile is the leases file of the access point's dnsmasq
// (Options.WiFiDHCP).
func (l *Lab) APLeaseFile() string { return l.runFile("ap.leases") }

// WiFiClients are the roles of the namespaces that stand for the access
// point's WiFi clients, each with its wlan0.
var WiFiClients = []string{Client1, Client2}

// MAC is the hardware address of a link in a role's namespace.
func (l *Lab) MAC(role, link string) (string, error) {
	h, ok := l.handles[role]
	if !ok {
		return "", fmt.Errorf("lab has no namespace role %q", role)
	}
	ln, err := h.LinkByName(link)
	if err != nil {
		return "", fmt.Errorf("finding %s in %s: %w", link, l.NS(role), err)
	}
	return ln.Attrs().HardwareAddr.String(), nil
}

// Config returns a valid devmgr config describing the lab device, with
// data_dir and the agent socket under dataDir.
func (l *Lab) Config(dataDir string) config.Config {
	c := config.Default()
	c.DataDir = dataDir
	c.Agent.Socket = filepath.Join(dataDir, "agent.sock")
	// Beside data_dir, never in it: the agent's own (root:root 0700).
	c.Agent.StateDir = filepath.Clean(dataDir) + ".agent"
	c.AP.Interface = "wlan0"
	c.AP.Passphrase = "lab-passphrase"
	c.AP.Address = APAddress
	c.AP.DHCP = config.DHCP{Start: APDHCPStart, End: APDHCPEnd, Lease: time.Hour}
	c.Uplinks = []string{"eth0"}
	c.LAN = []string{"eth1"}
	return c
}

func (l *Lab) build(ctx context.Context) error {
	for _, role := range Roles {
		if err := ctx.Err(); err != nil {
			return err
		}
		ns, err := nsrun.NewNamed(l.NS(role))
		if err != nil {
			return err
		}
		l.ns[role] = ns
		h, err := netlink.NewHandleAt(ns)
		if err != nil {
			return fmt.Errorf("opening netlink in %s: %w", l.NS(role), err)
		}
		l.handles[role] = h
		lo, err := h.LinkByName("lo")
		if err != nil {
			return fmt.Errorf("finding lo in %s: %w", l.NS(role), err)
		}
		if err := h.LinkSetUp(lo); err != nil {
			return fmt.Errorf("setting lo up in %s: %w", l.NS(role), err)
		}
	}
	air := l.handles[Air]
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "br0"}}
	if err := air.LinkAdd(br); err != nil {
		return fmt.Errorf("adding bridge br0 in %s: %w", l.NS(Air), err)
	}
	if err := air.LinkSetUp(br); err != nil {
		return fmt.Errorf("setting br0 up: %w", err)
	}
	pairs := []pair{
		{Device, "wlan0", Air, "dev"},
		{Client1, "wlan0", Air, "cli1"},
		{Client2, "wlan0", Air, "cli2"},
		{Device, "eth0", Upstream, "eth0"},
		{Device, "eth1", LANHost, "eth0"},
	}
	for _, p := range pairs {
		v := &netlink.Veth{
			LinkAttrs: netlink.LinkAttrs{Name: p.name},
			PeerName:  p.peerName, PeerNamespace: netlink.NsFd(int(l.ns[p.peerRole])),
		}
		if err := l.handles[p.role].LinkAdd(v); err != nil {
			return fmt.Errorf("adding veth %s/%s-%s/%s: %w", l.NS(p.role), p.name, l.NS(p.peerRole), p.peerName, err)
		}
		if p.peerRole == Air {
			peer, err := air.LinkByName(p.peerName)
			if err != nil {
				return fmt.Errorf("finding %s in %s: %w", p.peerName, l.NS(Air), err)
			}
			if err := air.LinkSetMaster(peer, br); err != nil {
				return fmt.Errorf("adding %s to br0: %w", p.peerName, err)
			}
		}
		if err := l.up(p.role, p.name); err != nil {
			return err
		}
		if err := l.up(p.peerRole, p.peerName); err != nil {
			return err
		}
	}
	type addr struct{ role, link, cidr, gw string }
	addrs := []addr{
		{Device, "wlan0", APAddress, ""},
		{Upstream, "eth0", UpstreamAddress, ""},
		{LANHost, "eth0", LANHostAddress, LANGateway},
	}
	if !l.opts.WiFiDHCP {
		addrs = append(addrs, addr{Client1, "wlan0", Client1Address, APIP}, addr{Client2, "wlan0", Client2Address, APIP})
	}
	if l.opts.UplinkStatic {
		addrs = append(addrs, addr{Device, "eth0", UplinkDeviceAddr, UpstreamIP})
	}
	for _, a := range addrs {
		h := l.handles[a.role]
		link, err := h.LinkByName(a.link)
		if err != nil {
			return fmt.Errorf("finding %s in %s: %w", a.link, l.NS(a.role), err)
		}
		ad, err := netlink.ParseAddr(a.cidr)
		if err != nil {
			return fmt.Errorf("parsing %q: %w", a.cidr, err)
		}
		if err := h.AddrAdd(link, ad); err != nil {
			return fmt.Errorf("adding %s to %s in %s: %w", a.cidr, a.link, l.NS(a.role), err)
		}
		if a.gw != "" {
			r := &netlink.Route{LinkIndex: link.Attrs().Index, Gw: net.ParseIP(a.gw)}
			if err := h.RouteAdd(r); err != nil {
				return fmt.Errorf("adding default route via %s in %s: %w", a.gw, l.NS(a.role), err)
			}
		}
	}
	if err := l.waitReady(ctx, pairs); err != nil {
		return err
	}
	if l.opts.Forwarding {
		if err := l.Do(Device, func() error {
			// /proc/sys/net belongs to the namespace of the opening thread.
			return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1\n"), 0o644)
		}); err != nil {
			return fmt.Errorf("enabling forwarding in %s: %w", l.NS(Device), err)
		}
	}
	return nil
}

type pair struct{ role, name, peerRole, peerName string }

// waitReady waits until every veth end is operationally up and, where IPv6
// is on, has its link-local address, so that what tests see is settled
// (the kernel does both asynchronously after a link comes up).
func (l *Lab) waitReady(ctx context.Context, pairs []pair) error {
	type end struct{ role, name string }
	var ends []end
	for _, p := range pairs {
		ends = append(ends, end{p.role, p.name}, end{p.peerRole, p.peerName})
	}
	ipv6 := map[string]bool{}
	for _, role := range Roles {
		var on bool
		_ = l.Do(role, func() error {
			b, err := os.ReadFile("/proc/sys/net/ipv6/conf/default/disable_ipv6")
			on = err == nil && strings.TrimSpace(string(b)) == "0"
			return nil
		})
		ipv6[role] = on
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, e := range ends {
		h := l.handles[e.role]
		for {
			link, err := h.LinkByName(e.name)
			if err != nil {
				return fmt.Errorf("finding %s in %s: %w", e.name, l.NS(e.role), err)
			}
			ready := link.Attrs().OperState == netlink.OperUp
			if ready && ipv6[e.role] {
				addrs, err := h.AddrList(link, netlink.FAMILY_V6)
				if err != nil {
					return fmt.Errorf("listing addresses of %s in %s: %w", e.name, l.NS(e.role), err)
				}
				ready = false
				for _, a := range addrs {
					if a.IP.IsLinkLocalUnicast() {
						ready = true
					}
				}
			}
			if ready {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s in %s did not come up (operstate %s)", e.name, l.NS(e.role), link.Attrs().OperState)
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("waiting for %s in %s: %w", e.name, l.NS(e.role), ctx.Err())
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	return nil
}

func (l *Lab) up(role, name string) error {
	h := l.handles[role]
	link, err := h.LinkByName(name)
	if err != nil {
		return fmt.Errorf("finding %s in %s: %w", name, l.NS(role), err)
	}
	if err := h.LinkSetUp(link); err != nil {
		return fmt.Errorf("setting %s up in %s: %w", name, l.NS(role), err)
	}
	return nil
}

// deviceLinks are the links of the device namespace.
var deviceLinks = []string{"lo", "wlan0", "eth0", "eth1"}

// DeviceState returns snap of each link of the device namespace, by name,
// for a test that compares the device before and after (snap reads one
// link: netif.Handle.Snapshot, say, which lab cannot import).
func DeviceState[S any](t TB, snap func(link string) (S, error)) map[string]S {
	t.Helper()
	out := map[string]S{}
	for _, n := range deviceLinks {
		s, err := snap(n)
		if err != nil {
			t.Fatalf("reading link %s of the lab device: %v", n, err)
		}
		out[n] = s
	}
	return out
}

// Handle is the lab's netlink handle in a role's namespace (owned by the lab).
func (l *Lab) Handle(role string) *netlink.Handle { return l.handles[role] }

// NSHandle is the lab's open handle on a role's namespace (owned by the lab).
func (l *Lab) NSHandle(role string) netns.NsHandle { return l.ns[role] }

// Do runs fn on a locked OS thread inside a role's namespace.
func (l *Lab) Do(role string, fn func() error) error {
	ns, ok := l.ns[role]
	if !ok {
		return fmt.Errorf("lab has no namespace role %q", role)
	}
	return nsrun.Do(ns, fn)
}

// Exec runs argv in a role's namespace (ip netns exec) with LC_ALL=C and
// returns its combined output; the error names argv and carries the output.
func (l *Lab) Exec(ctx context.Context, role string, argv ...string) ([]byte, error) {
	if _, ok := l.ns[role]; !ok {
		return nil, fmt.Errorf("lab has no namespace role %q", role)
	}
	if len(argv) == 0 {
		return nil, errors.New("lab exec: empty argv")
	}
	ip, err := toolrun.LookPath("ip")
	if err != nil {
		return nil, err
	}
	args := append([]string{"netns", "exec", l.NS(role)}, argv...)
	cmd := exec.CommandContext(ctx, ip, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("running %q in %s: %w: %s", argv, l.NS(role), err, bytes.TrimSpace(out))
	}
	return out, nil
}

// startSpawner starts a goroutine locked to its own thread for starting
// children: Pdeathsig fires when the starting thread exits, so that thread
// must live as long as the lab.
func (l *Lab) startSpawner() {
	l.spawn = make(chan func())
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		for f := range l.spawn {
			f()
		}
	}()
}

func (l *Lab) startServers(ctx context.Context) error {
	lease := int(l.opts.LeaseTime / time.Second)
	if err := l.startDnsmasq(ctx, Upstream, "",
		"--interface=eth0", "--listen-address="+UpstreamIP,
		fmt.Sprintf("--dhcp-range=%s,%s,255.255.255.0,%ds", DHCPStart, DHCPEnd, lease),
		"--dhcp-option=option:router,"+UpstreamIP,
		"--dhcp-option=option:dns-server,"+UpstreamIP,
		"--host-record="+UpstreamName+","+UpstreamIP, "--local=/lab.test/",
	); err != nil {
		return err
	}
	if l.opts.WiFiDHCP {
		// As on a device: the AP's address is the clients' router and DNS
		// server, which forwards to the uplink's (here, the upstream's).
		args := []string{"--interface=wlan0", "--listen-address=" + APIP,
			"--dhcp-range=" + APDHCPStart + "," + APDHCPEnd + ",255.255.255.0,1h",
			"--server=" + UpstreamIP}
		for _, role := range WiFiClients {
			mac, err := l.MAC(role, "wlan0")
			if err != nil {
				return err
			}
			args = append(args, "--dhcp-host="+mac+","+role) // the lease's hostname
		}
		if err := l.startDnsmasq(ctx, Device, "ap.", args...); err != nil {
			return err
		}
	}

	var ln net.Listener
	if err := l.Do(Upstream, func() error {
		var err error
		ln, err = net.Listen("tcp", net.JoinHostPort(UpstreamIP, strconv.Itoa(HTTPPort)))
		return err
	}); err != nil {
		return fmt.Errorf("listening for HTTP in %s: %w", l.NS(Upstream), err)
	}
	l.http = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			fmt.Fprintln(w, r.RemoteAddr)
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	go func() { _ = l.http.Serve(ln) }()
	return nil
}

// startDnsmasq runs dnsmasq in a role's namespace with args after the
// lab's common ones, and waits until it serves. Its files are the run
// files prefix+"leases", prefix+"dnsmasq.pid" and prefix+"dnsmasq.log".
func (l *Lab) startDnsmasq(ctx context.Context, role, prefix string, args ...string) error {
	dnsmasq, err := toolrun.LookPath("dnsmasq")
	if err != nil {
		return err
	}
	ip, err := toolrun.LookPath("ip")
	if err != nil {
		return err
	}
	pidFile := l.runFile(prefix + "dnsmasq.pid")
	argv := append([]string{"netns", "exec", l.NS(role), dnsmasq,
		"--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--user=root",
		"--bind-interfaces", "--except-interface=lo",
		"--dhcp-authoritative", "--no-ping",
		"--dhcp-leasefile=" + l.runFile(prefix+"leases"),
		"--pid-file=" + pidFile,
		"--log-dhcp", "--log-queries", "--log-facility=" + l.runFile(prefix+"dnsmasq.log"),
	}, args...)
	cmd := exec.Command(ip, argv...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	errc := make(chan error, 1)
	l.spawn <- func() { errc <- cmd.Start() }
	if err := <-errc; err != nil {
		return fmt.Errorf("starting dnsmasq %q: %w", argv, err)
	}
	d := &daemon{cmd: cmd, done: make(chan struct{})}
	l.mu.Lock()
	l.daemons = append(l.daemons, d)
	l.mu.Unlock()
	go func() {
		err := cmd.Wait()
		l.mu.Lock()
		closed := l.closed
		l.mu.Unlock()
		if !closed {
			l.log.Error("dnsmasq exited", "namespace", l.NS(role), "err", err, "output", stderr.String())
		}
		close(d.done)
	}()
	// dnsmasq writes its pid file once its sockets are bound.
	for {
		if _, err := os.Stat(pidFile); err == nil {
			return nil
		}
		select {
		case <-d.done:
			return fmt.Errorf("dnsmasq in %s exited at start: %s", l.NS(role), stderr.String())
		case <-ctx.Done():
			return fmt.Errorf("waiting for dnsmasq in %s: %w", l.NS(role), ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Get fetches url over HTTP from inside a role's namespace (the TCP
// connection is dialled there; no proxy) and returns the body.
func (l *Lab) Get(ctx context.Context, role, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", fmt.Errorf("building request for %s: %w", url, err)
	}
	port := req.URL.Port()
	if port == "" {
		port = "80"
	}
	var conn net.Conn
	if err := l.Do(role, func() error {
		var d net.Dialer
		var err error
		conn, err = d.DialContext(ctx, "tcp", net.JoinHostPort(req.URL.Hostname(), port))
		return err
	}); err != nil {
		return "", fmt.Errorf("connecting to %s from %s: %w", url, l.NS(role), err)
	}
	tr := &http.Transport{
		Proxy:             nil,
		DisableKeepAlives: true,
		DialContext: func(context.Context, string, string) (net.Conn, error) {
			if conn == nil {
				return nil, errors.New("lab: connection already used")
			}
			c := conn
			conn = nil
			return c, nil
		},
	}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return "", fmt.Errorf("fetching %s from %s: %w", url, l.NS(role), err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", fmt.Errorf("reading %s from %s: %w", url, l.NS(role), err)
	}
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("fetching %s from %s: %s", url, l.NS(role), resp.Status)
	}
	return string(b), nil
}

// Close stops the lab's processes and removes its namespaces; their veths
// and bridge go with them. It is safe to call more than once.
func (l *Lab) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	var errs []error
	if l.http != nil {
		_ = l.http.Close()
	}
	for _, d := range l.daemons {
		// ip netns exec execs dnsmasq, so the pid is dnsmasq's.
		_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-d.done:
		case <-time.After(3 * time.Second):
			_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
			<-d.done
		}
	}
	if l.spawn != nil {
		close(l.spawn)
	}
	for _, h := range l.handles {
		h.Close()
	}
	for _, ns := range l.ns {
		ns.Close()
	}
	for _, role := range Roles {
		if err := removeNS(l.NS(role)); err != nil {
			errs = append(errs, err)
		}
	}
	for _, suffix := range runFiles {
		if err := os.Remove(l.runFile(suffix)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	l.log.Info("lab removed")
	return errors.Join(errs...)
}

// runFiles are the suffixes of a lab's files in its state directory, the
// owner file last.
var runFiles = []string{"leases", "dnsmasq.pid", "dnsmasq.log", "ap.leases", "ap.dnsmasq.pid", "ap.dnsmasq.log", "json"}

// removeNS kills every process still in the namespace and deletes it.
func removeNS(name string) error {
	path := filepath.Join(nsrun.RunDir, name)
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		if errors.Is(err, syscall.ENOENT) {
			return nil
		}
		return fmt.Errorf("inspecting namespace %s: %w", name, err)
	}
	killIn(st.Dev, st.Ino)
	return nsrun.DeleteNamed(name)
}

// killIn SIGKILLs the processes whose network namespace is dev/ino.
func killIn(dev uint64, ino uint64) {
	ents, _ := os.ReadDir("/proc")
	self := os.Getpid()
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		var st syscall.Stat_t
		if err := syscall.Stat(filepath.Join("/proc", e.Name(), "ns/net"), &st); err != nil {
			continue
		}
		if st.Ino == ino && st.Dev == dev {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// procStart returns field 22 (starttime) of /proc/PID/stat.
func procStart(pid int) (string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", fmt.Errorf("reading process start time: %w", err)
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return "", fmt.Errorf("parsing /proc/%d/stat %q", pid, s)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return "", fmt.Errorf("parsing /proc/%d/stat %q", pid, s)
	}
	return f[19], nil
}

// CleanStale removes the labs with this prefix whose creating process is
// gone (a crashed or killed test run), using DefaultStateDir.
func CleanStale(prefix string) error { return CleanStaleIn(DefaultStateDir, prefix) }

// CleanStaleIn is CleanStale with another state directory.
func CleanStaleIn(stateDir, prefix string) error {
	if stateDir == "" {
		stateDir = DefaultStateDir
	}
	if prefix == "" {
		prefix = DefaultPrefix
	}
	ents, err := os.ReadDir(nsrun.RunDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("listing namespaces: %w", err)
	}
	var errs []error
	bases := map[string]bool{}
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), prefix+"-")
		if !ok {
			continue
		}
		id, _, ok := strings.Cut(rest, "-")
		if !ok || len(id) != 6 {
			continue
		}
		base := prefix + "-" + id
		alive, known := bases[base]
		if !known {
			alive = ownerAlive(filepath.Join(stateDir, base+".json"))
			bases[base] = alive
		}
		if alive {
			continue
		}
		if err := removeNS(e.Name()); err != nil {
			errs = append(errs, err)
		}
	}
	for base, alive := range bases {
		if alive {
			continue
		}
		for _, s := range runFiles {
			_ = os.Remove(filepath.Join(stateDir, base+"."+s))
		}
	}
	return errors.Join(errs...)
}

func ownerAlive(file string) bool {
	b, err := os.ReadFile(file)
	if err != nil {
		return false
	}
	var o owner
	if json.Unmarshal(b, &o) != nil || o.PID <= 0 {
		return false
	}
	start, err := procStart(o.PID)
	return err == nil && start == o.Start
}
