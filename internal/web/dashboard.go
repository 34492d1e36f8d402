package web

import (
	"bytes"
	"context"
	"fmt"
	"html/template"
	"net/http"
	"net/netip"
	"reflect"
	"sync"
	"time"

	"github.com/devmgr/devmgr/internal/agent/api"
	"github.com/devmgr/devmgr/internal/auth"
)

// dashboardData is the dashboard and the fragment it polls: this machine,
// and the device at a glance from the agent.
type dashboardData struct {
	System
	Agent agentState // why the agent's part is missing, or nothing
	// AP is the access point as hostapd runs it; nil when not known.
	AP *api.APStatus
	// Leases is how many DHCP leases the AP has handed out; -1 when not known.
	Leases  int
	Uplinks []uplinkGlance
	// Backup is the last backup made, shown to an admin when it failed.
	Backup *api.BackupResult
	// Part is the "system" template rendered from the rest (systemPart);
	// empty: the page renders it.
	Part template.HTML
}

// uplinkGlance is an uplink interface on the dashboard.
type uplinkGlance struct {
	Name, State string
	Addresses   []string // without link-local ones
	Gateway     string
	// RxRate and TxRate are the rates now; Spark the last hour, from the
	// agent's traffic history (nil until it has two samples).
	RxRate, TxRate string
	Spark          *sparkView
}

func (s *Server) dashboard(w http.ResponseWriter, r *http.Request) {
	part, err := s.systemPart(r)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	s.renderContent(w, r, http.StatusOK, "dashboard", "Dashboard", part.data, part.content)
}

// dashboardLive is the fragment htmx polls to refresh the dashboard.
func (s *Server) dashboardLive(w http.ResponseWriter, r *http.Request) {
	part, err := s.systemPart(r)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	w.Write(part.bytes)
}

// systemCache is the dashboard's system part as last rendered, and the
// data it was rendered from. The part shows the data only (no user, no
// form token), through template functions that depend on their arguments
// only, and its time to the second: the same data, to the second, makes
// the same bytes, so a render is reused while the data stays the same.
// The data changes at most once a second (the system's state and the
// agent's answers are kept that long), and a render of the part was most
// of a dashboard request's CPU.
type systemCache struct {
	mu   sync.Mutex
	key  dashboardData
	part *renderedPart
}

// renderedPart is the system part rendered, the dashboard's content
// around it (which shows nothing else: the same for every user), and the
// data they show, the part in it; all shared, never changed.
type renderedPart struct {
	bytes   []byte
	content []byte
	data    *dashboardData
}

// dashboardKeep is how long the dashboard's data, read for a role, is
// given to the role's other requests: a fifth of the second the agent's
// answers are kept, so that many readers cost a few reads a second, not
// one each, and the page stays within a second of the device.
const dashboardKeep = 200 * time.Millisecond

// dashboardStale is how old a role's dashboard may be given while one of
// its requests reads it again: the second the agent's answers are kept.
// The other requests do not wait for that read, nor read too (with many
// readers, each would, every dashboardKeep).
const dashboardStale = time.Second

// dashboards keeps the dashboard's data and part last read for each role.
type dashboards struct {
	mu sync.Mutex
	m  map[auth.Role]dashboardRead
}

type dashboardRead struct {
	at   time.Time
	gen  uint64 // the agent client's generation when read
	part *renderedPart
	// renewing: a request is reading it again.
	renewing bool
}

// generations is an agent client that counts the changes made through it
// (agentclient.Client with shared reads; ok false: it does not): a
// dashboard read before one is not given after.
type generations interface{ Generation() (gen uint64, ok bool) }

// systemPart is the dashboard's system part for r, rendered or reused,
// with its data. The part is shared: never change it. It is kept for
// dashboardKeep per role when the agent client counts its changes and
// every read succeeded.
func (s *Server) systemPart(r *http.Request) (*renderedPart, error) {
	var (
		gen   uint64
		keeps bool
	)
	if g, ok := s.agent.(generations); ok {
		gen, keeps = g.Generation()
	}
	role, now := me(r).Role, s.now()
	if keeps {
		if part := s.dashboards.kept(role, gen, now); part != nil {
			return part, nil
		}
	}
	part, err := s.renderSystem(r)
	s.dashboards.keep(role, gen, now, part, err == nil && keeps && part.data.Agent == (agentState{}))
	return part, err
}

// kept is role's dashboard part to give at now: kept for dashboardKeep,
// or, while another request reads it again, up to dashboardStale; nil when
// the caller is to read it (again) and keep it.
func (d *dashboards) kept(role auth.Role, gen uint64, now time.Time) *renderedPart {
	d.mu.Lock()
	defer d.mu.Unlock()
	e, ok := d.m[role]
	age := now.Sub(e.at)
	if !ok || e.gen != gen || age < 0 {
		return nil
	}
	switch {
	case age < dashboardKeep:
		return e.part
	case e.renewing && age < dashboardStale:
		return e.part
	}
	e.renewing = true
	d.m[role] = e
	return nil
}

// keep ends a read of role's dashboard: its part is kept when ok (every
// read succeeded), else the last one is read again by the next request.
func (d *dashboards) keep(role auth.Role, gen uint64, now time.Time, part *renderedPart, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.m == nil {
		d.m = map[auth.Role]dashboardRead{}
	}
	if ok {
		d.m[role] = dashboardRead{at: now, gen: gen, part: part}
		return
	}
	if e, found := d.m[role]; found && e.renewing {
		e.renewing = false
		d.m[role] = e
	}
}

// renderSystem reads the dashboard's data for r and renders its system
// part, or reuses the last rendering of the same data (the same to the
// second: the part's data may be of an earlier instant of that second).
func (s *Server) renderSystem(r *http.Request) (*renderedPart, error) {
	d, err := s.loadDashboard(r)
	if err != nil {
		return nil, err
	}
	key := d
	key.Time = key.Time.Truncate(time.Second)
	c := &s.system
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.part != nil && reflect.DeepEqual(key, c.key) {
		return c.part, nil
	}
	buf := getBuffer()
	defer putBuffer(buf)
	t := s.views.pages["dashboard"]
	if err := t.ExecuteTemplate(buf, "system", view{Nav: "dashboard", Data: d}); err != nil {
		return nil, fmt.Errorf("rendering the dashboard: %w", err)
	}
	p := &renderedPart{bytes: bytes.Clone(buf.Bytes()), data: &d}
	d.Part = template.HTML(p.bytes)
	buf.Reset()
	if err := t.ExecuteTemplate(buf, "content", view{Nav: "dashboard", Data: p.data}); err != nil {
		return nil, fmt.Errorf("rendering the dashboard: %w", err)
	}
	p.content = bytes.Clone(buf.Bytes())
	c.key, c.part = key, p
	return p, nil
}

// loadDashboard reads this machine's state and, at the same time, the
// agent's interfaces, access point and leases, each read bounded by
// agentReadTimeout. With an agent configured, the interfaces are the
// agent's (it may run in another network namespace, and every interface
// read goes through it); without one, this host's.
func (s *Server) loadDashboard(r *http.Request) (dashboardData, error) {
	d := dashboardData{Leases: -1}
	a := s.actor(r)
	var (
		wg                     sync.WaitGroup
		ifs                    []api.Interface
		ap                     api.APInfo
		leases                 []api.DHCPLease
		traffic                api.Traffic
		ifsErr, apErr, leasErr error
		trafficErr             error
	)
	// The reads run at once, each bounded by the same deadline.
	ctx, cancel := context.WithTimeout(r.Context(), agentReadTimeout)
	defer cancel()
	read := func(f func(ctx context.Context) error, err *error) {
		wg.Go(func() { *err = f(ctx) })
	}
	read(func(ctx context.Context) (err error) { ifs, err = s.agent.Interfaces(ctx, a); return err }, &ifsErr)
	read(func(ctx context.Context) (err error) { ap, err = s.agent.AP(ctx, a); return err }, &apErr)
	read(func(ctx context.Context) (err error) { leases, err = s.agent.Leases(ctx, a); return err }, &leasErr)
	read(func(ctx context.Context) (err error) {
		traffic, err = s.agent.Traffic(ctx, a, "", time.Time{})
		return err
	}, &trafficErr)
	var backups api.BackupList
	var backupsErr error
	if a.Role.AtLeast(auth.Admin) {
		read(func(ctx context.Context) (err error) { backups, err = s.agent.Backups(ctx, a); return err }, &backupsErr)
	}
	sys, sysErr := s.sys.Snapshot(r.Context())
	wg.Wait()
	if sysErr != nil {
		return d, sysErr
	}
	d.System = sys
	if apErr == nil {
		d.AP = &ap.Status
	}
	if leasErr == nil {
		d.Leases = len(leases)
	}
	if backupsErr == nil && backups.Last.Failed() {
		d.Backup = backups.Last
	}
	for _, err := range []error{ifsErr, apErr, leasErr} {
		if err != nil {
			d.Agent = s.agentState(r, err)
			break
		}
	}
	if _, none := s.agent.(noAgent); none {
		return d, nil // this host's interfaces
	}
	if ifsErr != nil {
		d.Interfaces = nil // the agent-state part says why
		return d, nil
	}
	d.Interfaces = dashboardInterfaces(ifs)
	series := map[string][]api.TrafficSample{}
	if trafficErr == nil { // without a history the uplinks show no chart
		for _, t := range traffic.Interfaces {
			series[t.Name] = t.Samples
		}
	}
	for _, i := range ifs {
		v := s.ifaceView(i)
		if !v.IsUplink {
			continue
		}
		u := uplinkGlance{Name: i.Name, State: v.State(), Gateway: i.Gateway, RxRate: "–", TxRate: "–",
			Spark: sparkline(series[i.Name], api.MaxTrafficSamples, "receive (green) and transmit (blue), last hour")}
		if i.RxRate != nil && i.TxRate != nil {
			u.RxRate, u.TxRate = rateText(*i.RxRate), rateText(*i.TxRate)
		}
		for _, a := range i.Addresses {
			if p, err := netip.ParsePrefix(a); err == nil && !p.Addr().IsLinkLocalUnicast() {
				u.Addresses = append(u.Addresses, a)
			}
		}
		d.Uplinks = append(d.Uplinks, u)
	}
	return d, nil
}

func dashboardInterfaces(ifs []api.Interface) []Interface {
	out := make([]Interface, 0, len(ifs))
	for _, i := range ifs {
		d := Interface{Name: i.Name, MAC: i.MAC, MTU: i.MTU, Addrs: i.Addresses, State: "up"}
		switch {
		case !i.AdminUp:
			d.State = "down"
		case !i.Carrier:
			d.State = "no-carrier"
		}
		if d.Addrs == nil {
			d.Addrs = []string{}
		}
		out = append(out, d)
	}
	return out
}
