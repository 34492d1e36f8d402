package agent

import (
	"cmp"
	"github.com/devmgr/devmgr/internal/agent/api"
	"github.com/devmgr/devmgr/internal/auditlog"
	"net/http"
	"regexp"
	"strings"

	"github.com/devmgr/devmgr/internal/change"
	"github.com/devmgr/devmgr/internal/config"
)

func (s *Server) health(w http.ResponseWriter, r *http.Request, _ Actor) error {
	h := Health{Status: "ok", Version: s.cfg.Version, Network: s.cfg.Network != nil}
	if s.cfg.Network != nil {
		if ch, ok := s.cfg.Network.Pending(); ok {
			p := wireChange(ch)
			h.Pending = &p
		}
	}
	writeJSON(w, http.StatusOK, h)
	return nil
}

func (s *Server) network() (Network, error) {
	if s.cfg.Network == nil {
		return nil, errNoNetwork
	}
	return s.cfg.Network, nil
}

func (s *Server) listInterfaces(w http.ResponseWriter, r *http.Request, _ Actor) error {
	n, err := s.network()
	if err != nil {
		return err
	}
	ifs, err := n.List(r.Context())
	if err != nil {
		return err
	}
	s.withRates(ifs)
	writeJSON(w, http.StatusOK, ifs)
	return nil
}

// pathName checks the {name} path value before it goes anywhere.
func pathName(r *http.Request) (string, error) {
	name := r.PathValue("name")
	if err := config.CheckInterfaceName(name); err != nil {
		return "", errorf(http.StatusBadRequest, "name", "%q is not an interface name", clip(name))
	}
	return name, nil
}

func (s *Server) getInterface(w http.ResponseWriter, r *http.Request, _ Actor) error {
	n, err := s.network()
	if err != nil {
		return err
	}
	name, err := pathName(r)
	if err != nil {
		return err
	}
	i, err := n.Get(r.Context(), name)
	if err != nil {
		return err
	}
	one := []Interface{i}
	s.withRates(one)
	writeJSON(w, http.StatusOK, one[0])
	return nil
}

func (s *Server) setConfig(w http.ResponseWriter, r *http.Request, a Actor) error {
	n, err := s.network()
	if err != nil {
		return err
	}
	name, err := pathName(r)
	if err != nil {
		s.auditErr(r, a, actConfig, r.PathValue("name"), err)
		return err
	}
	var in api.LinkConfig
	if err := decode(r, &in); err != nil {
		s.auditErr(r, a, actConfig, name, err)
		return err
	}
	ch, err := n.SetConfig(r.Context(), name, linkConfig(in))
	return s.changed(w, r, a, actConfig, name, wireChange(ch), describeChanges(ch.Changes)+"; change "+ch.ID, err)
}

// describeChanges says what a change does, field by field, old → new
// ("mtu 1500 → 1300"), for the audit log.
func describeChanges(cs []change.FieldChange) string {
	if len(cs) == 0 {
		return "no field changed"
	}
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = c.Field + " " + cmp.Or(c.Old, "(none)") + " → " + cmp.Or(c.New, "(none)")
	}
	return strings.Join(parts, "; ")
}

func (s *Server) setUp(up bool) handler {
	action := actDown
	if up {
		action = actUp
	}
	return func(w http.ResponseWriter, r *http.Request, a Actor) error {
		n, err := s.network()
		if err != nil {
			return err
		}
		name, err := pathName(r)
		if err != nil {
			s.auditErr(r, a, action, r.PathValue("name"), err)
			return err
		}
		ch, err := n.SetUp(r.Context(), name, up)
		return s.changed(w, r, a, action, name, wireChange(ch), describeChanges(ch.Changes)+"; change "+ch.ID, err)
	}
}

var changeID = regexp.MustCompile(`^[0-9a-f]{1,64}$`)

func pathID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if !changeID.MatchString(id) {
		return "", errorf(http.StatusNotFound, "id", "no change %q", clip(id))
	}
	return id, nil
}

func (s *Server) getChange(w http.ResponseWriter, r *http.Request, _ Actor) error {
	n, err := s.network()
	if err != nil {
		return err
	}
	id, err := pathID(r)
	if err != nil {
		return err
	}
	ch, err := n.Change(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wireChange(ch))
	return nil
}

func (s *Server) confirm(w http.ResponseWriter, r *http.Request, a Actor) error {
	n, err := s.network()
	if err != nil {
		return err
	}
	id, err := pathID(r)
	if err != nil {
		return err
	}
	ch, err := n.Confirm(r.Context(), id)
	if err != nil {
		s.auditErr(r, a, actConfirm, id, err)
		return err
	}
	s.audit(r.Context(), a, actConfirm, ch.Interface, "ok", "change "+ch.ID)
	writeJSON(w, http.StatusOK, wireChange(ch))
	return nil
}

// auditErr records a refused or failed change.
func (s *Server) auditErr(r *http.Request, a Actor, action, target string, err error) {
	e := s.toError(err)
	result := auditlog.ResultFailed
	switch {
	case e.Status == http.StatusForbidden:
		result = auditlog.ResultDenied
	case e.Status < 500:
		result = auditlog.ResultInvalid
	}
	detail := e.Message
	if e.Field != "" {
		detail = e.Field + ": " + detail
	}
	s.audit(r.Context(), a, action, target, result, detail)
}
