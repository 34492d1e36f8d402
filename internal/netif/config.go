package netif

import (
	"context"
	"errors"
	"fmt"
	"github.com/devmgr/devmgr/internal/fielderr"
	"net/netip"
	"slices"

	"github.com/devmgr/devmgr/internal/config"
	"golang.org/x/sys/unix"
)

// Modes of a LAN interface.
const (
	ModeDHCP   = "dhcp"
	ModeStatic = "static"
)

// LinkConfig is the configuration of a LAN interface as the API takes it:
// {"mode":"static","addresses":["10.0.0.2/24"],"gateway":"10.0.0.1","dns":["10.0.0.1"],"mtu":1500}.
type LinkConfig struct {
	Mode      string   `json:"mode"`
	Addresses []string `json:"addresses,omitempty"`
	Gateway   string   `json:"gateway,omitempty"`
	DNS       []string `json:"dns,omitempty"`
	MTU       int      `json:"mtu,omitempty"` // 0: leave as is
	Up        *bool    `json:"up,omitempty"`  // nil: up
}

// IsUp reports whether the config wants the link up (the default).
func (lc LinkConfig) IsUp() bool { return lc.Up == nil || *lc.Up }

func fieldErr(field, format string, args ...any) *fielderr.Error {
	return fielderr.New(field, format, args...)
}

// ErrProtected is wrapped by errors refusing a change to the AP interface.
var ErrProtected = errors.New("interface is protected")

// ProtectedError refuses a change to the AP interface; it is ErrProtected.
type ProtectedError struct{ Name string }

func (e *ProtectedError) Error() string {
	return e.Name + " is the access point interface (ap.interface); the network module never changes it, edit the config and run devmgr provision instead"
}

// Is makes errors.Is(err, ErrProtected) true.
func (e *ProtectedError) Is(target error) bool { return target == ErrProtected }

func protectedErr(name string) error {
	return &ProtectedError{Name: name}
}

// MTU limits.
const (
	MinMTU = 576
	MaxMTU = 9000
)

// Validate checks a LinkConfig for interface name against the config and
// the current interfaces. It returns nil, an error wrapping ErrProtected,
// or fielderr.List naming every bad field (the first is what errors.As
// finds as a *fielderr.Error).
func Validate(cfg config.Config, name string, lc LinkConfig, current []Interface) error {
	if name == cfg.AP.Interface {
		return protectedErr(name)
	}
	var es fielderr.List
	if fe := validateName(cfg, name, current); fe != nil {
		es = append(es, fe)
	}
	checkMode(&es, lc)
	if lc.Mode == ModeStatic {
		prefixes, ok := checkAddresses(&es, cfg, name, lc.Addresses, current)
		checkGateway(&es, lc.Gateway, prefixes, ok)
		checkDNS(&es, lc.DNS)
	}
	if lc.MTU != 0 && (lc.MTU < MinMTU || lc.MTU > MaxMTU) {
		es.Add("mtu", "%d is outside %d..%d", lc.MTU, MinMTU, MaxMTU)
	}
	return es.Err()
}

// checkMode checks the mode, and that mode dhcp comes without what the
// lease gives.
func checkMode(es *fielderr.List, lc LinkConfig) {
	switch lc.Mode {
	case ModeDHCP:
		if len(lc.Addresses) > 0 {
			es.Add("addresses", "Leave the addresses empty with DHCP: the lease gives the address.")
		}
		if lc.Gateway != "" {
			es.Add("gateway", "Leave the gateway empty with DHCP: the lease gives it.")
		}
		if len(lc.DNS) > 0 {
			es.Add("dns", "Leave the DNS servers empty with DHCP: the lease gives them.")
		}
	case ModeStatic:
	case "":
		es.Add("mode", "Choose a mode: dhcp or static.")
	default:
		es.Add("mode", "%q is not a mode: choose dhcp or static.", lc.Mode)
	}
}

// checkAddresses checks the addresses of a static config and returns
// those that are good; ok is false when any is not.
func checkAddresses(es *fielderr.List, cfg config.Config, name string, addrs []string, current []Interface) (prefixes []netip.Prefix, ok bool) {
	switch {
	case len(addrs) == 0:
		es.Add("addresses", "Enter at least one address with mode static.")
		return nil, false
	case len(addrs) > 16:
		es.Add("addresses", "Enter at most 16 addresses.")
		return nil, false
	}
	ok = true
	for i, s := range addrs {
		f := fmt.Sprintf("addresses[%d]", i)
		p, msg := hostPrefix(s)
		if msg == "" {
			msg = repeated(p, prefixes)
		}
		if msg == "" {
			msg = overlap(cfg, name, p, current)
		}
		if msg != "" {
			es.Add(f, "%q %s", s, msg)
			ok = false
			continue
		}
		prefixes = append(prefixes, p)
	}
	return prefixes, ok
}

// hostPrefix parses a host address with its prefix length, or says what
// is wrong with it.
func hostPrefix(s string) (netip.Prefix, string) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return p, "is not an address with prefix length, like 10.0.0.2/24"
	}
	a := p.Addr()
	switch {
	case a.Zone() != "":
		return p, "must not have a zone"
	case a.Is4In6():
		return p, "is an IPv4 address: write it as a.b.c.d"
	case a.IsUnspecified() || a.IsLoopback() || a.IsMulticast() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast():
		return p, "is not a unicast host address (unspecified, loopback, multicast or link-local)"
	case a.Is4() && a.As4()[0] >= 240:
		return p, "is a reserved or broadcast address"
	case a.Is4() && p.Bits() < 8:
		return p, fmt.Sprintf("has prefix length /%d, shorter than /8", p.Bits())
	case a.Is6() && p.Bits() < 16:
		return p, fmt.Sprintf("has prefix length /%d, shorter than /16", p.Bits())
	}
	if net := p.Masked(); hostBits(p) >= 2 {
		if a == net.Addr() {
			return p, "is the network address of " + net.String()
		}
		if a.Is4() && a == lastAddr(p) {
			return p, "is the broadcast address of " + net.String()
		}
	}
	return p, ""
}

// repeated says whether p's address is one of prefixes already.
func repeated(p netip.Prefix, prefixes []netip.Prefix) string {
	for _, q := range prefixes {
		if q.Addr() == p.Addr() {
			return fmt.Sprintf("repeats address %s", q)
		}
	}
	return ""
}

// overlap says whether p overlaps the AP network or another interface's.
func overlap(cfg config.Config, name string, p netip.Prefix, current []Interface) string {
	if ap := cfg.APPrefix(); ap.IsValid() && ap.Masked().Overlaps(p.Masked()) {
		return fmt.Sprintf("overlaps the access point network %s (ap.address)", ap.Masked())
	}
	for _, other := range current {
		if other.Name == name || other.Kind == KindLoopback {
			continue
		}
		for _, os := range other.Addresses {
			q, err := netip.ParsePrefix(os)
			if err != nil || q.Addr().IsLinkLocalUnicast() || q.Addr().IsLoopback() {
				continue
			}
			if q.Masked().Overlaps(p.Masked()) {
				return fmt.Sprintf("overlaps %s of interface %s", q.Masked(), other.Name)
			}
		}
	}
	return ""
}

// checkGateway checks the gateway against the interface's own subnets;
// with a bad address among them (ok false) only its syntax.
func checkGateway(es *fielderr.List, gw string, prefixes []netip.Prefix, ok bool) {
	if gw == "" {
		return
	}
	g, err := netip.ParseAddr(gw)
	if err != nil || g.Zone() != "" {
		es.Add("gateway", "The gateway %q is not an IP address.", gw)
		return
	}
	if !ok {
		return
	}
	var in *netip.Prefix
	for i := range prefixes {
		if prefixes[i].Addr() == g {
			es.Add("gateway", "The gateway %s is this interface's own address.", g)
			return
		}
		if in == nil && prefixes[i].Masked().Contains(g) {
			in = &prefixes[i]
		}
	}
	switch {
	case in == nil:
		es.Add("gateway", "The gateway %s is not inside a subnet of this interface (%v).", g, prefixes)
	case hostBits(*in) >= 2 && (g == in.Masked().Addr() || g.Is4() && g == lastAddr(*in)):
		es.Add("gateway", "The gateway %s is the network or broadcast address of %s.", g, in.Masked())
	}
}

// checkDNS checks the DNS servers of a static config.
func checkDNS(es *fielderr.List, dns []string) {
	if len(dns) > 4 {
		es.Add("dns", "Enter at most 4 DNS servers.")
		return
	}
	for i, s := range dns {
		f := fmt.Sprintf("dns[%d]", i)
		a, err := netip.ParseAddr(s)
		switch {
		case err != nil || a.Zone() != "":
			es.Add(f, "%q is not an IP address", s)
		case a.IsUnspecified() || a.IsMulticast():
			es.Add(f, "%q cannot be a DNS server", s)
		}
	}
}

// ValidateUp checks that name may be set up or down.
func ValidateUp(cfg config.Config, name string, current []Interface) error {
	if name == cfg.AP.Interface {
		return protectedErr(name)
	}
	if fe := validateName(cfg, name, current); fe != nil {
		return fielderr.List{fe}
	}
	return nil
}

// validateName checks that name is an existing LAN interface.
func validateName(cfg config.Config, name string, current []Interface) *fielderr.Error {
	if name == "" {
		return fieldErr("name", "The interface name is required.")
	}
	if !slices.ContainsFunc(current, func(i Interface) bool { return i.Name == name }) {
		return fieldErr("name", "There is no interface %q.", name)
	}
	if !slices.Contains(cfg.LAN, name) {
		return fieldErr("name", "Interface %q is not a LAN interface (config lan: %v), so it cannot be changed here.", name, cfg.LAN)
	}
	return nil
}

func hostBits(p netip.Prefix) int { return p.Addr().BitLen() - p.Bits() }

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 1 << (7 - uint(i%8))
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// StaticState is the link State a static LinkConfig asks for; mode dhcp
// gives a link without addresses or routes (the DHCP client adds them).
// MTU 0 keeps mtu.
func StaticState(name string, lc LinkConfig, mtu int) State {
	st := State{Name: name, AdminUp: lc.IsUp(), MTU: mtu, Addresses: []AddrState{}, Routes: []Route{}}
	if lc.MTU != 0 {
		st.MTU = lc.MTU
	}
	if lc.Mode != ModeStatic {
		return st
	}
	for _, a := range lc.Addresses {
		st.Addresses = append(st.Addresses, AddrState{CIDR: a, Flags: unix.IFA_F_PERMANENT})
	}
	if lc.Gateway != "" && st.AdminUp {
		st.Routes = append(st.Routes, DefaultRoute(lc.Gateway))
	}
	return st
}

// DefaultRoute is the default route via gw as Apply and Snapshot see it.
func DefaultRoute(gw string) Route {
	r := Route{Dst: "0.0.0.0/0", Gateway: gw, Protocol: unix.RTPROT_STATIC, Type: unix.RTN_UNICAST}
	if a, err := netip.ParseAddr(gw); err == nil && a.Is6() {
		r.Dst = "::/0"
		r.Priority = 1024 // the kernel's default metric for IPv6
	}
	return r
}

// ApplyConfig applies the link part of lc (addresses, default route, MTU,
// up/down); DNS and the DHCP client are the caller's business.
func (h *Handle) ApplyConfig(ctx context.Context, name string, lc LinkConfig) error {
	cur, err := h.Snapshot(ctx, name)
	if err != nil {
		return err
	}
	return h.Apply(ctx, name, StaticState(name, lc, cur.MTU))
}
