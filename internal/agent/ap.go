package agent

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/devmgr/devmgr/internal/apmgr"
	"github.com/devmgr/devmgr/internal/hostapd"
)

// AccessPoint is the AP module the agent serves (*apmgr.Manager).
type AccessPoint interface {
	Status(ctx context.Context) (apmgr.Status, error)
	Clients(ctx context.Context) ([]apmgr.Client, error)
	Settings() apmgr.Settings
	Update(ctx context.Context, s apmgr.Settings) (apmgr.Change, error)
	Change(id string) (apmgr.Change, error)
	Confirm(ctx context.Context, id string) (apmgr.Change, error)
	Pending() (apmgr.Change, bool)
	Deny(ctx context.Context, mac string) error
	Allow(ctx context.Context, mac string) error
	Denied() []string
}

var _ AccessPoint = (*apmgr.Manager)(nil)

// APInfo is GET /v1/ap: what hostapd does, the effective settings (never
// the passphrase: only passphrase_set) and the deny list.
type APInfo struct {
	Status   apmgr.Status   `json:"status"`
	Settings apmgr.Settings `json:"settings"`
	Denied   []string       `json:"denied"`
}

// APUpdate is the body of PUT /v1/ap/settings. Fields left out (null) keep
// their values; an empty passphrase keeps the current one.
type APUpdate struct {
	SSID       *string `json:"ssid,omitempty"`
	Passphrase *string `json:"passphrase,omitempty"`
	Security   *string `json:"security,omitempty"`
	Band       *string `json:"band,omitempty"`
	Channel    *int    `json:"channel,omitempty"`
	Country    *string `json:"country,omitempty"`
	Isolate    *bool   `json:"isolate,omitempty"`
	Hidden     *bool   `json:"hidden,omitempty"`
}

// over returns cur with u's fields applied.
func (u APUpdate) over(cur apmgr.Settings) apmgr.Settings {
	s := cur
	s.Passphrase, s.PassphraseSet = "", false
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&s.SSID, u.SSID)
	set(&s.Passphrase, u.Passphrase)
	set(&s.Security, u.Security)
	set(&s.Band, u.Band)
	set(&s.Country, u.Country)
	if u.Channel != nil {
		s.Channel = *u.Channel
	}
	if u.Isolate != nil {
		s.Isolate = *u.Isolate
	}
	if u.Hidden != nil {
		s.Hidden = *u.Hidden
	}
	return s
}

// APDenyRequest is the body of POST /v1/ap/deny.
type APDenyRequest struct {
	MAC string `json:"mac"`
}

// APDenyList is the answer of the deny-list routes.
type APDenyList struct {
	Denied []string `json:"denied"`
}

// APChange is an AP settings change: 202 answer of PUT /v1/ap/settings,
// GET /v1/ap/changes/{id}.
type APChange = apmgr.Change

// apTarget is the audit target of settings changes.
const apTarget = "ap"

var errNoAP = errorf(http.StatusServiceUnavailable, "", "the access point is not managed by this agent")

func (s *Server) ap() (AccessPoint, error) {
	if s.cfg.AP == nil {
		return nil, errNoAP
	}
	return s.cfg.AP, nil
}

func (s *Server) getAP(w http.ResponseWriter, r *http.Request, _ Actor) error {
	ap, err := s.ap()
	if err != nil {
		return err
	}
	st, err := ap.Status(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, APInfo{Status: st, Settings: ap.Settings(), Denied: ap.Denied()})
	return nil
}

func (s *Server) apClients(w http.ResponseWriter, r *http.Request, _ Actor) error {
	ap, err := s.ap()
	if err != nil {
		return err
	}
	cl, err := ap.Clients(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, cl)
	return nil
}

func (s *Server) apUpdate(w http.ResponseWriter, r *http.Request, a Actor) error {
	ap, err := s.ap()
	if err != nil {
		return err
	}
	var u APUpdate
	if err := decode(r, &u); err != nil {
		s.auditErr(r, a, actAPUpdate, apTarget, err)
		return err
	}
	ch, err := ap.Update(r.Context(), u.over(ap.Settings()))
	return s.changed(w, r, a, actAPUpdate, apTarget, ch, describeAPUpdate(u)+"; change "+ch.ID, err)
}

// describeAPUpdate names what an update sets, never the passphrase.
func describeAPUpdate(u APUpdate) string {
	var d []string
	if u.SSID != nil {
		d = append(d, fmt.Sprintf("ssid %q", *u.SSID))
	}
	if u.Passphrase != nil && *u.Passphrase != "" {
		d = append(d, "passphrase (new)")
	}
	for _, f := range []struct {
		name string
		v    *string
	}{{"security", u.Security}, {"band", u.Band}, {"country", u.Country}} {
		if f.v != nil {
			d = append(d, f.name+" "+*f.v)
		}
	}
	if u.Channel != nil {
		d = append(d, fmt.Sprintf("channel %d", *u.Channel))
	}
	if u.Isolate != nil {
		d = append(d, fmt.Sprintf("isolate %v", *u.Isolate))
	}
	if u.Hidden != nil {
		d = append(d, fmt.Sprintf("hidden %v", *u.Hidden))
	}
	if len(d) == 0 {
		return "no fields"
	}
	return strings.Join(d, ", ")
}

func (s *Server) apGetChange(w http.ResponseWriter, r *http.Request, _ Actor) error {
	ap, err := s.ap()
	if err != nil {
		return err
	}
	id, err := pathID(r)
	if err != nil {
		return err
	}
	ch, err := ap.Change(id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ch)
	return nil
}

func (s *Server) apConfirm(w http.ResponseWriter, r *http.Request, a Actor) error {
	ap, err := s.ap()
	if err != nil {
		return err
	}
	id, err := pathID(r)
	if err != nil {
		s.auditErr(r, a, actAPConfirm, r.PathValue("id"), err)
		return err
	}
	ch, err := ap.Confirm(r.Context(), id)
	if err != nil {
		s.auditErr(r, a, actAPConfirm, id, err)
		return err
	}
	s.audit(r.Context(), a, actAPConfirm, apTarget, "ok", "change "+ch.ID+" ("+strings.Join(ch.Fields, ", ")+")")
	writeJSON(w, http.StatusOK, ch)
	return nil
}

func (s *Server) apDenied(w http.ResponseWriter, r *http.Request, _ Actor) error {
	ap, err := s.ap()
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, APDenyList{Denied: ap.Denied()})
	return nil
}

func (s *Server) apDeny(w http.ResponseWriter, r *http.Request, a Actor) error {
	ap, err := s.ap()
	if err != nil {
		return err
	}
	var req APDenyRequest
	if err := decode(r, &req); err != nil {
		s.auditErr(r, a, actAPDeny, "", err)
		return err
	}
	target := macTarget(req.MAC)
	if err := ap.Deny(r.Context(), req.MAC); err != nil {
		s.auditErr(r, a, actAPDeny, target, err)
		return err
	}
	s.audit(r.Context(), a, actAPDeny, target, "ok", "disconnected and kept out")
	writeJSON(w, http.StatusOK, APDenyList{Denied: ap.Denied()})
	return nil
}

func (s *Server) apAllow(w http.ResponseWriter, r *http.Request, a Actor) error {
	ap, err := s.ap()
	if err != nil {
		return err
	}
	mac := r.PathValue("mac")
	target := macTarget(mac)
	if err := ap.Allow(r.Context(), mac); err != nil {
		s.auditErr(r, a, actAPAllow, target, err)
		return err
	}
	s.audit(r.Context(), a, actAPAllow, target, "ok", "taken off the deny list")
	writeJSON(w, http.StatusOK, APDenyList{Denied: ap.Denied()})
	return nil
}

// macTarget is a MAC address as the audit log names it: normalised when it
// is one, else the input, clipped.
func macTarget(mac string) string {
	if n, err := hostapd.NormalizeMAC(mac); err == nil {
		return n
	}
	return clip(mac)
}
