package agent

import (
	"github.com/devmgr/devmgr/internal/agent/api"
	"net/http"
	"regexp"
	"strings"

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
	writeJSON(w, http.StatusOK, i)
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
	lc := linkConfig(in)
	ch, err := n.SetConfig(r.Context(), name, lc)
	return s.changed(w, r, a, actConfig, name, wireChange(ch), describeConfig(lc)+"; change "+ch.ID, err)
}

func describeConfig(lc LinkConfig) string {
	d := "mode " + lc.Mode
	if len(lc.Addresses) > 0 {
		d += " addresses " + strings.Join(lc.Addresses, ",")
	}
	if lc.Gateway != "" {
		d += " gateway " + lc.Gateway
	}
	if len(lc.DNS) > 0 {
		d += " dns " + strings.Join(lc.DNS, ",")
	}
	return d
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
		return s.changed(w, r, a, action, name, wireChange(ch), "change "+ch.ID, err)
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
	result := "failed"
	switch {
	case e.Status == http.StatusForbidden:
		result = "denied"
	case e.Status < 500:
		result = "invalid"
	}
	detail := e.Message
	if e.Field != "" {
		detail = e.Field + ": " + detail
	}
	s.audit(r.Context(), a, action, target, result, detail)
}
