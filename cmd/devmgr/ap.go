package main

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/devmgr/devmgr/internal/apstatus"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/devmgr/devmgr/internal/agent/api"
	agentclient "github.com/devmgr/devmgr/internal/agent/client"
	"github.com/devmgr/devmgr/internal/auth"
	"github.com/devmgr/devmgr/internal/dnsmasq"
	"github.com/devmgr/devmgr/internal/hostapd"
)

// newAPCmd is `devmgr ap`: the access point as hostapd and dnsmasq see it.
func newAPCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "ap", Short: "inspect the WiFi access point"}
	cmd.AddCommand(newAPStatusCmd())
	return cmd
}

// apStatusOptions are the flags of `devmgr ap status`.
type apStatusOptions struct {
	direct  bool
	ctrlDir string
	iface   string
	leases  string
	json    bool
	timeout time.Duration
}

func newAPStatusCmd() *cobra.Command {
	var o apStatusOptions
	cmd := &cobra.Command{
		Use:   "status",
		Short: "print the AP's state and its stations, joined with their DHCP leases",
		Long: `Print the access point's state as the agent reports it (over agent.socket of
the config), then one line per associated station:

  <mac> <ip> <hostname> signal=<dBm> connected=<duration> rx_bytes=<n> tx_bytes=<n>

with "-" for an IP or hostname that dnsmasq's leases file does not know.
With --direct it reads hostapd's control socket and the leases file itself,
for when the agent is not running.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.direct {
				return runAPStatus(cmd.Context(), cmd.OutOrStdout(), o)
			}
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			return runAPStatusAgent(cmd.Context(), cmd.OutOrStdout(), agentclient.New(cfg.Agent.Socket), o)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.direct, "direct", false, "read hostapd and the leases file directly instead of asking the agent")
	f.StringVar(&o.ctrlDir, "ctrl-dir", hostapd.DefaultCtrlInterface, "with --direct: hostapd's control socket directory")
	f.StringVar(&o.iface, "iface", "wlan0", "with --direct: the AP interface")
	f.StringVar(&o.leases, "leases", dnsmasq.DefaultLeaseFile, "with --direct: dnsmasq's leases file")
	f.BoolVar(&o.json, "json", false, "print JSON")
	f.DurationVar(&o.timeout, "timeout", 5*time.Second, "how long to wait for an answer")
	return cmd
}

// apAgent is what `ap status` asks of the agent.
type apAgent interface {
	AP(ctx context.Context, a api.Actor) (api.APInfo, error)
	APClients(ctx context.Context, a api.Actor) ([]api.APClient, error)
}

// runAPStatusAgent prints the AP status the agent reports, as root (or the
// console's user) on this machine.
func runAPStatusAgent(ctx context.Context, w io.Writer, ag apAgent, o apStatusOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	actor := api.Actor{User: "cli", Role: auth.Viewer, Source: "local"}
	info, err := ag.AP(ctx, actor)
	if err != nil {
		return fmt.Errorf("asking the agent for the AP status: %w", err)
	}
	clients, err := ag.APClients(ctx, actor)
	if err != nil {
		return fmt.Errorf("asking the agent for the AP's stations: %w", err)
	}
	if o.json {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(struct {
			api.APInfo
			Clients []api.APClient `json:"clients"`
		}{info, clients}); err != nil {
			return fmt.Errorf("writing AP status: %w", err)
		}
		return nil
	}
	return apstatus.FromAgent(info, clients).WriteText(w)
}

func runAPStatus(ctx context.Context, w io.Writer, o apStatusOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	rep, err := apstatus.Direct(ctx, o.ctrlDir, o.iface, o.leases)
	if err != nil {
		return err
	}
	if o.json {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return fmt.Errorf("writing AP status: %w", err)
		}
		return nil
	}
	return rep.WriteText(w)
}
