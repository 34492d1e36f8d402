package web

import (
	"io/fs"
	"net/http"
	"strings"

	"github.com/devmgr/devmgr/internal/auth"
)

// access is who may reach a route.
type access int

const (
	public    access = iota // anyone, no session: health check, static files
	guest                   // anyone, with a session: the login page
	loginForm               // anyone; the form carries its own signed token instead of the session's
	loggedIn                // any authenticated caller, even one who must change the password first
	role                    // authenticated, password changed, and at least the route's role
)

// route is one entry of the route table.
type route struct {
	pattern string // a ServeMux pattern with method
	access  access
	min     auth.Role // for access == role
	handler http.HandlerFunc
}

// routeTable is every route the console serves. Adding a page means adding
// a line here with the least role that may use it; nothing else decides
// access.
func (s *Server) routeTable() []route {
	return append(s.agentRoutes(), []route{
		{"GET /healthz", public, "", s.healthz},
		{"GET /static/", public, "", s.static},
		{"GET /favicon.ico", public, "", s.favicon},

		{"GET /login", guest, "", s.loginPage},
		{"POST /login", loginForm, "", s.loginSubmit},
		{"POST /api/v1/login", guest, "", s.apiLogin},
		{"/", guest, "", s.notFound},

		{"POST /logout", loggedIn, "", s.logout},
		{"POST /session/renew", loggedIn, "", s.renewSession},
		{"GET /account/password", loggedIn, "", s.passwordPage},
		{"POST /account/password", loggedIn, "", s.passwordSubmit},

		{"GET /{$}", role, auth.Viewer, s.dashboard},
		{"GET /dashboard/live", role, auth.Viewer, s.dashboardLive},
		{"GET /api/v1/me", role, auth.Viewer, s.apiMe},
		{"GET /api/v1/system", role, auth.Viewer, s.apiSystem},

		// Pages that show the agent's state; its API routes come from
		// api.Routes (agentRoutes) and the agent checks each role again.
		{"GET /network", role, auth.Viewer, s.networkPage},
		{"GET /network/live", role, auth.Viewer, s.networkLive},
		{"POST /network/{name}", role, auth.Admin, s.networkApply},
		{"POST /network/{name}/up", role, auth.Admin, s.networkApply},
		{"POST /network/{name}/down", role, auth.Admin, s.networkApply},
		{"GET /network/changes/{id}", role, auth.Viewer, s.networkChange},
		{"GET /diagnostics", role, auth.Operator, s.diagnosticsPage},
		{"GET /diagnostics/live", role, auth.Operator, s.diagnosticsLive},
		{"POST /diagnostics/dns", role, auth.Operator, s.diagnosticsDNS},
		{"GET /ap", role, auth.Viewer, s.apPage},
		{"GET /ap/live", role, auth.Viewer, s.apLive},
		{"POST /ap/settings", role, auth.Admin, s.apApply},
		{"GET /ap/changes/{id}", role, auth.Viewer, s.apChange},
		{"POST /ap/dhcp", role, auth.Admin, s.apDHCPApply},
		{"GET /ap/dhcp/changes/{id}", role, auth.Viewer, s.apDHCPChange},
		{"POST /ap/deny", role, auth.Admin, s.apBlock},
		{"POST /ap/allow", role, auth.Admin, s.apBlock},

		// The command catalog: the agent decides which commands a role
		// may run and which runs it sees (an admin all, others their own).
		{"GET /commands", role, auth.Operator, s.commandsPage},
		{"POST /commands/{id}/run", role, auth.Operator, s.commandRun},
		{"GET /commands/history", role, auth.Operator, s.runsPage},
		{"GET /commands/runs/{id}", role, auth.Operator, s.runPage},
		{"GET /commands/runs/{id}/end", role, auth.Operator, s.runEnd},

		// System → Backups: the agent keeps them; the download is its
		// route (agentRoutes), the rest the console's, which checks the
		// password typed again for a restore.
		{"GET /system/backups", role, auth.Admin, s.backupsPage},
		{"POST /system/backups/create", role, auth.Admin, s.backupCreate},
		{"POST /system/backups/upload", role, auth.Admin, s.backupUpload},
		{"POST /system/backups/delete/{name}", role, auth.Admin, s.backupDelete},
		{"GET /system/backups/restore/{name}", role, auth.Admin, s.restorePage},
		{"POST /system/backups/preview/{name}", role, auth.Admin, s.restorePreview},
		{"POST /system/backups/restore/{name}", role, auth.Admin, s.restoreSubmit},
		{"GET /system/backups/changes/{id}", role, auth.Admin, s.restoreChange},
		{"POST /api/v1/backups/upload", role, auth.Admin, s.apiBackupUpload},
		{"POST /api/v1/backups/{name}/restore", role, auth.Admin, s.apiBackupRestore},
		{"POST /api/v1/backups/restores/{id}/confirm", role, auth.Admin, s.apiRestoreConfirm},

		{"GET /users", role, auth.Admin, s.usersPage},
		{"POST /users", role, auth.Admin, s.userAdd},
		{"POST /users/{id}/role", role, auth.Admin, s.userRole},
		{"POST /users/{id}/reset", role, auth.Admin, s.userReset},
		{"POST /users/{id}/delete", role, auth.Admin, s.userDelete},
		{"GET /api/v1/users", role, auth.Admin, s.apiUsers},
		{"GET /audit", role, auth.Admin, s.auditPage},
		{"GET /api/v1/audit", role, auth.Admin, s.apiAudit},

		// The factory reset: the console checks the admin's password,
		// the agent the rest; the reset's other API routes are the
		// agent's (api.Routes).
		{"GET /system", role, auth.Admin, s.systemPage},
		{"GET /system/live", role, auth.Admin, s.systemLive},
		{"POST /system/reset", role, auth.Admin, s.systemReset},
		{"POST /api/v1/system/reset", role, auth.Admin, s.apiStartReset},
	}...)
}

// routes builds the handler: the route table on one ServeMux, each route
// behind the checks of its access level (serveRoute), all behind the
// security headers, body limit and cross-origin protection (front).
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range s.routeTable() {
		if rt.access == public {
			mux.Handle(rt.pattern, rt.handler)
			continue
		}
		mux.HandleFunc(rt.pattern, func(w http.ResponseWriter, r *http.Request) { s.serveRoute(&rt, w, r) })
	}
	return s.front(mux)
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok\n"))
}

// static serves the embedded files. Pages link them with their content
// hash (?v=), so browsers may keep those for a day without going stale
// after an upgrade; a URL without it (a module's import) is revalidated
// by its ETag, the same hash.
func (s *Server) static(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/static/")
	if st, err := fs.Stat(s.views.static, name); err != nil || st.IsDir() { // no listings; our 404 page
		s.notFound(w, r)
		return
	}
	hash := s.views.hashes[name]
	w.Header().Set("ETag", `"`+hash+`"`)
	if r.URL.Query().Get("v") == hash {
		w.Header().Set("Cache-Control", "public, max-age=86400, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	http.StripPrefix("/static/", http.FileServerFS(s.views.static)).ServeHTTP(w, r)
}

// favicon answers browsers' /favicon.ico with the console's icon.
func (s *Server) favicon(w http.ResponseWriter, r *http.Request) {
	b, err := fs.ReadFile(s.views.static, "favicon.svg")
	if err != nil {
		s.notFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "public, max-age=86400")
	w.Write(b)
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	s.errorPage(w, r, http.StatusNotFound, "There is no page at "+r.URL.Path+".")
}
