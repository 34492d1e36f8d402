package agent

import (
	"fmt"

	"github.com/devmgr/devmgr/internal/auth"
	"github.com/devmgr/devmgr/internal/dhcp"
	"github.com/devmgr/devmgr/internal/netif"
)

// The headers by which the web server names who acts.
const (
	HeaderUser   = "X-Devmgr-User"
	HeaderRole   = "X-Devmgr-Role"
	HeaderSource = "X-Devmgr-Source"
)

// Actor is who asks: the signed-in user (or token), the role the web server
// found, and the client's address. The agent checks the role again.
type Actor struct {
	User   string
	Role   auth.Role
	Source string
}

// LinkConfig is the body of PUT /v1/interfaces/{name}/config.
type LinkConfig = netif.LinkConfig

// Change is a network change: 202 answer of a change, GET /v1/changes/{id}.
// Status is pending, confirmed or rolled_back.
type Change = netif.Change

// Change statuses.
const (
	StatusPending    = netif.StatusPending
	StatusConfirmed  = netif.StatusConfirmed
	StatusRolledBack = netif.StatusRolledBack
)

// Interface is one interface as GET /v1/interfaces shows it: the netlink
// state plus what devmgr makes of it.
type Interface struct {
	netif.Interface
	// Role is "ap" (ap.interface, protected), "uplink", "lan" (configurable)
	// or "" for any other interface.
	Role string `json:"role,omitempty"`
	// Mode is the confirmed mode of a LAN interface (dhcp or static); ""
	// when devmgr has never configured it.
	Mode   string      `json:"mode,omitempty"`
	Config *LinkConfig `json:"config,omitempty"`
	// Lease is the DHCP lease of a LAN interface in mode dhcp, once bound.
	Lease *dhcp.Lease `json:"lease,omitempty"`
}

// Interface roles.
const (
	RoleAP     = "ap"
	RoleUplink = "uplink"
	RoleLAN    = "lan"
)

// Health is GET /v1/health.
type Health struct {
	Status  string  `json:"status"` // "ok"
	Version string  `json:"version"`
	Network bool    `json:"network"` // interfaces can be read and changed
	Pending *Change `json:"pending,omitempty"`
}

// StreamEvent is one line of a streamed diagnostic (application/x-ndjson):
// "line" events carry output as it comes, then one "done" (with the exit
// code) or "error" ends the stream.
type StreamEvent struct {
	Type       string `json:"type"` // line, done, error
	Text       string `json:"text,omitempty"`
	ExitCode   *int   `json:"exit_code,omitempty"`
	DurationMS int64  `json:"duration_ms,omitempty"`
	Error      string `json:"error,omitempty"`
}

// Stream event types.
const (
	EventLine  = "line"
	EventDone  = "done"
	EventError = "error"
)

// Error is an error answer of the agent, {"error": ..., "field": ...,
// "fields": [...]}, and
// what the client returns for one: Status is the HTTP status, Field the
// JSON field (or header, or path value) at fault, if any.
type Error struct {
	Status  int    `json:"-"`
	Message string `json:"error"`
	Field   string `json:"field,omitempty"`
	// Fields lists every bad field of a request that has several (the
	// first is Field and Message), for a form to mark them all.
	Fields []FieldProblem `json:"fields,omitempty"`
}

// FieldProblem is one bad field of a request.
type FieldProblem struct {
	Field   string `json:"field"`
	Message string `json:"error"`
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("agent: %s: %s (%d)", e.Field, e.Message, e.Status)
	}
	return fmt.Sprintf("agent: %s (%d)", e.Message, e.Status)
}

func errorf(status int, field, format string, args ...any) *Error {
	return &Error{Status: status, Field: field, Message: fmt.Sprintf(format, args...)}
}

// IsStatus reports whether err is an agent *Error with that status.
func IsStatus(err error, status int) bool {
	e, ok := asError(err)
	return ok && e.Status == status
}
