package main

import (
	"context"
	"io"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/devmgr/devmgr/internal/apmgr"
	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/dhcpsrv"
	"github.com/devmgr/devmgr/internal/dnsmasq"
	"github.com/devmgr/devmgr/internal/provision"
)

func newProvisionCmd() *cobra.Command {
	var (
		root, services, binary string
		dryRun                 bool
	)
	cmd := &cobra.Command{
		Use:   "provision",
		Short: "render, check and install hostapd, dnsmasq, nftables, units and the rest from the config",
		Long: `provision renders every system file from the config, checks each with its
real tool (hostapd, dnsmasq --test, nft -c, systemd-analyze verify, nginx -t),
prints a unified diff against what is installed under --root and writes the
changed files atomically, keeping each previous version as FILE.devmgr-prev.
Nothing is written if any check fails.

With --root / (the default) it also enables IP forwarding, applies the
firewall and (re)starts the services: through systemd when it is PID 1,
otherwise it supervises them itself as child processes and keeps running
until it is stopped (--services=supervisor).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			flag, _ := cmd.Flags().GetString("config")
			return provisionFrom(cmd.Context(), cmd.OutOrStdout(), config.Path(flag), root, services, binary, dryRun)
		},
	}
	cmd.Flags().StringVar(&root, "root", "/", "directory to install into (a staging directory touches nothing else)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "check and show the diff; write nothing")
	cmd.Flags().StringVar(&services, "services", provision.ServicesAuto, "service manager on --root /: auto, systemd, supervisor or none")
	cmd.Flags().StringVar(&binary, "binary", "", "devmgr binary the units run (default "+provision.DefaultBinary+" if it exists, else this binary)")
	return cmd
}

// provisionFrom is devmgr provision of the config at path: every system
// file rendered from it (with the AP and DHCP settings confirmed in the
// console), checked, installed under root, and on / the services
// (re)started by the service manager services names.
func provisionFrom(ctx context.Context, out io.Writer, path, root, services, binary string, dryRun bool) error {
	c, err := config.Load(path)
	if err != nil {
		return err
	}
	// AP settings confirmed in the console override the file's ap
	// section; provisioning must not silently undo them.
	if c.AP, err = apmgr.Effective(c, ""); err != nil {
		return err
	}
	// So do the DHCP range and the static leases.
	var leases []dnsmasq.StaticLease
	if c.AP.DHCP, leases, err = dhcpsrv.Effective(c, ""); err != nil {
		return err
	}
	o := provision.Options{
		Root: root, DryRun: dryRun, Stdout: out, Log: newLogger(),
		Binary: binary, ConfigPath: config.DefaultPath, StaticLeases: leases,
	}
	if filepath.Clean(root) == "/" {
		if abs, err := filepath.Abs(path); err == nil {
			o.ConfigPath = abs
		}
	}
	if o.Binary == "" {
		o.Binary = provision.LocalBinary()
	}
	return provision.Provision(ctx, c, o, services)
}
