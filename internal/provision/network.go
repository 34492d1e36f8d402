package provision

import (
	"context"
	"fmt"
	"strings"

	"github.com/vishvananda/netlink"

	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/device"
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

// Units of systemd-networkd, which applies the AP address (the .network
// file Plan renders).
const (
	unitNetworkd   = "systemd-networkd.service"
	unitWaitOnline = "systemd-networkd-wait-online.service"
)

// networkdSteps are the systemctl commands that make systemd-networkd run
// now and at boot, from what `systemctl is-active` says of it and
// `systemctl is-enabled` says of it and of its wait-online service. On a
// Debian with ifupdown or a minimal install it does not run, and nothing
// would give the AP interface its address after a reboot. It manages only
// the interfaces a .network file matches: devmgr's. Enabling it brings
// systemd-networkd-wait-online along (Also=); that is put back as it was,
// since with no link to wait for it would hold the boot up for two
// minutes. A masked or missing networkd is the owner's choice: warn says
// what that means, and nothing is done.
func networkdSteps(active, enabled, waitOnline string) (steps [][]string, warn string) {
	switch enabled {
	case "masked", "masked-runtime":
		return nil, unitNetworkd + " is masked: nothing gives the access point interface its address at boot"
	case "not-found", "":
		return nil, unitNetworkd + " is not installed: nothing gives the access point interface its address at boot"
	case "enabled", "enabled-runtime", "static", "indirect", "alias", "linked", "linked-runtime", "generated", "transient":
	default: // disabled
		steps = append(steps, []string{"systemctl", "enable", "--no-reload", unitNetworkd})
		if waitOnline != "enabled" {
			steps = append(steps, []string{"systemctl", "disable", "--no-reload", unitWaitOnline})
		}
	}
	if active != "active" && active != "reloading" {
		steps = append(steps, []string{"systemctl", "start", unitNetworkd})
	}
	return steps, ""
}

// ensureNetworkd makes systemd-networkd run (networkdSteps) and reports
// whether it was started, having read devmgr's .network files then.
func ensureNetworkd(ctx context.Context, o Options) (started bool, err error) {
	state := func(verb, unit string) string {
		out, _ := runTool(ctx, "systemctl", verb, unit) // non-zero for "inactive", "disabled"
		return strings.TrimSpace(string(out))
	}
	steps, warn := networkdSteps(state("is-active", unitNetworkd), state("is-enabled", unitNetworkd), state("is-enabled", unitWaitOnline))
	if warn != "" {
		o.Log.Warn(warn)
		return false, nil
	}
	for _, argv := range steps {
		if _, err := runTool(ctx, argv...); err != nil {
			return false, fmt.Errorf("making systemd-networkd apply the access point's address: %w", err)
		}
		started = started || argv[1] == "start"
	}
	if len(steps) > 0 {
		o.Log.Info("systemd-networkd enabled: it applies the access point's address from " + device.NetworkDir)
	}
	return started, nil
}
