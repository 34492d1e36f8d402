package provision

import (
	"fmt"

	"github.com/vishvananda/netlink"

	"github.com/devmgr/devmgr/internal/config"
)

// setAPAddress gives the AP interface its address and brings it up, for
// hosts where no systemd-networkd applies the drop-in.
func setAPAddress(c config.Config) error {
	link, err := netlink.LinkByName(c.AP.Interface)
	if err != nil {
		return fmt.Errorf("finding AP interface %s: %w", c.AP.Interface, err)
	}
	addr, err := netlink.ParseAddr(c.APPrefix().String())
	if err != nil {
		return fmt.Errorf("parsing AP address %s: %w", c.APPrefix(), err)
	}
	if err := netlink.AddrReplace(link, addr); err != nil {
		return fmt.Errorf("setting address %s on %s: %w", addr, c.AP.Interface, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("bringing up %s: %w", c.AP.Interface, err)
	}
	return nil
}
