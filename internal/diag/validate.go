// Package diag runs the Network page's diagnostics inside the agent: ping
// and traceroute (argv, LC_ALL=C, a timeout, output streamed line by line),
// DNS lookups with a small DNS client of its own, the neighbour table
// (netlink) and the AP's DHCP leases (dnsmasq's leases file).
//
// Every request is validated first; a bad value is a *FieldError naming the
// JSON field, so nothing reaches a program that could read it as an option.
package diag

import (
	"github.com/devmgr/devmgr/internal/fielderr"
	"net/netip"
	"strings"
)

func fieldErr(field, format string, args ...any) *fielderr.Error {
	return fielderr.New(field, format, args...)
}

// Limits of the requests.
const (
	MinCount        = 1
	MaxCount        = 10
	DefaultCount    = 4
	MinHops         = 1
	MaxHops         = 30
	DefaultMaxHops  = 30
	maxHostLen      = 253
	maxLabelLen     = 63
	maxFieldDisplay = 80
)

// ValidateHost checks that s is an IP literal (IPv4 or IPv6, no zone) or an
// RFC 1123 host name; field names the value in errors.
func ValidateHost(field, s string) error {
	if s == "" {
		return fieldErr(field, "is required: a host name or an IP address")
	}
	if strings.HasPrefix(s, "-") {
		return fieldErr(field, "%q must not start with -", clip(s))
	}
	if a, err := netip.ParseAddr(s); err == nil {
		if a.Zone() != "" {
			return fieldErr(field, "%q: an address with a zone is not supported", clip(s))
		}
		if a.IsUnspecified() {
			return fieldErr(field, "%q is the unspecified address", s)
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
		return fieldErr(field, "%q is not a host name", clip(s))
	}
	if len(name) > maxHostLen {
		return fieldErr(field, "is longer than %d characters", maxHostLen)
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if l == "" {
			return fieldErr(field, "%q has an empty label", clip(s))
		}
		if len(l) > maxLabelLen {
			return fieldErr(field, "%q has a label longer than %d characters", clip(s), maxLabelLen)
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return fieldErr(field, "%q: a label must not start or end with -", clip(s))
		}
		for _, c := range []byte(l) {
			ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || underscore && c == '_'
			if !ok {
				return fieldErr(field, "%q is not a host name or IP address (letters, digits, - and . only)", clip(s))
			}
		}
	}
	// A name of digits and dots only would be read as an address by ping.
	if !underscore && strings.Trim(name, "0123456789.") == "" {
		return fieldErr(field, "%q is neither a valid IP address nor a host name", clip(s))
	}
	return nil
}

func clip(s string) string {
	if len(s) > maxFieldDisplay {
		return s[:maxFieldDisplay] + "..."
	}
	return s
}
