package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/devmgr/devmgr/internal/agent"
	"github.com/devmgr/devmgr/internal/apmgr"
	"github.com/devmgr/devmgr/internal/auditlog"
	"github.com/devmgr/devmgr/internal/change"
	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/dhcp"
	"github.com/devmgr/devmgr/internal/dhcpsrv"
	"github.com/devmgr/devmgr/internal/dnsmasq"
	"github.com/devmgr/devmgr/internal/hostapd"
	"github.com/devmgr/devmgr/internal/netif"
	"github.com/devmgr/devmgr/internal/service"
)

func newAgentCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "run the privileged agent (root) that the console talks to over its unix socket",
		Long: "The agent is devmgr's only privileged process: it reads and changes the network\n" +
			"interfaces of the namespace it runs in and runs diagnostics for the console\n" +
			"(devmgr serve), over the unix socket agent.socket. Run it as root.",
		Args: cobra.NoArgs,
		RunE: runAgent,
	}
	cmd.Flags().String("leases", dnsmasq.DefaultLeaseFile, "dnsmasq leases file of the access point")
	cmd.Flags().String("hostapd-ctrl", hostapd.DefaultCtrlInterface, "hostapd control socket directory")
	cmd.Flags().String("dns-servers", dnsmasq.DefaultServersFile, "dnsmasq servers-file the LAN interfaces' DNS servers are written to")
	cmd.Flags().String("dnsmasq-pid", dnsmasq.DefaultPIDFile, "pid file of the access point's dnsmasq, signalled when the servers change")
	for _, f := range []string{"leases", "hostapd-ctrl", "dns-servers", "dnsmasq-pid"} {
		_ = cmd.Flags().MarkHidden(f)
	}
	return cmd
}

// apFiles are the files of the AP's daemons that the agent reads, writes
// or signals: the hidden flags of devmgr agent.
type apFiles struct {
	leases      string // dnsmasq's leases file
	hostapdCtrl string // hostapd's ctrl_interface
	dnsServers  string // dnsmasq's servers-file, written with the LAN interfaces' DNS servers
	dnsmasqPID  string // names the dnsmasq to signal when that file changes
}

func runAgent(cmd *cobra.Command, _ []string) error {
	if os.Geteuid() != 0 {
		return errors.New("devmgr agent must run as root: it changes network interfaces (the console, devmgr serve, runs unprivileged)")
	}
	cfg, err := loadConfig(cmd)
	if err != nil {
		return err
	}
	var f apFiles
	f.leases, _ = cmd.Flags().GetString("leases")
	f.hostapdCtrl, _ = cmd.Flags().GetString("hostapd-ctrl")
	f.dnsServers, _ = cmd.Flags().GetString("dns-servers")
	f.dnsmasqPID, _ = cmd.Flags().GetString("dnsmasq-pid")
	setMemoryLimit(agentMemoryLimit)
	return serveAgent(cmd.Context(), cfg, f, newLogger())
}

// serveAgent is the agent process. It checks its state directory
// (agent.state_dir, root:root 0700; it refuses to start otherwise), rolls
// back a change a crash left pending (network, AP or DHCP server), applies
// the confirmed LAN configs, AP and DHCP settings again, and serves the API
// until ctx is done. The change engine's journal and log live in
// state_dir/changes, the confirmed LAN configs in state_dir/network, the
// AP's files in state_dir (see apmgr and dhcpsrv), the agent's audit log in
// state_dir/audit.db (also served as GET /v1/audit). It never opens a file of the console's data_dir. The
// interfaces it manages are those of the network namespace it runs in.
func serveAgent(ctx context.Context, cfg config.Config, f apFiles, log *slog.Logger) error {
	dir := cfg.Agent.StateDir
	if err := agent.PrepareStateDir(dir); err != nil {
		return err
	}
	al, err := auditlog.Open(ctx, auditlog.Path(dir), auditlog.Retention{Keep: time.Duration(cfg.Audit.Keep), MaxRows: cfg.Audit.MaxRows})
	if err != nil {
		return err
	}
	defer al.Close()
	audit, alog := agent.NewAuditLog(al), log.With("component", "agent")
	rejected := func(module string) func(file, reason string) { return agent.AuditRejected(ctx, audit, log, module) }
	h, err := netif.Open()
	if err != nil {
		return err
	}
	defer h.Close()
	dns := agent.NewLANDNS(f.dnsServers, f.dnsmasqPID, log.With("component", "landns"))
	dm, err := dhcp.NewManager(dhcp.Config{Handle: h, Log: log.With("component", "dhcp"), OnLease: dns.SetLease})
	if err != nil {
		return err
	}
	defer dm.Close()
	changes, err := change.New(change.Config{
		Dir: filepath.Join(dir, "changes"), Timeout: cfg.Network.RollbackTimeout,
		OnFinish: agent.AuditChanges(audit, alog), OnRejected: rejected("changes"), Log: log.With("component", "change"),
	})
	if err != nil {
		return err
	}
	defer changes.Close()
	network, err := netif.NewChanger(netif.Config{
		Handle: h, AppConfig: cfg, Changes: changes, Dir: filepath.Join(dir, "network"),
		DHCP: dm, Log: log.With("component", "netif"), OnApplied: dns.SetApplied, OnRejected: rejected("network"),
	})
	if err != nil {
		return err
	}
	live, err := netif.NewLive(ctx, h)
	if err != nil {
		return err
	}
	defer live.Close()
	mods := newAPModules(cfg, f, changes, log, rejected)
	restoreState(ctx, changes, network, mods, alog)
	cmds, err := agent.OpenCommands(ctx, cfg, h, audit, alog)
	if err != nil {
		return err
	}
	defer cmds.Close() // before the audit log: the runs it stops are audited
	srv, err := agent.New(agent.Config{
		Commands: cmds,
		AP:       mods.accessPoint(),
		DHCP:     mods.dhcpServer(),
		Socket:   cfg.Agent.Socket,
		WebUser:  cfg.Web.User,
		Network:  &agent.NetifNetwork{Handle: h, Changer: network, Live: live, Leases: dm, Config: cfg},
		Traffic:  agent.NewTraffic(h, alog),
		Diag:     agent.Tools{Netlink: h.Netlink(), LeaseFile: f.leases},
		Audit:    audit,
		AuditLog: audit,
		Log:      alog,
		Version:  version,
	})
	if err != nil {
		return fmt.Errorf("starting agent: %w", err)
	}
	return srv.ListenAndServe(ctx)
}

// apModules are the modules of the access point on the change engine; one
// that could not start is nil, and the agent serves without it.
type apModules struct {
	ap   *apmgr.Manager   // hostapd's settings and deny list
	dhcp *dhcpsrv.Manager // the AP's DHCP range and static leases (dnsmasq)
}

// newAPModules makes the AP's modules; one that cannot start is logged and
// left out, so that its routes answer 503 and the rest of the agent serves.
func newAPModules(cfg config.Config, f apFiles, changes *change.Engine, log *slog.Logger, rejected func(module string) func(file, reason string)) apModules {
	// Without systemd, hostapd and dnsmasq are children of devmgr
	// provision's supervisor, which this process cannot reach: hostapd's
	// RELOAD and dnsmasq's SIGHUP (static leases) only.
	var apSvc apmgr.Restarter
	var dhcpSvc dhcpsrv.Restarter
	if service.SystemdRunning() {
		apSvc, dhcpSvc = &service.Systemd{}, &service.Systemd{}
	}
	alog := log.With("component", "agent")
	var m apModules
	var err error
	if m.ap, err = apmgr.New(apmgr.Config{
		Cfg: cfg, Changes: changes, CtrlDir: f.hostapdCtrl, LeaseFile: f.leases, Services: apSvc,
		Log: log.With("component", "apmgr"), OnRejected: rejected("ap"),
	}); err != nil {
		alog.Error("starting the access point module; AP management is unavailable", "err", err)
	}
	if m.dhcp, err = dhcpsrv.New(dhcpsrv.Config{
		Cfg: cfg, Changes: changes, PIDFile: f.dnsmasqPID, Services: dhcpSvc,
		Log: log.With("component", "dhcpsrv"), OnRejected: rejected("dhcp"),
	}); err != nil {
		alog.Error("starting the DHCP server module; DHCP settings are unavailable", "err", err)
	}
	return m
}

// accessPoint and dhcpServer are the modules as the server takes them: nil,
// not a nil pointer, for one that did not start.
func (m apModules) accessPoint() agent.AccessPoint {
	if m.ap == nil {
		return nil
	}
	return m.ap
}

func (m apModules) dhcpServer() agent.DHCPServer {
	if m.dhcp == nil {
		return nil
	}
	return m.dhcp
}

// restoreState rolls back the change a crash left pending, applies the
// confirmed LAN configs again, then has the AP's modules re-install the
// settings confirmed in the console (apmgr repairs the deny file too).
// Failures are logged and the agent serves anyway, so that the console
// can show the state and fix it.
func restoreState(ctx context.Context, changes *change.Engine, network *netif.Changer, m apModules, log *slog.Logger) {
	if err := changes.Recover(ctx); err != nil {
		log.Error("rolling back the change left pending", "err", err)
	}
	if err := network.ApplyDesired(ctx); err != nil {
		log.Error("applying the saved LAN configuration", "err", err)
	}
	if m.ap != nil {
		syncSaved(ctx, m.ap.Sync, "access point settings", log)
	}
	if m.dhcp != nil {
		syncSaved(ctx, m.dhcp.Sync, "DHCP settings", log)
	}
}

// syncSaved has a module re-install what (its settings) as saved from the
// console.
func syncSaved(ctx context.Context, sync func(context.Context) (bool, error), what string, log *slog.Logger) {
	if changed, err := sync(ctx); err != nil {
		log.Error("installing the "+what+" saved from the console", "err", err)
	} else if changed {
		log.Info("re-installed the " + what + " saved from the console")
	}
}
