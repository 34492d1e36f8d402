package web

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/devmgr/devmgr/internal/agent/api"
)

// streamWriteTimeout bounds a streamed diagnostic's answer; the server's
// write timeout is shorter than a 30-hop traceroute (the agent stops it
// after 70 s).
const streamWriteTimeout = 3 * time.Minute

// diagnosticsData is the Diagnostics page and its live fragment. Ping and
// traceroute are not here: their output streams from the agent through
// the proxy into the page's script.
type diagnosticsData struct {
	Agent     agentState
	Neighbors []api.Neighbor
	Leases    []api.DHCPLease
	DNS       dnsView
	Streams   []streamForm
	OOB       bool // the tables of the live fragment, swapped out of band
}

// streamForm is the ping or traceroute form: a host and one number, as the
// agent's request names them.
type streamForm struct {
	Tool, Title, Run string // "ping", "Ping", the button
	Host             string // the host's placeholder
	Field, Label     string // the number
	Value, Help      string
}

var streamForms = []streamForm{
	{Tool: "ping", Title: "Ping", Run: "Ping", Host: "192.0.2.1", Field: "count", Label: "Count", Value: "4",
		Help: fmt.Sprintf("%d to %d packets", api.MinPingCount, api.MaxPingCount)},
	{Tool: "traceroute", Title: "Traceroute", Run: "Trace", Host: "example.com", Field: "max_hops", Label: "Max hops", Value: "15",
		Help: fmt.Sprintf("%d to %d", api.MinHops, api.MaxHops)},
}

// dnsView is the DNS lookup form and the answer to its last submission.
type dnsView struct {
	Form   *form
	Types  []string
	Result *api.DNSResult
}

// dnsFormFields are the DNS form's inputs, named as the agent names them.
var dnsFormFields = []string{"name", "type", "server"}

// loadDiagnostics reads the tables the page shows.
func (s *Server) loadDiagnostics(r *http.Request) diagnosticsData {
	ctx, cancel := context.WithTimeout(r.Context(), agentReadTimeout)
	defer cancel()
	d := diagnosticsData{Streams: streamForms, DNS: dnsView{Form: &form{Values: map[string]string{"type": "A"}, Errors: map[string]string{}}, Types: api.DNSTypes}}
	a := s.actor(r)
	var err error
	if d.Neighbors, err = s.agent.Neighbors(ctx, a); err == nil {
		d.Leases, err = s.agent.Leases(ctx, a)
	}
	d.Agent = s.agentState(r, err)
	return d
}

func (s *Server) diagnosticsPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "diagnostics", "Diagnostics", s.loadDiagnostics(r))
}

// diagnosticsLive is the fragment the page polls, and its Refresh buttons
// ask for: both tables and the agent's state, swapped out of band so that
// the forms are left alone.
func (s *Server) diagnosticsLive(w http.ResponseWriter, r *http.Request) {
	d := s.loadDiagnostics(r)
	d.OOB = true
	s.renderPart(w, r, http.StatusOK, "diagnostics", "diagnostics-live", d)
}

// diagnosticsDNS takes the DNS lookup form (htmx) and answers it again with
// the result, or with every field the agent refused marked.
func (s *Server) diagnosticsDNS(w http.ResponseWriter, r *http.Request) {
	f := newForm(r, dnsFormFields...)
	for _, k := range []string{"name", "server"} {
		f.Values[k] = strings.TrimSpace(f.Values[k])
	}
	v := dnsView{Form: f, Types: api.DNSTypes}
	res, err := s.agent.DNS(r.Context(), s.actor(r), api.DNSRequest{Name: f.Get("name"), Type: f.Get("type"), Server: f.Get("server")})
	status := http.StatusOK
	if err != nil {
		// The agent's words are sentences about its fields already.
		status = s.formAgentError(r, f, err, func(field string) (string, string) { return field, "" })
	} else {
		v.Result = &res
	}
	s.renderPart(w, r, status, "diagnostics", "dns-answer", v)
}
