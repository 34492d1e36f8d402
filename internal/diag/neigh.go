package diag

import (
	"fmt"
	"slices"
	"strings"

	"github.com/devmgr/devmgr/internal/dnsmasq"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Netlink is what Neighbors needs of a netlink handle (*netlink.Handle of
// the agent's namespace).
type Netlink interface {
	NeighList(linkIndex, family int) ([]netlink.Neigh, error)
	LinkList() ([]netlink.Link, error)
}

// Neighbor is one ARP (IPv4) or NDP (IPv6) entry.
type Neighbor struct {
	IP        string `json:"ip"`
	MAC       string `json:"mac,omitempty"`
	Interface string `json:"interface"`
	State     string `json:"state"` // reachable, stale, delay, probe, failed, incomplete, permanent, noarp
	Router    bool   `json:"router,omitempty"`
}

// Neighbors lists the neighbour table, sorted by interface and address,
// leaving out the kernel's multicast and loopback bookkeeping.
func Neighbors(nl Netlink) ([]Neighbor, error) {
	links, err := nl.LinkList()
	if err != nil {
		return nil, fmt.Errorf("listing links: %w", err)
	}
	names := map[int]string{}
	for _, l := range links {
		names[l.Attrs().Index] = l.Attrs().Name
	}
	ns, err := nl.NeighList(0, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("listing neighbours: %w", err)
	}
	out := []Neighbor{}
	for _, n := range ns {
		if n.IP == nil || n.IP.IsMulticast() || n.IP.IsLoopback() || n.State == netlink.NUD_NOARP {
			continue
		}
		x := Neighbor{IP: n.IP.String(), Interface: names[n.LinkIndex], State: neighState(n.State), Router: n.Flags&netlink.NTF_ROUTER != 0}
		if x.Interface == "" {
			x.Interface = fmt.Sprintf("if%d", n.LinkIndex)
		}
		if len(n.HardwareAddr) > 0 {
			x.MAC = n.HardwareAddr.String()
		}
		out = append(out, x)
	}
	slices.SortFunc(out, func(a, b Neighbor) int {
		if c := strings.Compare(a.Interface, b.Interface); c != 0 {
			return c
		}
		return strings.Compare(a.IP, b.IP)
	})
	return out, nil
}

func neighState(s int) string {
	var parts []string
	for _, f := range []struct {
		bit  int
		name string
	}{
		{unix.NUD_INCOMPLETE, "incomplete"}, {unix.NUD_REACHABLE, "reachable"}, {unix.NUD_STALE, "stale"},
		{unix.NUD_DELAY, "delay"}, {unix.NUD_PROBE, "probe"}, {unix.NUD_FAILED, "failed"},
		{unix.NUD_NOARP, "noarp"}, {unix.NUD_PERMANENT, "permanent"},
	} {
		if s&f.bit != 0 {
			parts = append(parts, f.name)
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ",")
}

// Leases returns the AP's DHCP leases from dnsmasq's leases file; no file
// is no leases.
func Leases(path string) ([]dnsmasq.Lease, error) {
	return dnsmasq.ReadLeases(path)
}
