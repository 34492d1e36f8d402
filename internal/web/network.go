package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/devmgr/devmgr/internal/agent/api"
	agentclient "github.com/devmgr/devmgr/internal/agent/client"
	"github.com/devmgr/devmgr/internal/auth"
)

// Agent is the privileged agent as the console's pages read it, to render
// them on the server; *agentclient.Client is the real one. The JSON API's agent
// routes do not come through here: they are forwarded as they are by the
// allow-listed proxy (proxy.go), over Transport.
type Agent interface {
	Health(ctx context.Context) (api.Health, error)
	Interfaces(ctx context.Context, a api.Actor) ([]api.Interface, error)
	Neighbors(ctx context.Context, a api.Actor) ([]api.Neighbor, error)
	Leases(ctx context.Context, a api.Actor) ([]api.DHCPLease, error)
	AP(ctx context.Context, a api.Actor) (api.APInfo, error)
	APClients(ctx context.Context, a api.Actor) ([]api.APClient, error)
	Audit(ctx context.Context, a api.Actor, q api.AuditQuery) ([]api.AuditRecord, error)
	// Transport reaches the agent's socket, for the proxy.
	Transport() http.RoundTripper
}

var _ Agent = (*agentclient.Client)(nil)

// agentDownMessage is what pages and the API say when the agent cannot be reached.
const agentDownMessage = "The device agent is not running: network information and changes are unavailable."

// noAgent is the Agent of a console configured without one.
type noAgent struct{}

var errNoAgent = fmt.Errorf("%w: no agent configured", agentclient.ErrUnavailable)

func (noAgent) Health(context.Context) (api.Health, error) { return api.Health{}, errNoAgent }
func (noAgent) Interfaces(context.Context, api.Actor) ([]api.Interface, error) {
	return nil, errNoAgent
}
func (noAgent) Neighbors(context.Context, api.Actor) ([]api.Neighbor, error) { return nil, errNoAgent }
func (noAgent) Leases(context.Context, api.Actor) ([]api.DHCPLease, error)   { return nil, errNoAgent }
func (noAgent) AP(context.Context, api.Actor) (api.APInfo, error)            { return api.APInfo{}, errNoAgent }
func (noAgent) APClients(context.Context, api.Actor) ([]api.APClient, error) { return nil, errNoAgent }
func (noAgent) Audit(context.Context, api.Actor, api.AuditQuery) ([]api.AuditRecord, error) {
	return nil, errNoAgent
}
func (noAgent) Transport() http.RoundTripper { return noTransport{} }

// noTransport answers every request with errNoAgent.
type noTransport struct{}

func (noTransport) RoundTrip(*http.Request) (*http.Response, error) { return nil, errNoAgent }

// actor is who the agent is told is acting.
func (s *Server) actor(r *http.Request) api.Actor {
	id := me(r)
	return api.Actor{User: id.Name, Role: id.Role, Source: s.clientAddr(r)}
}

// agentError answers an API request that the agent refused or could not
// take: the agent's own status, message and field, or 503 when it is down.
func (s *Server) agentError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *api.Error
	switch {
	case errors.As(err, &ae):
		writeError(w, ae.Status, ae.Message, ae.Field)
	case agentclient.Unavailable(err):
		writeError(w, http.StatusServiceUnavailable, agentDownMessage, "")
	case r.Context().Err() != nil:
		// The caller went away; nobody reads the answer.
	default:
		s.log.Error("calling the agent", "method", r.Method, "path", r.URL.Path, "err", err)
		writeError(w, http.StatusBadGateway, "The device agent gave no usable answer; see the console's log.", "")
	}
}

// pageAgentError turns an agent error into the text a page shows.
func (s *Server) pageAgentError(r *http.Request, err error) (down bool, msg string) {
	var ae *api.Error
	switch {
	case agentclient.Unavailable(err):
		return true, agentDownMessage
	case errors.As(err, &ae):
		return false, "The device agent refused: " + ae.Message
	}
	s.log.Error("calling the agent", "path", r.URL.Path, "err", err)
	return false, "The device agent gave no usable answer; see the console's log."
}

// ifaceView is one interface on the Network page.
type ifaceView struct {
	api.Interface
	IsAP, IsUplink, IsLAN bool
	// The LAN form's values: the saved config, or what the link has now.
	FormMode, FormAddresses, FormGateway, FormDNS, FormMTU string
}

// State is up, down or no carrier.
func (i ifaceView) State() string {
	switch {
	case !i.AdminUp:
		return "down"
	case !i.Carrier:
		return "no carrier"
	}
	return "up"
}

type networkData struct {
	AgentDown string // agentDownMessage when the agent cannot be reached
	Error     string
	Ifaces    []ifaceView
	// Pending is the change waiting for confirmation, if any, and the
	// seconds until it rolls back.
	Pending   *api.Change
	PendingIn int
}

func (s *Server) networkPage(w http.ResponseWriter, r *http.Request) {
	var d networkData
	ifs, err := s.agent.Interfaces(r.Context(), s.actor(r))
	if err != nil {
		down, msg := s.pageAgentError(r, err)
		if down {
			d.AgentDown = msg
		} else {
			d.Error = msg
		}
	}
	for _, i := range ifs {
		d.Ifaces = append(d.Ifaces, s.ifaceView(i))
	}
	if err == nil && me(r).Role.AtLeast(auth.Admin) {
		if h, err := s.agent.Health(r.Context()); err == nil && h.Pending != nil && h.Pending.Status == api.StatusPending {
			d.Pending = h.Pending
			d.PendingIn = max(0, int(time.Until(h.Pending.RollbackAt).Seconds()))
		}
	}
	s.render(w, r, http.StatusOK, "network", "Network", d)
}

func (s *Server) ifaceView(i api.Interface) ifaceView {
	v := ifaceView{
		Interface: i,
		IsAP:      i.Name == s.cfg.AP.Interface || i.Role == api.RoleAP,
		IsUplink:  slices.Contains(s.cfg.Uplinks, i.Name) || i.Role == api.RoleUplink,
		IsLAN:     slices.Contains(s.cfg.LAN, i.Name) || i.Role == api.RoleLAN,
	}
	if v.IsAP {
		v.IsLAN = false // the agent refuses changes to it anyway
	}
	if !v.IsLAN {
		return v
	}
	if c := i.Config; c != nil {
		v.FormMode = c.Mode
		v.FormAddresses = strings.Join(c.Addresses, ", ")
		v.FormGateway = c.Gateway
		v.FormDNS = strings.Join(c.DNS, ", ")
		if c.MTU != 0 {
			v.FormMTU = fmt.Sprint(c.MTU)
		}
		return v
	}
	// Never configured by devmgr: offer what the link has now.
	v.FormMode = i.Mode
	var addrs []string
	for _, a := range i.Addresses {
		if p, err := netip.ParsePrefix(a); err == nil && !p.Addr().IsLinkLocalUnicast() {
			addrs = append(addrs, a)
		}
	}
	if v.FormMode == "" {
		v.FormMode = "static"
	}
	v.FormAddresses = strings.Join(addrs, ", ")
	v.FormGateway = i.Gateway
	if i.MTU != 0 {
		v.FormMTU = fmt.Sprint(i.MTU)
	}
	return v
}
