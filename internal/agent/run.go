package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/dhcp"
	"github.com/devmgr/devmgr/internal/netif"
)

// Options configure Run, the whole agent process.
type Options struct {
	Config config.Config // required: socket, web user, ap, lan, data_dir, rollback timeout
	Audit  Auditor       // required
	Log    *slog.Logger  // required
	// Version is reported by /v1/health.
	Version string
	// LeaseFile is the AP dnsmasq's leases file; "": dnsmasq.DefaultLeaseFile.
	LeaseFile string
	// HostapdCtrlDir is hostapd's ctrl_interface; "": hostapd.DefaultCtrlInterface.
	HostapdCtrlDir string
	// NetNS is the path of the network namespace whose interfaces the agent
	// manages (tests); "" is the agent's own, as on a device and under
	// `ip netns exec`. Diagnostic programs always run in the agent's own.
	NetNS string
	// Ready, if set, is called once the socket accepts connections.
	Ready func()
}

// Run is `devmgr agent`: it rolls back a change a crash left pending,
// applies the confirmed LAN configs again, and serves the API until ctx is
// done. The journal lives in data_dir/network.
func Run(ctx context.Context, o Options) error {
	if o.Audit == nil || o.Log == nil {
		return errors.New("agent.Run: Audit and Log are required")
	}
	cfg := o.Config
	var h *netif.Handle
	var err error
	if o.NetNS == "" {
		h, err = netif.Open()
	} else {
		h, err = netif.OpenAt(o.NetNS)
	}
	if err != nil {
		return err
	}
	defer h.Close()
	dm, err := dhcp.NewManager(dhcp.Config{Handle: h, Log: o.Log.With("component", "dhcp")})
	if err != nil {
		return err
	}
	defer dm.Close()
	ch, err := netif.NewChanger(netif.Config{
		Handle: h, AppConfig: cfg, JournalDir: filepath.Join(cfg.DataDir, "network"),
		DHCP: dm, Log: o.Log.With("component", "netif"),
	})
	if err != nil {
		return err
	}
	defer ch.Close()
	log := o.Log.With("component", "agent")
	// Failures here are logged and the agent serves anyway, so that the
	// console can show the state and fix it.
	if err := ch.Recover(ctx); err != nil {
		log.Error("rolling back the change left pending", "err", err)
	}
	if err := ch.ApplyDesired(ctx); err != nil {
		log.Error("applying the saved LAN configuration", "err", err)
	}
	srv, err := New(Config{
		Socket:  cfg.Agent.Socket,
		WebUser: cfg.Web.User,
		Network: &NetifNetwork{Handle: h, Changer: ch, Leases: dm, Config: cfg},
		Diag:    Tools{Netlink: h.Netlink(), LeaseFile: o.LeaseFile},
		WiFi:    HostapdWiFi{CtrlDir: o.HostapdCtrlDir, Interface: cfg.AP.Interface},
		Audit:   o.Audit,
		Log:     log,
		Version: o.Version,
	})
	if err != nil {
		return fmt.Errorf("starting agent: %w", err)
	}
	ln, err := srv.Listen()
	if err != nil {
		return err
	}
	if o.Ready != nil {
		o.Ready()
	}
	return srv.Serve(ctx, ln)
}
