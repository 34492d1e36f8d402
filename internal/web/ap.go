package web

import (
	"fmt"
	"github.com/devmgr/devmgr/internal/agent/api"
	"net/http"
	"time"

	"github.com/devmgr/devmgr/internal/config"
)

// apData is the Access point page.
type apData struct {
	AgentDown string // agentDownMessage when the agent cannot be reached
	Error     string
	Info      *api.APInfo
	Clients   []api.APClient
	// ClientsError says why there is no client list (hostapd not running).
	ClientsError string
	// PendingIn is the seconds until Info.Status.Pending rolls back.
	PendingIn int
	Channels  []channelOption
}

// channelOption is one choice of the channel select.
type channelOption struct {
	Band    string
	Channel int
	Label   string
}

func channelOptions() []channelOption {
	var out []channelOption
	for _, b := range []struct {
		band string
		chs  []int
	}{{config.Band24, config.Channels24}, {config.Band5, config.Channels5}} {
		for _, ch := range b.chs {
			out = append(out, channelOption{Band: b.band, Channel: ch, Label: fmt.Sprintf("%d (%d MHz)", ch, channelFreq(ch))})
		}
	}
	return out
}

// channelFreq is a channel's centre frequency in MHz.
func channelFreq(ch int) int {
	switch {
	case ch == 14:
		return 2484
	case ch < 14:
		return 2407 + 5*ch
	}
	return 5000 + 5*ch
}

func (s *Server) apPage(w http.ResponseWriter, r *http.Request) {
	d := apData{Channels: channelOptions()}
	ap := s.agent
	info, err := ap.AP(r.Context(), s.actor(r))
	if err != nil {
		if st := s.agentState(r, err); st.Down {
			d.AgentDown = st.Message
		} else {
			d.Error = st.Message
		}
		s.render(w, r, http.StatusOK, "ap", "Access point", d)
		return
	}
	d.Info = &info
	if p := info.Status.Pending; p != nil {
		d.PendingIn = max(0, int(time.Until(p.RollbackAt).Seconds()))
	}
	if info.Status.Running {
		if d.Clients, err = ap.APClients(r.Context(), s.actor(r)); err != nil {
			d.ClientsError = s.agentState(r, err).Message
		}
	}
	s.render(w, r, http.StatusOK, "ap", "Access point", d)
}

// Template helpers of the AP page: methods, so that the page needs no
// functions of its own in the shared FuncMap.

// SecurityLabel names a security mode as a user knows it.
func (apData) SecurityLabel(s string) string {
	switch s {
	case config.SecurityWPA2:
		return "WPA2-Personal"
	case config.SecurityWPA3:
		return "WPA3-Personal (SAE)"
	case config.SecurityWPA2WPA3:
		return "WPA2/WPA3-Personal (transition)"
	}
	return s
}

// BandLabel names a band.
func (apData) BandLabel(b string) string {
	switch b {
	case config.Band24:
		return "2.4 GHz"
	case config.Band5:
		return "5 GHz"
	}
	return b
}

// SignalLabel says how good a signal in dBm is.
func (apData) SignalLabel(dbm int) string {
	switch {
	case dbm == 0:
		return "unknown"
	case dbm >= -55:
		return "excellent"
	case dbm >= -67:
		return "good"
	case dbm >= -75:
		return "fair"
	}
	return "weak"
}

// Since writes a number of seconds as 1d 2h 3m 4s.
func (apData) Since(secs int64) string {
	d, h, m, sec := secs/86400, secs%86400/3600, secs%3600/60, secs%60
	switch {
	case d > 0:
		return fmt.Sprintf("%dd %dh %dm", d, h, m)
	case h > 0:
		return fmt.Sprintf("%dh %dm", h, m)
	case m > 0:
		return fmt.Sprintf("%dm %ds", m, sec)
	}
	return fmt.Sprintf("%ds", sec)
}
