package agent

import (
	"context"
	"fmt"
	"github.com/devmgr/devmgr/internal/agent/api"
	"net/http"
	"strings"

	"github.com/devmgr/devmgr/internal/apmgr"
	"github.com/devmgr/devmgr/internal/auth"
	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/hostapd"
)

// AccessPoint is the AP module the agent serves (*apmgr.Manager).
type AccessPoint interface {
	Status(ctx context.Context) (apmgr.Status, error)
	Clients(ctx context.Context) ([]apmgr.Client, error)
	Settings() apmgr.Settings
	// EffectiveAP is the config hostapd runs with, passphrase included.
	EffectiveAP() config.AP
	Update(ctx context.Context, s apmgr.Settings) (apmgr.Change, error)
	Change(id string) (apmgr.Change, error)
	Confirm(ctx context.Context, id string) (apmgr.Change, error)
	Pending() (apmgr.Change, bool)
	Deny(ctx context.Context, mac string) error
	Allow(ctx context.Context, mac string) error
	Denied() []string
}

var _ AccessPoint = (*apmgr.Manager)(nil)

// APUpdate is the body of PUT /v1/ap/settings.
type APUpdate = api.APUpdate

// overSettings returns cur with u's fields applied.
func overSettings(u api.APUpdate, cur apmgr.Settings) apmgr.Settings {
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
	writeJSON(w, http.StatusOK, api.APInfo{Status: wireAPStatus(st), Settings: wireAPSettings(ap.Settings()), Denied: ap.Denied()})
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
	writeJSON(w, http.StatusOK, wireAPClients(cl))
	return nil
}

// apSecretSettings answers the settings with the passphrase. The route
// is the admin's already; the role is checked here again because this is
// the one read that carries a secret.
func (s *Server) apSecretSettings(w http.ResponseWriter, r *http.Request, a Actor) error {
	if !a.Role.AtLeast(auth.Admin) {
		return errorf(http.StatusForbidden, "", "role %s may not read the passphrase (needs admin)", a.Role)
	}
	ap, err := s.ap()
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wireAPSecretSettings(ap.EffectiveAP()))
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
	ch, err := ap.Update(r.Context(), overSettings(u, ap.Settings()))
	return s.changed(w, r, a, actAPUpdate, apTarget, wireAPChange(ch), describeAPUpdate(u)+"; change "+ch.ID, err)
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
	writeJSON(w, http.StatusOK, wireAPChange(ch))
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
	writeJSON(w, http.StatusOK, wireAPChange(ch))
	return nil
}

func (s *Server) apDenied(w http.ResponseWriter, r *http.Request, _ Actor) error {
	ap, err := s.ap()
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.DenyList{Denied: ap.Denied()})
	return nil
}

func (s *Server) apDeny(w http.ResponseWriter, r *http.Request, a Actor) error {
	ap, err := s.ap()
	if err != nil {
		return err
	}
	var req api.DenyRequest
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
	writeJSON(w, http.StatusOK, api.DenyList{Denied: ap.Denied()})
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
	writeJSON(w, http.StatusOK, api.DenyList{Denied: ap.Denied()})
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
