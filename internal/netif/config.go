package netif

import (
	"context"
	"errors"
	"fmt"
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

// FieldError is an invalid value in a request; Field names it as the JSON
// path (addresses[0], gateway, dns[1], mtu, mode, name).
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"error"`
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

func fieldErr(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrProtected is wrapped by errors refusing a change to the AP interface.
var ErrProtected = errors.New("interface is protected")

func protectedErr(name string) error {
	return fmt.Errorf("%w: %s is the access point interface (ap.interface); the network module never changes it, edit the config and run devmgr provision instead", ErrProtected, name)
}

// MTU limits.
const (
	MinMTU = 576
	MaxMTU = 9000
)

// Validate checks a LinkConfig for interface name against the config and
// the current interfaces. It returns nil, an error wrapping ErrProtected,
// or a *FieldError naming the first bad field.
func Validate(cfg config.Config, name string, lc LinkConfig, current []Interface) error {
	if name == cfg.AP.Interface {
		return protectedErr(name)
	}
	if err := validateName(cfg, name, current); err != nil {
		return err
	}
	switch lc.Mode {
	case ModeDHCP:
		if len(lc.Addresses) > 0 {
			return fieldErr("addresses", "must be empty with mode dhcp")
		}
		if lc.Gateway != "" {
			return fieldErr("gateway", "must be empty with mode dhcp")
		}
		if len(lc.DNS) > 0 {
			return fieldErr("dns", "must be empty with mode dhcp (the lease gives the DNS servers)")
		}
	case ModeStatic:
	case "":
		return fieldErr("mode", "is required: dhcp or static")
	default:
		return fieldErr("mode", "%q is not dhcp or static", lc.Mode)
	}
	if lc.MTU != 0 && (lc.MTU < MinMTU || lc.MTU > MaxMTU) {
		return fieldErr("mtu", "%d is outside %d..%d", lc.MTU, MinMTU, MaxMTU)
	}
	if lc.Mode == ModeDHCP {
		return nil
	}
	if len(lc.Addresses) == 0 {
		return fieldErr("addresses", "at least one address is required with mode static")
	}
	if len(lc.Addresses) > 16 {
		return fieldErr("addresses", "at most 16 addresses")
	}
	ap := cfg.APPrefix()
	var prefixes []netip.Prefix
	for i, s := range lc.Addresses {
		f := fmt.Sprintf("addresses[%d]", i)
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return fieldErr(f, "%q is not an address with prefix length, like 10.0.0.2/24", s)
		}
		a := p.Addr()
		if a.Zone() != "" {
			return fieldErr(f, "%q must not have a zone", s)
		}
		if a.Is4In6() {
			return fieldErr(f, "%q: write IPv4 addresses as a.b.c.d", s)
		}
		if a.IsUnspecified() || a.IsLoopback() || a.IsMulticast() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() {
			return fieldErr(f, "%q is not a unicast host address (unspecified, loopback, multicast or link-local)", s)
		}
		if a.Is4() && a.As4()[0] == 255 || a.Is4() && a.As4()[0] >= 240 {
			return fieldErr(f, "%q is a reserved or broadcast address", s)
		}
		if a.Is4() && p.Bits() < 8 {
			return fieldErr(f, "%q: prefix length /%d is shorter than /8", s, p.Bits())
		}
		if a.Is6() && p.Bits() < 16 {
			return fieldErr(f, "%q: prefix length /%d is shorter than /16", s, p.Bits())
		}
		if net := p.Masked(); hostBits(p) >= 2 {
			if a == net.Addr() {
				return fieldErr(f, "%q is the network address of %s", s, net)
			}
			if a.Is4() && a == lastAddr(p) {
				return fieldErr(f, "%q is the broadcast address of %s", s, net)
			}
		}
		for j, q := range prefixes {
			if q.Addr() == a {
				return fieldErr(f, "%q repeats addresses[%d]", s, j)
			}
		}
		if ap.IsValid() && ap.Masked().Overlaps(p.Masked()) {
			return fieldErr(f, "%q overlaps the access point network %s (ap.address)", s, ap.Masked())
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
					return fieldErr(f, "%q overlaps %s of interface %s", s, q.Masked(), other.Name)
				}
			}
		}
		prefixes = append(prefixes, p)
	}
	if lc.Gateway != "" {
		g, err := netip.ParseAddr(lc.Gateway)
		if err != nil || g.Zone() != "" {
			return fieldErr("gateway", "%q is not an IP address", lc.Gateway)
		}
		var in *netip.Prefix
		for i := range prefixes {
			if prefixes[i].Masked().Contains(g) {
				in = &prefixes[i]
				break
			}
		}
		if in == nil {
			return fieldErr("gateway", "%s is not inside a subnet of this interface (%v)", g, lc.Addresses)
		}
		for _, p := range prefixes {
			if p.Addr() == g {
				return fieldErr("gateway", "%s is this interface's own address", g)
			}
		}
		if hostBits(*in) >= 2 && (g == in.Masked().Addr() || g.Is4() && g == lastAddr(*in)) {
			return fieldErr("gateway", "%s is the network or broadcast address of %s", g, in.Masked())
		}
	}
	if len(lc.DNS) > 4 {
		return fieldErr("dns", "at most 4 servers")
	}
	for i, s := range lc.DNS {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return fieldErr(fmt.Sprintf("dns[%d]", i), "%q is not an IP address", s)
		}
		if a.IsUnspecified() || a.IsMulticast() {
			return fieldErr(fmt.Sprintf("dns[%d]", i), "%q cannot be a DNS server", s)
		}
	}
	return nil
}

// ValidateUp checks that name may be set up or down.
func ValidateUp(cfg config.Config, name string, current []Interface) error {
	if name == cfg.AP.Interface {
		return protectedErr(name)
	}
	return validateName(cfg, name, current)
}

func validateName(cfg config.Config, name string, current []Interface) error {
	if name == "" {
		return fieldErr("name", "is required")
	}
	if !slices.ContainsFunc(current, func(i Interface) bool { return i.Name == name }) {
		return fieldErr("name", "interface %q does not exist", name)
	}
	if !slices.Contains(cfg.LAN, name) {
		return fieldErr("name", "interface %q is not a LAN interface (config lan: %v)", name, cfg.LAN)
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
