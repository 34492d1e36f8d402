package web

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/devmgr/devmgr/internal/agent/api"
	"github.com/devmgr/devmgr/internal/auth"
	"github.com/devmgr/devmgr/internal/config"
)

// apData is the Access point page and each of its parts: the status card,
// the clients and leases tables and, for admins, the settings form, the
// join QR code, the deny list and the block form.
type apData struct {
	Agent agentState
	Info  *api.APInfo // nil: the agent did not answer
	Now   time.Time

	Clients []api.APClient
	// ClientsError says why there is no client list (hostapd not running).
	ClientsError string
	Leases       []api.DHCPLease
	LeasesError  string

	// Admins only.
	Form             *form // the settings
	RetypePassphrase bool  // a passphrase was typed, and is not sent back
	Join             *apJoin
	JoinError        string
	Pending          *changeView
	DHCP             dhcpData // the DHCP card: every role
	Denied           []string
	Block            *form     // block a device by its MAC address
	Action           *apAction // how the last block or allow went
	Lists            bool      // Clients and Denied are read: their parts go with an answer

	// OOB swaps the live parts (status, tables, deny list, action) out of
	// band; SettingsOOB the settings form and the QR code.
	OOB, SettingsOOB bool
}

// apJoin is the QR code a phone scans to join the network.
type apJoin struct {
	SSID string
	QR   qrCode
}

// apAction is the sentence after a block or allow.
type apAction struct {
	Kind string // a Bootstrap alert colour
	Text string
}

// loadAP reads what the page shows (page) or its live fragment polls.
func (s *Server) loadAP(r *http.Request, page bool) apData {
	ctx, cancel := context.WithTimeout(r.Context(), agentReadTimeout)
	defer cancel()
	a := s.actor(r)
	d := apData{Now: s.now()}
	info, err := s.agent.AP(ctx, a)
	if err != nil {
		d.Agent = s.agentState(r, err)
		return d
	}
	d.Info, d.Denied = &info, info.Denied
	if info.Status.Running {
		if d.Clients, err = s.agent.APClients(ctx, a); err != nil {
			d.ClientsError = s.agentState(r, err).Message
		}
	}
	if d.Leases, err = s.agent.Leases(ctx, a); err != nil {
		d.LeasesError = s.agentState(r, err).Message
	}
	if !page {
		return d
	}
	var dhcpPending *api.APChange
	d.DHCP, dhcpPending = s.loadDHCP(ctx, r)
	if p := info.Status.Pending; p != nil && p.Status == api.StatusPending {
		d.Pending = s.apChangeView(r, *p, false)
	} else if p := dhcpPending; p != nil && p.Status == api.StatusPending {
		d.Pending = s.dhcpChangeView(r, *p, false)
	}
	if !me(r).Role.AtLeast(auth.Admin) {
		return d
	}
	d.Form, d.Block = apSettingsForm(info.Settings), newForm(r)
	d.Join, d.JoinError = s.apJoin(ctx, r)
	return d
}

// apJoin draws the QR code with the passphrase, for admins only.
func (s *Server) apJoin(ctx context.Context, r *http.Request) (*apJoin, string) {
	if !me(r).Role.AtLeast(auth.Admin) {
		return nil, ""
	}
	sec, err := s.agent.APSecretSettings(ctx, s.actor(r))
	if err != nil {
		return nil, "No QR code to join: " + s.agentState(r, err).Message
	}
	code, err := newQRCode(wifiJoinText(sec))
	if err != nil {
		s.log.Error("drawing the QR code to join the access point", "err", err)
		return nil, "No QR code to join: the network name and passphrase do not fit in one."
	}
	return &apJoin{SSID: sec.SSID, QR: code}, ""
}

func (s *Server) apPage(w http.ResponseWriter, r *http.Request) {
	// The QR code holds the passphrase: no cache keeps the page (the
	// console says so for every page; this one must not lose it).
	w.Header().Set("Cache-Control", "no-store")
	s.render(w, r, http.StatusOK, "ap", "Access point", s.loadAP(r, true))
}

// apLive is the fragment the page polls: status, clients, leases and the
// deny list, swapped out of band so that the forms are left alone. A page
// drawn while the agent did not answer (info=0) is reloaded once it does.
func (s *Server) apLive(w http.ResponseWriter, r *http.Request) {
	d := s.loadAP(r, false)
	if d.Info != nil && r.URL.Query().Get("info") == "0" {
		w.Header().Set("HX-Refresh", "true")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	d.OOB = true
	s.renderPart(w, r, http.StatusOK, "ap", "ap-live", d)
}

// apFormFields are the settings form's inputs.
var apFormFields = []string{"ssid", "passphrase", "security", "band", "channel", "country", "isolate", "hidden"}

// apApply takes the settings form (htmx): it answers the form again, with
// the change panel out of band when the agent started a change, or with
// every bad field marked.
func (s *Server) apApply(w http.ResponseWriter, r *http.Request) {
	f := newForm(r, apFormFields...)
	d := apData{Form: f, RetypePassphrase: f.Get("passphrase") != ""}
	u, ok := apUpdate(f)
	f.Values["passphrase"] = "" // never sent back
	if !ok {
		s.renderPart(w, r, http.StatusUnprocessableEntity, "ap", "ap-form-answer", d)
		return
	}
	ch, err := s.agent.APUpdate(r.Context(), s.actor(r), u)
	if err != nil {
		status := s.formAgentError(r, f, err, func(field string) (string, string) {
			if l, ok := settingLabels[field]; ok {
				return field, l + ": "
			}
			return field, ""
		})
		sentences(f)
		s.renderPart(w, r, status, "ap", "ap-form-answer", d)
		return
	}
	d.RetypePassphrase = false
	d.Pending = s.apChangeView(r, ch, true)
	d.Pending.OOB = true
	s.renderPart(w, r, http.StatusOK, "ap", "ap-form-answer", d)
}

// apChange is the change panel of an AP change, for the page's script
// once the change has ended; the settings form and the QR code come with
// it out of band, as they are now (kept or rolled back).
func (s *Server) apChange(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), agentReadTimeout)
	defer cancel()
	ch, err := s.agent.APChange(ctx, s.actor(r), r.PathValue("id"))
	if err != nil {
		st := s.agentState(r, err)
		s.renderPart(w, r, http.StatusOK, "ap", "change-panel-part", &changeView{Status: "unknown", Error: st.Message})
		return
	}
	d := apData{Pending: s.apChangeView(r, ch, false)}
	if ch.Status != api.StatusPending && me(r).Role.AtLeast(auth.Admin) {
		if info, err := s.agent.AP(ctx, s.actor(r)); err == nil {
			d.Form, d.SettingsOOB = apSettingsForm(info.Settings), true
			d.Join, d.JoinError = s.apJoin(ctx, r)
		}
	}
	s.renderPart(w, r, http.StatusOK, "ap", "ap-change-answer", d)
}

func (s *Server) apChangeView(r *http.Request, ch api.APChange, auto bool) *changeView {
	v := pendingView(r, ch, "/api/v1/ap/changes/", "/ap/changes/", auto)
	v.What = "the access point settings"
	return v
}

// pendingView is the change panel of ch, at apiBase (the JSON API's
// changes, which the script reads and confirms) and panelBase (this panel
// again once it has ended), each followed by its ID; an admin may confirm
// it.
func pendingView(r *http.Request, ch api.APChange, apiBase, panelBase string, auto bool) *changeView {
	id := url.PathEscape(ch.ID)
	return &changeView{
		ID: ch.ID, Status: ch.Status, Error: ch.Error, Auto: auto, CanConfirm: me(r).Role.AtLeast(auth.Admin),
		User: ch.User, Created: ch.CreatedAt, Changes: ch.Changes,
		URL: apiBase + id, PanelURL: panelBase + id,
		Seconds: max(0, int(time.Until(ch.RollbackAt).Seconds()+0.5)),
	}
}

// apBlock blocks (POST /ap/deny) or allows again (POST /ap/allow) the
// device of the form's mac: a client's Block button, an Allow again button
// of the deny list, or the block form, which sends from=form. It answers
// the block form, and out of band the sentence of how it went, the clients
// table and the deny list. A bad address typed into the form is marked
// beside it; any other refusal is the sentence.
func (s *Server) apBlock(w http.ResponseWriter, r *http.Request) {
	f := newForm(r, "mac", "from")
	allow := r.Pattern == "POST /ap/allow"
	d := apData{Block: f, OOB: true}
	// refused answers with f's messages: a button's in the sentence, as
	// there is no field to mark.
	refused := func(status int) {
		sentences(f)
		if msg := f.Errors["mac"]; msg != "" && f.Get("from") != "form" {
			f.Error = msg
		}
		if f.Error != "" {
			d.Action = &apAction{Kind: "danger", Text: f.Error}
		}
		s.renderPart(w, r, status, "ap", "ap-block-answer", d)
	}
	mac := strings.TrimSpace(f.Get("mac"))
	if mac == "" {
		f.fail("mac", "Enter the MAC address of the device, such as 02:00:00:00:01:00.")
		refused(http.StatusUnprocessableEntity)
		return
	}
	call := s.agent.APDeny
	if allow {
		call = s.agent.APAllow
	}
	list, err := call(r.Context(), s.actor(r), mac)
	if err != nil {
		refused(s.formAgentError(r, f, err, func(field string) (string, string) { return field, "" }))
		return
	}
	if hw, err := net.ParseMAC(mac); err == nil {
		mac = hw.String()
	}
	d.Action = &apAction{Kind: "success", Text: mac + " was disconnected and is blocked until you allow it again."}
	if allow {
		d.Action.Text = mac + " may join again."
	}
	f.Values["mac"] = ""
	d.Denied, d.Lists = list, true
	ctx, cancel := context.WithTimeout(r.Context(), agentReadTimeout)
	defer cancel()
	if d.Clients, err = s.agent.APClients(ctx, s.actor(r)); err != nil {
		d.ClientsError = s.agentState(r, err).Message
	}
	s.renderPart(w, r, http.StatusOK, "ap", "ap-block-answer", d)
}

// sentences ends each of f's messages (the agent's among them) as a
// sentence.
func sentences(f *form) {
	for k, v := range f.Errors {
		f.Errors[k] = sentence(errors.New(v))
	}
	f.Error = sentence(errors.New(f.Error))
}

// apSettingsForm is the settings form holding st.
func apSettingsForm(st api.APSettings) *form {
	f := &form{Values: map[string]string{
		"ssid": st.SSID, "security": st.Security, "band": st.Band, "channel": strconv.Itoa(st.Channel),
		"country": st.Country, "isolate": onOff(st.Isolate), "hidden": onOff(st.Hidden),
	}, Errors: map[string]string{}}
	return f
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return ""
}

// apUpdate reads the settings form, marking every field that breaks the
// rules of the config file; the agent checks them again, with the rest.
func apUpdate(f *form) (api.APUpdate, bool) {
	ssid, pass := f.Get("ssid"), f.Get("passphrase")
	switch err := config.CheckSSID(ssid); {
	case ssid == "":
		f.fail("ssid", "Enter a network name.")
	case err != nil:
		f.fail("ssid", sentence(fmt.Errorf("network name: %w", err)))
	}
	if pass != "" {
		if err := config.CheckPassphrase(pass); err != nil {
			f.fail("passphrase", sentence(fmt.Errorf("passphrase: %w", err)))
		}
	}
	sec := f.Get("security")
	if _, ok := securityLabels[sec]; !ok {
		f.fail("security", "Security: choose one of the modes offered.")
	}
	band := f.Get("band")
	if bandLabels[band] == "" {
		f.fail("band", "Band: choose 2.4 GHz or 5 GHz.")
	}
	ch, err := strconv.Atoi(f.Get("channel"))
	switch {
	case err != nil || ch < 0:
		f.fail("channel", "Channel: choose Automatic or a channel of the list.")
	case bandLabels[band] != "" && config.CheckChannel(band, config.Channel(ch)) != nil:
		f.fail("channel", fmt.Sprintf("Channel: %d is not a %s channel; choose one of the %[2]s channels, or Automatic.", ch, bandLabels[band]))
	}
	country := strings.ToUpper(strings.TrimSpace(f.Get("country")))
	f.Values["country"] = country
	if !config.KnownCountry(country) {
		f.fail("country", fmt.Sprintf("Country: %q is not a country code; enter two letters, such as US or DE.", country))
	}
	isolate, hidden := f.Get("isolate") != "", f.Get("hidden") != ""
	u := api.APUpdate{SSID: &ssid, Security: &sec, Band: &band, Channel: &ch, Country: &country, Isolate: &isolate, Hidden: &hidden}
	if pass != "" {
		u.Passphrase = &pass
	}
	return u, f.ok()
}

// securityLabels name the security modes as the form offers them: short,
// so that they fit the select on a phone; the form's help says more.
var securityLabels = map[string]string{
	config.SecurityWPA2WPA3: "WPA2 + WPA3",
	config.SecurityWPA3:     "WPA3 only",
	config.SecurityWPA2:     "WPA2 only",
}

var bandLabels = map[string]string{config.Band24: "2.4 GHz", config.Band5: "5 GHz"}

// apBand is one band of the channel select.
type apBand struct {
	Band, Label string
	Channels    []apChannel
}

type apChannel struct {
	Channel int
	Label   string
}

// apBands are the channels the form offers, per band.
var apBands = func() []apBand {
	var out []apBand
	for _, b := range []struct {
		band string
		chs  []int
	}{{config.Band24, config.Channels24}, {config.Band5, config.Channels5}} {
		ab := apBand{Band: b.band, Label: bandLabels[b.band]}
		for _, ch := range b.chs {
			ab.Channels = append(ab.Channels, apChannel{Channel: ch, Label: fmt.Sprintf("%d (%d MHz)", ch, channelFreq(ch))})
		}
		out = append(out, ab)
	}
	return out
}()

// channelFreq is a channel's centre frequency in MHz.
func channelFreq(ch int) int {
	switch {
	case ch == 14:
		return 2484
	case ch < 14:
		return 2407 + 5*ch
	}
	return 5000 + 5*ch
}

// Template helpers of the AP page: methods, so that the page needs no
// functions of its own in the shared FuncMap.

// Bands are the channel select's groups.
func (apData) Bands() []apBand { return apBands }

// SecurityModes are the security select's options, in order.
func (apData) SecurityModes() []string {
	return []string{config.SecurityWPA2WPA3, config.SecurityWPA3, config.SecurityWPA2}
}

// SecurityLabel names a security mode as the status card does.
func (apData) SecurityLabel(s string) string {
	switch s {
	case config.SecurityWPA2:
		return "WPA2-Personal"
	case config.SecurityWPA3:
		return "WPA3-Personal (SAE)"
	case config.SecurityWPA2WPA3:
		return "WPA2/WPA3-Personal (transition)"
	}
	return s
}

// SecurityOption names a security mode as the form's select does.
func (apData) SecurityOption(s string) string {
	if l, ok := securityLabels[s]; ok {
		return l
	}
	return s
}

// BandLabel names a band.
func (apData) BandLabel(b string) string {
	if l, ok := bandLabels[b]; ok {
		return l
	}
	return b
}

// SignalLabel says how good a signal in dBm is.
func (apData) SignalLabel(dbm int) string {
	switch {
	case dbm == 0:
		return "unknown"
	case dbm >= -55:
		return "excellent"
	case dbm >= -67:
		return "good"
	case dbm >= -75:
		return "fair"
	}
	return "weak"
}

// Since writes a number of seconds as 1d 2h 3m 4s.
func (apData) Since(secs int64) string {
	d, h, m, sec := secs/86400, secs%86400/3600, secs%3600/60, secs%60
	switch {
	case d > 0:
		return fmt.Sprintf("%dd %dh %dm", d, h, m)
	case h > 0:
		return fmt.Sprintf("%dh %dm", h, m)
	case m > 0:
		return fmt.Sprintf("%dm %ds", m, sec)
	}
	return fmt.Sprintf("%ds", sec)
}

// Expires says when a lease ends, from now.
func (d apData) Expires(t time.Time) string {
	switch left := t.Sub(d.Now); {
	case t.IsZero():
		return "never"
	case left <= 0:
		return "expired"
	case left < time.Minute:
		return "in under a minute"
	default:
		return "in " + humanDuration(left)
	}
}
