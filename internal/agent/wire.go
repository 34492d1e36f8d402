package agent

import (
	"time"

	"github.com/devmgr/devmgr/internal/agent/api"
	"github.com/devmgr/devmgr/internal/apmgr"
	"github.com/devmgr/devmgr/internal/change"
	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/dhcp"
	"github.com/devmgr/devmgr/internal/dhcpsrv"
	"github.com/devmgr/devmgr/internal/diag"
	"github.com/devmgr/devmgr/internal/dnsmasq"
	"github.com/devmgr/devmgr/internal/netif"
	"github.com/devmgr/devmgr/internal/traffic"
)

// The wire types are api's; these turn the domain packages' values into
// them (and requests back), so that no domain type's struct tags are the
// API.

func wireInterface(i netif.Interface) api.Interface {
	return api.Interface{
		Name: i.Name, Kind: i.Kind, AdminUp: i.AdminUp, OperState: i.OperState, Carrier: i.Carrier,
		MAC: i.MAC, MTU: i.MTU, Addresses: i.Addresses, Gateway: i.Gateway, RxBytes: i.RxBytes, TxBytes: i.TxBytes,
	}
}

func wireLinkConfig(lc netif.LinkConfig) *api.LinkConfig {
	return &api.LinkConfig{Mode: lc.Mode, Addresses: lc.Addresses, Gateway: lc.Gateway, DNS: lc.DNS, MTU: lc.MTU, Up: lc.Up}
}

func linkConfig(lc api.LinkConfig) netif.LinkConfig {
	return netif.LinkConfig{Mode: lc.Mode, Addresses: lc.Addresses, Gateway: lc.Gateway, DNS: lc.DNS, MTU: lc.MTU, Up: lc.Up}
}

func wireLease(l dhcp.Lease) *api.Lease {
	return &api.Lease{
		Interface: l.Interface, Server: l.Server, Address: l.Address, Router: l.Router, DNS: l.DNS,
		LeaseTime: int64(l.LeaseTime / time.Second), Expiry: l.Expiry, ObtainedAt: l.ObtainedAt,
		RenewedAt: l.RenewedAt, RenewAt: l.T1, RebindAt: l.T2,
	}
}

func wireChange(ch netif.Change) api.Change {
	return api.Change{ID: ch.ID, Interface: ch.Interface, Status: ch.Status, User: ch.User,
		Changes: wireFieldChanges(ch.Changes), CreatedAt: ch.CreatedAt, RollbackAt: ch.RollbackAt,
		FinishedAt: ch.FinishedAt, Error: ch.Error, Waiting: ch.Waiting}
}

func wireAPChange(ch apmgr.Change) api.APChange {
	return api.APChange{ID: ch.ID, Status: ch.Status, Fields: ch.Fields, User: ch.User,
		Changes: wireFieldChanges(ch.Changes), CreatedAt: ch.CreatedAt, RollbackAt: ch.RollbackAt,
		FinishedAt: ch.FinishedAt, Error: ch.Error}
}

func wireDHCPChange(ch change.Change) api.APChange {
	return api.APChange{ID: ch.ID, Status: ch.Status, Fields: ch.Fields, User: ch.User,
		Changes: wireFieldChanges(ch.Changes), CreatedAt: ch.CreatedAt, RollbackAt: ch.RollbackAt,
		FinishedAt: ch.FinishedAt, Error: ch.Error}
}

func wireDHCP(d DHCPServer) api.APDHCP {
	st := d.Settings()
	x := api.APDHCP{Start: st.Start, End: st.End, LeaseTime: st.LeaseTime, StaticLeases: make([]api.StaticLease, len(st.StaticLeases)),
		Address: d.Address(), MaxStaticLeases: dhcpsrv.MaxStaticLeases, Problem: d.Problem()}
	for i, l := range st.StaticLeases {
		x.StaticLeases[i] = api.StaticLease{MAC: l.MAC, IP: l.IP, Hostname: l.Hostname}
	}
	if ch, ok := d.Pending(); ok {
		p := wireDHCPChange(ch)
		x.Pending = &p
	}
	return x
}

func wireFieldChanges(cs []change.FieldChange) []api.FieldChange {
	if cs == nil {
		return nil
	}
	out := make([]api.FieldChange, len(cs))
	for i, c := range cs {
		out[i] = api.FieldChange{Field: c.Field, Old: c.Old, New: c.New}
	}
	return out
}

func wireTraffic(sr traffic.Series, tr Traffic) api.TrafficSeries {
	x := api.TrafficSeries{Name: sr.Name, Samples: make([]api.TrafficSample, len(sr.Samples))}
	for i, s := range sr.Samples {
		x.Samples[i] = api.TrafficSample{T: s.T.Unix(), RxBps: s.RxRate, TxBps: s.TxRate}
	}
	x.RxRate, x.TxRate, _ = tr.Rate(sr.Name)
	return x
}

func wireAPStatus(st apmgr.Status) api.APStatus {
	x := api.APStatus{
		Running: st.Running, State: st.State, Interface: st.Interface, SSID: st.SSID, BSSID: st.BSSID,
		Channel: st.Channel, Frequency: st.Frequency, Band: st.Band, Security: st.Security, Country: st.Country,
		Isolate: st.Isolate, Hidden: st.Hidden, Clients: st.Clients, Denied: st.Denied, Problem: st.Problem, Output: st.Output,
	}
	if st.Pending != nil {
		p := wireAPChange(*st.Pending)
		x.Pending = &p
	}
	return x
}

func wireAPSettings(s apmgr.Settings) api.APSettings {
	return api.APSettings{SSID: s.SSID, PassphraseSet: s.PassphraseSet, Security: s.Security, Band: s.Band,
		Channel: s.Channel, Country: s.Country, Isolate: s.Isolate, Hidden: s.Hidden}
}

// wireAPSecretSettings is one reading of the AP's config: the settings and
// their passphrase together.
func wireAPSecretSettings(ap config.AP) api.APSecretSettings {
	return api.APSecretSettings{
		APSettings: api.APSettings{SSID: ap.SSID, PassphraseSet: ap.Passphrase != "", Security: ap.Security, Band: ap.Band,
			Channel: int(ap.Channel), Country: ap.Country, Isolate: ap.Isolate, Hidden: ap.Hidden},
		Passphrase: ap.Passphrase,
	}
}

func wireAPClients(cl []apmgr.Client) []api.APClient {
	out := make([]api.APClient, 0, len(cl))
	for _, c := range cl {
		out = append(out, api.APClient{MAC: c.MAC, IP: c.IP, Hostname: c.Hostname, Signal: c.Signal,
			ConnectedSeconds: c.ConnectedSeconds, InactiveMillis: c.InactiveMillis, RxBytes: c.RxBytes,
			TxBytes: c.TxBytes, Authorized: c.Authorized, KeyMgmt: c.KeyMgmt})
	}
	return out
}

func wireDNS(r diag.DNSResult) api.DNSResult {
	x := api.DNSResult{Server: r.Server, Name: r.Name, Type: r.Type, RCode: r.RCode, Authoritative: r.Authoritative,
		Answers: make([]api.DNSAnswer, 0, len(r.Answers)), DurationMS: r.DurationMS, Error: r.Error}
	for _, a := range r.Answers {
		x.Answers = append(x.Answers, api.DNSAnswer{Name: a.Name, Type: a.Type, TTL: a.TTL, Value: a.Value})
	}
	return x
}

func wireNeighbors(ns []diag.Neighbor) []api.Neighbor {
	out := make([]api.Neighbor, 0, len(ns))
	for _, n := range ns {
		out = append(out, api.Neighbor{IP: n.IP, MAC: n.MAC, Interface: n.Interface, State: n.State, Router: n.Router})
	}
	return out
}

func wireDHCPLeases(ls []dnsmasq.Lease) []api.DHCPLease {
	out := make([]api.DHCPLease, 0, len(ls))
	for _, l := range ls {
		out = append(out, api.DHCPLease{Expiry: l.Expiry, MAC: l.MAC, IP: l.IP, Hostname: l.Hostname, ClientID: l.ClientID, IAID: l.IAID})
	}
	return out
}

type (
	netifLinkConfig = netif.LinkConfig
	netifChange     = netif.Change
)
