package netif

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// State is the netlink state of one link that Apply can reproduce exactly.
//
// Left out, because the kernel derives them and nothing can set them:
// IPv6 link-local addresses, routes of protocol "kernel" (connected
// prefixes, fe80::/64), other tables than main, address lifetimes and
// transient flags (tentative, secondary, ...).
type State struct {
	Name      string      `json:"name"`
	AdminUp   bool        `json:"admin_up"`
	MTU       int         `json:"mtu"`
	Addresses []AddrState `json:"addresses"`
	Routes    []Route     `json:"routes"`
}

// AddrState is one address on a link.
type AddrState struct {
	CIDR  string `json:"cidr"`
	Peer  string `json:"peer,omitempty"`
	Label string `json:"label,omitempty"`
	Scope int    `json:"scope"`
	Flags int    `json:"flags"` // stable IFA_F_* flags only
}

// Route is one main-table route whose output interface is the link.
type Route struct {
	Dst      string `json:"dst"` // CIDR; default routes are 0.0.0.0/0 or ::/0
	Gateway  string `json:"gateway,omitempty"`
	Src      string `json:"src,omitempty"`
	Priority int    `json:"priority"`
	Scope    int    `json:"scope"`
	Protocol int    `json:"protocol"`
	Type     int    `json:"type"`
	OnLink   bool   `json:"onlink,omitempty"`
}

// Flags that say something about how an address was configured and survive
// a re-add; the rest are the kernel's (tentative, secondary, deprecated...).
const stableAddrFlags = unix.IFA_F_NODAD | unix.IFA_F_NOPREFIXROUTE | unix.IFA_F_HOMEADDRESS | unix.IFA_F_MANAGETEMPADDR | unix.IFA_F_PERMANENT

// Snapshot reads the State of a link.
func (h *Handle) Snapshot(ctx context.Context, name string) (State, error) {
	l, err := h.link(name)
	if err != nil {
		return State{}, err
	}
	a := l.Attrs()
	st := State{Name: a.Name, AdminUp: a.Flags&net.FlagUp != 0, MTU: a.MTU, Addresses: []AddrState{}, Routes: []Route{}}
	addrs, err := h.nl.AddrList(l, netlink.FAMILY_ALL)
	if err != nil {
		return State{}, fmt.Errorf("listing addresses of %s: %w", name, err)
	}
	for _, ad := range addrs {
		if ad.IP.To4() == nil && ad.IP.IsLinkLocalUnicast() {
			continue
		}
		as := AddrState{CIDR: ad.IPNet.String(), Scope: ad.Scope, Flags: ad.Flags & stableAddrFlags}
		if ad.Peer != nil && !ad.Peer.IP.Equal(ad.IP) {
			as.Peer = ad.Peer.String()
		}
		if ad.Label != "" && ad.Label != a.Name {
			as.Label = ad.Label
		}
		st.Addresses = append(st.Addresses, as)
	}
	rs, err := h.routes(l)
	if err != nil {
		return State{}, err
	}
	for _, r := range rs {
		st.Routes = append(st.Routes, routeState(r))
	}
	slices.SortFunc(st.Routes, func(x, y Route) int { return strings.Compare(x.key(), y.key()) })
	return st, ctx.Err()
}

func (h *Handle) routes(l netlink.Link) ([]netlink.Route, error) {
	rs, err := h.nl.RouteListFiltered(netlink.FAMILY_ALL,
		&netlink.Route{LinkIndex: l.Attrs().Index, Table: unix.RT_TABLE_MAIN},
		netlink.RT_FILTER_OIF|netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, fmt.Errorf("listing routes of %s: %w", l.Attrs().Name, err)
	}
	out := rs[:0]
	for _, r := range rs {
		if r.Protocol == unix.RTPROT_KERNEL {
			continue
		}
		if r.Dst != nil && r.Dst.IP.To4() == nil && r.Dst.IP.IsMulticast() {
			continue
		}
		out = append(out, r)
	}
	return out, nil
}

func routeState(r netlink.Route) Route {
	x := Route{Priority: r.Priority, Scope: int(r.Scope), Protocol: int(r.Protocol), Type: r.Type, OnLink: r.Flags&unix.RTNH_F_ONLINK != 0}
	switch {
	case r.Dst != nil:
		x.Dst = r.Dst.String()
	case r.Family == unix.AF_INET6:
		x.Dst = "::/0"
	default:
		x.Dst = "0.0.0.0/0"
	}
	if r.Gw != nil {
		x.Gateway = r.Gw.String()
	}
	if r.Src != nil {
		x.Src = r.Src.String()
	}
	return x
}

func (r Route) key() string {
	return fmt.Sprintf("%s|%s|%s|%d|%d|%d|%d|%v", r.Dst, r.Gateway, r.Src, r.Priority, r.Scope, r.Protocol, r.Type, r.OnLink)
}

func (r Route) netlink(index int) (*netlink.Route, error) {
	_, dst, err := net.ParseCIDR(r.Dst)
	if err != nil {
		return nil, fmt.Errorf("parsing route destination %q: %w", r.Dst, err)
	}
	nr := &netlink.Route{LinkIndex: index, Dst: dst, Priority: r.Priority, Scope: netlink.Scope(r.Scope),
		Protocol: netlink.RouteProtocol(r.Protocol), Type: r.Type, Table: unix.RT_TABLE_MAIN}
	if r.Type == 0 {
		nr.Type = unix.RTN_UNICAST
	}
	if r.Gateway != "" {
		if nr.Gw = net.ParseIP(r.Gateway); nr.Gw == nil {
			return nil, fmt.Errorf("parsing route gateway %q", r.Gateway)
		}
	}
	if r.Src != "" {
		if nr.Src = net.ParseIP(r.Src); nr.Src == nil {
			return nil, fmt.Errorf("parsing route source %q", r.Src)
		}
	}
	if r.OnLink {
		nr.Flags |= unix.RTNH_F_ONLINK
	}
	return nr, nil
}

func (a AddrState) netlink() (*netlink.Addr, error) {
	ad, err := netlink.ParseAddr(a.CIDR)
	if err != nil {
		return nil, fmt.Errorf("parsing address %q: %w", a.CIDR, err)
	}
	ad.Scope = a.Scope
	ad.Flags = a.Flags &^ unix.IFA_F_PERMANENT
	ad.Label = a.Label
	if a.Peer != "" {
		p, err := netlink.ParseIPNet(a.Peer)
		if err != nil {
			return nil, fmt.Errorf("parsing peer %q: %w", a.Peer, err)
		}
		ad.Peer = p
	}
	return ad, nil
}

// Apply makes the link exactly equal to st (up/down, MTU, addresses, routes)
// and changes nothing that already matches, so a second call is a no-op.
func (h *Handle) Apply(ctx context.Context, name string, st State) error {
	_, err := h.apply(ctx, name, st)
	return err
}

// apply returns what it changed, for logs and the idempotency test. Its
// steps run in order; each returns what it changed.
func (h *Handle) apply(ctx context.Context, name string, st State) ([]string, error) {
	l, err := h.link(name)
	if err != nil {
		return nil, err
	}
	var changed []string
	for _, step := range []func() ([]string, error){
		func() ([]string, error) { return h.applyMTUUp(l, st) },
		func() ([]string, error) { return h.applyAddrs(ctx, l, st.Addresses) },
		func() ([]string, error) { return h.applyRoutes(l, st) },
		func() ([]string, error) { return h.applyDown(l, st.AdminUp) },
	} {
		c, err := step()
		changed = append(changed, c...)
		if err != nil {
			return changed, err
		}
	}
	return changed, nil
}

// applyMTUUp sets the MTU and brings the link up; down comes last, after
// the routes.
func (h *Handle) applyMTUUp(l netlink.Link, st State) ([]string, error) {
	var changed []string
	a := l.Attrs()
	if st.MTU != 0 && a.MTU != st.MTU {
		if err := h.nl.LinkSetMTU(l, st.MTU); err != nil {
			return changed, fmt.Errorf("setting MTU %d on %s: %w", st.MTU, a.Name, err)
		}
		changed = append(changed, fmt.Sprintf("mtu %d", st.MTU))
	}
	if st.AdminUp && a.Flags&net.FlagUp == 0 {
		if err := h.nl.LinkSetUp(l); err != nil {
			return changed, fmt.Errorf("setting %s up: %w", a.Name, err)
		}
		changed = append(changed, "up")
	}
	return changed, nil
}

// applyDown sets the link down when it was up and should not be. l's
// attributes are those before apply.
func (h *Handle) applyDown(l netlink.Link, adminUp bool) ([]string, error) {
	if adminUp || l.Attrs().Flags&net.FlagUp == 0 {
		return nil, nil
	}
	if err := h.nl.LinkSetDown(l); err != nil {
		return nil, fmt.Errorf("setting %s down: %w", l.Attrs().Name, err)
	}
	return []string{"down"}, nil
}

// addrDiff returns the addresses to remove from have and to add to it so
// that it equals want. An address whose label, scope or flags differ is
// removed and added again.
func addrDiff(have, want []AddrState) (del, add []AddrState) {
	wanted := map[string]AddrState{}
	for _, x := range want {
		wanted[x.CIDR] = x
	}
	kept := map[string]bool{}
	for _, x := range have {
		if w, ok := wanted[x.CIDR]; ok && w == x {
			kept[x.CIDR] = true
			continue
		}
		del = append(del, x)
	}
	for _, x := range want {
		if !kept[x.CIDR] {
			add = append(add, x)
		}
	}
	return del, add
}

// applyAddrs makes the link's addresses equal want.
func (h *Handle) applyAddrs(ctx context.Context, l netlink.Link, want []AddrState) ([]string, error) {
	name := l.Attrs().Name
	cur, err := h.Snapshot(ctx, name)
	if err != nil {
		return nil, err
	}
	var changed []string
	del, add := addrDiff(cur.Addresses, want)
	for _, x := range del {
		ad, err := x.netlink()
		if err != nil {
			return changed, err
		}
		if err := h.nl.AddrDel(l, ad); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
			return changed, fmt.Errorf("removing address %s from %s: %w", x.CIDR, name, err)
		}
		changed = append(changed, "del addr "+x.CIDR)
	}
	for _, x := range add {
		ad, err := x.netlink()
		if err != nil {
			return changed, err
		}
		if err := h.nl.AddrAdd(l, ad); err != nil {
			return changed, fmt.Errorf("adding address %s to %s: %w", x.CIDR, name, err)
		}
		changed = append(changed, "add addr "+x.CIDR)
	}
	return changed, nil
}

// routeDiff returns the routes of have that want lacks, and the routes of
// want that have lacks.
func routeDiff(have []netlink.Route, want []Route) (del []netlink.Route, add []Route) {
	wanted := map[string]bool{}
	for _, r := range want {
		wanted[r.key()] = true
	}
	present := map[string]bool{}
	for _, r := range have {
		k := routeState(r).key()
		if wanted[k] {
			present[k] = true
			continue
		}
		del = append(del, r)
	}
	for _, r := range want {
		if !present[r.key()] {
			add = append(add, r)
		}
	}
	return del, add
}

// applyRoutes makes the link's main-table routes equal st's; a link that
// stays down gets none added (the kernel refuses them).
func (h *Handle) applyRoutes(l netlink.Link, st State) ([]string, error) {
	name := l.Attrs().Name
	// Read again: the kernel may have dropped some with removed addresses.
	rs, err := h.routes(l)
	if err != nil {
		return nil, err
	}
	var changed []string
	del, add := routeDiff(rs, st.Routes)
	for _, r := range del {
		if err := h.nl.RouteDel(&r); err != nil && !errors.Is(err, unix.ESRCH) {
			return changed, fmt.Errorf("removing route %s from %s: %w", routeState(r).key(), name, err)
		}
		changed = append(changed, "del route "+routeState(r).Dst)
	}
	if !st.AdminUp {
		return changed, nil
	}
	added, err := h.addRoutes(l, add)
	return append(changed, added...), err
}

// addRoutes adds routes in passes until nothing more can be added: a
// route's gateway may be reachable only through another of them.
func (h *Handle) addRoutes(l netlink.Link, todo []Route) ([]string, error) {
	var changed []string
	for len(todo) > 0 {
		var left []Route
		var lastErr error
		for _, r := range todo {
			nr, err := r.netlink(l.Attrs().Index)
			if err != nil {
				return changed, err
			}
			if err := h.nl.RouteAdd(nr); err != nil {
				lastErr = fmt.Errorf("adding route %s via %q on %s: %w", r.Dst, r.Gateway, l.Attrs().Name, err)
				left = append(left, r)
				continue
			}
			changed = append(changed, "add route "+r.Dst)
		}
		if len(left) == len(todo) {
			return changed, lastErr
		}
		todo = left
	}
	return changed, nil
}
