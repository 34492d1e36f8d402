// Package apstatus is `devmgr ap status`: the access point's state and
// its stations joined with their DHCP leases, as one report, from the
// agent or (when it is not running) read from hostapd's control socket and
// dnsmasq's leases file directly; and its one-line-per-station text form.
package apstatus

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/devmgr/devmgr/internal/agent/api"
	"github.com/devmgr/devmgr/internal/dnsmasq"
	"github.com/devmgr/devmgr/internal/hostapd"
)

// Station is a station joined with its lease.
type Station struct {
	hostapd.Station
	IP       string `json:"ip,omitempty"`
	Hostname string `json:"hostname,omitempty"`
}

// Report is the --direct JSON output and what the text form prints.
type Report struct {
	Interface string          `json:"interface"`
	AP        hostapd.Status  `json:"ap"`
	Stations  []Station       `json:"stations"`
	Leases    []dnsmasq.Lease `json:"leases"`
}

// Direct reads hostapd's control socket (ctrlDir, iface) and the leases
// file itself.
func Direct(ctx context.Context, ctrlDir, iface, leasesFile string) (Report, error) {
	c, err := hostapd.Dial(ctrlDir, iface)
	if err != nil {
		return Report{}, fmt.Errorf("reading AP status: %w", err)
	}
	defer c.Close()
	st, err := c.Status(ctx)
	if err != nil {
		return Report{}, fmt.Errorf("reading AP status: %w", err)
	}
	stas, err := c.Stations(ctx)
	if err != nil {
		return Report{}, fmt.Errorf("reading AP stations: %w", err)
	}
	leases, err := dnsmasq.ReadLeases(leasesFile)
	if err != nil {
		return Report{}, fmt.Errorf("reading AP stations: %w", err)
	}
	return Report{Interface: iface, AP: st, Stations: JoinLeases(stas, leases), Leases: leases}, nil
}

// FromAgent is the report of what the agent answered.
func FromAgent(info api.APInfo, clients []api.APClient) Report {
	st := info.Status
	out := Report{Interface: st.Interface, AP: hostapd.Status{State: st.State, SSID: st.SSID, Channel: st.Channel, Freq: st.Frequency}}
	if !st.Running && st.Problem != "" {
		out.AP.State = "not running: " + st.Problem
	}
	for _, c := range clients {
		out.Stations = append(out.Stations, Station{
			Station: hostapd.Station{Addr: c.MAC, Signal: c.Signal, ConnectedTime: time.Duration(c.ConnectedSeconds) * time.Second,
				RxBytes: c.RxBytes, TxBytes: c.TxBytes},
			IP: c.IP, Hostname: c.Hostname,
		})
	}
	return out
}

// JoinLeases gives each station the IP and hostname of its lease, if any.
func JoinLeases(stas []hostapd.Station, leases []dnsmasq.Lease) []Station {
	byMAC := map[string]dnsmasq.Lease{}
	for _, l := range leases {
		if l.MAC != "" {
			byMAC[strings.ToLower(l.MAC)] = l
		}
	}
	out := make([]Station, 0, len(stas))
	for _, s := range stas {
		j := Station{Station: s}
		if l, ok := byMAC[strings.ToLower(s.Addr)]; ok {
			j.IP, j.Hostname = l.IP, l.Hostname
		}
		out = append(out, j)
	}
	return out
}

// WriteText prints the report: a line for the AP, then one per station
//
//	<mac> <ip> <hostname> signal=<dBm> connected=<duration> rx_bytes=<n> tx_bytes=<n>
//
// with "-" for an unknown IP or hostname and "?" for an unknown signal.
func (r Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s state=%s ssid=%q channel=%d freq=%d stations=%d\n",
		r.Interface, r.AP.State, r.AP.SSID, r.AP.Channel, r.AP.Freq, len(r.Stations))
	for _, st := range r.Stations {
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
