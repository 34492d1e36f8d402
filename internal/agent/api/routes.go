package api

import (
	"strings"

	"github.com/devmgr/devmgr/internal/auth"
)

// Route is one endpoint of the agent.
type Route struct {
	Method string
	Path   string    // ServeMux pattern of the agent, under /v1/
	Min    auth.Role // least role; "" needs no actor (health)
	// Action is the audit action of a change or diagnostic; the agent also
	// records it when the role is refused.
	Action string
	// Web: the console forwards the route as /api/v1/... to this role.
	Web bool
	// Stream: the answer is NDJSON (StreamEvent lines, or ResetEvent
	// lines for a reset's progress), flushed as it comes.
	Stream bool
	// Download: the answer is a file (its own Content-Type and
	// Content-Disposition), which may take a while to send.
	Download bool
	// Events: the answer is server-sent events (text/event-stream),
	// flushed as they come, for as long as a command may run.
	Events bool
	// MaxBody bounds the request's body; 0 is 64 KiB.
	MaxBody int64
}

// Pattern is the agent's ServeMux pattern, e.g. "GET /v1/interfaces".
func (r Route) Pattern() string { return r.Method + " " + r.Path }

// WebPattern is the console's pattern, e.g. "GET /api/v1/interfaces".
func (r Route) WebPattern() string { return r.Method + " /api" + r.Path }

// AgentPath maps a console path (/api/v1/...) to the agent's (/v1/...).
func AgentPath(webPath string) (string, bool) {
	p, ok := strings.CutPrefix(webPath, "/api/v1/")
	return "/v1/" + p, ok
}

// Who may do what. The console checks the role; the agent checks it again
// per route (see internal/agent/policy.go for what that guards against).
const (
	ReadRole   = auth.Viewer   // interfaces, traffic, changes, AP, leases
	DiagRole   = auth.Operator // ping, traceroute, DNS, neighbours
	ChangeRole = auth.Admin    // interface config, up/down, AP settings and DHCP, confirm
	AuditRole  = auth.Admin    // the agent's own audit log
	SecretRole = auth.Admin    // the AP's passphrase (GET /v1/ap/settings)
)

// The audit actions.
const (
	ActConfig     = "network.config"
	ActUp         = "network.up"
	ActDown       = "network.down"
	ActConfirm    = "network.confirm"
	ActRollback   = "network.rollback"
	ActPing       = "diag.ping"
	ActTraceroute = "diag.traceroute"
	ActDNS        = "diag.dns"
	ActAPUpdate   = "ap.update"
	ActAPConfirm  = "ap.confirm"
	ActAPRollback = "ap.rollback"
	ActAPDeny     = "ap.deny"
	ActAPAllow    = "ap.allow"
	ActRejected   = "agent.journal_rejected"

	// The AP's DHCP server: a change of range, lease time or static
	// leases, its confirm, and its rollback by the agent.
	ActAPDHCP         = "ap.dhcp"
	ActAPDHCPConfirm  = "ap.dhcp.confirm"
	ActAPDHCPRollback = "ap.dhcp.rollback"
)

// Routes is every endpoint of the agent, in one place.
var Routes = []Route{
	{Method: "GET", Path: "/v1/health"},
	{Method: "GET", Path: "/v1/audit", Min: AuditRole}, // the console merges it into its own

	{Method: "GET", Path: "/v1/interfaces", Min: ReadRole, Web: true},
	{Method: "GET", Path: "/v1/interfaces/{name}", Min: ReadRole, Web: true},
	{Method: "PUT", Path: "/v1/interfaces/{name}/config", Min: ChangeRole, Action: ActConfig, Web: true},
	{Method: "POST", Path: "/v1/interfaces/{name}/up", Min: ChangeRole, Action: ActUp, Web: true},
	{Method: "POST", Path: "/v1/interfaces/{name}/down", Min: ChangeRole, Action: ActDown, Web: true},
	{Method: "GET", Path: "/v1/traffic", Min: ReadRole, Web: true},
	{Method: "GET", Path: "/v1/changes/{id}", Min: ReadRole, Web: true},
	{Method: "POST", Path: "/v1/changes/{id}/confirm", Min: ChangeRole, Action: ActConfirm, Web: true},

	{Method: "POST", Path: "/v1/diag/ping", Min: DiagRole, Action: ActPing, Web: true, Stream: true},
	{Method: "POST", Path: "/v1/diag/traceroute", Min: DiagRole, Action: ActTraceroute, Web: true, Stream: true},
	{Method: "POST", Path: "/v1/diag/dns", Min: DiagRole, Action: ActDNS, Web: true},
	{Method: "GET", Path: "/v1/diag/neighbors", Min: DiagRole, Web: true},
	{Method: "GET", Path: "/v1/dhcp/leases", Min: ReadRole, Web: true}, // the AP page shows them to everyone

	{Method: "GET", Path: "/v1/ap", Min: ReadRole, Web: true},
	{Method: "GET", Path: "/v1/ap/clients", Min: ReadRole, Web: true},
	{Method: "PUT", Path: "/v1/ap/settings", Min: ChangeRole, Action: ActAPUpdate, Web: true},
	// The passphrase: read by the console's AP page for its QR code, never
	// forwarded to the console's API.
	{Method: "GET", Path: "/v1/ap/settings", Min: SecretRole},
	{Method: "GET", Path: "/v1/ap/changes/{id}", Min: ReadRole, Web: true},
	{Method: "POST", Path: "/v1/ap/changes/{id}/confirm", Min: ChangeRole, Action: ActAPConfirm, Web: true},
	{Method: "GET", Path: "/v1/ap/deny", Min: ReadRole, Web: true},
	{Method: "POST", Path: "/v1/ap/deny", Min: ChangeRole, Action: ActAPDeny, Web: true},
	{Method: "DELETE", Path: "/v1/ap/deny/{mac}", Min: ChangeRole, Action: ActAPAllow, Web: true},
	{Method: "GET", Path: "/v1/ap/dhcp", Min: ReadRole, Web: true},
	{Method: "PUT", Path: "/v1/ap/dhcp", Min: ChangeRole, Action: ActAPDHCP, Web: true},
	{Method: "GET", Path: "/v1/ap/dhcp/changes/{id}", Min: ReadRole, Web: true},
	{Method: "POST", Path: "/v1/ap/dhcp/changes/{id}/confirm", Min: ChangeRole, Action: ActAPDHCPConfirm, Web: true},

	// Backups (backups.go). The upload, the restore and its confirmation
	// are the console's own routes: it streams the upload, checks the
	// password typed again, and ends its session once the restore has
	// ended every session.
	{Method: "GET", Path: "/v1/backups", Min: BackupRole, Web: true},
	{Method: "POST", Path: "/v1/backups", Min: BackupRole, Action: ActBackupCreate, Web: true},
	{Method: "POST", Path: "/v1/backups/upload", Min: BackupRole, Action: ActBackupUpload, MaxBody: MaxBackupUpload},
	{Method: "GET", Path: "/v1/backups/{name}", Min: BackupRole, Action: ActBackupDownload, Web: true, Download: true},
	{Method: "DELETE", Path: "/v1/backups/{name}", Min: BackupRole, Action: ActBackupDelete, Web: true},
	{Method: "POST", Path: "/v1/backups/{name}/preview", Min: BackupRole, Web: true},
	{Method: "POST", Path: "/v1/backups/{name}/restore", Min: BackupRole, Action: ActBackupRestore},
	{Method: "GET", Path: "/v1/backups/restores/{id}", Min: BackupRole, Web: true},
	{Method: "POST", Path: "/v1/backups/restores/{id}/confirm", Min: BackupRole, Action: ActBackupRestoreConfirm},

	// The command catalog: the least role any command may name; the agent
	// checks each command's own roles, and who may see a run (commands.go).
	{Method: "GET", Path: "/v1/commands", Min: CommandRole, Web: true},
	{Method: "POST", Path: "/v1/commands/{id}/runs", Min: CommandRole, Action: ActCommandRun, Web: true},
	{Method: "GET", Path: "/v1/runs", Min: CommandRole, Web: true},
	{Method: "GET", Path: "/v1/runs/{id}", Min: CommandRole, Web: true},
	{Method: "GET", Path: "/v1/runs/{id}/events", Min: CommandRole, Web: true, Events: true},
	{Method: "POST", Path: "/v1/runs/{id}/cancel", Min: CommandRole, Action: ActCommandCancel, Web: true},

	// The factory reset (reset.go). The console serves its own POST
	// /api/v1/system/reset: it checks the admin's password, then calls
	// this one without it.
	{Method: "GET", Path: "/v1/system/reset", Min: ResetRole, Web: true},
	{Method: "GET", Path: "/v1/system/reset/changes", Min: ResetRole, Web: true, Download: true},
	{Method: "POST", Path: "/v1/system/reset", Min: ResetRole, Action: ActReset},
	{Method: "GET", Path: "/v1/system/reset/events", Min: ResetRole, Web: true, Stream: true},
}

// Lookup finds the route of a pattern, e.g. "PUT /v1/ap/settings".
func Lookup(pattern string) (Route, bool) {
	for _, r := range Routes {
		if r.Pattern() == pattern {
			return r, true
		}
	}
	return Route{}, false
}
