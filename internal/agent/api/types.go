package api

import (
	"time"

	"github.com/devmgr/devmgr/internal/auth"
)

// The headers by which the console names who acts.
const (
	HeaderUser   = "X-Devmgr-User"
	HeaderRole   = "X-Devmgr-Role"
	HeaderSource = "X-Devmgr-Source"
)

// Actor is who asks: the signed-in user (or token), the role the console
// found, and the client's address. The agent checks the role again.
type Actor struct {
	User   string
	Role   auth.Role
	Source string
}

// Interface is one interface as GET /v1/interfaces shows it: the link's
// state plus what devmgr makes of it.
type Interface struct {
	Name      string   `json:"name"`
	Kind      string   `json:"kind"` // ethernet|wireless|bridge|vlan|veth|loopback|other
	AdminUp   bool     `json:"admin_up"`
	OperState string   `json:"oper_state"` // up, down, unknown, dormant, lowerlayerdown, ...
	Carrier   bool     `json:"carrier"`
	MAC       string   `json:"mac"`
	MTU       int      `json:"mtu"`
	Addresses []string `json:"addresses"` // CIDR, IPv4 and IPv6
	Gateway   string   `json:"gateway"`   // default route via this link, "" if none
	RxBytes   uint64   `json:"rx_bytes"`
	TxBytes   uint64   `json:"tx_bytes"`
	// Role is "ap" (ap.interface, protected), "uplink", "lan" (configurable)
	// or "" for any other interface.
	Role string `json:"role,omitempty"`
	// Mode is the confirmed mode of a LAN interface (dhcp or static); ""
	// when devmgr has never configured it.
	Mode   string      `json:"mode,omitempty"`
	Config *LinkConfig `json:"config,omitempty"`
	// Lease is the DHCP lease of a LAN interface in mode dhcp, once bound.
	Lease *Lease `json:"lease,omitempty"`
	// DHCPState is DHCPWaiting or DHCPBound while the config in force on a
	// LAN interface (a pending change's, else the confirmed one) is mode
	// dhcp, and "" otherwise: "waiting" means no DHCP server has answered
	// (yet) and the link has no leased address.
	DHCPState string `json:"dhcp_state,omitempty"`
	// Pending is the change pending on this interface, if any: while it
	// is, the link has the change's values, Mode and Config still the
	// confirmed ones, and Pending.Changes says what differs.
	Pending *Change `json:"pending,omitempty"`
	// RxRate and TxRate are the bytes per second received and sent over
	// the last sampling interval of the traffic history (GET /v1/traffic);
	// absent until the agent has two samples of the link.
	RxRate *uint64 `json:"rx_rate,omitempty"`
	TxRate *uint64 `json:"tx_rate,omitempty"`
}

// DHCP states of an interface (Interface.DHCPState).
const (
	DHCPWaiting = "waiting"
	DHCPBound   = "bound"
)

// Interface roles.
const (
	RoleAP     = "ap"
	RoleUplink = "uplink"
	RoleLAN    = "lan"
)

// LinkConfig is the body of PUT /v1/interfaces/{name}/config.
type LinkConfig struct {
	Mode      string   `json:"mode"` // dhcp or static
	Addresses []string `json:"addresses,omitempty"`
	Gateway   string   `json:"gateway,omitempty"`
	DNS       []string `json:"dns,omitempty"`
	MTU       int      `json:"mtu,omitempty"`
	Up        *bool    `json:"up,omitempty"` // nil: up
}

// Lease is a LAN interface's DHCP lease.
type Lease struct {
	Interface  string    `json:"interface"`
	Server     string    `json:"server"`
	Address    string    `json:"address"` // CIDR
	Router     string    `json:"router,omitempty"`
	DNS        []string  `json:"dns,omitempty"`
	LeaseTime  int64     `json:"lease_time"` // seconds
	Expiry     time.Time `json:"expiry"`
	ObtainedAt time.Time `json:"obtained_at"`
	RenewedAt  time.Time `json:"renewed_at"`
	RenewAt    time.Time `json:"renew_at"`
	RebindAt   time.Time `json:"rebind_at"`
}

// Change is a network change: the 202 answer of a change,
// GET /v1/changes/{id}, the pending change of GET /v1/health and
// Interface.Pending.
type Change struct {
	ID        string `json:"change_id"`
	Interface string `json:"interface"`
	Status    string `json:"status"` // pending, confirmed, rolled_back
	// User is who began the change (the console's user or token name).
	User string `json:"user,omitempty"`
	// Changes is what the change does, field by field: mode, addresses,
	// gateway, dns, mtu, up (only those that differ, in that order). Old
	// is the confirmed config's value, or the link's own where devmgr
	// never configured it; lists are comma-separated.
	Changes    []FieldChange `json:"changes,omitempty"`
	CreatedAt  time.Time     `json:"created_at"`
	RollbackAt time.Time     `json:"rollback_at"`
	FinishedAt *time.Time    `json:"finished_at,omitempty"`
	Error      string        `json:"error,omitempty"` // why a rollback was incomplete
	// Waiting is set while a pending change cannot yet be told to work:
	// "waiting for a DHCP lease" when it sets mode dhcp and no server has
	// answered. Confirming then keeps a link without an address.
	Waiting string `json:"waiting,omitempty"`
}

// FieldChange is one field a change changes, with its value before and
// after as text to show as it is ("" where that side has none).
type FieldChange struct {
	Field string `json:"field"`
	Old   string `json:"old"`
	New   string `json:"new"`
}

// Change statuses.
const (
	StatusPending    = "pending"
	StatusConfirmed  = "confirmed"
	StatusRolledBack = "rolled_back"
)

// APChange is an access-point change: the 202 answer of PUT
// /v1/ap/settings and GET /v1/ap/changes/{id}, and of the DHCP server's
// PUT /v1/ap/dhcp and GET /v1/ap/dhcp/changes/{id}.
type APChange struct {
	ID     string   `json:"change_id"`
	Status string   `json:"status"`
	Fields []string `json:"fields"` // the settings it changes, e.g. ["ssid", "channel"] or ["start", "static_leases"]
	// User is who began the change.
	User string `json:"user,omitempty"`
	// Changes is old → new per setting of Fields (channel 0 is "auto",
	// isolate and hidden "on"/"off"); the passphrase is never shown: its
	// entry is {"field":"passphrase","old":"","new":"changed"}. A DHCP
	// change has start, end, lease_time ("24h", "90m", "150s"), then a
	// "static_lease" entry per lease added (old ""), changed or removed
	// (new ""), as "MAC IP [HOSTNAME]"; or, when many leases change, one
	// "static_leases" entry that counts them.
	Changes    []FieldChange `json:"changes,omitempty"`
	CreatedAt  time.Time     `json:"created_at"`
	RollbackAt time.Time     `json:"rollback_at"`
	FinishedAt *time.Time    `json:"finished_at,omitempty"`
	Error      string        `json:"error,omitempty"`
}

// Traffic is GET /v1/traffic: the last hour of traffic of each interface,
// sampled by the agent every IntervalSeconds (one netlink dump; nothing
// is sampled per request). Query: interface=NAME keeps one interface,
// since=UNIX keeps the samples after that second (a poller asks for what
// it has not seen).
type Traffic struct {
	IntervalSeconds int             `json:"interval_s"`
	Interfaces      []TrafficSeries `json:"interfaces"` // by name
}

// TrafficSeries is one interface's traffic history.
type TrafficSeries struct {
	Name string `json:"name"`
	// RxRate and TxRate are the latest sample's rates (bytes per second),
	// whatever since asked for; 0 until the interface has a sample.
	RxRate uint64 `json:"rx_rate"`
	TxRate uint64 `json:"tx_rate"`
	// Samples are oldest first, at most MaxTrafficSamples.
	Samples []TrafficSample `json:"samples"`
}

// TrafficSample is the traffic of one sampling interval.
type TrafficSample struct {
	T int64 `json:"t"` // end of the interval, Unix seconds
	// RxBps and TxBps are bytes (not bits) per second received and sent
	// over the interval.
	RxBps uint64 `json:"rx_bps"`
	TxBps uint64 `json:"tx_bps"`
}

// MaxTrafficSamples is how many samples a series keeps: an hour at the
// agent's 10 s interval.
const MaxTrafficSamples = 360

// Health is GET /v1/health.
type Health struct {
	Status  string  `json:"status"` // "ok"
	Version string  `json:"version"`
	Network bool    `json:"network"` // interfaces can be read and changed
	Pending *Change `json:"pending,omitempty"`
}

// StreamEvent is one line of a streamed answer (application/x-ndjson):
// "line" events carry output as it comes, then one "done" (with the exit
// code) or "error" ends the stream.
type StreamEvent struct {
	Type       string `json:"type"` // line, done, error
	Text       string `json:"text,omitempty"`
	ExitCode   *int   `json:"exit_code,omitempty"`
	DurationMS int64  `json:"duration_ms,omitempty"`
	Error      string `json:"error,omitempty"`
}

// Stream event types.
const (
	EventLine  = "line"
	EventDone  = "done"
	EventError = "error"
)

// The ranges of the streamed diagnostics' numbers: the agent refuses a
// number outside them, and the Diagnostics page says them.
const (
	MinPingCount, MaxPingCount = 1, 10
	MinHops, MaxHops           = 1, 30
)

// PingRequest is the body of POST /v1/diag/ping.
type PingRequest struct {
	Host  string `json:"host"`
	Count *int   `json:"count,omitempty"` // MinPingCount..MaxPingCount; left out: the default (4)
}

// TracerouteRequest is the body of POST /v1/diag/traceroute.
type TracerouteRequest struct {
	Host    string `json:"host"`
	MaxHops *int   `json:"max_hops,omitempty"` // MinHops..MaxHops; left out: the default (30)
}

// Result is how a streamed diagnostic ended.
type Result struct {
	ExitCode   int   `json:"exit_code"`
	DurationMS int64 `json:"duration_ms"`
}

// DNSRequest is the body of POST /v1/diag/dns.
type DNSRequest struct {
	Name   string `json:"name"`
	Type   string `json:"type,omitempty"`   // A (default), AAAA, MX, TXT, NS, PTR, CNAME
	Server string `json:"server,omitempty"` // IP address; "": the system's resolver
}

// DNSResult is the answer of POST /v1/diag/dns; a lookup that got no
// reply is a result too: Error says why.
type DNSResult struct {
	Server        string      `json:"server"`
	Name          string      `json:"name"`
	Type          string      `json:"type"`
	RCode         string      `json:"rcode,omitempty"`
	Authoritative bool        `json:"authoritative"`
	Answers       []DNSAnswer `json:"answers"`
	DurationMS    int64       `json:"duration_ms"`
	Error         string      `json:"error,omitempty"`
}

// DNSAnswer is one record of a DNSResult.
type DNSAnswer struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	TTL   uint32 `json:"ttl"`
	Value string `json:"value"`
}

// Neighbor is one entry of GET /v1/diag/neighbors.
type Neighbor struct {
	IP        string `json:"ip"`
	MAC       string `json:"mac,omitempty"`
	Interface string `json:"interface"`
	State     string `json:"state"`
	Router    bool   `json:"router,omitempty"`
}

// DHCPLease is one lease the AP's DHCP server gave (GET /v1/dhcp/leases).
type DHCPLease struct {
	// Expiry is when the lease ends; the zero time means it never does.
	Expiry   time.Time `json:"expiry"`
	MAC      string    `json:"mac"`
	IP       string    `json:"ip"`
	Hostname string    `json:"hostname,omitempty"`
	ClientID string    `json:"client_id,omitempty"`
	IAID     string    `json:"iaid,omitempty"`
}

// APInfo is GET /v1/ap: the AP's status, its settings (never the
// passphrase: only passphrase_set) and the deny list.
type APInfo struct {
	Status   APStatus   `json:"status"`
	Settings APSettings `json:"settings"`
	Denied   []string   `json:"denied"`
}

// APStatus is the access point as hostapd runs it.
type APStatus struct {
	Running   bool   `json:"running"` // hostapd answers on its control socket
	State     string `json:"state,omitempty"`
	Interface string `json:"interface"`
	SSID      string `json:"ssid"`
	BSSID     string `json:"bssid,omitempty"`
	Channel   int    `json:"channel"`
	Frequency int    `json:"frequency"` // MHz; 0 when unknown
	Band      string `json:"band"`
	Security  string `json:"security"`
	Country   string `json:"country"`
	Isolate   bool   `json:"isolate"`
	Hidden    bool   `json:"hidden"`
	Clients   int    `json:"clients"`
	Denied    int    `json:"denied"`
	// Problem says, in words a user can act on, why the AP is not up.
	Problem string `json:"problem,omitempty"`
	// Output is hostapd's latest output when it is not up, oldest first.
	Output  []string  `json:"output,omitempty"`
	Pending *APChange `json:"pending,omitempty"`
}

// APSettings are the settings an admin may change.
type APSettings struct {
	SSID          string `json:"ssid"`
	PassphraseSet bool   `json:"passphrase_set"`
	Security      string `json:"security"` // wpa2, wpa3, wpa2-wpa3
	Band          string `json:"band"`     // 2.4ghz, 5ghz
	Channel       int    `json:"channel"`  // 0: automatic
	Country       string `json:"country"`
	Isolate       bool   `json:"isolate"`
	Hidden        bool   `json:"hidden"`
}

// APSecretSettings is GET /v1/ap/settings, for admins only: the settings
// in force with the passphrase, which the console puts in the QR code a
// phone scans to join. The console reads it with its typed client; it is
// not one of the routes its API forwards, and neither side logs or audits
// it.
type APSecretSettings struct {
	APSettings
	Passphrase string `json:"passphrase"`
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

// APClient is a station of the AP joined with its DHCP lease.
type APClient struct {
	MAC      string `json:"mac"`
	IP       string `json:"ip,omitempty"`
	Hostname string `json:"hostname,omitempty"`
	// Signal is the last received signal in dBm; 0 when unknown.
	Signal           int    `json:"signal"`
	ConnectedSeconds int64  `json:"connected_seconds"`
	InactiveMillis   int64  `json:"inactive_ms"`
	RxBytes          uint64 `json:"rx_bytes"`
	TxBytes          uint64 `json:"tx_bytes"`
	// Authorized is true once the key handshake completed.
	Authorized bool   `json:"authorized"`
	KeyMgmt    string `json:"key_mgmt,omitempty"`
}

// APDHCP is GET /v1/ap/dhcp: the AP's DHCP server (dnsmasq) as the agent
// applies it.
type APDHCP struct {
	Start     string `json:"start"`      // first address of the dynamic range
	End       string `json:"end"`        // last address of the dynamic range
	LeaseTime int64  `json:"lease_time"` // seconds, 120..2592000
	// StaticLeases always get the same address (inside or outside the
	// range, inside the AP's network); never null.
	StaticLeases []StaticLease `json:"static_leases"`
	// Address is the AP's own address and prefix (ap.address, e.g.
	// 192.168.4.1/24): every address above is in its network and is not it.
	Address         string `json:"address"`
	MaxStaticLeases int    `json:"max_static_leases"`
	// Problem says why changes cannot be applied on this device (PUT
	// answers 503 with the same words); "" when they can.
	Problem string `json:"problem,omitempty"`
	// Pending is the DHCP change waiting for its confirm, if any; while
	// it is, the values above are the change's.
	Pending *APChange `json:"pending,omitempty"`
}

// StaticLease is one host that always gets the same address.
type StaticLease struct {
	MAC      string `json:"mac"` // unicast, aa:bb:cc:dd:ee:ff in answers
	IP       string `json:"ip"`
	Hostname string `json:"hostname,omitempty"` // an RFC 1123 label; the device's DNS answers it
}

// APDHCPUpdate is the body of PUT /v1/ap/dhcp. Fields left out (null)
// keep their values; static_leases, when given, replaces the whole list
// ([] removes them all). Every bad field is named at once (400 with
// fields), e.g. "start", "lease_time", "static_leases[2].mac".
type APDHCPUpdate struct {
	Start        *string        `json:"start,omitempty"`
	End          *string        `json:"end,omitempty"`
	LeaseTime    *int64         `json:"lease_time,omitempty"`
	StaticLeases *[]StaticLease `json:"static_leases,omitempty"`
}

// DenyRequest is the body of POST /v1/ap/deny.
type DenyRequest struct {
	MAC string `json:"mac"`
}

// DenyList is the answer of the deny-list routes.
type DenyList struct {
	Denied []string `json:"denied"`
}

// AuditRecord is one entry of GET /v1/audit.
type AuditRecord struct {
	Time   time.Time `json:"time"`
	User   string    `json:"user"`
	Source string    `json:"source"`
	Action string    `json:"action"`
	Target string    `json:"target"`
	Result string    `json:"result"`
	Detail string    `json:"detail"`
}

// AuditQuery selects entries of GET /v1/audit: user, action (a prefix),
// result, since (inclusive) and until (exclusive), at most Limit (up to
// MaxAuditLimit), newest first.
type AuditQuery struct {
	User, Action, Result string
	Since, Until         time.Time
	Limit                int
}

// MaxAuditLimit bounds one answer of GET /v1/audit.
const MaxAuditLimit = 1000

// DNSTypes lists the record types POST /v1/diag/dns answers, in the
// order a page offers them.
var DNSTypes = []string{"A", "AAAA", "MX", "TXT", "NS", "PTR", "CNAME"}
