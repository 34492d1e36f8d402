// Package diag runs the Network page's diagnostics inside the agent: ping
// and traceroute (argv, LC_ALL=C, a timeout, output streamed line by line),
// DNS lookups with a small DNS client of its own, the neighbour table
// (netlink) and the AP's DHCP leases (dnsmasq's leases file).
//
// Every request is validated first; a bad value is a *FieldError naming the
// JSON field, so nothing reaches a program that could read it as an option.
package diag

import (
	"github.com/devmgr/devmgr/internal/agent/api"
	"github.com/devmgr/devmgr/internal/fielderr"
	"net/netip"
	"strings"
)

// labels name the fields as the Diagnostics page labels them: a message
// is a sentence about its field, for a form to show beside it.
var labels = map[string]string{
	"host": "Host or IP address", "count": "Count", "max_hops": "Max hops",
	"name": "Name", "type": "Type", "server": "Server",
}

// fieldErr is a problem of field, its words following the field's label.
func fieldErr(field, format string, args ...any) *fielderr.Error {
	label := labels[field]
	if label == "" {
		label = fielderr.Label(field)
	}
	return fielderr.New(field, label+" "+format, args...)
}

// Limits of the requests.
const (
	MinCount        = api.MinPingCount
	MaxCount        = api.MaxPingCount
	DefaultCount    = 4
	MinHops         = api.MinHops
	MaxHops         = api.MaxHops
	DefaultMaxHops  = 30
	maxHostLen      = 253
	maxLabelLen     = 63
	maxFieldDisplay = 80
)

// ValidateHost checks that s is an IP literal (IPv4 or IPv6, no zone) or an
// RFC 1123 host name; field names the value in errors.
func ValidateHost(field, s string) error {
	if s == "" {
		return fieldErr(field, "is required: a host name or an IP address.")
	}
	if strings.HasPrefix(s, "-") {
		return fieldErr(field, "must not start with -.")
	}
	if a, err := netip.ParseAddr(s); err == nil {
		if a.Zone() != "" {
			return fieldErr(field, "must not have a zone such as %%eth0.")
		}
		if a.IsUnspecified() {
			return fieldErr(field, "must not be the unspecified address %s.", s)
		}
		return nil
	}
	return checkName(field, s, false)
}

// checkName checks an RFC 1123 host name (a trailing dot allowed);
// underscore allows the service labels DNS lookups need (_dmarc.example.com).
func checkName(field, s string, underscore bool) error {
	name := strings.TrimSuffix(s, ".")
	if name == "" {
		return fieldErr(field, "%q is not a host name.", clip(s))
	}
	if len(name) > maxHostLen {
		return fieldErr(field, "is longer than %d characters.", maxHostLen)
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if l == "" {
			return fieldErr(field, "has an empty part between two dots.")
		}
		if len(l) > maxLabelLen {
			return fieldErr(field, "has a part longer than %d characters between dots.", maxLabelLen)
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return fieldErr(field, "has a part that starts or ends with -.")
		}
		for _, c := range []byte(l) {
			ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || underscore && c == '_'
			if !ok {
				if underscore {
					return fieldErr(field, "may hold only letters, digits, -, _ and dots.")
				}
				return fieldErr(field, "may hold only letters, digits, - and dots.")
			}
		}
	}
	// A name of digits and dots only would be read as an address by ping.
	if !underscore && strings.Trim(name, "0123456789.") == "" {
		return fieldErr(field, "%q is neither a valid IP address nor a host name.", clip(s))
	}
	return nil
}

func clip(s string) string {
	if len(s) > maxFieldDisplay {
		return s[:maxFieldDisplay] + "..."
	}
	return s
}
