package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/devmgr/devmgr/internal/agent"
	"github.com/devmgr/devmgr/internal/auth"
	"github.com/devmgr/devmgr/internal/diag"
	"github.com/devmgr/devmgr/internal/dnsmasq"
)

// Agent is the privileged agent as the console uses it: every interface
// read and change and every diagnostic goes through it. *agent.Client is
// the real one.
type Agent interface {
	Health(ctx context.Context) (agent.Health, error)
	Interfaces(ctx context.Context, a agent.Actor) ([]agent.Interface, error)
	Interface(ctx context.Context, a agent.Actor, name string) (agent.Interface, error)
	SetConfig(ctx context.Context, a agent.Actor, name string, lc agent.LinkConfig) (agent.Change, error)
	SetUp(ctx context.Context, a agent.Actor, name string, up bool) (agent.Change, error)
	Change(ctx context.Context, a agent.Actor, id string) (agent.Change, error)
	Confirm(ctx context.Context, a agent.Actor, id string) (agent.Change, error)
	Ping(ctx context.Context, a agent.Actor, r diag.PingRequest, line func(string)) (diag.Result, error)
	Traceroute(ctx context.Context, a agent.Actor, r diag.TracerouteRequest, line func(string)) (diag.Result, error)
	DNS(ctx context.Context, a agent.Actor, r diag.DNSRequest) (diag.DNSResult, error)
	Neighbors(ctx context.Context, a agent.Actor) ([]diag.Neighbor, error)
	Leases(ctx context.Context, a agent.Actor) ([]dnsmasq.Lease, error)
}

var _ Agent = (*agent.Client)(nil)

// agentDownMessage is what pages and the API say when the agent cannot be reached.
const agentDownMessage = "The device agent is not running: network information and changes are unavailable."

// noAgent is the Agent of a console configured without one.
type noAgent struct{}

var errNoAgent = fmt.Errorf("%w: no agent configured", agent.ErrUnavailable)

func (noAgent) Health(context.Context) (agent.Health, error) { return agent.Health{}, errNoAgent }
func (noAgent) Interfaces(context.Context, agent.Actor) ([]agent.Interface, error) {
	return nil, errNoAgent
}

func (noAgent) Interface(context.Context, agent.Actor, string) (agent.Interface, error) {
	return agent.Interface{}, errNoAgent
}

func (noAgent) SetConfig(context.Context, agent.Actor, string, agent.LinkConfig) (agent.Change, error) {
	return agent.Change{}, errNoAgent
}

func (noAgent) SetUp(context.Context, agent.Actor, string, bool) (agent.Change, error) {
	return agent.Change{}, errNoAgent
}

func (noAgent) Change(context.Context, agent.Actor, string) (agent.Change, error) {
	return agent.Change{}, errNoAgent
}

func (noAgent) Confirm(context.Context, agent.Actor, string) (agent.Change, error) {
	return agent.Change{}, errNoAgent
}

func (noAgent) Ping(context.Context, agent.Actor, diag.PingRequest, func(string)) (diag.Result, error) {
	return diag.Result{}, errNoAgent
}

func (noAgent) Traceroute(context.Context, agent.Actor, diag.TracerouteRequest, func(string)) (diag.Result, error) {
	return diag.Result{}, errNoAgent
}

func (noAgent) DNS(context.Context, agent.Actor, diag.DNSRequest) (diag.DNSResult, error) {
	return diag.DNSResult{}, errNoAgent
}

func (noAgent) Neighbors(context.Context, agent.Actor) ([]diag.Neighbor, error) {
	return nil, errNoAgent
}
func (noAgent) Leases(context.Context, agent.Actor) ([]dnsmasq.Lease, error) { return nil, errNoAgent }

// actor is who the agent is told is acting.
func (s *Server) actor(r *http.Request) agent.Actor {
	id := me(r)
	return agent.Actor{User: id.Name, Role: id.Role, Source: s.clientAddr(r)}
}

// agentError answers an API request that the agent refused or could not
// take: the agent's own status, message and field, or 503 when it is down.
func (s *Server) agentError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *agent.Error
	switch {
	case errors.As(err, &ae):
		writeError(w, ae.Status, ae.Message, ae.Field)
	case errors.Is(err, agent.ErrUnavailable):
		writeError(w, http.StatusServiceUnavailable, agentDownMessage, "")
	case r.Context().Err() != nil:
		// The caller went away; nobody reads the answer.
	default:
		s.log.Error("calling the agent", "method", r.Method, "path", r.URL.Path, "err", err)
		writeError(w, http.StatusBadGateway, "The device agent gave no usable answer; see the console's log.", "")
	}
}

// agentReply answers an API request with what the agent returned, or with
// its error as agentError does.
func (s *Server) agentReply(w http.ResponseWriter, r *http.Request, status int, v any, err error) {
	if err != nil {
		s.agentError(w, r, err)
		return
	}
	writeJSON(w, status, v)
}

// agentList is agentReply for a list: an empty one is [], not null.
func agentList[T any](s *Server, w http.ResponseWriter, r *http.Request, l []T, err error) {
	if l == nil {
		l = []T{}
	}
	s.agentReply(w, r, http.StatusOK, l, err)
}

// pageAgentError turns an agent error into the text a page shows.
func (s *Server) pageAgentError(r *http.Request, err error) (down bool, msg string) {
	var ae *agent.Error
	switch {
	case errors.Is(err, agent.ErrUnavailable):
		return true, agentDownMessage
	case errors.As(err, &ae):
		return false, "The device agent refused: " + ae.Message
	}
	s.log.Error("calling the agent", "path", r.URL.Path, "err", err)
	return false, "The device agent gave no usable answer; see the console's log."
}

// decodeBody reads a JSON body into v like decodeJSON, but names the field
// at fault in the error, as the agent does.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, "the body must be application/json", "")
		return false
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, terr := dec.Token(); !errors.Is(terr, io.EOF) {
			writeError(w, http.StatusBadRequest, "the body must be a single JSON object", "")
			return false
		}
		return true
	}
	var mbe *http.MaxBytesError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &mbe):
		writeError(w, http.StatusRequestEntityTooLarge, "the body is too large", "")
	case errors.As(err, &te) && te.Field != "":
		writeError(w, http.StatusBadRequest, fmt.Sprintf("must not be a JSON %s", te.Value), te.Field)
	case errors.Is(err, io.EOF):
		writeError(w, http.StatusBadRequest, "the body is empty: a JSON object is required", "")
	default:
		if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			writeError(w, http.StatusBadRequest, "is not a known field", strings.Trim(f, `"`))
			return false
		}
		writeError(w, http.StatusBadRequest, "invalid JSON: "+err.Error(), "")
	}
	return false
}

func (s *Server) apiInterfaces(w http.ResponseWriter, r *http.Request) {
	ifs, err := s.agent.Interfaces(r.Context(), s.actor(r))
	agentList(s, w, r, ifs, err)
}

func (s *Server) apiInterface(w http.ResponseWriter, r *http.Request) {
	i, err := s.agent.Interface(r.Context(), s.actor(r), r.PathValue("name"))
	s.agentReply(w, r, http.StatusOK, i, err)
}

// apiSetConfig applies a LAN interface's config: 202 with the pending
// change, which rolls back unless confirmed.
func (s *Server) apiSetConfig(w http.ResponseWriter, r *http.Request) {
	var lc agent.LinkConfig
	if !decodeBody(w, r, &lc) {
		return
	}
	ch, err := s.agent.SetConfig(r.Context(), s.actor(r), r.PathValue("name"), lc)
	s.agentReply(w, r, http.StatusAccepted, ch, err)
}

func (s *Server) apiSetUp(up bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ch, err := s.agent.SetUp(r.Context(), s.actor(r), r.PathValue("name"), up)
		s.agentReply(w, r, http.StatusAccepted, ch, err)
	}
}

func (s *Server) apiChange(w http.ResponseWriter, r *http.Request) {
	ch, err := s.agent.Change(r.Context(), s.actor(r), r.PathValue("id"))
	s.agentReply(w, r, http.StatusOK, ch, err)
}

func (s *Server) apiConfirm(w http.ResponseWriter, r *http.Request) {
	ch, err := s.agent.Confirm(r.Context(), s.actor(r), r.PathValue("id"))
	s.agentReply(w, r, http.StatusOK, ch, err)
}

// ifaceView is one interface on the Network page.
type ifaceView struct {
	agent.Interface
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
	Pending   *agent.Change
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
		if h, err := s.agent.Health(r.Context()); err == nil && h.Pending != nil && h.Pending.Status == agent.StatusPending {
			d.Pending = h.Pending
			d.PendingIn = max(0, int(time.Until(h.Pending.RollbackAt).Seconds()))
		}
	}
	s.render(w, r, http.StatusOK, "network", "Network", d)
}

func (s *Server) ifaceView(i agent.Interface) ifaceView {
	v := ifaceView{
		Interface: i,
		IsAP:      i.Name == s.cfg.AP.Interface || i.Role == agent.RoleAP,
		IsUplink:  slices.Contains(s.cfg.Uplinks, i.Name) || i.Role == agent.RoleUplink,
		IsLAN:     slices.Contains(s.cfg.LAN, i.Name) || i.Role == agent.RoleLAN,
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
