package web

import (
	"github.com/devmgr/devmgr/internal/agent/api"
	"net/http"
	"time"
)

// streamWriteTimeout bounds a streamed diagnostic's answer; the server's
// write timeout is shorter than a 30-hop traceroute (the agent stops it
// after 70 s).
const streamWriteTimeout = 3 * time.Minute

type diagnosticsData struct {
	Agent     agentState
	Neighbors []api.Neighbor
	Leases    []api.DHCPLease
	DNSTypes  []string
	Now       time.Time
}

func (s *Server) diagnosticsPage(w http.ResponseWriter, r *http.Request) {
	d := diagnosticsData{DNSTypes: api.DNSTypes, Now: time.Now()}
	a := s.actor(r)
	var err error
	if d.Neighbors, err = s.agent.Neighbors(r.Context(), a); err == nil {
		d.Leases, err = s.agent.Leases(r.Context(), a)
	}
	if err != nil {
		d.Agent = s.agentState(r, err)
	}
	s.render(w, r, http.StatusOK, "diagnostics", "Diagnostics", d)
}
