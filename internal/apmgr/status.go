package apmgr

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/devmgr/devmgr/internal/dnsmasq"
	"github.com/devmgr/devmgr/internal/hostapd"
	"github.com/devmgr/devmgr/internal/service"
)

// Status is the access point as the AP page shows it. The settings come
// from hostapd when it answers, else from the effective settings.
type Status struct {
	// Running is true when hostapd answers on its control socket.
	Running bool `json:"running"`
	// State is hostapd's: ENABLED (broadcasting), DISABLED, COUNTRY_UPDATE,
	// ACS, HT_SCAN, DFS, UNINITIALIZED; "" when hostapd does not answer.
	State     string `json:"state,omitempty"`
	Interface string `json:"interface"`
	SSID      string `json:"ssid"`
	BSSID     string `json:"bssid,omitempty"`
	Channel   int    `json:"channel"`   // 0: automatic (hostapd not running)
	Frequency int    `json:"frequency"` // MHz; 0 when unknown
	Band      string `json:"band"`
	Security  string `json:"security"`
	Country   string `json:"country"`
	Isolate   bool   `json:"isolate"`
	Hidden    bool   `json:"hidden"`
	Clients   int    `json:"clients"`
	Denied    int    `json:"denied"` // stations on the deny list
	// Problem says, in words a user can act on, why the AP is not up.
	Problem string `json:"problem,omitempty"`
	// Output is hostapd's latest output when it is not up, oldest first.
	Output  []string `json:"output,omitempty"`
	Pending *Change  `json:"pending,omitempty"`
}

// Status asks hostapd for its state. A hostapd that is not running is not
// an error: Running is false and Problem says why.
func (m *Manager) Status(ctx context.Context) (Status, error) {
	m.mu.Lock()
	s := m.settings
	st := Status{
		Interface: m.cfg.Cfg.AP.Interface, SSID: s.SSID, Channel: s.Channel, Band: s.Band,
		Security: s.Security, Country: s.Country, Isolate: s.Isolate, Hidden: s.Hidden, Denied: len(m.deny),
	}
	m.mu.Unlock()
	if ch, ok := m.Pending(); ok {
		st.Pending = &ch
	}

	var hs hostapd.Status
	err := m.control(func(c Control) error {
		var err error
		hs, err = c.Status(ctx)
		return err
	})
	if err != nil {
		if ctx.Err() != nil {
			return Status{}, fmt.Errorf("asking hostapd for its status: %w", ctx.Err())
		}
		st.Problem, st.Output = m.notRunning(ctx, err)
		return st, nil
	}
	st.Running, st.State = true, hs.State
	if hs.SSID != "" {
		st.SSID = hs.SSID
	}
	st.BSSID, st.Frequency, st.Clients = hs.BSSID, hs.Freq, hs.NumSTA
	if hs.Channel != 0 {
		st.Channel = hs.Channel
	}
	if p := stateProblem(hs.State); p != "" {
		out := m.output(ctx)
		if e := hostapd.Explain(strings.Join(out, "\n")); e != "" {
			p += ": " + e
		}
		st.Problem, st.Output = p, out
	}
	return st, nil
}

// stateProblem explains a hostapd state other than ENABLED.
func stateProblem(state string) string {
	switch state {
	case "ENABLED":
		return ""
	case "COUNTRY_UPDATE":
		return "the access point is starting: waiting for the radio to apply the country's rules"
	case "ACS":
		return "the access point is starting: choosing the least busy channel"
	case "HT_SCAN":
		return "the access point is starting: scanning for neighbouring networks"
	case "DFS":
		return "the access point is starting: checking the channel for radar (DFS), which takes a minute or more"
	case "DISABLED":
		return "hostapd runs but the access point is disabled (the radio is not broadcasting)"
	default:
		return fmt.Sprintf("the access point is not up (hostapd state %s)", state)
	}
}

// notRunning explains why hostapd does not answer, in words a user can act
// on: no socket path, no dial error (those go to the log).
func (m *Manager) notRunning(ctx context.Context, cerr error) (string, []string) {
	out := m.output(ctx)
	if e := hostapd.Explain(strings.Join(out, "\n")); e != "" {
		return "the access point is down: " + e, out
	}
	iface := m.cfg.Cfg.AP.Interface
	if !m.provisioned() {
		// Neither provision's service nor provisioning this machine would
		// start the hostapd this agent was pointed at.
		return fmt.Sprintf("hostapd is not running: nothing answers on the control socket for %s in the directory "+
			"this agent was given (--hostapd-ctrl); start the hostapd that serves it", iface), out
	}
	if sv, ok := m.cfg.Services.(statuser); ok {
		if ss, err := sv.Status(ctx, m.cfg.Service); err == nil {
			switch {
			case ss.State == service.StateStopped:
				return fmt.Sprintf("hostapd is not running: the service %s is stopped; start it or run devmgr provision", m.cfg.Service), out
			case ss.LastExit != "":
				return fmt.Sprintf("hostapd is not running: it ended with %s (service %s is %s); its output below says why", ss.LastExit, m.cfg.Service, ss.State), out
			case ss.State == service.StateRunning:
				return fmt.Sprintf("hostapd runs but does not answer on its control socket for %s: is ap.interface right?", iface), out
			}
		}
	}
	if errors.Is(cerr, ErrNotRunning) {
		return fmt.Sprintf("hostapd is not running (nothing answers on its control socket for %s): start the service %s, "+
			"or run devmgr provision if this device was never provisioned", iface, m.cfg.Service), out
	}
	m.log.Warn("hostapd does not answer", "err", cerr)
	return "hostapd does not answer on its control socket; the agent's log says why", out
}

// provisioned reports whether the hostapd this manager talks to is the one
// devmgr provision installs, which renders its control socket into
// hostapd.DefaultCtrlInterface. Only then may its service be asked why it
// is down or restarted, and provisioning be advised: an agent given a
// control directory of its own (--hostapd-ctrl, as the development lab's
// is) talks to a hostapd that neither starts nor stops.
func (m *Manager) provisioned() bool { return m.cfg.CtrlDir == hostapd.DefaultCtrlInterface }

// services is Config.Services when it serves this manager's hostapd.
func (m *Manager) services() Restarter {
	if !m.provisioned() {
		return nil
	}
	return m.cfg.Services
}

// output returns hostapd's latest output lines, if anything knows them.
func (m *Manager) output(ctx context.Context) []string {
	if m.cfg.Output != nil {
		s := strings.TrimRight(m.cfg.Output(ctx), "\n")
		if s == "" {
			return nil
		}
		return strings.Split(s, "\n")
	}
	if sv, ok := m.services().(statuser); ok {
		if ss, err := sv.Status(ctx, m.cfg.Service); err == nil {
			return ss.Output
		}
	}
	return nil
}

// Client is a station associated with the access point.
type Client struct {
	MAC      string `json:"mac"`
	IP       string `json:"ip,omitempty"`       // from its DHCP lease
	Hostname string `json:"hostname,omitempty"` // from its DHCP lease
	// Signal is the last received signal in dBm; 0 when unknown.
	Signal           int    `json:"signal"`
	ConnectedSeconds int64  `json:"connected_seconds"`
	InactiveMillis   int64  `json:"inactive_ms"`
	RxBytes          uint64 `json:"rx_bytes"`
	TxBytes          uint64 `json:"tx_bytes"`
	// Authorized is true once the key handshake completed.
	Authorized bool   `json:"authorized"`
	KeyMgmt    string `json:"key_mgmt,omitempty"` // WPA-PSK, SAE
}

// Clients lists every station hostapd knows (STA-FIRST/STA-NEXT), joined
// by MAC with dnsmasq's unexpired leases. An unreadable leases file only
// leaves IP and hostname empty. A hostapd that does not answer is
// ErrNotRunning.
func (m *Manager) Clients(ctx context.Context) ([]Client, error) {
	var stations []hostapd.Station
	err := m.control(func(c Control) error {
		var err error
		stations, err = c.Stations(ctx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listing access point clients: %w", err)
	}
	leases, err := dnsmasq.ReadLeases(m.sys(m.cfg.LeaseFile))
	if err != nil {
		m.log.Warn("reading DHCP leases for the client list", "err", err)
	}
	now := m.cfg.Now()
	byMAC := map[string]dnsmasq.Lease{}
	for _, l := range leases {
		if l.MAC == "" || (!l.Infinite() && l.Expiry.Before(now)) {
			continue
		}
		if old, ok := byMAC[l.MAC]; ok && (old.Infinite() || (!l.Infinite() && l.Expiry.Before(old.Expiry))) {
			continue
		}
		byMAC[l.MAC] = l
	}
	out := make([]Client, 0, len(stations))
	for _, s := range stations {
		c := Client{
			MAC: s.Addr, Signal: s.Signal,
			ConnectedSeconds: int64(s.ConnectedTime.Seconds()), InactiveMillis: s.Inactive.Milliseconds(),
			RxBytes: s.RxBytes, TxBytes: s.TxBytes, Authorized: s.Authorized(), KeyMgmt: s.KeyMgmt,
		}
		if l, ok := byMAC[s.Addr]; ok {
			c.IP, c.Hostname = l.IP, l.Hostname
		}
		out = append(out, c)
	}
	return out, nil
}
