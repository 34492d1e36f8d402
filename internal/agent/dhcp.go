package agent

import (
	"context"
	"net/http"
	"strings"

	"github.com/devmgr/devmgr/internal/agent/api"
	"github.com/devmgr/devmgr/internal/change"
	"github.com/devmgr/devmgr/internal/dhcpsrv"
	"github.com/devmgr/devmgr/internal/dnsmasq"
)

// DHCPServer is the AP's DHCP server module the agent serves
// (*dhcpsrv.Manager).
type DHCPServer interface {
	Settings() dhcpsrv.Settings
	// Address is the AP's address and prefix, the network of every
	// address of the settings.
	Address() string
	Problem() string
	Update(ctx context.Context, s dhcpsrv.Settings) (change.Change, error)
	Change(id string) (change.Change, error)
	Confirm(ctx context.Context, id string) (change.Change, error)
	Pending() (change.Change, bool)
}

var _ DHCPServer = (*dhcpsrv.Manager)(nil)

// dhcpTarget is the audit target of DHCP server changes.
const dhcpTarget = "dhcp"

var errNoDHCP = errorf(http.StatusServiceUnavailable, "", "the access point's DHCP server is not managed by this agent")

func (s *Server) dhcp() (DHCPServer, error) {
	if s.cfg.DHCP == nil {
		return nil, errNoDHCP
	}
	return s.cfg.DHCP, nil
}

func (s *Server) getDHCP(w http.ResponseWriter, _ *http.Request, _ Actor) error {
	d, err := s.dhcp()
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wireDHCP(d))
	return nil
}

func (s *Server) dhcpUpdate(w http.ResponseWriter, r *http.Request, a Actor) error {
	d, err := s.dhcp()
	if err != nil {
		return err
	}
	var u api.APDHCPUpdate
	if err := decode(r, &u); err != nil {
		s.auditErr(r, a, actAPDHCP, dhcpTarget, err)
		return err
	}
	ch, err := d.Update(r.Context(), overDHCP(u, d.Settings()))
	return s.changed(w, r, a, actAPDHCP, dhcpTarget, wireDHCPChange(ch), describeChanges(ch.Changes)+"; change "+ch.ID, err)
}

// overDHCP returns cur with u's fields applied.
func overDHCP(u api.APDHCPUpdate, cur dhcpsrv.Settings) dhcpsrv.Settings {
	s := cur
	if u.Start != nil {
		s.Start = *u.Start
	}
	if u.End != nil {
		s.End = *u.End
	}
	if u.LeaseTime != nil {
		s.LeaseTime = *u.LeaseTime
	}
	if u.StaticLeases != nil {
		s.StaticLeases = make([]dnsmasq.StaticLease, len(*u.StaticLeases))
		for i, l := range *u.StaticLeases {
			s.StaticLeases[i] = dnsmasq.StaticLease{MAC: l.MAC, IP: l.IP, Hostname: l.Hostname}
		}
	}
	return s
}

func (s *Server) dhcpGetChange(w http.ResponseWriter, r *http.Request, _ Actor) error {
	d, err := s.dhcp()
	if err != nil {
		return err
	}
	id, err := pathID(r)
	if err != nil {
		return err
	}
	ch, err := d.Change(id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wireDHCPChange(ch))
	return nil
}

func (s *Server) dhcpConfirm(w http.ResponseWriter, r *http.Request, a Actor) error {
	d, err := s.dhcp()
	if err != nil {
		return err
	}
	id, err := pathID(r)
	if err != nil {
		s.auditErr(r, a, actAPDHCPConfirm, r.PathValue("id"), err)
		return err
	}
	ch, err := d.Confirm(r.Context(), id)
	if err != nil {
		s.auditErr(r, a, actAPDHCPConfirm, id, err)
		return err
	}
	s.audit(r.Context(), a, actAPDHCPConfirm, dhcpTarget, "ok", "change "+ch.ID+" ("+strings.Join(ch.Fields, ", ")+")")
	writeJSON(w, http.StatusOK, wireDHCPChange(ch))
	return nil
}
