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
	"github.com/devmgr/devmgr/internal/backup"
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
	cmd.Flags().String("hostapd-conf", apmgr.DefaultHostapdConf, "hostapd's config file, which AP settings changes rewrite")
	cmd.Flags().String("hostapd-deny", apmgr.DefaultDenyFile, "hostapd's deny list (deny_mac_file)")
	for _, f := range []string{"leases", "hostapd-ctrl", "dns-servers", "dnsmasq-pid", "hostapd-conf", "hostapd-deny"} {
		_ = cmd.Flags().MarkHidden(f)
	}
	return cmd
}

// apFiles are the files of the AP's daemons that the agent reads, writes
// or signals: the hidden flags of devmgr agent.
type apFiles struct {
	config      string // the config file, which a backup holds
	leases      string // dnsmasq's leases file
	hostapdCtrl string // hostapd's ctrl_interface
	dnsServers  string // dnsmasq's servers-file, written with the LAN interfaces' DNS servers
	dnsmasqPID  string // names the dnsmasq to signal when that file changes
	hostapdConf string // hostapd's config, rewritten by AP settings changes
	hostapdDeny string // hostapd's deny list
}

func runAgent(cmd *cobra.Command, _ []string) error {
	if os.Geteuid() != 0 {
		return errors.New("devmgr agent must run as root: it changes network interfaces (the console, devmgr serve, runs unprivileged)")
	}
	flag, _ := cmd.Flags().GetString("config")
	path, err := filepath.Abs(config.Path(flag))
	if err != nil {
		return err
	}
	cfg, err := config.Load(path)
	if err != nil {
		return err
	}
	f := apFiles{config: path}
	f.leases, _ = cmd.Flags().GetString("leases")
	f.hostapdCtrl, _ = cmd.Flags().GetString("hostapd-ctrl")
	f.dnsServers, _ = cmd.Flags().GetString("dns-servers")
	f.dnsmasqPID, _ = cmd.Flags().GetString("dnsmasq-pid")
	f.hostapdConf, _ = cmd.Flags().GetString("hostapd-conf")
	f.hostapdDeny, _ = cmd.Flags().GetString("hostapd-deny")
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
// A factory reset that waits to be finished (queued, or cut short by a
// crash or a reboot) is started again (startResets) with the config file
// the agent runs with (f.config).
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
	// A restore's console part waits for its change: one rolled back
	// drops it (backups is set before any change can begin).
	var backups *agent.Backups
	auditChange := agent.AuditChanges(audit, alog)
	changes, err := change.New(change.Config{
		Dir: filepath.Join(dir, "changes"), Timeout: cfg.Network.RollbackTimeout,
		OnFinish: func(ch change.Change) {
			auditChange(ch)
			if backups != nil {
				backups.ChangeFinished(ch)
			}
		},
		OnRejected: rejected("changes"), Log: log.With("component", "change"),
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
	// The restore's module registers before Recover, which may find its
	// journal.
	restorer, err := backup.NewAgentRestorer(backup.AgentRestorerConfig{Changes: changes, AP: mods.ap, Network: network,
		Log: log.With("component", "restore")})
	if err != nil {
		return err
	}
	restoreState(ctx, changes, network, mods, alog)
	backups = newBackups(cfg, f, changes, restorer, audit, log)
	if backups != nil {
		defer backups.Close()
		if !service.SystemdRunning() {
			// No devmgr-backup.timer here: the agent makes them.
			go backups.Ticker(time.Now, time.After).Loop(ctx)
		}
	}
	cmds, err := agent.OpenCommands(ctx, cfg, h, audit, alog)
	if err != nil {
		return err
	}
	defer cmds.Close() // before the audit log: the runs it stops are audited
	res, launch := startResets(ctx, cfg, f.config, log.With("component", "reset"))
	srv, err := agent.New(agent.Config{
		Commands:    cmds,
		Backups:     backups,
		Reset:       res,
		LaunchReset: launch,
		AP:          mods.accessPoint(),
		DHCP:        mods.dhcpServer(),
		Socket:      cfg.Agent.Socket,
		WebUser:     cfg.Web.User,
		Network:     &agent.NetifNetwork{Handle: h, Changer: network, Live: live, Leases: dm, Config: cfg},
		Traffic:     agent.NewTraffic(h, alog),
		Diag:        agent.Tools{Netlink: h.Netlink(), LeaseFile: f.leases},
		Audit:       audit,
		AuditLog:    audit,
		Log:         alog,
		Version:     version,
	})
	if err != nil {
		return fmt.Errorf("starting agent: %w", err)
	}
	return srv.ListenAndServe(ctx)
}

// newBackups are the agent's backups, made as devmgr backup makes them
// (deviceBackupSources: the console's part as web.user), into backup.dir;
// when they cannot be set up (no web.user) that is logged and the backup
// routes answer 503.
func newBackups(cfg config.Config, f apFiles, changes *change.Engine, restorer *backup.AgentRestorer, audit agent.AuditLog, log *slog.Logger) *agent.Backups {
	blog := log.With("component", "backup")
	fail := func(err error) *agent.Backups {
		blog.Error("setting up backups; the backup routes are unavailable", "err", err)
		return nil
	}
	raw, err := os.ReadFile(f.config)
	if err != nil {
		return fail(fmt.Errorf("reading the config: %w", err))
	}
	src, err := deviceBackupSources(cfg, f.config, raw, f.hostapdDeny, blog)
	if err != nil {
		return fail(err)
	}
	scheduler := "agent"
	if service.SystemdRunning() {
		scheduler = "systemd"
	}
	b, err := agent.NewBackups(agent.BackupsConfig{Sources: src, Changes: changes, Restorer: restorer, Audit: audit, AuditLog: audit,
		Scheduler: scheduler, Version: version, Log: blog})
	if err != nil {
		return fail(err)
	}
	return b
}

// startResets makes the agent's part of the factory reset: the Resetter
// that checks and queues a run and reads its journal, and the launcher
// that has it run (agent.ResetLauncher). A run that waits to be finished
// is started again at once. A reset that cannot be set up is logged and
// left out, so that its routes answer 503 and the rest of the agent
// serves.
func startResets(ctx context.Context, cfg config.Config, cfgPath string, log *slog.Logger) (agent.Reset, func(context.Context) error) {
	exe, err := os.Executable()
	if err != nil {
		log.Error("finding devmgr's executable; the factory reset is unavailable", "err", err)
		return nil, nil
	}
	src := backup.Sources{Config: cfg, ConfigPath: cfgPath, Log: log}
	res, err := newResetter(cfg, src, true, log)
	if err != nil {
		log.Error("reading the factory reset's state; the factory reset is unavailable", "err", err)
		return nil, nil
	}
	l := agent.ResetLauncher{Systemd: service.SystemdRunning(), Binary: exe, ConfigPath: cfgPath, Log: log}
	if res.Unfinished() {
		run, _ := res.Current()
		log.Warn("a factory reset waits to be finished; starting it", "id", run.ID, "status", run.Status, "phase", run.Phase)
		if err := l.Launch(ctx); err != nil {
			log.Error("starting the factory reset that waits to be finished", "id", run.ID, "err", err)
		}
	}
	return res, l.Launch
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
		HostapdConf: f.hostapdConf, DenyFile: f.hostapdDeny,
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
