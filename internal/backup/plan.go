package backup

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/devmgr/devmgr/internal/apmgr"
	"github.com/devmgr/devmgr/internal/change"
	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/netif"
	"github.com/devmgr/devmgr/internal/provision"
	"github.com/devmgr/devmgr/internal/store"
)

// Facts are what a restore plan needs to know of the device beyond its
// state.
type Facts struct {
	// Interfaces are the names of the device's network interfaces; nil:
	// unknown, and no name is reported missing.
	Interfaces []string
	// KeepConfig plans a restore that keeps the device's config file (the
	// console's, through the agent: the config, with its command
	// whitelist, is root's to change). The backup's AP settings become
	// the settings saved from the console, its deny list and LAN configs
	// go back for the LAN interfaces of the device's config, and
	// ConfigDiff shows what a restore as root would change besides.
	KeepConfig bool
}

// Plan is what a restore does, computed by PlanRestore from the device's
// state, the backup's and the facts alone.
type Plan struct {
	// Next is what the restore puts in place: the backup's state with the
	// interface names mapped, and the LAN configs of interfaces the
	// backup does not configure kept (with Facts.KeepConfig, the device's
	// config and the backup's AP settings made explicit).
	Next State
	// Maps are the interface names mapped (backup's → this device's).
	Maps map[string]string
	// Missing are interfaces the restored config names that this device
	// does not have: the restore is blocked until they are mapped.
	Missing []Missing
	// ConfigDiff is a unified diff of the config as marshalled, the AP
	// passphrase hidden; "" when the config stays as it is.
	ConfigDiff string
	// ConfigKept: the restore keeps the device's config file
	// (Facts.KeepConfig); ConfigDiff is what it leaves out.
	ConfigKept bool
	Users      []AccountChange
	Tokens     []AccountChange
	// TLS is set when the console's certificate is replaced.
	TLS bool
	// AP are the access point's settings that change, old → new.
	AP []change.FieldChange
	// Denied and Allowed are the stations the deny list gains and loses.
	Denied, Allowed []string
	LAN             []LANChange
}

// Missing is an interface name the restored config uses that this device
// does not have.
type Missing struct {
	Name string
	// Used lists where: ap.interface, uplinks[0], lan[1]; "LAN config"
	// for a LAN config of the backup that a restore keeping the config
	// cannot place.
	Used []string
	// Suggest is an interface of this device the restored config does not
	// use, of the same kind by its name; "" when there is none.
	Suggest string
}

// AccountChange is a user or token the restore adds, removes or changes.
type AccountChange struct {
	Name   string
	Change string // added, removed, changed
	Role   string // the restored role (the removed one's for removed)
	Detail string // for changed: "role viewer → admin, password"
}

// LANChange is a LAN interface whose confirmed config changes.
type LANChange struct {
	Interface string
	Changes   []change.FieldChange
}

// PlanRestore computes what restoring next over cur does. mapping renames
// interfaces of the backup (old → new, as --map old=new); a name to map
// that the backup does not use, or a new name that is not an interface
// name (or not on the device, when the facts know its interfaces), is an
// error, as is a mapped config or LAN config that no longer passes
// validation. With f.KeepConfig the device's config stays (see
// Facts.KeepConfig). It changes nothing and reads nothing but its
// arguments.
func PlanRestore(cur, next State, f Facts, mapping map[string]string) (*Plan, error) {
	p := &Plan{Maps: mapping}
	mapped, err := mapInterfaces(next, f, mapping)
	if err != nil {
		return nil, err
	}
	p.Next = mapped
	if p.ConfigDiff, err = configDiff(cur.Config, mapped.Config); err != nil {
		return nil, err
	}
	if f.KeepConfig {
		p.ConfigKept = true
		if err := p.keepConfig(cur, mapped); err != nil {
			return nil, err
		}
	} else {
		p.Next.Agent.LAN = keepLAN(cur.Agent.LAN, mapped.Agent.LAN, mapped.Config)
		p.Missing = missing(p.Next.Config, f)
	}
	p.Users = userChanges(cur.Users, p.Next.Users)
	p.Tokens = tokenChanges(cur.Tokens, p.Next.Tokens)
	p.TLS = p.Next.TLS != "" && p.Next.TLS != cur.TLS && generatedTLS(p.Next.Config)
	p.AP = apmgr.SettingsChanges(cur.Agent.AP.Effective(cur.Config.AP), p.Next.Agent.AP.Effective(p.Next.Config.AP))
	p.Denied, p.Allowed = setDiff(cur.Agent.AP.Deny, p.Next.Agent.AP.Deny)
	for _, name := range slices.Sorted(maps.Keys(p.Next.Agent.LAN)) {
		next := p.Next.Agent.LAN[name]
		var prev *netif.LinkConfig
		if lc, ok := cur.Agent.LAN[name]; ok {
			prev = &lc
		}
		// The link's own state is not known here: taken as up, with
		// nothing configured.
		if cs := netif.Diff(prev, netif.State{AdminUp: true}, next); prev == nil || len(cs) > 0 {
			p.LAN = append(p.LAN, LANChange{Interface: name, Changes: cs})
		}
	}
	return p, nil
}

// keepConfig makes p a restore into the device's config cur.Config: the
// backup's AP settings as settings saved from the console (the backup's
// config's where it saved none), its LAN configs for the LAN interfaces
// of cur.Config (any other is Missing, with a LAN interface of the device
// the backup does not configure as suggestion), and the device's own LAN
// configs of the rest.
func (p *Plan) keepConfig(cur, mapped State) error {
	p.Next.Config = cur.Config
	p.Next.Agent = mapped.Agent.Effective(mapped.Config)
	p.Next.Agent.LAN = keepLAN(cur.Agent.LAN, mapped.Agent.LAN, cur.Config)
	taken := map[string]bool{}
	for n := range mapped.Agent.LAN {
		taken[n] = true
	}
	for _, n := range slices.Sorted(maps.Keys(mapped.Agent.LAN)) {
		if slices.Contains(cur.Config.LAN, n) {
			continue
		}
		m := Missing{Name: n, Used: []string{"LAN config"}}
		for _, cand := range cur.Config.LAN {
			if !taken[cand] {
				m.Suggest, taken[cand] = cand, true
				break
			}
		}
		p.Missing = append(p.Missing, m)
		delete(p.Next.Agent.LAN, n)
	}
	if err := netif.ValidateDesired(cur.Config, p.Next.Agent.LAN); err != nil {
		return fmt.Errorf("the backup's LAN configs on this device: %w", err)
	}
	return nil
}

// Blocked says why the plan cannot be applied: interfaces missing on this
// device, with the --map each needs.
func (p *Plan) Blocked() error {
	if len(p.Missing) == 0 {
		return nil
	}
	var b strings.Builder
	if p.ConfigKept {
		b.WriteString("the backup has LAN configs of interfaces that are not LAN interfaces of this device's config; map each to one that is with --map OLD=NEW:")
	} else {
		b.WriteString("the backup names interfaces this device does not have; map each to one it has with --map OLD=NEW:")
	}
	for _, m := range p.Missing {
		fmt.Fprintf(&b, "\n  %s (%s)", m.Name, strings.Join(m.Used, ", "))
		if m.Suggest != "" {
			fmt.Fprintf(&b, ": --map %s=%s", m.Name, m.Suggest)
		}
	}
	return fmt.Errorf("%w: %s", ErrInterfaces, b.String())
}

// ErrInterfaces blocks a restore whose interfaces are missing.
var ErrInterfaces = errors.New("interfaces missing")

// mapInterfaces renames the backup's interfaces as mapping says and checks
// the result as the device would.
func mapInterfaces(next State, f Facts, mapping map[string]string) (State, error) {
	if len(mapping) == 0 {
		return next, nil
	}
	used := interfaceUses(next.Config)
	for _, old := range slices.Sorted(maps.Keys(mapping)) {
		nu := mapping[old]
		if _, ok := used[old]; !ok {
			return State{}, fmt.Errorf("--map %s=%s: the backup does not use an interface %s", old, nu, old)
		}
		if err := config.CheckInterfaceName(nu); err != nil {
			return State{}, fmt.Errorf("--map %s=%s: %w", old, nu, err)
		}
		if f.Interfaces != nil && !slices.Contains(f.Interfaces, nu) {
			return State{}, fmt.Errorf("--map %s=%s: this device has no interface %s", old, nu, nu)
		}
	}
	rename := func(n string) string {
		if nu, ok := mapping[n]; ok {
			return nu
		}
		return n
	}
	out := next
	c := next.Config
	c.AP.Interface = rename(c.AP.Interface)
	c.Uplinks = renameAll(c.Uplinks, rename)
	c.LAN = renameAll(c.LAN, rename)
	if err := c.Validate(); err != nil {
		return State{}, fmt.Errorf("the backup's config with the interfaces mapped: %w", err)
	}
	out.Config = c
	out.Agent.LAN = map[string]netif.LinkConfig{}
	for n, lc := range next.Agent.LAN {
		out.Agent.LAN[rename(n)] = lc
	}
	if err := out.Agent.Validate(c); err != nil {
		return State{}, fmt.Errorf("the backup's settings with the interfaces mapped: %w", err)
	}
	return out, nil
}

func renameAll(names []string, rename func(string) string) []string {
	if names == nil {
		return nil
	}
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = rename(n)
	}
	return out
}

// interfaceUses maps each interface name cfg uses to its YAML paths.
func interfaceUses(cfg config.Config) map[string][]string {
	u := map[string][]string{cfg.AP.Interface: {"ap.interface"}}
	for i, n := range cfg.Uplinks {
		u[n] = append(u[n], fmt.Sprintf("uplinks[%d]", i))
	}
	for i, n := range cfg.LAN {
		u[n] = append(u[n], fmt.Sprintf("lan[%d]", i))
	}
	return u
}

// keepLAN is the LAN configs a restore leaves confirmed: the backup's,
// and this device's own for interfaces the backup does not configure that
// stay LAN interfaces of the restored config.
func keepLAN(cur, next map[string]netif.LinkConfig, cfg config.Config) map[string]netif.LinkConfig {
	out := maps.Clone(next)
	if out == nil {
		out = map[string]netif.LinkConfig{}
	}
	for n, lc := range cur {
		if _, ok := out[n]; !ok && slices.Contains(cfg.LAN, n) && n != cfg.AP.Interface {
			out[n] = lc
		}
	}
	return out
}

// missing lists the interfaces cfg uses that the device lacks, each with
// a suggestion: an unused interface of the device whose name starts
// alike (wl for WiFi, en or eth for Ethernet), else none.
func missing(cfg config.Config, f Facts) []Missing {
	if f.Interfaces == nil {
		return nil
	}
	uses := interfaceUses(cfg)
	taken := map[string]bool{}
	for n := range uses {
		taken[n] = true
	}
	var out []Missing
	for _, n := range slices.Sorted(maps.Keys(uses)) {
		if slices.Contains(f.Interfaces, n) {
			continue
		}
		m := Missing{Name: n, Used: uses[n]}
		for _, cand := range f.Interfaces {
			if !taken[cand] && cand != "lo" && sameKind(n, cand) {
				m.Suggest = cand
				taken[cand] = true
				break
			}
		}
		out = append(out, m)
	}
	return out
}

// sameKind guesses from their names whether two interfaces are of a kind:
// WiFi (wl…, wlan…), Ethernet (en…, eth…), or the same leading letters.
func sameKind(a, b string) bool {
	kind := func(s string) string {
		switch {
		case strings.HasPrefix(s, "wl"):
			return "wifi"
		case strings.HasPrefix(s, "en"), strings.HasPrefix(s, "eth"):
			return "ethernet"
		}
		return strings.TrimRight(s, "0123456789")
	}
	return kind(a) == kind(b)
}

// configDiff is a unified diff of two configs as devmgr writes them, the
// passphrase hidden; "" when they are the same.
func configDiff(cur, next config.Config) (string, error) {
	a, err := config.Marshal(cur, "")
	if err != nil {
		return "", fmt.Errorf("the current config: %w", err)
	}
	b, err := config.Marshal(next, "")
	if err != nil {
		return "", fmt.Errorf("the backup's config: %w", err)
	}
	if bytes.Equal(a, b) {
		return "", nil
	}
	var out bytes.Buffer
	if err := provision.Unified(&out, "current config", "backup's config", hidePassphrase(a), hidePassphrase(b)); err != nil {
		return "", err
	}
	if cur.AP.Passphrase != next.AP.Passphrase {
		out.WriteString("(ap.passphrase changes)\n")
	}
	return out.String(), nil
}

// hidePassphrase replaces the value of every passphrase key.
func hidePassphrase(b []byte) []byte {
	lines := strings.SplitAfter(string(b), "\n")
	for i, l := range lines {
		k, _, ok := strings.Cut(l, ":")
		if ok && strings.TrimSpace(k) == "passphrase" {
			lines[i] = k + ": (hidden)\n"
		}
	}
	return []byte(strings.Join(lines, ""))
}

func userChanges(cur, next []store.User) []AccountChange {
	old := map[string]store.User{}
	for _, u := range cur {
		old[u.Name] = u
	}
	var out []AccountChange
	for _, u := range next {
		o, ok := old[u.Name]
		delete(old, u.Name)
		if !ok {
			out = append(out, AccountChange{Name: u.Name, Change: "added", Role: string(u.Role)})
			continue
		}
		var what []string
		if o.Role != u.Role {
			what = append(what, fmt.Sprintf("role %s → %s", o.Role, u.Role))
		}
		if o.PasswordHash != u.PasswordHash {
			what = append(what, "password")
		}
		if o.MustChangePassword != u.MustChangePassword {
			what = append(what, fmt.Sprintf("must change password %v → %v", o.MustChangePassword, u.MustChangePassword))
		}
		if len(what) > 0 {
			out = append(out, AccountChange{Name: u.Name, Change: "changed", Role: string(u.Role), Detail: strings.Join(what, ", ")})
		}
	}
	for _, o := range cur {
		if _, ok := old[o.Name]; ok {
			out = append(out, AccountChange{Name: o.Name, Change: "removed", Role: string(o.Role)})
		}
	}
	slices.SortFunc(out, func(a, b AccountChange) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// tokenChanges compares the live (unrevoked) tokens, by name.
func tokenChanges(cur, next []store.Token) []AccountChange {
	live := func(ts []store.Token) map[string]store.Token {
		m := map[string]store.Token{}
		for _, t := range ts {
			if !t.Revoked {
				m[t.Name] = t
			}
		}
		return m
	}
	a, b := live(cur), live(next)
	var out []AccountChange
	for _, n := range slices.Sorted(maps.Keys(b)) {
		t := b[n]
		o, ok := a[n]
		switch {
		case !ok:
			out = append(out, AccountChange{Name: n, Change: "added", Role: string(t.Role)})
		case o.Role != t.Role || !o.CreatedAt.Equal(t.CreatedAt):
			out = append(out, AccountChange{Name: n, Change: "changed", Role: string(t.Role), Detail: "another token of that name"})
		}
	}
	for _, n := range slices.Sorted(maps.Keys(a)) {
		if _, ok := b[n]; !ok {
			out = append(out, AccountChange{Name: n, Change: "removed", Role: string(a[n].Role)})
		}
	}
	slices.SortFunc(out, func(x, y AccountChange) int { return strings.Compare(x.Name, y.Name) })
	return out
}

// setDiff returns what b has that a lacks, and what a has that b lacks.
func setDiff(a, b []string) (added, removed []string) {
	for _, x := range b {
		if !slices.Contains(a, x) {
			added = append(added, x)
		}
	}
	for _, x := range a {
		if !slices.Contains(b, x) {
			removed = append(removed, x)
		}
	}
	return added, removed
}

// Write shows the plan to a person: what changes, step by step.
func (p *Plan) Write(w io.Writer) error {
	var b strings.Builder
	switch {
	case p.ConfigDiff == "":
		b.WriteString("config: unchanged\n")
	case p.ConfigKept:
		b.WriteString("config: kept; root restores the backup's, which differs, with devmgr backup restore on the device:\n")
	default:
		b.WriteString("config:\n")
	}
	if p.ConfigDiff != "" {
		for _, l := range strings.SplitAfter(strings.TrimRight(p.ConfigDiff, "\n"), "\n") {
			b.WriteString("  " + strings.TrimRight(l, "\n") + "\n")
		}
	}
	accounts := func(what string, cs []AccountChange) {
		if len(cs) == 0 {
			fmt.Fprintf(&b, "%s: unchanged\n", what)
			return
		}
		fmt.Fprintf(&b, "%s:\n", what)
		for _, c := range cs {
			switch c.Change {
			case "changed":
				fmt.Fprintf(&b, "  %s: changed: %s\n", c.Name, c.Detail)
			default:
				fmt.Fprintf(&b, "  %s: %s (%s)\n", c.Name, c.Change, c.Role)
			}
		}
	}
	accounts("users", p.Users)
	accounts("tokens", p.Tokens)
	b.WriteString("sessions: every session ends; everyone signs in again\n")
	if p.TLS {
		b.WriteString("TLS certificate: the backup's, from the console's next start\n")
	}
	fields := func(indent string, cs []change.FieldChange) {
		for _, c := range cs {
			if c.Field == "passphrase" {
				fmt.Fprintf(&b, "%s%s: changed\n", indent, c.Field)
				continue
			}
			fmt.Fprintf(&b, "%s%s: %q → %q\n", indent, c.Field, c.Old, c.New)
		}
	}
	if len(p.AP) == 0 {
		b.WriteString("access point: unchanged\n")
	} else {
		b.WriteString("access point:\n")
		fields("  ", p.AP)
	}
	if len(p.Denied)+len(p.Allowed) == 0 {
		b.WriteString("deny list: unchanged\n")
	} else {
		fmt.Fprintf(&b, "deny list: denied %s; allowed %s\n", orNone(p.Denied), orNone(p.Allowed))
	}
	if len(p.LAN) == 0 {
		b.WriteString("LAN interfaces: unchanged\n")
	}
	for _, l := range p.LAN {
		fmt.Fprintf(&b, "LAN %s:\n", l.Interface)
		fields("  ", l.Changes)
	}
	for _, old := range slices.Sorted(maps.Keys(p.Maps)) {
		fmt.Fprintf(&b, "interface %s of the backup is %s here\n", old, p.Maps[old])
	}
	if err := p.Blocked(); err != nil {
		b.WriteString(strings.TrimPrefix(err.Error(), ErrInterfaces.Error()+": ") + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func orNone(l []string) string {
	if len(l) == 0 {
		return "none"
	}
	return strings.Join(l, ", ")
}
