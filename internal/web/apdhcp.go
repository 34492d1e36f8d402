package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/devmgr/devmgr/internal/agent/api"
	"github.com/devmgr/devmgr/internal/auth"
)

// dhcpData is the AP page's DHCP card: the range, lease time and static
// leases for every role, and the form that changes them for admins.
type dhcpData struct {
	Agent agentState
	DHCP  *api.APDHCP // nil: the agent did not answer
	Form  *form       // admins only
	// OOB swaps the card out of band (beside the change panel).
	OOB bool
}

var dhcpFormFields = []string{"start", "end", "lease", "static"}

// loadDHCP reads the card; the form too for admins.
func (s *Server) loadDHCP(ctx context.Context, r *http.Request) (dhcpData, *api.APChange) {
	d, err := s.agent.APDHCP(ctx, s.actor(r))
	if err != nil {
		return dhcpData{Agent: s.agentState(r, err)}, nil
	}
	v := dhcpData{DHCP: &d}
	if me(r).Role.AtLeast(auth.Admin) {
		v.Form = dhcpForm(d)
	}
	return v, d.Pending
}

// dhcpForm holds the settings in force: one static lease per line.
func dhcpForm(d api.APDHCP) *form {
	lines := make([]string, 0, len(d.StaticLeases))
	for _, l := range d.StaticLeases {
		lines = append(lines, strings.TrimSpace(l.MAC+" "+l.IP+" "+l.Hostname))
	}
	return &form{Values: map[string]string{
		"start": d.Start, "end": d.End, "lease": leaseText(d.LeaseTime), "static": strings.Join(lines, "\n"),
	}, Errors: map[string]string{}}
}

// leaseText writes a lease time as the form takes it: 24h, 90m, 45s.
func leaseText(seconds int64) string {
	d := time.Duration(seconds) * time.Second
	switch {
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return fmt.Sprintf("%ds", seconds)
}

// dhcpUpdate reads the form; every field is sent, so that the change is
// what the form shows.
func dhcpUpdate(f *form) (api.APDHCPUpdate, bool) {
	start, end := strings.TrimSpace(f.Get("start")), strings.TrimSpace(f.Get("end"))
	u := api.APDHCPUpdate{Start: &start, End: &end}
	if lt, err := time.ParseDuration(strings.TrimSpace(f.Get("lease"))); err != nil || lt%time.Second != 0 {
		f.fail("lease", "Enter the lease time in hours, minutes or seconds, such as 12h, 90m or 600s.")
	} else {
		secs := int64(lt / time.Second)
		u.LeaseTime = &secs
	}
	leases := []api.StaticLease{}
	for n, line := range strings.Split(f.Get("static"), "\n") {
		fields := strings.Fields(line)
		switch {
		case len(fields) == 0:
			continue
		case len(fields) < 2 || len(fields) > 3:
			f.fail("static", fmt.Sprintf("Line %d: write a MAC address, an IP address and optionally a hostname, separated by spaces.", n+1))
			continue
		}
		l := api.StaticLease{MAC: fields[0], IP: fields[1]}
		if len(fields) == 3 {
			l.Hostname = fields[2]
		}
		leases = append(leases, l)
	}
	u.StaticLeases = &leases
	return u, f.ok()
}

// dhcpFieldOf names the form's input for an agent field:
// static_leases[2].mac is line 3 of the static leases.
func dhcpFieldOf(lines []int) func(string) (string, string) {
	return func(field string) (string, string) {
		switch field {
		case "start", "end":
			return field, settingLabel(field) + ": "
		case "lease_time":
			return "lease", settingLabel(field) + ": "
		}
		if rest, ok := strings.CutPrefix(field, "static_leases["); ok {
			i, err := strconv.Atoi(rest[:max(0, strings.IndexByte(rest, ']'))])
			if err == nil && i >= 0 && i < len(lines) {
				return "static", fmt.Sprintf("Line %d: ", lines[i])
			}
			return "static", ""
		}
		return field, ""
	}
}

// staticLines maps each static lease sent to its line in the form.
func staticLines(text string) []int {
	var lines []int
	for n, line := range strings.Split(text, "\n") {
		if strings.TrimSpace(line) != "" {
			lines = append(lines, n+1)
		}
	}
	return lines
}

// apDHCPApply takes the DHCP form (htmx): the form again, with every bad
// field marked, or with the change panel out of band.
func (s *Server) apDHCPApply(w http.ResponseWriter, r *http.Request) {
	f := newForm(r, dhcpFormFields...)
	d := apData{DHCP: dhcpData{Form: f}}
	u, ok := dhcpUpdate(f)
	if !ok {
		s.renderPart(w, r, http.StatusUnprocessableEntity, "ap", "ap-dhcp-answer", d)
		return
	}
	ch, err := s.agent.APDHCPUpdate(r.Context(), s.actor(r), u)
	if err != nil {
		status := s.formAgentError(r, f, err, dhcpFieldOf(staticLines(f.Get("static"))))
		sentences(f)
		s.renderPart(w, r, status, "ap", "ap-dhcp-answer", d)
		return
	}
	d.Pending = s.dhcpChangeView(r, ch, true)
	d.Pending.OOB = true
	s.renderPart(w, r, http.StatusOK, "ap", "ap-dhcp-answer", d)
}

// apDHCPChange is the change panel of a DHCP change once it has ended,
// with the card in force out of band.
func (s *Server) apDHCPChange(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), agentReadTimeout)
	defer cancel()
	ch, err := s.agent.APDHCPChange(ctx, s.actor(r), r.PathValue("id"))
	if err != nil {
		s.renderPart(w, r, http.StatusOK, "ap", "change-panel-part", &changeView{Status: "unknown", Error: s.agentState(r, err).Message})
		return
	}
	d := apData{Pending: s.dhcpChangeView(r, ch, false)}
	if ch.Status != api.StatusPending {
		d.DHCP, _ = s.loadDHCP(ctx, r)
		d.DHCP.OOB = true
	}
	s.renderPart(w, r, http.StatusOK, "ap", "ap-dhcp-change-answer", d)
}

func (s *Server) dhcpChangeView(r *http.Request, ch api.APChange, auto bool) *changeView {
	v := s.apChangeView(r, ch, auto)
	id := url.PathEscape(ch.ID)
	v.What = "the DHCP settings"
	v.URL = "/api/v1/ap/dhcp/changes/" + id
	v.PanelURL = "/ap/dhcp/changes/" + id
	return v
}
