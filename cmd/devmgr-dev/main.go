// Command devmgr-dev is the development runner behind `make run`; it is
// not shipped to devices.
//
//	devmgr-dev run [--dir ./var] [--listen 127.0.0.1:8443]   # what `make run` runs
//	devmgr-dev lab up [--uplink-static] [--forwarding] [--config-out var/lab.yaml]
//	devmgr-dev lab clean                                      # removes labs of dead processes
//	devmgr-dev vm [--debs ./bin/deb] [--listen 127.0.0.1:8443] # make run DEVICE=vm
//
// `run` as root builds a network-namespace lab (a simulated device, with
// a stand-in access point), runs `devmgr agent` inside its device
// namespace (with an overlay on /etc) and `devmgr serve` here as the
// unprivileged web user; without root only the console, as you. `lab
// up` builds the lab alone and prints it as JSON; with it up, run the
// agent yourself: ip netns exec <namespaces.dev> devmgr agent --config FILE.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/testing/devrun"
	"github.com/devmgr/devmgr/internal/testing/lab"
)

func init() {
	// etc-overlay makes a mount namespace and execs the lab's agent from
	// the thread that made it; an exec from any thread but the main one
	// would also drop the parent-death signal the runner set (a thread's
	// own), and the agent would outlive a killed run.
	if len(os.Args) > 1 && os.Args[1] == devrun.EtcOverlayCommand {
		runtime.LockOSThread()
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "devmgr-dev:", err)
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "devmgr-dev",
		Short:         "development runner of devmgr (make run)",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newRunCmd(), newProbeCmd(), newLabCmd(), newEtcOverlayCmd(), newVMCmd())
	return root
}

func newLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

func newRunCmd() *cobra.Command {
	o := devrun.Options{}
	cmd := &cobra.Command{
		Use:   "run",
		Short: "run the console, and as root the agent in a network-namespace lab, until Ctrl-C",
		Long: "As root: builds a network-namespace lab (a simulated device), runs `devmgr agent`\n" +
			"inside its device namespace and `devmgr serve` in this namespace as the unprivileged\n" +
			"web user, talking over the agent's socket under DIR/run. Without root: only the\n" +
			"console, as the current user, with the agent off. Ctrl-C or SIGTERM stops both and\n" +
			"removes the lab; a lab left by a crashed run is removed at start.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Devmgr == "" {
				self, err := os.Executable()
				if err != nil {
					return fmt.Errorf("finding this program: %w", err)
				}
				o.Devmgr = filepath.Join(filepath.Dir(self), "devmgr")
			}
			o.Out, o.Err = cmd.OutOrStdout(), os.Stderr
			o.Log = newLogger().With("component", "dev-run")
			return devrun.Run(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Dir, "dir", devrun.DefaultDir, "directory for the generated config, data (DIR/data) and the agent socket (DIR/run)")
	f.StringVar(&o.Listen, "listen", devrun.DefaultListen, "web.listen of the console")
	f.StringVar(&o.User, "user", devrun.DefaultUser, "unprivileged account the console runs as when run as root (created if missing)")
	f.StringVar(&o.Prefix, "prefix", devrun.DefaultPrefix, "name prefix of the lab's network namespaces")
	f.StringVar(&o.Devmgr, "devmgr", "", "the devmgr binary (default: devmgr beside this program)")
	return cmd
}

func newProbeCmd() *cobra.Command {
	var socket, cfgPath string
	cmd := &cobra.Command{
		Use:    "probe",
		Short:  "ask the agent for its health and interfaces as the calling user (JSON)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if socket == "" {
				cfg, err := config.Load(config.Path(cfgPath))
				if err != nil {
					return err
				}
				socket = cfg.Agent.Socket
			}
			return devrun.Probe(cmd.Context(), socket, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&socket, "socket", "", "agent socket (default: agent.socket of the config)")
	cmd.Flags().StringVar(&cfgPath, "config", "", "config file (default $DEVMGR_CONFIG or "+config.DefaultPath+")")
	return cmd
}

func newEtcOverlayCmd() *cobra.Command {
	var upper, work string
	cmd := &cobra.Command{
		Use:    devrun.EtcOverlayCommand + " --upper DIR --work DIR -- COMMAND [ARG...]",
		Short:  "run a command with an overlay on /etc, in a mount namespace of its own (the lab's agent)",
		Hidden: true,
		Args:   cobra.MinimumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return devrun.EtcOverlayExec(upper, work, args)
		},
	}
	cmd.Flags().StringVar(&upper, "upper", "", "upper layer of the overlay (required)")
	cmd.Flags().StringVar(&work, "work", "", "overlayfs work directory, on the upper layer's filesystem (required)")
	_ = cmd.MarkFlagRequired("upper")
	_ = cmd.MarkFlagRequired("work")
	return cmd
}

func newLabCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "lab", Short: "the network-namespace lab alone (root)"}
	var o devrun.LabOptions
	up := &cobra.Command{
		Use:   "up",
		Short: "build the lab, print it as JSON and keep it until Ctrl-C",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return devrun.LabUp(cmd.Context(), newLogger(), o, cmd.OutOrStdout())
		},
	}
	f := up.Flags()
	f.StringVar(&o.Prefix, "prefix", lab.DefaultPrefix, "namespace name prefix")
	f.BoolVar(&o.UplinkStatic, "uplink-static", false, "give the device's eth0 "+lab.UplinkDeviceAddr)
	f.BoolVar(&o.Forwarding, "forwarding", false, "enable IPv4 forwarding in the device namespace")
	f.StringVar(&o.ConfigOut, "config-out", "", "write a devmgr config matching the lab to this file")
	f.StringVar(&o.DataDir, "data-dir", "./var/data", "data_dir of the written config")
	f.StringVar(&o.Socket, "socket", "./var/run/agent.sock", "agent.socket of the written config")
	f.StringVar(&o.Listen, "listen", "127.0.0.1:8443", "web.listen of the written config")
	var prefix string
	clean := &cobra.Command{
		Use:   "clean",
		Short: "remove labs of dead processes",
		Args:  cobra.NoArgs,
		RunE:  func(*cobra.Command, []string) error { return devrun.LabClean(prefix) },
	}
	clean.Flags().StringVar(&prefix, "prefix", lab.DefaultPrefix, "namespace name prefix")
	cmd.AddCommand(up, clean)
	return cmd
}
