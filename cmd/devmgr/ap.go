package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
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
	st := info.Status
	out := apStatus{Interface: st.Interface, AP: hostapd.Status{State: st.State, SSID: st.SSID, Channel: st.Channel, Freq: st.Frequency}}
	if !st.Running && st.Problem != "" {
		out.AP.State = "not running: " + st.Problem
	}
	for _, c := range clients {
		out.Stations = append(out.Stations, apStation{
			Station: hostapd.Station{Addr: c.MAC, Signal: c.Signal, ConnectedTime: time.Duration(c.ConnectedSeconds) * time.Second,
				RxBytes: c.RxBytes, TxBytes: c.TxBytes},
			IP: c.IP, Hostname: c.Hostname,
		})
	}
	return writeAPStatus(w, out)
}

// apStation is a station joined with its lease.
type apStation struct {
	hostapd.Station
	IP       string `json:"ip,omitempty"`
	Hostname string `json:"hostname,omitempty"`
}

// apStatus is the --json output.
type apStatus struct {
	Interface string          `json:"interface"`
	AP        hostapd.Status  `json:"ap"`
	Stations  []apStation     `json:"stations"`
	Leases    []dnsmasq.Lease `json:"leases"`
}

func runAPStatus(ctx context.Context, w io.Writer, o apStatusOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	c, err := hostapd.Dial(o.ctrlDir, o.iface)
	if err != nil {
		return fmt.Errorf("reading AP status: %w", err)
	}
	defer c.Close()
	st, err := c.Status(ctx)
	if err != nil {
		return fmt.Errorf("reading AP status: %w", err)
	}
	stas, err := c.Stations(ctx)
	if err != nil {
		return fmt.Errorf("reading AP stations: %w", err)
	}
	leases, err := dnsmasq.ReadLeases(o.leases)
	if err != nil {
		return fmt.Errorf("reading AP stations: %w", err)
	}
	out := apStatus{Interface: o.iface, AP: st, Stations: joinLeases(stas, leases), Leases: leases}
	if o.json {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return fmt.Errorf("writing AP status: %w", err)
		}
		return nil
	}
	return writeAPStatus(w, out)
}

// joinLeases gives each station the IP and hostname of its lease, if any.
func joinLeases(stas []hostapd.Station, leases []dnsmasq.Lease) []apStation {
	byMAC := map[string]dnsmasq.Lease{}
	for _, l := range leases {
		if l.MAC != "" {
			byMAC[strings.ToLower(l.MAC)] = l
		}
	}
	out := make([]apStation, 0, len(stas))
	for _, s := range stas {
		j := apStation{Station: s}
		if l, ok := byMAC[strings.ToLower(s.Addr)]; ok {
			j.IP, j.Hostname = l.IP, l.Hostname
		}
		out = append(out, j)
	}
	return out
}

func writeAPStatus(w io.Writer, s apStatus) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s state=%s ssid=%q channel=%d freq=%d stations=%d\n",
		s.Interface, s.AP.State, s.AP.SSID, s.AP.Channel, s.AP.Freq, len(s.Stations))
	for _, st := range s.Stations {
		signal := "?"
		if st.Signal != 0 {
			signal = fmt.Sprint(st.Signal)
		}
		fmt.Fprintf(&b, "%s %s %s signal=%s connected=%s rx_bytes=%d tx_bytes=%d\n",
			st.Addr, orDash(st.IP), orDash(st.Hostname), signal, st.ConnectedTime, st.RxBytes, st.TxBytes)
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("writing AP status: %w", err)
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
