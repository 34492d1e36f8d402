package agent

import (
	"context"
	"net/http"
	"slices"

	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/dhcp"
	"github.com/devmgr/devmgr/internal/diag"
	"github.com/devmgr/devmgr/internal/dnsmasq"
	"github.com/devmgr/devmgr/internal/netif"
)

// LeaseSource gives the DHCP lease of a LAN interface (*dhcp.Manager).
type LeaseSource interface {
	Lease(name string) (dhcp.Lease, bool)
}

// NetifNetwork is the real Network: netlink state through a netif.Handle,
// changes through a netif.Changer.
type NetifNetwork struct {
	Handle  *netif.Handle  // required
	Changer *netif.Changer // required
	// Live answers the reads from memory, kept current by netlink events
	// (netif.NewLive on Handle); nil: a netlink dump per read.
	Live   *netif.Live
	Leases LeaseSource   // nil: no leases shown
	Config config.Config // ap.interface, uplinks, lan
}

var _ Network = (*NetifNetwork)(nil)

func (n *NetifNetwork) decorate(i netif.Interface) Interface {
	x := wireInterface(i)
	switch {
	case i.Name == n.Config.AP.Interface:
		x.Role = RoleAP
	case slices.Contains(n.Config.Uplinks, i.Name):
		x.Role = RoleUplink
	case slices.Contains(n.Config.LAN, i.Name):
		x.Role = RoleLAN
	}
	if x.Role != RoleLAN {
		return x
	}
	if lc, ok := n.Changer.Desired(i.Name); ok {
		x.Mode, x.Config = lc.Mode, wireLinkConfig(lc)
	}
	if n.Leases != nil {
		if l, ok := n.Leases.Lease(i.Name); ok {
			x.Lease = wireLease(l)
		}
	}
	x.DHCPState = n.Changer.DHCPState(i.Name)
	if ch, ok := n.Changer.Pending(); ok && ch.Interface == i.Name {
		p := wireChange(ch)
		x.Pending = &p
	}
	return x
}

// List implements Network.
func (n *NetifNetwork) List(ctx context.Context) ([]Interface, error) {
	list := n.Handle.List
	if n.Live != nil {
		list = n.Live.List
	}
	ifs, err := list(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Interface, len(ifs))
	for k, i := range ifs {
		out[k] = n.decorate(i)
	}
	return out, nil
}

// Get implements Network.
func (n *NetifNetwork) Get(ctx context.Context, name string) (Interface, error) {
	get := n.Handle.Get
	if n.Live != nil {
		get = n.Live.Get
	}
	i, err := get(ctx, name)
	if err != nil {
		return Interface{}, err
	}
	return n.decorate(i), nil
}

// SetConfig implements Network.
func (n *NetifNetwork) SetConfig(ctx context.Context, name string, lc LinkConfig) (Change, error) {
	return n.Changer.SetConfig(ctx, name, lc)
}

// SetUp implements Network.
func (n *NetifNetwork) SetUp(ctx context.Context, name string, up bool) (Change, error) {
	return n.Changer.SetUp(ctx, name, up)
}

// Change implements Network.
func (n *NetifNetwork) Change(_ context.Context, id string) (Change, error) {
	return n.Changer.Get(id)
}

// Confirm implements Network.
func (n *NetifNetwork) Confirm(ctx context.Context, id string) (Change, error) {
	return n.Changer.Confirm(ctx, id)
}

// Pending implements Network.
func (n *NetifNetwork) Pending() (Change, bool) { return n.Changer.Pending() }

// Tools is the real Diagnostics.
type Tools struct {
	Runner    diag.Runner   // nil: diag.ExecRunner
	Resolver  diag.Resolver // zero: /etc/resolv.conf, port 53
	Netlink   diag.Netlink  // the agent namespace's netlink handle; nil: neighbours unavailable
	LeaseFile string        // dnsmasq's leases file; "": dnsmasq.DefaultLeaseFile
}

var _ Diagnostics = Tools{}

func (t Tools) runner() diag.Runner {
	if t.Runner == nil {
		return diag.ExecRunner{}
	}
	return t.Runner
}

// Ping implements Diagnostics.
func (t Tools) Ping(ctx context.Context, r diag.PingRequest, line func(string)) (diag.Result, error) {
	return diag.Ping(ctx, t.runner(), r, line)
}

// Traceroute implements Diagnostics.
func (t Tools) Traceroute(ctx context.Context, r diag.TracerouteRequest, line func(string)) (diag.Result, error) {
	return diag.Traceroute(ctx, t.runner(), r, line)
}

// DNS implements Diagnostics.
func (t Tools) DNS(ctx context.Context, r diag.DNSRequest) (diag.DNSResult, error) {
	return t.Resolver.Lookup(ctx, r)
}

// Neighbors implements Diagnostics.
func (t Tools) Neighbors(context.Context) ([]diag.Neighbor, error) {
	if t.Netlink == nil {
		return nil, errorf(http.StatusServiceUnavailable, "", "the neighbour table is not available in this agent")
	}
	return diag.Neighbors(t.Netlink)
}

// Leases implements Diagnostics.
func (t Tools) Leases(context.Context) ([]dnsmasq.Lease, error) {
	f := t.LeaseFile
	if f == "" {
		f = dnsmasq.DefaultLeaseFile
	}
	return diag.Leases(f)
}
