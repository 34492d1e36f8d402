package dnsmasq

import (
	"regexp"
	"sync"
)

type explanation struct {
	re  *regexp.Regexp
	msg func(m []string) string
}

func fixed(s string) func([]string) string { return func([]string) string { return s } }

// explanations turn dnsmasq 2.90's own messages (format strings taken from
// the Debian binary) into advice; the first match wins.
var explanations = sync.OnceValue(func() []explanation {
	return []explanation{
		{regexp.MustCompile(`(?m)^(?:dnsmasq: )?(.*at line \d+ of \S+)$`), func(m []string) string {
			return "the dnsmasq configuration has an error: " + m[1]
		}},
		{regexp.MustCompile(`failed to (?:create listening socket for|bind server socket (?:for|to)) (\S+?)(?:#\d+)?: Address already in use`), func(m []string) string {
			return "port 53 (DNS) on " + m[1] + " is taken by another DNS server, often systemd-resolved or another dnsmasq: stop it or make it listen elsewhere"
		}},
		{regexp.MustCompile(`failed to bind DHCP server socket: Address already in use`), fixed(
			"port 67 (DHCP) is taken by another DHCP server, often another dnsmasq: stop it")},
		{regexp.MustCompile(`failed to create listening socket for (\S+): Cannot assign requested address`), func(m []string) string {
			return "the AP address " + m[1] + " is not configured on the AP interface yet: check ap.address and the interface's network setup"
		}},
		{regexp.MustCompile(`unknown interface (\S+)`), func(m []string) string {
			return "the interface " + m[1] + " does not exist: check ap.interface"
		}},
		{regexp.MustCompile(`(?:cannot open or create lease file|failed to open pidfile|cannot access|cannot read) (\S+?):`), func(m []string) string {
			return "dnsmasq cannot write or read " + m[1] + ": check that its directory exists and is writable by root"
		}},
		{regexp.MustCompile(`failed to change (?:user|group)-id to (\S+):`), func(m []string) string {
			return "dnsmasq cannot switch to the account " + m[1] + ": create it or run dnsmasq with --user"
		}},
	}
})

// Explain turns dnsmasq's output from a failed start into a sentence a
// user can act on, or "" when it recognises no cause.
func Explain(output string) string {
	for _, e := range explanations() {
		if m := e.re.FindStringSubmatch(output); m != nil {
			return e.msg(m)
		}
	}
	return ""
}
