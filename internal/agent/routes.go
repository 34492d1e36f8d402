package agent

import (
	"fmt"
	"net/http"

	"github.com/devmgr/devmgr/internal/agent/api"
)

// The audit actions are api's.
const (
	actConfig     = api.ActConfig
	actUp         = api.ActUp
	actDown       = api.ActDown
	actConfirm    = api.ActConfirm
	actRollback   = api.ActRollback
	actPing       = api.ActPing
	actTraceroute = api.ActTraceroute
	actDNS        = api.ActDNS
	actAPUpdate   = api.ActAPUpdate
	actAPConfirm  = api.ActAPConfirm
	actAPRollback = api.ActAPRollback
	actAPDeny     = api.ActAPDeny
	actAPAllow    = api.ActAPAllow
	actRejected   = api.ActRejected

	actAPDHCP         = api.ActAPDHCP
	actAPDHCPConfirm  = api.ActAPDHCPConfirm
	actAPDHCPRollback = api.ActAPDHCPRollback

	actCommandRun    = api.ActCommandRun
	actCommandCancel = api.ActCommandCancel

	actBackupCreate          = api.ActBackupCreate
	actBackupUpload          = api.ActBackupUpload
	actBackupDownload        = api.ActBackupDownload
	actBackupDelete          = api.ActBackupDelete
	actBackupRestore         = api.ActBackupRestore
	actBackupRestoreConfirm  = api.ActBackupRestoreConfirm
	actBackupRestoreRollback = api.ActBackupRestoreRollback
)

// handlers maps each route of api.Routes (by pattern) to its handler.
func (s *Server) handlers() map[string]handler {
	return map[string]handler{
		"GET /v1/health": s.health,
		"GET /v1/audit":  s.listAudit,

		"GET /v1/interfaces":               s.listInterfaces,
		"GET /v1/interfaces/{name}":        s.getInterface,
		"PUT /v1/interfaces/{name}/config": s.setConfig,
		"POST /v1/interfaces/{name}/up":    s.setUp(true),
		"POST /v1/interfaces/{name}/down":  s.setUp(false),
		"GET /v1/traffic":                  s.getTraffic,
		"GET /v1/changes/{id}":             s.getChange,
		"POST /v1/changes/{id}/confirm":    s.confirm,
		"POST /v1/diag/ping":               s.ping,
		"POST /v1/diag/traceroute":         s.traceroute,
		"POST /v1/diag/dns":                s.dns,
		"GET /v1/diag/neighbors":           s.neighbors,
		"GET /v1/dhcp/leases":              s.leases,
		"GET /v1/ap":                       s.getAP,
		"GET /v1/ap/clients":               s.apClients,
		"PUT /v1/ap/settings":              s.apUpdate,
		"GET /v1/ap/settings":              s.apSecretSettings,
		"GET /v1/ap/changes/{id}":          s.apGetChange,
		"POST /v1/ap/changes/{id}/confirm": s.apConfirm,
		"GET /v1/ap/deny":                  s.apDenied,
		"POST /v1/ap/deny":                 s.apDeny,
		"DELETE /v1/ap/deny/{mac}":         s.apAllow,

		"GET /v1/ap/dhcp":                       s.getDHCP,
		"PUT /v1/ap/dhcp":                       s.dhcpUpdate,
		"GET /v1/ap/dhcp/changes/{id}":          s.dhcpGetChange,
		"POST /v1/ap/dhcp/changes/{id}/confirm": s.dhcpConfirm,

		"GET /v1/backups":                        s.listBackups,
		"POST /v1/backups":                       s.createBackup,
		"POST /v1/backups/upload":                s.uploadBackup,
		"GET /v1/backups/{name}":                 s.downloadBackup,
		"DELETE /v1/backups/{name}":              s.deleteBackup,
		"POST /v1/backups/{name}/preview":        s.previewRestore,
		"POST /v1/backups/{name}/restore":        s.restoreBackup,
		"GET /v1/backups/restores/{id}":          s.getRestore,
		"POST /v1/backups/restores/{id}/confirm": s.confirmRestore,

		"GET /v1/commands":            s.listCommands,
		"POST /v1/commands/{id}/runs": s.startRun,
		"GET /v1/runs":                s.listRuns,
		"GET /v1/runs/{id}":           s.getRun,
		"GET /v1/runs/{id}/events":    s.runEvents,
		"POST /v1/runs/{id}/cancel":   s.cancelRun,

		"GET /v1/system/reset":         s.getReset,
		"GET /v1/system/reset/changes": s.resetChanges,
		"POST /v1/system/reset":        s.startReset,
		"GET /v1/system/reset/events":  s.resetEvents,
	}
}

// routes serves api.Routes, each with its handler behind the peer, actor
// and role checks; a route without a handler (or the reverse) is a
// programming error that stops the start.
func (s *Server) routes() (http.Handler, error) {
	hs := s.handlers()
	mux := http.NewServeMux()
	for _, rt := range api.Routes {
		h, ok := hs[rt.Pattern()]
		if !ok {
			return nil, fmt.Errorf("agent route %s has no handler", rt.Pattern())
		}
		delete(hs, rt.Pattern())
		mux.Handle(rt.Pattern(), s.wrap(rt, h))
	}
	for p := range hs {
		return nil, fmt.Errorf("agent handler %s is not in api.Routes", p)
	}
	mux.Handle("/", s.wrap(api.Route{}, s.notFound))
	return mux, nil
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request, _ Actor) error {
	return errorf(http.StatusNotFound, "", "no agent route %s %s", r.Method, r.URL.Path)
}
