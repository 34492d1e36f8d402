package web

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

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
	Traffic(ctx context.Context, a api.Actor, name string, since time.Time) (api.Traffic, error)
	// The LAN form's changes, and a change's state for its panel.
	SetConfig(ctx context.Context, a api.Actor, name string, lc api.LinkConfig) (api.Change, error)
	SetUp(ctx context.Context, a api.Actor, name string, up bool) (api.Change, error)
	Change(ctx context.Context, a api.Actor, id string) (api.Change, error)
	Neighbors(ctx context.Context, a api.Actor) ([]api.Neighbor, error)
	DNS(ctx context.Context, a api.Actor, r api.DNSRequest) (api.DNSResult, error)
	Leases(ctx context.Context, a api.Actor) ([]api.DHCPLease, error)
	AP(ctx context.Context, a api.Actor) (api.APInfo, error)
	APClients(ctx context.Context, a api.Actor) ([]api.APClient, error)
	// The AP page's admin parts: the passphrase for the QR code to join,
	// the settings form's change and its panel, blocking and allowing.
	APSecretSettings(ctx context.Context, a api.Actor) (api.APSecretSettings, error)
	APUpdate(ctx context.Context, a api.Actor, u api.APUpdate) (api.APChange, error)
	APChange(ctx context.Context, a api.Actor, id string) (api.APChange, error)
	APDHCP(ctx context.Context, a api.Actor) (api.APDHCP, error)
	APDHCPUpdate(ctx context.Context, a api.Actor, u api.APDHCPUpdate) (api.APChange, error)
	APDHCPChange(ctx context.Context, a api.Actor, id string) (api.APChange, error)
	APDeny(ctx context.Context, a api.Actor, mac string) ([]string, error)
	APAllow(ctx context.Context, a api.Actor, mac string) ([]string, error)
	Audit(ctx context.Context, a api.Actor, q api.AuditQuery) ([]api.AuditRecord, error)
	// The Commands pages: the catalog, a run started from a form, a run
	// and the history; a run's output and its cancel go through the proxy.
	Commands(ctx context.Context, a api.Actor) ([]api.Command, error)
	StartRun(ctx context.Context, a api.Actor, id string, params map[string]string) (api.RunStarted, error)
	Run(ctx context.Context, a api.Actor, id int64) (api.Run, error)
	Runs(ctx context.Context, a api.Actor, q api.RunQuery) (api.RunList, error)
	// System → Backups: the list, a backup made now, an upload, a
	// deletion, a restore's preview, the restore, its change and its
	// confirmation; the download goes through the proxy.
	Backups(ctx context.Context, a api.Actor) (api.BackupList, error)
	CreateBackup(ctx context.Context, a api.Actor, passphrase string) (api.BackupInfo, error)
	UploadBackup(ctx context.Context, a api.Actor, passphrase string, r io.Reader) (api.BackupInfo, error)
	DeleteBackup(ctx context.Context, a api.Actor, name string) (api.BackupList, error)
	PreviewRestore(ctx context.Context, a api.Actor, name string, r api.RestoreRequest) (api.RestorePlan, error)
	RestoreBackup(ctx context.Context, a api.Actor, name string, r api.RestoreRequest) (api.RestoreResult, error)
	RestoreChange(ctx context.Context, a api.Actor, id string) (api.BackupChange, error)
	ConfirmRestore(ctx context.Context, a api.Actor, id string) (api.BackupChange, error)
	// The System page's factory reset: the overlay and the last run, and
	// a reset started once the console has checked the password; the
	// changes' download and the progress go through the proxy.
	SystemReset(ctx context.Context, a api.Actor) (api.SystemReset, error)
	StartReset(ctx context.Context, a api.Actor, req api.ResetRequest) (api.ResetRun, error)
	// Transport reaches the agent's socket, for the proxy.
	Transport() http.RoundTripper
}

var _ Agent = (*agentclient.Client)(nil)

// noAgent is the Agent of a console configured without one.
type noAgent struct{}

var errNoAgent = fmt.Errorf("%w: no agent configured", agentclient.ErrUnavailable)

func (noAgent) Backups(context.Context, api.Actor) (api.BackupList, error) {
	return api.BackupList{}, errNoAgent
}
func (noAgent) CreateBackup(context.Context, api.Actor, string) (api.BackupInfo, error) {
	return api.BackupInfo{}, errNoAgent
}
func (noAgent) UploadBackup(context.Context, api.Actor, string, io.Reader) (api.BackupInfo, error) {
	return api.BackupInfo{}, errNoAgent
}
func (noAgent) DeleteBackup(context.Context, api.Actor, string) (api.BackupList, error) {
	return api.BackupList{}, errNoAgent
}
func (noAgent) PreviewRestore(context.Context, api.Actor, string, api.RestoreRequest) (api.RestorePlan, error) {
	return api.RestorePlan{}, errNoAgent
}
func (noAgent) RestoreBackup(context.Context, api.Actor, string, api.RestoreRequest) (api.RestoreResult, error) {
	return api.RestoreResult{}, errNoAgent
}
func (noAgent) RestoreChange(context.Context, api.Actor, string) (api.BackupChange, error) {
	return api.BackupChange{}, errNoAgent
}
func (noAgent) ConfirmRestore(context.Context, api.Actor, string) (api.BackupChange, error) {
	return api.BackupChange{}, errNoAgent
}
func (noAgent) Health(context.Context) (api.Health, error) { return api.Health{}, errNoAgent }
func (noAgent) Interfaces(context.Context, api.Actor) ([]api.Interface, error) {
	return nil, errNoAgent
}
func (noAgent) Traffic(context.Context, api.Actor, string, time.Time) (api.Traffic, error) {
	return api.Traffic{}, errNoAgent
}
func (noAgent) SetConfig(context.Context, api.Actor, string, api.LinkConfig) (api.Change, error) {
	return api.Change{}, errNoAgent
}
func (noAgent) SetUp(context.Context, api.Actor, string, bool) (api.Change, error) {
	return api.Change{}, errNoAgent
}
func (noAgent) Change(context.Context, api.Actor, string) (api.Change, error) {
	return api.Change{}, errNoAgent
}
func (noAgent) Neighbors(context.Context, api.Actor) ([]api.Neighbor, error) { return nil, errNoAgent }
func (noAgent) Leases(context.Context, api.Actor) ([]api.DHCPLease, error)   { return nil, errNoAgent }
func (noAgent) DNS(context.Context, api.Actor, api.DNSRequest) (api.DNSResult, error) {
	return api.DNSResult{}, errNoAgent
}
func (noAgent) AP(context.Context, api.Actor) (api.APInfo, error)            { return api.APInfo{}, errNoAgent }
func (noAgent) APClients(context.Context, api.Actor) ([]api.APClient, error) { return nil, errNoAgent }
func (noAgent) APSecretSettings(context.Context, api.Actor) (api.APSecretSettings, error) {
	return api.APSecretSettings{}, errNoAgent
}
func (noAgent) APUpdate(context.Context, api.Actor, api.APUpdate) (api.APChange, error) {
	return api.APChange{}, errNoAgent
}
func (noAgent) APChange(context.Context, api.Actor, string) (api.APChange, error) {
	return api.APChange{}, errNoAgent
}
func (noAgent) APDHCP(context.Context, api.Actor) (api.APDHCP, error) {
	return api.APDHCP{}, errNoAgent
}
func (noAgent) APDHCPUpdate(context.Context, api.Actor, api.APDHCPUpdate) (api.APChange, error) {
	return api.APChange{}, errNoAgent
}
func (noAgent) APDHCPChange(context.Context, api.Actor, string) (api.APChange, error) {
	return api.APChange{}, errNoAgent
}
func (noAgent) APDeny(context.Context, api.Actor, string) ([]string, error)  { return nil, errNoAgent }
func (noAgent) APAllow(context.Context, api.Actor, string) ([]string, error) { return nil, errNoAgent }
func (noAgent) Audit(context.Context, api.Actor, api.AuditQuery) ([]api.AuditRecord, error) {
	return nil, errNoAgent
}
func (noAgent) Commands(context.Context, api.Actor) ([]api.Command, error) { return nil, errNoAgent }
func (noAgent) StartRun(context.Context, api.Actor, string, map[string]string) (api.RunStarted, error) {
	return api.RunStarted{}, errNoAgent
}
func (noAgent) Run(context.Context, api.Actor, int64) (api.Run, error) { return api.Run{}, errNoAgent }
func (noAgent) Runs(context.Context, api.Actor, api.RunQuery) (api.RunList, error) {
	return api.RunList{}, errNoAgent
}
func (noAgent) SystemReset(context.Context, api.Actor) (api.SystemReset, error) {
	return api.SystemReset{}, errNoAgent
}
func (noAgent) StartReset(context.Context, api.Actor, api.ResetRequest) (api.ResetRun, error) {
	return api.ResetRun{}, errNoAgent
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

// ifaceView is one interface on the Network page.
type ifaceView struct {
	api.Interface
	IsAP, IsUplink, IsLAN bool
	Admin                 bool // the viewer may change it: the form shows
	// RxRate and TxRate are the rates now ("–" until the agent has two
	// samples); Spark the last ten minutes.
	RxRate, TxRate string
	Spark          *sparkView
	OOB            bool // the live part, swapped out of band
	// Form is the LAN form: the saved config or what the link has now, or
	// what was submitted, with an error on each bad field.
	Form *form
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

// networkData is the Network page and its live fragment.
type networkData struct {
	Agent  agentState
	Ifaces []ifaceView
	// Names are the interfaces the page shows, comma-separated: the live
	// fragment reloads the page when the device's set differs.
	Names   string
	Pending *changeView // the change waiting for confirmation
}

// sparkSamples is how many of the agent's 10 s samples a card draws.
const sparkSamples = 60

// agentReadTimeout bounds the agent reads that render a page or fragment:
// a hung agent makes the page say so instead of leaving it blank.
const agentReadTimeout = 3 * time.Second

// loadNetwork reads what the Network page shows.
func (s *Server) loadNetwork(r *http.Request) networkData {
	ctx, cancel := context.WithTimeout(r.Context(), agentReadTimeout)
	defer cancel()
	var d networkData
	ifs, err := s.agent.Interfaces(ctx, s.actor(r))
	if err != nil {
		d.Agent = s.agentState(r, err)
		return d
	}
	admin := me(r).Role.AtLeast(auth.Admin)
	// The history drawn is the agent's; without it the cards show no chart.
	traffic, err := s.agent.Traffic(ctx, s.actor(r), "", time.Now().Add(-sparkSamples*10*time.Second))
	if err != nil {
		s.log.Debug("reading the traffic history", "err", err)
	}
	series := map[string][]api.TrafficSample{}
	for _, t := range traffic.Interfaces {
		series[t.Name] = t.Samples
	}
	names := make([]string, 0, len(ifs))
	for _, i := range ifs {
		v := s.ifaceView(i)
		v.Admin = admin && v.IsLAN
		v.RxRate, v.TxRate = "–", "–"
		if i.RxRate != nil && i.TxRate != nil {
			v.RxRate, v.TxRate = rateText(*i.RxRate), rateText(*i.TxRate)
		}
		v.Spark = sparkline(series[i.Name], sparkSamples, "receive (green) and transmit (blue), last ten minutes")
		d.Ifaces = append(d.Ifaces, v)
		names = append(names, i.Name)
	}
	d.Names = strings.Join(names, ",")
	if h, err := s.agent.Health(ctx); err == nil && h.Pending != nil && h.Pending.Status == api.StatusPending {
		d.Pending = s.networkChangeView(r, *h.Pending, false)
	}
	return d
}

func (s *Server) networkPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "network", "Network", s.loadNetwork(r))
}

// networkLive is the fragment the page polls: each interface's live part
// and the agent's state, swapped in place (out of band) so that a form
// being edited is left alone. A device whose interfaces are no longer
// those of the page reloads it.
func (s *Server) networkLive(w http.ResponseWriter, r *http.Request) {
	d := s.loadNetwork(r)
	if d.Agent.OK() && d.Names != r.URL.Query().Get("ifaces") {
		w.Header().Set("HX-Refresh", "true")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	for i := range d.Ifaces {
		d.Ifaces[i].OOB = true
	}
	s.renderPart(w, r, http.StatusOK, "network", "network-live", d)
}

// lanFormFields are the LAN form's inputs.
var lanFormFields = []string{"mode", "addresses", "gateway", "dns", "mtu"}

// networkApply takes the LAN form of one interface (htmx): it answers the
// form again, with the change panel out of band when the agent started a
// change, or with every bad field marked.
func (s *Server) networkApply(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	f := newForm(r, lanFormFields...)
	var ch api.Change
	var err error
	switch action := strings.TrimPrefix(r.Pattern, "POST /network/{name}"); action {
	case "":
		lc, ok := linkConfig(f)
		if !ok {
			s.lanForm(w, r, http.StatusUnprocessableEntity, name, f, nil)
			return
		}
		ch, err = s.agent.SetConfig(r.Context(), s.actor(r), name, lc)
	case "/up", "/down":
		ch, err = s.agent.SetUp(r.Context(), s.actor(r), name, action == "/up")
	default:
		s.notFound(w, r)
		return
	}
	if err != nil {
		status := s.formAgentError(r, f, err, lanFieldOf)
		sentences(f)
		s.lanForm(w, r, status, name, f, nil)
		return
	}
	cv := s.networkChangeView(r, ch, true)
	cv.OOB = true
	s.lanForm(w, r, http.StatusOK, name, f, cv)
}

// lanForm answers the LAN form of name, and the change panel with it.
func (s *Server) lanForm(w http.ResponseWriter, r *http.Request, status int, name string, f *form, ch *changeView) {
	s.renderPart(w, r, status, "network", "lan-form-answer", struct {
		ifaceView
		Change *changeView
	}{ifaceView{Interface: api.Interface{Name: name}, IsLAN: true, Admin: true, Form: f}, ch})
}

// networkChange is the change panel of one network change, for the page's
// script once the change has ended.
func (s *Server) networkChange(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), agentReadTimeout)
	defer cancel()
	ch, err := s.agent.Change(ctx, s.actor(r), r.PathValue("id"))
	if err != nil {
		st := s.agentState(r, err)
		s.renderPart(w, r, http.StatusOK, "network", "change-panel-part", &changeView{Status: "unknown", Error: st.Message})
		return
	}
	s.renderPart(w, r, http.StatusOK, "network", "change-panel-part", s.networkChangeView(r, ch, false))
}

func (s *Server) networkChangeView(r *http.Request, ch api.Change, auto bool) *changeView {
	id := url.PathEscape(ch.ID)
	return &changeView{
		ID: ch.ID, Status: ch.Status, Error: ch.Error, Auto: auto, CanConfirm: me(r).Role.AtLeast(auth.Admin),
		User: ch.User, Created: ch.CreatedAt, Changes: ch.Changes, Waiting: ch.Waiting,
		What:     "the settings of " + ch.Interface,
		URL:      "/api/v1/changes/" + id,
		PanelURL: "/network/changes/" + id,
		Seconds:  max(0, int(time.Until(ch.RollbackAt).Seconds()+0.5)),
	}
}

// linkConfig reads the LAN form, marking the fields that are not even of
// the right shape; the agent validates the rest.
func linkConfig(f *form) (api.LinkConfig, bool) {
	lc := api.LinkConfig{Mode: f.Get("mode")}
	if m := strings.TrimSpace(f.Get("mtu")); m != "" {
		n, err := strconv.Atoi(m)
		if err != nil {
			f.fail("mtu", "Enter the MTU as a whole number of bytes, such as 1500.")
		}
		lc.MTU = n
	}
	if lc.Mode == "static" {
		lc.Addresses = splitList(f.Get("addresses"))
		lc.Gateway = strings.TrimSpace(f.Get("gateway"))
		lc.DNS = splitList(f.Get("dns"))
	}
	return lc, f.ok()
}

// splitList splits a list typed with commas or spaces.
func splitList(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
}

// lanFieldOf names the form input and the words for an agent field:
// "addresses[1]" is the addresses input, "the 2nd address".
func lanFieldOf(field string) (input, prefix string) {
	base, idx, ok := strings.Cut(field, "[")
	if !ok {
		return field, ""
	}
	n, err := strconv.Atoi(strings.TrimSuffix(idx, "]"))
	if err != nil {
		return base, ""
	}
	noun := map[string]string{"addresses": "address", "dns": "DNS server"}[base]
	if noun == "" {
		noun = "entry"
	}
	return base, fmt.Sprintf("%s %d: ", capitalize(noun), n+1)
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
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
	f := &form{Values: map[string]string{}, Errors: map[string]string{}}
	v.Form = f
	if c := i.Config; c != nil {
		f.Values["mode"] = c.Mode
		f.Values["addresses"] = strings.Join(c.Addresses, ", ")
		f.Values["gateway"] = c.Gateway
		f.Values["dns"] = strings.Join(c.DNS, ", ")
		if c.MTU != 0 {
			f.Values["mtu"] = fmt.Sprint(c.MTU)
		}
		return v
	}
	// Never configured by devmgr: offer what the link has now.
	f.Values["mode"] = cmp.Or(i.Mode, "static")
	var addrs []string
	for _, a := range i.Addresses {
		if p, err := netip.ParsePrefix(a); err == nil && !p.Addr().IsLinkLocalUnicast() {
			addrs = append(addrs, a)
		}
	}
	f.Values["addresses"] = strings.Join(addrs, ", ")
	f.Values["gateway"] = i.Gateway
	if i.MTU != 0 {
		f.Values["mtu"] = fmt.Sprint(i.MTU)
	}
	return v
}
