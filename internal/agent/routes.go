package agent

import (
	"net/http"

	"github.com/devmgr/devmgr/internal/auth"
)

// route is one line of the route table: the pattern, the least role that
// may use it ("" for no actor at all), and the audit action recorded when a
// role is refused.
type route struct {
	pattern string
	min     auth.Role
	action  string
	h       handler
}

// The audit actions.
const (
	actConfig     = "network.config"
	actUp         = "network.up"
	actDown       = "network.down"
	actConfirm    = "network.confirm"
	actRollback   = "network.rollback"
	actPing       = "diag.ping"
	actTraceroute = "diag.traceroute"
	actDNS        = "diag.dns"
	actAPUpdate   = "ap.update"
	actAPConfirm  = "ap.confirm"
	actAPRollback = "ap.rollback"
	actAPDeny     = "ap.deny"
	actAPAllow    = "ap.allow"
	actRejected   = "agent.journal_rejected"
)

func (s *Server) routeTable() []route {
	return []route{
		{"GET /v1/health", "", "", s.health},
		{"GET /v1/audit", auditRole, "", s.listAudit},

		{"GET /v1/interfaces", readRole, "", s.listInterfaces},
		{"GET /v1/interfaces/{name}", readRole, "", s.getInterface},
		{"PUT /v1/interfaces/{name}/config", changeRole, actConfig, s.setConfig},
		{"POST /v1/interfaces/{name}/up", changeRole, actUp, s.setUp(true)},
		{"POST /v1/interfaces/{name}/down", changeRole, actDown, s.setUp(false)},
		{"GET /v1/changes/{id}", readRole, "", s.getChange},
		{"POST /v1/changes/{id}/confirm", changeRole, actConfirm, s.confirm},

		{"POST /v1/diag/ping", diagRole, actPing, s.ping},
		{"POST /v1/diag/traceroute", diagRole, actTraceroute, s.traceroute},
		{"POST /v1/diag/dns", diagRole, actDNS, s.dns},
		{"GET /v1/diag/neighbors", diagRole, "", s.neighbors},
		{"GET /v1/dhcp/leases", readRole, "", s.leases}, // the AP page shows them to everyone

		{"GET /v1/ap", readRole, "", s.getAP},
		{"GET /v1/ap/clients", readRole, "", s.apClients},
		{"PUT /v1/ap/settings", changeRole, actAPUpdate, s.apUpdate},
		{"GET /v1/ap/changes/{id}", readRole, "", s.apGetChange},
		{"POST /v1/ap/changes/{id}/confirm", changeRole, actAPConfirm, s.apConfirm},
		{"GET /v1/ap/deny", readRole, "", s.apDenied},
		{"POST /v1/ap/deny", changeRole, actAPDeny, s.apDeny},
		{"DELETE /v1/ap/deny/{mac}", changeRole, actAPAllow, s.apAllow},

		{"/", "", "", s.notFound},
	}
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range s.routeTable() {
		mux.Handle(rt.pattern, s.wrap(rt))
	}
	return mux
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request, _ Actor) error {
	return errorf(http.StatusNotFound, "", "no agent route %s %s", r.Method, r.URL.Path)
}
