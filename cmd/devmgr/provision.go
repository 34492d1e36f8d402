package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/devmgr/devmgr/internal/apmgr"
	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/provision"
	"github.com/devmgr/devmgr/internal/service"
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
			path := config.Path(flag)
			c, err := config.Load(path)
			if err != nil {
				return err
			}
			// AP settings confirmed in the console override the file's ap
			// section; provisioning must not silently undo them.
			if c.AP, err = apmgr.Effective(c, ""); err != nil {
				return err
			}
			onDevice := filepath.Clean(root) == "/"
			o := provision.Options{
				Root: root, DryRun: dryRun, Stdout: cmd.OutOrStdout(), Log: newLogger(),
				Binary: binary, ConfigPath: config.DefaultPath,
			}
			if onDevice {
				if abs, err := filepath.Abs(path); err == nil {
					o.ConfigPath = abs
				}
			}
			if o.Binary == "" {
				o.Binary = defaultBinary()
			}
			kind := services
			if kind == "auto" {
				kind = string(service.Detect())
			}
			var sup *service.Supervisor
			if onDevice && !dryRun {
				switch kind {
				case "none":
				case string(service.KindSystemd):
					o.Services = &service.Systemd{}
				case string(service.KindSupervisor):
					sup, err = service.NewSupervisor(service.SupervisorConfig{Log: o.Log}, provision.Specs(c, o)...)
					if err != nil {
						return err
					}
					o.Services = sup
				default:
					return fmt.Errorf("--services %q is not one of auto, systemd, supervisor, none", services)
				}
			}
			ctx := cmd.Context()
			_, err = provision.Run(ctx, c, o)
			if sup == nil {
				return err
			}
			if err == nil {
				fmt.Fprintf(cmd.OutOrStdout(), "supervising %d services (no systemd); stop with Ctrl-C or SIGTERM\n", len(sup.Names()))
				<-ctx.Done()
			}
			stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			return errors.Join(err, sup.StopAll(stopCtx))
		},
	}
	cmd.Flags().StringVar(&root, "root", "/", "directory to install into (a staging directory touches nothing else)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "check and show the diff; write nothing")
	cmd.Flags().StringVar(&services, "services", "auto", "service manager on --root /: auto, systemd, supervisor or none")
	cmd.Flags().StringVar(&binary, "binary", "", "devmgr binary the units run (default "+provision.DefaultBinary+" if it exists, else this binary)")
	return cmd
}

// defaultBinary is the installed devmgr if there is one, else the running
// binary, so that the units' ExecStart always names a program that exists.
func defaultBinary() string {
	if st, err := os.Stat(provision.DefaultBinary); err == nil && st.Mode().IsRegular() {
		return provision.DefaultBinary
	}
	exe, err := os.Executable()
	if err != nil {
		return provision.DefaultBinary
	}
	if p, err := filepath.EvalSymlinks(exe); err == nil {
		return p
	}
	return exe
}
