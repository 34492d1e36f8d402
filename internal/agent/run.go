package agent

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/devmgr/devmgr/internal/apmgr"
	"github.com/devmgr/devmgr/internal/auditlog"
	"github.com/devmgr/devmgr/internal/change"
	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/dhcp"
	"github.com/devmgr/devmgr/internal/dnsmasq"
	"github.com/devmgr/devmgr/internal/netif"
	"github.com/devmgr/devmgr/internal/service"
)

// Options configure Run, the whole agent process.
type Options struct {
	Config config.Config // required: socket, web user, ap, lan, state_dir, rollback timeout
	// Audit records what the agent does; nil: the agent's own audit log in
	// agent.state_dir (auditlog), also served as GET /v1/audit.
	Audit Auditor
	Log   *slog.Logger // required
	// Version is reported by /v1/health.
	Version string
	// LeaseFile is the AP dnsmasq's leases file; "": dnsmasq.DefaultLeaseFile.
	LeaseFile string
	// HostapdCtrlDir is hostapd's ctrl_interface; "": hostapd.DefaultCtrlInterface.
	HostapdCtrlDir string
	// DNSServersFile is the AP dnsmasq's servers-file, where the agent
	// writes the LAN interfaces' DNS servers (`devmgr agent` passes
	// dnsmasq.DefaultServersFile); "": they are not passed on.
	DNSServersFile string
	// DnsmasqPIDFile names the dnsmasq to signal when that file changes;
	// "": dnsmasq.DefaultPIDFile.
	DnsmasqPIDFile string
	// NetNS is the path of the network namespace whose interfaces the agent
	// manages (tests); "" is the agent's own, as on a device and under
	// `ip netns exec`. Diagnostic programs always run in the agent's own.
	NetNS string
	// Ready, if set, is called once the socket accepts connections.
	Ready func()
}

// Run is `devmgr agent`: it checks its state directory (agent.state_dir,
// root:root 0700; it refuses to start otherwise), rolls back a change a
// crash left pending (network or AP), applies the confirmed LAN configs
// and AP settings again, and serves the API until ctx is done. The change
// engine's journal and log live in state_dir/changes, the confirmed LAN
// configs in state_dir/network, the AP's files in state_dir (see apmgr),
// the agent's audit log in state_dir/audit.db. It never opens a file of
// the console's data_dir.
func Run(ctx context.Context, o Options) error {
	if o.Log == nil {
		return errors.New("agent.Run: Log is required")
	}
	cfg := o.Config
	if err := PrepareStateDir(cfg.Agent.StateDir); err != nil {
		return err
	}
	var auditLog AuditLog
	if o.Audit == nil {
		l, err := auditlog.Open(ctx, auditlog.Path(cfg.Agent.StateDir), auditlog.Retention{
			Keep: time.Duration(cfg.Audit.Keep), MaxRows: cfg.Audit.MaxRows,
		})
		if err != nil {
			return err
		}
		defer l.Close()
		auditLog = logAuditor{l}
		o.Audit = auditLog
	}
	rejected := func(module string) func(file, reason string) {
		return func(file, reason string) {
			if err := o.Audit.Audit(ctx, AuditEntry{User: "agent", Source: "local", Action: actRejected,
				Target: module + ":" + file, Result: "failed", Detail: "set aside, not applied: " + reason}); err != nil {
				o.Log.Error("writing audit entry", "action", actRejected, "err", err)
			}
		}
	}
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
	dns := newLANDNS(o.DNSServersFile, cmp.Or(o.DnsmasqPIDFile, dnsmasq.DefaultPIDFile), o.Log.With("component", "landns"))
	dm, err := dhcp.NewManager(dhcp.Config{
		Handle: h, Log: o.Log.With("component", "dhcp"),
		OnLease: func(name string, l dhcp.Lease, ok bool) { dns.setLease(name, l.DNS, ok) },
	})
	if err != nil {
		return err
	}
	defer dm.Close()
	log := o.Log.With("component", "agent")
	changes, err := change.New(change.Config{
		Dir: filepath.Join(cfg.Agent.StateDir, "changes"), Timeout: cfg.Network.RollbackTimeout,
		OnFinish: AuditChanges(o.Audit, log), OnRejected: rejected("changes"), Log: o.Log.With("component", "change"),
	})
	if err != nil {
		return err
	}
	defer changes.Close()
	ch, err := netif.NewChanger(netif.Config{
		Handle: h, AppConfig: cfg, Changes: changes, Dir: filepath.Join(cfg.Agent.StateDir, "network"),
		DHCP: dm, Log: o.Log.With("component", "netif"), OnApplied: dns.setApplied,
		OnRejected: rejected("network"),
	})
	if err != nil {
		return err
	}
	ap := newAP(o, changes, log, rejected("ap"))
	dhcpSrv := newDHCPServer(o, changes, log, rejected("dhcp"))
	// Failures here are logged and the agent serves anyway, so that the
	// console can show the state and fix it.
	if err := changes.Recover(ctx); err != nil {
		log.Error("rolling back the change left pending", "err", err)
	}
	if err := ch.ApplyDesired(ctx); err != nil {
		log.Error("applying the saved LAN configuration", "err", err)
	}
	var apm AccessPoint
	if ap != nil {
		syncAP(ctx, ap, log)
		apm = ap
	}
	cmds, err := OpenCommands(ctx, cfg, h, o.Audit, log)
	if err != nil {
		return err
	}
	defer cmds.Close() // before the audit log: the runs it stops are audited
	srv, err := New(Config{
		Commands: cmds,
		AP:       apm,
		DHCP:     syncDHCP(ctx, dhcpSrv, log),
		Socket:   cfg.Agent.Socket,
		WebUser:  cfg.Web.User,
		Network:  &NetifNetwork{Handle: h, Changer: ch, Leases: dm, Config: cfg},
		Traffic:  NewTraffic(h, log),
		Diag:     Tools{Netlink: h.Netlink(), LeaseFile: o.LeaseFile},
		Audit:    o.Audit,
		AuditLog: auditLog,
		Log:      log,
		Version:  o.Version,
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

// newAP makes the AP module on the change engine. A module that cannot
// start is logged and left out: the AP routes answer 503 and the rest of
// the agent serves.
func newAP(o Options, changes *change.Engine, log *slog.Logger, onRejected func(file, reason string)) *apmgr.Manager {
	var svc apmgr.Restarter
	if service.SystemdRunning() {
		// Without systemd, hostapd is a child of devmgr provision's
		// supervisor, which this process cannot reach: RELOAD only.
		svc = &service.Systemd{}
	}
	m, err := apmgr.New(apmgr.Config{
		Cfg: o.Config, Changes: changes, CtrlDir: o.HostapdCtrlDir, LeaseFile: o.LeaseFile, Services: svc,
		Log: o.Log.With("component", "apmgr"), OnRejected: onRejected,
	})
	if err != nil {
		log.Error("starting the access point module; AP management is unavailable", "err", err)
		return nil
	}
	return m
}

// syncAP repairs the deny file and re-installs the settings confirmed in
// the console, after the engine's Recover.
func syncAP(ctx context.Context, m *apmgr.Manager, log *slog.Logger) {
	if changed, err := m.Sync(ctx); err != nil {
		log.Error("installing the access point settings saved from the console", "err", err)
	} else if changed {
		log.Info("re-installed the access point settings saved from the console")
	}
}
