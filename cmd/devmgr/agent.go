package main

import (
	"context"
	"errors"
	"os"

	"github.com/spf13/cobra"

	"github.com/devmgr/devmgr/internal/agent"
	"github.com/devmgr/devmgr/internal/dnsmasq"
	"github.com/devmgr/devmgr/internal/hostapd"
	"github.com/devmgr/devmgr/internal/store"
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

func runAgent(cmd *cobra.Command, _ []string) error {
	if os.Geteuid() != 0 {
		return errors.New("devmgr agent must run as root: it changes network interfaces (the console, devmgr serve, runs unprivileged)")
	}
	cfg, err := loadConfig(cmd)
	if err != nil {
		return err
	}
	leases, _ := cmd.Flags().GetString("leases")
	ctrl, _ := cmd.Flags().GetString("hostapd-ctrl")
	dnsServers, _ := cmd.Flags().GetString("dns-servers")
	dnsmasqPID, _ := cmd.Flags().GetString("dnsmasq-pid")
	ctx := cmd.Context()
	log := newLogger()
	db, err := store.Open(ctx, cfg.DataDir, log, auditRetention(cfg))
	if err != nil {
		return err
	}
	defer db.Close()
	return agent.Run(ctx, agent.Options{
		Config: cfg,
		Audit: agent.AuditorFunc(func(ctx context.Context, e agent.AuditEntry) error {
			return db.Audit(ctx, store.AuditEntry{User: e.User, Source: e.Source, Action: e.Action,
				Target: e.Target, Result: e.Result, Detail: e.Detail})
		}),
		Log:            log,
		Version:        version,
		LeaseFile:      leases,
		HostapdCtrlDir: ctrl,
		DNSServersFile: dnsServers,
		DnsmasqPIDFile: dnsmasqPID,
	})
}
