package web

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/devmgr/devmgr/internal/agent/api"
	agentclient "github.com/devmgr/devmgr/internal/agent/client"
)

// What pages and the API say when the agent cannot be reached, or does not
// answer in time. Written here only: every page shows these through
// agentState and the "agent-state" template.
const (
	agentDownMessage = "The device agent is not running: network information and changes are unavailable."
	agentSlowMessage = "The device is not answering. This page keeps trying and shows the device again as soon as it answers."
	agentBadMessage  = "The device agent gave no usable answer; see the console's log."
)

// agentState is how a page's agent-backed part went: fine, or a sentence
// for the user. Down says the agent is not there at all (no retry will help
// until it is started); otherwise the page keeps polling.
type agentState struct {
	Message string
	Down    bool
}

// OK reports whether the agent answered.
func (a agentState) OK() bool { return a.Message == "" }

// agentState turns an agent error into what a page shows.
func (s *Server) agentState(r *http.Request, err error) agentState {
	var ae *api.Error
	switch {
	case err == nil:
		return agentState{}
	case agentclient.Unavailable(err):
		return agentState{Message: agentDownMessage, Down: true}
	case errors.As(err, &ae):
		return agentState{Message: sentence(errors.New(ae.Message))}
	case errors.Is(err, context.DeadlineExceeded):
		return agentState{Message: agentSlowMessage}
	case r.Context().Err() != nil:
		return agentState{Message: agentSlowMessage} // nobody reads it
	}
	s.log.Error("calling the agent", "path", r.URL.Path, "err", err)
	return agentState{Message: agentBadMessage}
}

// agentError answers an API request that the agent refused or could not
// take: the agent's own status, message and field, or 503 when it is down.
func (s *Server) agentError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *api.Error
	switch {
	case errors.As(err, &ae):
		writeError(w, ae.Status, ae.Message, ae.Field)
	case agentclient.Unavailable(err):
		writeError(w, http.StatusServiceUnavailable, agentDownMessage, "")
	case r.Context().Err() != nil:
		// The caller went away; nobody reads the answer.
	default:
		s.log.Error("calling the agent", "method", r.Method, "path", r.URL.Path, "err", err)
		writeError(w, http.StatusBadGateway, agentBadMessage, "")
	}
}

// formAgentError marks f with what the agent refused: each bad field
// beside its input (fieldOf maps the agent's field to the form's input and
// a prefix such as "Address 2: "), anything else for the whole form. It
// returns the status to answer the form with.
func (s *Server) formAgentError(r *http.Request, f *form, err error, fieldOf func(string) (input, prefix string)) int {
	var ae *api.Error
	if !errors.As(err, &ae) {
		f.Error = s.agentState(r, err).Message
		return http.StatusServiceUnavailable
	}
	problems := ae.Fields
	if len(problems) == 0 && ae.Field != "" {
		problems = []api.FieldProblem{{Field: ae.Field, Message: ae.Message}}
	}
	for _, p := range problems {
		input, prefix := fieldOf(p.Field)
		if _, ok := f.Values[input]; ok {
			f.fail(input, prefix+p.Message)
		} else {
			f.Error = prefix + p.Message
		}
	}
	if len(problems) == 0 {
		f.Error = ae.Message
	}
	if ae.Status == http.StatusConflict {
		return http.StatusConflict
	}
	return http.StatusUnprocessableEntity
}

// settingLabels name the settings a change changes as the forms label
// them (network and access point).
var settingLabels = map[string]string{
	"mode": "Mode", "addresses": "Addresses", "gateway": "Gateway", "dns": "DNS servers", "mtu": "MTU", "up": "Link",
	"ssid": "Network name", "passphrase": "Passphrase", "security": "Security", "band": "Band", "channel": "Channel",
	"country": "Country", "isolate": "Client isolation", "hidden": "Hidden network",
	"start": "Range start", "end": "Range end", "lease_time": "Lease time", "static_leases": "Static leases", "static_lease": "Static lease",
}

func settingLabel(field string) string {
	if l, ok := settingLabels[field]; ok {
		return l
	}
	// A restore's change names each part's fields: ap_ssid, deny_list,
	// eth1_addresses (internal/backup).
	if part, f, ok := strings.Cut(field, "_"); ok {
		switch {
		case part == "deny" && f == "list":
			return "Deny list"
		case part == "ap" && settingLabels[f] != "":
			return "Access point: " + settingLabels[f]
		case settingLabels[f] != "":
			return part + ": " + settingLabels[f]
		}
	}
	return field
}

// changeView is a change that the device undoes unless it is confirmed,
// as the change panel shows it (network and access point alike).
type changeView struct {
	ID     string
	Status string // api.StatusPending, StatusConfirmed, StatusRolledBack, or "unknown"
	Error  string // why a rollback was incomplete, or why the change cannot be read
	What   string // "the settings of eth1"
	// URL is the change in the JSON API (the script reads and confirms it
	// there); PanelURL renders this panel again once it has ended.
	URL, PanelURL string
	Seconds       int // until the rollback
	// Who began it, when, what it changes (old → new), and what it still
	// waits for ("waiting for a DHCP lease").
	User       string
	Created    time.Time
	Changes    []api.FieldChange
	Waiting    string
	Auto       bool // made from this page: confirm as soon as the device answers
	CanConfirm bool // the viewer may confirm it (an admin)
	OOB        bool // swapped out of band, beside a form's answer
}
