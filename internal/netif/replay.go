package netif

import (
	"maps"
	"net/netip"
	"slices"

	"github.com/devmgr/devmgr/internal/change"
	"github.com/devmgr/devmgr/internal/config"
	"golang.org/x/sys/unix"
)

// The engine's journal and desired.json are the agent's own
// (agent.state_dir). Still, everything read back passes the API's checks
// again before it is applied: the interface is a LAN interface, never the
// AP's; configs pass Validate; a saved link state holds only well-formed
// addresses and routes. A file that fails is set aside, reported and
// never applied (change.Rejecter).

var invalidf = change.Invalidf

// replayName checks that a journaled interface may be changed at all.
func (c *Changer) replayName(name string) error { return replayName(c.cfg.AppConfig, name) }

func replayName(cfg config.Config, name string) error {
	if name == cfg.AP.Interface {
		return invalidf("interface %q is the access point's", change.Clip(name))
	}
	// The interface may be missing now (a USB adapter unplugged): only the
	// LAN rule counts here.
	if err := validateName(cfg, name, []Interface{{Name: name}}); err != nil {
		return invalidf("%v", err)
	}
	return nil
}

// replayConfig checks a journaled LinkConfig as the API would.
func (c *Changer) replayConfig(name string, lc *LinkConfig) error {
	return replayConfig(c.cfg.AppConfig, name, lc)
}

func replayConfig(cfg config.Config, name string, lc *LinkConfig) error {
	if lc == nil {
		return nil
	}
	if lc.Mode == "" && len(lc.Addresses) == 0 && lc.Gateway == "" && len(lc.DNS) == 0 && lc.MTU == 0 {
		return nil // only up/down recorded
	}
	if err := Validate(cfg, name, *lc, []Interface{{Name: name}}); err != nil {
		return invalidf("config of %s: %v", name, err)
	}
	return nil
}

// validJournal checks a pending network change read back from disk.
func (c *Changer) validJournal(name string, u undoState, k keepState) error {
	if err := c.replayName(name); err != nil {
		return err
	}
	if u.Prev.Name != name {
		return invalidf("saved state names interface %q, the change %q", change.Clip(u.Prev.Name), name)
	}
	if err := validState(u.Prev); err != nil {
		return err
	}
	if err := c.replayConfig(name, u.PrevConfig); err != nil {
		return err
	}
	return c.replayConfig(name, &k.Config)
}

// validState checks a saved link state: the values Apply would hand to
// the kernel are well formed and of the kinds Snapshot records.
func validState(st State) error {
	if st.MTU != 0 && (st.MTU < 68 || st.MTU > 65535) {
		return invalidf("saved MTU %d is outside 68..65535", st.MTU)
	}
	if len(st.Addresses) > 64 || len(st.Routes) > 256 {
		return invalidf("saved state of %s has %d addresses and %d routes", st.Name, len(st.Addresses), len(st.Routes))
	}
	for _, a := range st.Addresses {
		if err := validAddrState(a); err != nil {
			return err
		}
	}
	for _, r := range st.Routes {
		if err := validRoute(r); err != nil {
			return err
		}
	}
	return nil
}

func validAddrState(a AddrState) error {
	p, err := netip.ParsePrefix(a.CIDR)
	if err != nil || p.Addr().Zone() != "" {
		return invalidf("saved address %q is not an address with prefix length", change.Clip(a.CIDR))
	}
	if a.Peer != "" {
		if _, err := netip.ParsePrefix(a.Peer); err != nil {
			return invalidf("saved peer %q is not an address with prefix length", change.Clip(a.Peer))
		}
	}
	if len(a.Label) > 15 || a.Scope < 0 || a.Scope > 255 || a.Flags&^stableAddrFlags != 0 {
		return invalidf("saved address %s has a label, scope or flags Snapshot never records", a.CIDR)
	}
	return nil
}

func validRoute(r Route) error {
	if _, err := netip.ParsePrefix(r.Dst); err != nil {
		return invalidf("saved route destination %q is not a prefix", change.Clip(r.Dst))
	}
	for _, a := range []string{r.Gateway, r.Src} {
		if _, err := netip.ParseAddr(a); a != "" && err != nil {
			return invalidf("saved route address %q is not an IP address", change.Clip(a))
		}
	}
	if r.Priority < 0 || r.Scope < 0 || r.Scope > 255 || r.Protocol < 0 || r.Protocol > 255 ||
		(r.Type != 0 && r.Type != unix.RTN_UNICAST) {
		return invalidf("saved route to %s has a priority, scope, protocol or type Snapshot never records", r.Dst)
	}
	return nil
}

// validDesired checks the confirmed configs read back from disk.
func (c *Changer) validDesired(d map[string]LinkConfig) error {
	return ValidateDesired(c.cfg.AppConfig, d)
}

// ValidateDesired checks confirmed LAN configs as a start checks the ones
// it reads back: each names a LAN interface of cfg, never the access
// point's, and passes Validate (the interface need not exist now). The
// error wraps change.ErrInvalid and names the interface.
func ValidateDesired(cfg config.Config, d map[string]LinkConfig) error {
	for _, name := range slices.Sorted(maps.Keys(d)) {
		lc := d[name]
		if err := replayName(cfg, name); err != nil {
			return err
		}
		if err := replayConfig(cfg, name, &lc); err != nil {
			return err
		}
	}
	return nil
}
