package web

import (
	"context"
	"net/http"

	"github.com/devmgr/devmgr/internal/agent/api"
)

func (s *Server) dashboard(w http.ResponseWriter, r *http.Request) {
	sys, err := s.system(r)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "dashboard", "Dashboard", sys)
}

// dashboardLive is the fragment htmx polls to refresh the dashboard.
func (s *Server) dashboardLive(w http.ResponseWriter, r *http.Request) {
	sys, err := s.system(r)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	s.renderPart(w, r, http.StatusOK, "dashboard", "system", sys)
}

// system is the dashboard's state. With an agent configured, the interfaces
// are the agent's (it may run in another network namespace, and every
// interface read goes through it); without one, this host's.
func (s *Server) system(r *http.Request) (System, error) {
	sys, err := s.sys.Snapshot(r.Context())
	if _, none := s.agent.(noAgent); err != nil || none {
		return sys, err
	}
	ctx, cancel := context.WithTimeout(r.Context(), agentReadTimeout)
	defer cancel()
	ifs, err := s.agent.Interfaces(ctx, s.actor(r))
	if err != nil {
		sys.Interfaces = nil
		sys.InterfacesNote = s.agentState(r, err).Message
		return sys, nil
	}
	sys.Interfaces = dashboardInterfaces(ifs)
	return sys, nil
}

func dashboardInterfaces(ifs []api.Interface) []Interface {
	out := make([]Interface, 0, len(ifs))
	for _, i := range ifs {
		d := Interface{Name: i.Name, MAC: i.MAC, MTU: i.MTU, Addrs: i.Addresses, State: "up"}
		switch {
		case !i.AdminUp:
			d.State = "down"
		case !i.Carrier:
			d.State = "no-carrier"
		}
		if d.Addrs == nil {
			d.Addrs = []string{}
		}
		out = append(out, d)
	}
	return out
}
