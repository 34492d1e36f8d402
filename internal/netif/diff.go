package netif

import (
	"strconv"
	"strings"

	"github.com/devmgr/devmgr/internal/change"
)

// The fields Diff names, in the order a page shows them.
const (
	FieldMode      = "mode"
	FieldAddresses = "addresses"
	FieldGateway   = "gateway"
	FieldDNS       = "dns"
	FieldMTU       = "mtu"
	FieldUp        = "up"
)

// Diff says what changing a LAN link to next does, field by field (mode,
// addresses, gateway, dns, mtu, up), old → new, leaving out what stays.
// The old values are the confirmed config prev's; where prev is nil or
// records only up/down (mode ""), devmgr never configured the link, and
// they are the link's own: its addresses, default gateway, MTU and up
// state. A next of mode "" (up/down only) changes only up and the MTU;
// an MTU of 0 keeps the old one. Lists are comma-separated; a value the
// side does not have is "".
func Diff(prev *LinkConfig, link State, next LinkConfig) []change.FieldChange {
	old := configOf(link)
	if prev != nil {
		if prev.Mode != "" {
			old.Mode, old.Addresses, old.Gateway, old.DNS = prev.Mode, prev.Addresses, prev.Gateway, prev.DNS
		}
		if prev.MTU != 0 {
			old.MTU = prev.MTU
		}
		old.Up = prev.Up
	}
	if next.Mode == "" {
		next.Mode, next.Addresses, next.Gateway, next.DNS = old.Mode, old.Addresses, old.Gateway, old.DNS
	}
	if next.MTU == 0 {
		next.MTU = old.MTU
	}
	var out []change.FieldChange
	add := func(field, o, n string) {
		if o != n {
			out = append(out, change.FieldChange{Field: field, Old: o, New: n})
		}
	}
	list := func(l []string) string { return strings.Join(l, ", ") }
	mtu := func(n int) string {
		if n == 0 {
			return ""
		}
		return strconv.Itoa(n)
	}
	add(FieldMode, old.Mode, next.Mode)
	add(FieldAddresses, list(old.Addresses), list(next.Addresses))
	add(FieldGateway, old.Gateway, next.Gateway)
	add(FieldDNS, list(old.DNS), list(next.DNS))
	add(FieldMTU, mtu(old.MTU), mtu(next.MTU))
	add(FieldUp, upWord(old.IsUp()), upWord(next.IsUp()))
	return out
}

// configOf is what a link has, as a config without a mode: its
// addresses, the gateway of its default route, its MTU and up state.
func configOf(st State) LinkConfig {
	up := st.AdminUp
	lc := LinkConfig{MTU: st.MTU, Up: &up}
	for _, a := range st.Addresses {
		lc.Addresses = append(lc.Addresses, a.CIDR)
	}
	// The IPv4 default route's gateway, else the IPv6 one's, as List says.
	for _, dst := range []string{"0.0.0.0/0", "::/0"} {
		for _, r := range st.Routes {
			if r.Dst == dst && r.Gateway != "" {
				lc.Gateway = r.Gateway
				return lc
			}
		}
	}
	return lc
}
