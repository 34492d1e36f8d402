package agent

import (
	"github.com/devmgr/devmgr/internal/agent/api"
)

// The agent's own code names the wire types of package api by these
// aliases; api declares them, once.
type (
	Actor     = api.Actor
	Error     = api.Error
	Interface = api.Interface
	Health    = api.Health
)

// LinkConfig and Change are the netif module's, which the Network
// interface passes; the handlers turn them into api's (wire.go).
type (
	LinkConfig = netifLinkConfig
	Change     = netifChange
)

// Change statuses.
const (
	StatusPending    = api.StatusPending
	StatusConfirmed  = api.StatusConfirmed
	StatusRolledBack = api.StatusRolledBack
)

// Interface roles.
const (
	RoleAP     = api.RoleAP
	RoleUplink = api.RoleUplink
	RoleLAN    = api.RoleLAN
)

// The headers by which the web server names who acts.
const (
	HeaderUser   = api.HeaderUser
	HeaderRole   = api.HeaderRole
	HeaderSource = api.HeaderSource
)

var errorf = api.Errorf

// IsStatus reports whether err is an agent *Error with that status.
func IsStatus(err error, status int) bool { return api.IsStatus(err, status) }
