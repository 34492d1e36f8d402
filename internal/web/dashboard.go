package web

import "net/http"

func (s *Server) dashboard(w http.ResponseWriter, r *http.Request) {
	sys, err := s.sys.Snapshot(r.Context())
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "dashboard", "Dashboard", sys)
}

// dashboardLive is the fragment htmx polls to refresh the dashboard.
func (s *Server) dashboardLive(w http.ResponseWriter, r *http.Request) {
	sys, err := s.sys.Snapshot(r.Context())
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	s.renderFragment(w, r, "dashboard", "system", sys)
}
