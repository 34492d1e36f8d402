package netif

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Interface is one network interface as the API shows it.
type Interface struct {
	Name      string   `json:"name"`
	Kind      string   `json:"kind"` // ethernet|wireless|bridge|vlan|veth|loopback|other
	AdminUp   bool     `json:"admin_up"`
	OperState string   `json:"oper_state"` // up, down, unknown, dormant, lowerlayerdown, ...
	Carrier   bool     `json:"carrier"`
	MAC       string   `json:"mac"`
	MTU       int      `json:"mtu"`
	Addresses []string `json:"addresses"` // CIDR, IPv4 and IPv6
	Gateway   string   `json:"gateway"`   // default route via this link, "" if none
	RxBytes   uint64   `json:"rx_bytes"`
	TxBytes   uint64   `json:"tx_bytes"`
}

// Kinds of interface.
const (
	KindEthernet = "ethernet"
	KindWireless = "wireless"
	KindBridge   = "bridge"
	KindVLAN     = "vlan"
	KindVeth     = "veth"
	KindLoopback = "loopback"
	KindOther    = "other"
)

// List returns every interface of the calling thread's namespace.
func List(ctx context.Context) ([]Interface, error) {
	h, err := Open()
	if err != nil {
		return nil, err
	}
	defer h.Close()
	return h.List(ctx)
}

// List returns every interface of h's namespace, sorted by name.
func (h *Handle) List(ctx context.Context) ([]Interface, error) {
	links, err := h.nl.LinkList()
	if err != nil {
		return nil, fmt.Errorf("listing links: %w", err)
	}
	out := make([]Interface, 0, len(links))
	for _, l := range links {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		i, err := h.describe(l)
		if err != nil {
			return nil, err
		}
		out = append(out, i)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out, nil
}

// Get returns one interface; the error wraps ErrNotFound when it is missing.
func (h *Handle) Get(ctx context.Context, name string) (Interface, error) {
	l, err := h.link(name)
	if err != nil {
		return Interface{}, err
	}
	return h.describe(l)
}

func (h *Handle) describe(l netlink.Link) (Interface, error) {
	a := l.Attrs()
	i := Interface{
		Name:      a.Name,
		Kind:      kindOf(l),
		AdminUp:   a.Flags&net.FlagUp != 0,
		OperState: a.OperState.String(),
		Carrier:   a.RawFlags&unix.IFF_LOWER_UP != 0,
		MTU:       a.MTU,
		Addresses: []string{},
	}
	if len(a.HardwareAddr) > 0 {
		i.MAC = a.HardwareAddr.String()
	}
	if a.Statistics != nil {
		i.RxBytes = a.Statistics.RxBytes
		i.TxBytes = a.Statistics.TxBytes
	}
	addrs, err := h.nl.AddrList(l, netlink.FAMILY_ALL)
	if err != nil {
		return i, fmt.Errorf("listing addresses of %s: %w", a.Name, err)
	}
	for _, ad := range addrs {
		i.Addresses = append(i.Addresses, ad.IPNet.String())
	}
	// The IPv4 default route's gateway, else the IPv6 one's.
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		routes, err := h.nl.RouteListFiltered(fam, &netlink.Route{LinkIndex: a.Index, Table: unix.RT_TABLE_MAIN},
			netlink.RT_FILTER_OIF|netlink.RT_FILTER_TABLE)
		if err != nil {
			return i, fmt.Errorf("listing routes of %s: %w", a.Name, err)
		}
		for _, r := range routes {
			if isDefault(r.Dst) && r.Gw != nil {
				i.Gateway = r.Gw.String()
				return i, nil
			}
		}
	}
	return i, nil
}

// Counters is one link's byte counters.
type Counters struct {
	Name             string
	Index            int
	RxBytes, TxBytes uint64
}

// Counters reads every link's byte counters of h's namespace in one
// netlink dump (no addresses or routes: the traffic history calls it
// every few seconds).
func (h *Handle) Counters() ([]Counters, error) {
	links, err := h.nl.LinkList()
	if err != nil {
		return nil, fmt.Errorf("listing links: %w", err)
	}
	out := make([]Counters, 0, len(links))
	for _, l := range links {
		a := l.Attrs()
		c := Counters{Name: a.Name, Index: a.Index}
		if a.Statistics != nil {
			c.RxBytes, c.TxBytes = a.Statistics.RxBytes, a.Statistics.TxBytes
		}
		out = append(out, c)
	}
	return out, nil
}

func isDefault(dst *net.IPNet) bool {
	if dst == nil {
		return true
	}
	ones, _ := dst.Mask.Size()
	return ones == 0
}

func kindOf(l netlink.Link) string {
	a := l.Attrs()
	switch l.Type() {
	case "bridge":
		return KindBridge
	case "vlan":
		return KindVLAN
	case "veth":
		return KindVeth
	}
	if a.EncapType == "loopback" || a.Flags&net.FlagLoopback != 0 {
		return KindLoopback
	}
	// Wireless devices have a wireless (or phy80211) directory in sysfs;
	// sysfs reflects the namespace it was mounted in, so also accept the
	// name convention when the directory is not visible.
	for _, d := range []string{"wireless", "phy80211"} {
		if _, err := os.Stat(filepath.Join("/sys/class/net", a.Name, d)); err == nil {
			return KindWireless
		}
	}
	if l.Type() == "device" && a.EncapType == "ether" {
		return KindEthernet
	}
	return KindOther
}
