package agentbench

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"testing"
	"time"

	"github.com/devmgr/devmgr/internal/agent"
	"github.com/devmgr/devmgr/internal/agent/api"
	agentclient "github.com/devmgr/devmgr/internal/agent/client"
	"github.com/devmgr/devmgr/internal/auth"
	"github.com/devmgr/devmgr/internal/diag"
	"github.com/devmgr/devmgr/internal/dnsmasq"
	"github.com/devmgr/devmgr/internal/netif"
	"github.com/devmgr/devmgr/internal/testing/agentproc"
	"github.com/devmgr/devmgr/internal/testing/lab"
)

var viewer = api.Actor{User: "bench", Role: auth.Viewer, Source: "127.0.0.1"}

// benchInterfaces measures GET /v1/interfaces through agent.Client on the
// socket: HTTP over the unix socket, peer-credential check, role check, the
// Network's List, JSON both ways.
func benchInterfaces(b *testing.B, socket string) {
	c := agentclient.New(socket)
	defer c.Close()
	ctx := context.Background()
	ifs, err := c.Interfaces(ctx, viewer)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(len(ifs)), "interfaces")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Interfaces(ctx, viewer); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAgentInterfacesFake serves a fixed list of four interfaces:
// the cost of the API and its client alone. It runs without root.
func BenchmarkAgentInterfacesFake(b *testing.B) {
	socket := filepath.Join(b.TempDir(), "agent.sock")
	webUser := ""
	if os.Geteuid() != 0 {
		// Without root the socket must admit this uid as the web user.
		u, err := user.Current()
		if err != nil {
			b.Fatal(err)
		}
		webUser = u.Username
	}
	srv, err := agent.New(agent.Config{
		Socket: socket, WebUser: webUser, Network: fakeNetwork{ifs: fourInterfaces()},
		Diag: noDiag{}, Audit: agent.AuditorFunc(func(context.Context, agent.AuditEntry) error { return nil }),
		Log: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := srv.Listen()
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	b.Cleanup(func() {
		cancel()
		<-done
	})
	benchInterfaces(b, socket)
}

// BenchmarkAgentInterfacesLab runs the real agent (devmgr agent: netlink
// handle, DHCP manager, changer, AP module) in the device namespace of a
// throwaway network-namespace lab: the real netlink read of wlan0, eth0,
// eth1 and lo. The agent is another process: B/op and allocs/op are the
// client's. It needs root and is skipped without it.
func BenchmarkAgentInterfacesLab(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root: builds a network-namespace lab")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const prefix = "dmbenchag"
	if err := lab.CleanStale(prefix); err != nil {
		b.Logf("removing stale labs: %v", err)
	}
	bctx, bcancel := context.WithTimeout(ctx, 60*time.Second)
	l, err := lab.New(bctx, nil, lab.Options{Prefix: prefix, NoServers: true})
	bcancel()
	if err != nil {
		b.Fatalf("building lab: %v", err)
	}
	b.Cleanup(func() {
		if err := l.Close(); err != nil {
			b.Errorf("removing lab: %v", err)
		}
	})
	dir := b.TempDir()
	cfg := l.Config(filepath.Join(dir, "data"))
	cfg.Agent.Socket = filepath.Join(dir, "run", "agent.sock")
	cfg.Web.User = "root" // a root-only socket: this process is the client
	agentproc.Start(b, agentproc.Options{Config: cfg, NS: l.NS(lab.Device)})
	benchInterfaces(b, cfg.Agent.Socket)
}

func fourInterfaces() []agent.Interface {
	mk := func(name, kind, role, mac, addr string) agent.Interface {
		return agent.Interface{
			Name: name, Kind: kind, AdminUp: true, OperState: "up", Carrier: true, MAC: mac, MTU: 1500,
			Addresses: []string{addr, "fe80::1/64"}, RxBytes: 123456789, TxBytes: 987654321, Role: role,
		}
	}
	return []agent.Interface{
		mk("lo", netif.KindLoopback, "", "", "127.0.0.1/8"),
		mk("wlan0", netif.KindWireless, agent.RoleAP, "02:00:00:00:00:01", "192.168.4.1/24"),
		mk("eth0", netif.KindEthernet, agent.RoleUplink, "02:00:00:00:00:02", "198.51.100.2/24"),
		mk("eth1", netif.KindEthernet, agent.RoleLAN, "02:00:00:00:00:03", "203.0.113.1/24"),
	}
}

// fakeNetwork answers reads from a fixed list; changes are not benchmarked.
type fakeNetwork struct{ ifs []agent.Interface }

var errNotBenchmarked = errors.New("not part of the benchmark")

func (f fakeNetwork) List(context.Context) ([]agent.Interface, error) { return f.ifs, nil }
func (f fakeNetwork) Get(_ context.Context, name string) (agent.Interface, error) {
	for _, i := range f.ifs {
		if i.Name == name {
			return i, nil
		}
	}
	return agent.Interface{}, netif.ErrNotFound
}

func (fakeNetwork) SetConfig(context.Context, string, agent.LinkConfig) (agent.Change, error) {
	return agent.Change{}, errNotBenchmarked
}

func (fakeNetwork) SetUp(context.Context, string, bool) (agent.Change, error) {
	return agent.Change{}, errNotBenchmarked
}

func (fakeNetwork) Change(context.Context, string) (agent.Change, error) {
	return agent.Change{}, errNotBenchmarked
}

func (fakeNetwork) Confirm(context.Context, string) (agent.Change, error) {
	return agent.Change{}, errNotBenchmarked
}
func (fakeNetwork) Pending() (agent.Change, bool) { return agent.Change{}, false }

// noDiag: diagnostics are not benchmarked here.
type noDiag struct{}

func (noDiag) Ping(context.Context, diag.PingRequest, func(string)) (diag.Result, error) {
	return diag.Result{}, errNotBenchmarked
}

func (noDiag) Traceroute(context.Context, diag.TracerouteRequest, func(string)) (diag.Result, error) {
	return diag.Result{}, errNotBenchmarked
}

func (noDiag) DNS(context.Context, diag.DNSRequest) (diag.DNSResult, error) {
	return diag.DNSResult{}, errNotBenchmarked
}
func (noDiag) Neighbors(context.Context) ([]diag.Neighbor, error) { return nil, errNotBenchmarked }
func (noDiag) Leases(context.Context) ([]dnsmasq.Lease, error)    { return nil, errNotBenchmarked }
