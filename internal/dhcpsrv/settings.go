package dhcpsrv

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/devmgr/devmgr/internal/change"
	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/dnsmasq"
	"github.com/devmgr/devmgr/internal/fielderr"
)

// MaxStaticLeases bounds the static leases.
const MaxStaticLeases = 256

// Settings are the DHCP server's settings an admin may change; also the
// settings file's format.
type Settings struct {
	Start string `json:"start"` // first address of the dynamic range
	End   string `json:"end"`   // last address of the dynamic range
	// LeaseTime is how long a lease lasts, in seconds (2 minutes to 30
	// days); static leases get it too.
	LeaseTime    int64                 `json:"lease_time"`
	StaticLeases []dnsmasq.StaticLease `json:"static_leases"`
}

// fromConfig is the config file's settings: its ap.dhcp and no static
// leases.
func fromConfig(c config.Config) Settings {
	return Settings{Start: c.AP.DHCP.Start, End: c.AP.DHCP.End, LeaseTime: int64(c.AP.DHCP.Lease / time.Second),
		StaticLeases: []dnsmasq.StaticLease{}}
}

// apply returns c with s's range in its ap.dhcp.
func (s Settings) apply(c config.Config) config.Config {
	c.AP.DHCP = config.DHCP{Start: s.Start, End: s.End, Lease: time.Duration(s.LeaseTime) * time.Second}
	return c
}

func (s Settings) equal(o Settings) bool {
	return s.Start == o.Start && s.End == o.End && s.LeaseTime == o.LeaseTime && slices.Equal(s.StaticLeases, o.StaticLeases)
}

// The settings a change names in its Fields.
var settingNames = []string{"start", "end", "lease_time", "static_leases"}

// validate checks s against the AP's config (ap.address, ap.hostname)
// and returns it normalised, or every problem as a fielderr.List in the
// order of the form's fields.
func validate(s Settings, c config.Config) (Settings, error) {
	var errs fielderr.List
	lease := time.Duration(s.LeaseTime) * time.Second
	if s.LeaseTime < int64(config.MinLease/time.Second) || s.LeaseTime > int64(config.MaxLease/time.Second) {
		errs.Add("lease_time", "%d seconds is outside %d..%d (2 minutes to 30 days)", s.LeaseTime, config.MinLease/time.Second, config.MaxLease/time.Second)
		lease = config.MinLease // reported already
	}
	name := func(key string) string {
		if key == "address" {
			return "the access point's network"
		}
		return strings.TrimPrefix(key, "dhcp.")
	}
	for _, p := range config.CheckDHCP(c.APPrefix(), config.DHCP{Start: s.Start, End: s.End, Lease: lease}, name) {
		field := p.Path
		if field == "" { // the range as a whole: end is where it goes wrong
			field = "end"
		}
		errs = append(errs, fielderr.New(field, "%s", p.Message))
	}
	// The lease time's problem belongs after start and end.
	slices.SortStableFunc(errs, func(a, b *fielderr.Error) int { return order(a.Field) - order(b.Field) })
	next := Settings{Start: s.Start, End: s.End, LeaseTime: s.LeaseTime}
	if len(s.StaticLeases) > MaxStaticLeases {
		errs.Add("static_leases", "%d static leases; at most %d", len(s.StaticLeases), MaxStaticLeases)
		return Settings{}, errs
	}
	var probs []dnsmasq.LeaseProblem
	next.StaticLeases, probs = dnsmasq.CheckStaticLeases(c.AP, s.StaticLeases)
	for _, p := range probs {
		errs.Add(fmt.Sprintf("static_leases[%d].%s", p.Index, p.Field), "%v", p.Err)
	}
	if err := errs.Err(); err != nil {
		return Settings{}, err
	}
	return next, nil
}

func order(field string) int { return slices.Index(settingNames, field) }

// valid checks settings read back from disk with the API's rules.
func (s Settings) valid(c config.Config) error {
	next, err := validate(s, c)
	if err != nil {
		return err
	}
	if !next.equal(s) {
		return errors.New("settings do not survive validation unchanged")
	}
	return nil
}

// maxLeaseChanges bounds the static leases a change lists one by one;
// beyond it, one entry counts them.
const maxLeaseChanges = 24

// fieldChanges says what differs between a and b, old → new, in words a
// page shows as they are: start, end and lease_time, then a
// "static_lease" entry for each lease added, changed or removed (by MAC
// address; "" on the side without it), or one "static_leases" entry that
// counts them when there are many.
func fieldChanges(a, b Settings) []change.FieldChange {
	var out []change.FieldChange
	add := func(field, o, n string) {
		if o != n {
			out = append(out, change.FieldChange{Field: field, Old: o, New: n})
		}
	}
	add("start", a.Start, b.Start)
	add("end", a.End, b.End)
	add("lease_time", leaseText(a.LeaseTime), leaseText(b.LeaseTime))
	old := map[string]dnsmasq.StaticLease{}
	for _, l := range a.StaticLeases {
		old[l.MAC] = l
	}
	var leases []change.FieldChange
	var added, changed, removed int
	for _, l := range b.StaticLeases {
		o, ok := old[l.MAC]
		delete(old, l.MAC)
		switch {
		case !ok:
			added++
			leases = append(leases, change.FieldChange{Field: "static_lease", New: leaseLine(l)})
		case o != l:
			changed++
			leases = append(leases, change.FieldChange{Field: "static_lease", Old: leaseLine(o), New: leaseLine(l)})
		}
	}
	for _, l := range a.StaticLeases {
		if _, ok := old[l.MAC]; ok {
			removed++
			leases = append(leases, change.FieldChange{Field: "static_lease", Old: leaseLine(l)})
		}
	}
	if len(leases) <= maxLeaseChanges {
		return append(out, leases...)
	}
	return append(out, change.FieldChange{Field: "static_leases", Old: countLeases(len(a.StaticLeases)),
		New: fmt.Sprintf("%s (%d added, %d changed, %d removed)", countLeases(len(b.StaticLeases)), added, changed, removed)})
}

func leaseText(seconds int64) string { return dnsmasq.LeaseText(time.Duration(seconds) * time.Second) }

func leaseLine(l dnsmasq.StaticLease) string {
	return strings.TrimSpace(l.MAC + " " + l.IP + " " + l.Hostname)
}

func countLeases(n int) string {
	if n == 1 {
		return "1 static lease"
	}
	return strconv.Itoa(n) + " static leases"
}

// changedFields names the settings that differ between a and b.
func changedFields(a, b Settings) []string {
	var f []string
	if a.Start != b.Start {
		f = append(f, "start")
	}
	if a.End != b.End {
		f = append(f, "end")
	}
	if a.LeaseTime != b.LeaseTime {
		f = append(f, "lease_time")
	}
	if !slices.Equal(a.StaticLeases, b.StaticLeases) {
		f = append(f, "static_leases")
	}
	return f
}

// loadSettings reads stateDir/ap-dhcp.json, the config file's settings
// when there is none. What it reads passes the API's validation again,
// or is change.ErrInvalid.
func loadSettings(stateDir string, c config.Config) (Settings, error) {
	p := filepath.Join(stateDir, settingsFile)
	var s Settings
	ok, err := change.ReadJSON(p, &s)
	if err != nil || !ok {
		return fromConfig(c), err
	}
	if err := s.valid(c); err != nil {
		return Settings{}, change.Invalidf("%s: %v", p, err)
	}
	return s, nil
}

// Effective returns c's ap.dhcp with the settings saved from the console
// (STATEDIR/ap-dhcp.json; stateDir "" is agent.state_dir) applied, and the
// static leases: what dnsmasq's DHCP part must be rendered from (devmgr
// provision uses it, so that provisioning again keeps the console's
// changes). Saved settings that fail validation are an error.
func Effective(c config.Config, stateDir string) (config.DHCP, []dnsmasq.StaticLease, error) {
	if stateDir == "" {
		stateDir = c.Agent.StateDir
	}
	s, err := loadSettings(stateDir, c)
	if err != nil {
		return config.DHCP{}, nil, fmt.Errorf("the DHCP settings saved from the console: %w", err)
	}
	return s.apply(c).AP.DHCP, s.StaticLeases, nil
}
