// Package firewall renders devmgr's nftables ruleset (one `table inet
// devmgr`, pure), checks it with `nft -c` in a throwaway network namespace
// and applies it atomically with `nft -f`.
package firewall

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/devmgr/devmgr/internal/config"
)

// Table is the one nftables table devmgr owns.
const Table = "inet devmgr"

// Options are the parts of the ruleset that do not come from the config.
type Options struct {
	// ConsolePorts are the TCP ports of the web console (e.g. 443, 80);
	// they are dropped when they arrive on an uplink.
	ConsolePorts []int
}

// Render returns the ruleset. Loading it with `nft -f` replaces the whole
// table in one transaction: it first declares the table (so that the
// delete cannot fail on a fresh system), deletes it, and defines it anew.
//
//   - input (policy accept): console ports arriving on uplinks are dropped.
//   - forward (policy drop): replies to allowed traffic; AP to uplinks;
//     LAN to uplinks; AP to LAN only with firewall.allow_ap_to_lan.
//   - postrouting: masquerade out of the uplinks.
func Render(c config.Config, o Options) ([]byte, error) {
	var errs []error
	if err := config.CheckInterfaceName(c.AP.Interface); err != nil {
		errs = append(errs, fmt.Errorf("ap.interface: %w", err))
	}
	for _, l := range []struct {
		key   string
		names []string
	}{{"uplinks", c.Uplinks}, {"lan", c.LAN}} {
		for i, n := range l.names {
			if err := config.CheckInterfaceName(n); err != nil {
				errs = append(errs, fmt.Errorf("%s[%d]: %w", l.key, i, err))
			}
		}
	}
	for _, p := range o.ConsolePorts {
		if p < 1 || p > 65535 {
			errs = append(errs, fmt.Errorf("console port %d is outside 1..65535", p))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("rendering nftables ruleset: %w", err)
	}

	ap := quote(c.AP.Interface)
	uplinks := set(quoteAll(c.Uplinks))
	lan := set(quoteAll(c.LAN))
	ports := slices.Clone(o.ConsolePorts)
	slices.Sort(ports)
	ports = slices.Compact(ports)
	portStrs := make([]string, len(ports))
	for i, p := range ports {
		portStrs[i] = strconv.Itoa(p)
	}
	consolePorts := set(portStrs)

	var b strings.Builder
	line := func(indent int, s string, args ...any) {
		b.WriteString(strings.Repeat("\t", indent))
		fmt.Fprintf(&b, s, args...)
		b.WriteByte('\n')
	}
	line(0, "#!/usr/sbin/nft -f")
	line(0, "# Rendered by devmgr from its config; changes here are overwritten.")
	line(0, "# Replaces table %s in one transaction.", Table)
	line(0, "table %s {}", Table)
	line(0, "delete table %s", Table)
	line(0, "table %s {", Table)
	line(1, "chain input {")
	line(2, "type filter hook input priority filter; policy accept;")
	if uplinks != "" && consolePorts != "" {
		line(2, "iifname %s tcp dport %s drop comment \"console not served on uplinks\"", uplinks, consolePorts)
	}
	line(1, "}")
	line(0, "")
	line(1, "chain forward {")
	line(2, "type filter hook forward priority filter; policy drop;")
	line(2, "ct state established,related accept")
	line(2, "ct state invalid drop")
	if uplinks != "" {
		line(2, "iifname %s oifname %s accept comment \"AP clients to the uplinks\"", ap, uplinks)
	}
	if lan != "" && c.Firewall.AllowAPToLAN {
		line(2, "iifname %s oifname %s accept comment \"AP clients to the LAN (firewall.allow_ap_to_lan)\"", ap, lan)
	}
	if lan != "" && uplinks != "" {
		line(2, "iifname %s oifname %s accept comment \"LAN to the uplinks\"", lan, uplinks)
	}
	line(1, "}")
	line(0, "")
	line(1, "chain postrouting {")
	line(2, "type nat hook postrouting priority srcnat; policy accept;")
	if uplinks != "" {
		line(2, "oifname %s masquerade", uplinks)
	}
	line(1, "}")
	line(0, "}")
	return []byte(b.String()), nil
}

// quote writes an interface name as an nft string; names are validated to
// letters, digits, '-', '_' and '.', so nothing needs escaping.
func quote(s string) string { return `"` + s + `"` }

func quoteAll(ss []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, quote(s))
		}
	}
	return out
}

// set writes one value bare, several as an anonymous set, and none as ""
// (nft has no empty anonymous set: the caller leaves the rule out).
func set(vals []string) string {
	switch len(vals) {
	case 0:
		return ""
	case 1:
		return vals[0]
	default:
		return "{ " + strings.Join(vals, ", ") + " }"
	}
}
