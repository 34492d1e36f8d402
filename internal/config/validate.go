package config

import (
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Validate checks every value and returns a *Problems naming each bad one
// by its YAML path, or nil.
func (c Config) Validate() error {
	var ps Problems
	if c.DataDir == "" {
		ps.add("data_dir", "must not be empty")
	}
	c.validateWeb(&ps)
	if c.Agent.Socket == "" {
		ps.add("agent.socket", "must not be empty")
	} else if !filepath.IsAbs(c.Agent.Socket) && !strings.HasPrefix(c.Agent.Socket, ".") {
		ps.add("agent.socket", "%q must be an absolute path or start with ./", c.Agent.Socket)
	}
	switch {
	case c.Agent.StateDir == "":
		ps.add("agent.state_dir", "must not be empty")
	case !filepath.IsAbs(c.Agent.StateDir) && !strings.HasPrefix(c.Agent.StateDir, "."):
		ps.add("agent.state_dir", "%q must be an absolute path or start with ./", c.Agent.StateDir)
	case filepath.Clean(c.Agent.StateDir) == filepath.Clean(c.DataDir) ||
		strings.HasPrefix(filepath.Clean(c.Agent.StateDir)+"/", filepath.Clean(c.DataDir)+"/"):
		ps.add("agent.state_dir", "%q must not be inside data_dir, which the console account owns", c.Agent.StateDir)
	}
	if k := time.Duration(c.Audit.Keep); k < 24*time.Hour {
		ps.add("audit.keep", "%s is shorter than 1d", c.Audit.Keep)
	}
	if c.Audit.MaxRows < 1000 || c.Audit.MaxRows > 10_000_000 {
		ps.add("audit.max_rows", "%d is outside 1000..10000000", c.Audit.MaxRows)
	}
	c.validateBackup(&ps)
	c.validateReset(&ps)
	c.validateAP(&ps)
	c.validateInterfaces(&ps)
	c.validateCommands(&ps)
	if t := c.Network.RollbackTimeout; t < 10*time.Second || t > 10*time.Minute {
		ps.add("network.rollback_timeout", "%s is outside 10s..10m", t)
	}
	if len(ps.List) > 0 {
		return &ps
	}
	return nil
}

func (c Config) validateWeb(ps *Problems) {
	host, port, err := net.SplitHostPort(c.Web.Listen)
	if err != nil {
		ps.add("web.listen", "%q is not host:port (for example :443 or 127.0.0.1:8080)", c.Web.Listen)
	} else if !validPort(port) {
		ps.add("web.listen", "port %q is not a number from 1 to 65535", port)
	} else if c.Web.TLS.Disable && !isLoopback(host) {
		ps.add("web.tls.disable", "plain HTTP is allowed only on a loopback address, and web.listen is %q", c.Web.Listen)
	}
	if c.Web.RedirectListen != "" {
		if _, port, err := net.SplitHostPort(c.Web.RedirectListen); err != nil || !validPort(port) {
			ps.add("web.redirect_listen", "%q is not host:port (for example :80)", c.Web.RedirectListen)
		} else if c.Web.TLS.Disable {
			ps.add("web.redirect_listen", "a redirect to HTTPS needs web.tls enabled")
		}
	}
	if (c.Web.TLS.Cert == "") != (c.Web.TLS.Key == "") {
		ps.add("web.tls", "cert and key must be given together")
	}
	if c.Web.Session.IdleTimeout < time.Minute {
		ps.add("web.session.idle_timeout", "%s is shorter than 1m", c.Web.Session.IdleTimeout)
	}
	if c.Web.Session.Lifetime < c.Web.Session.IdleTimeout {
		ps.add("web.session.lifetime", "%s is shorter than web.session.idle_timeout %s", c.Web.Session.Lifetime, c.Web.Session.IdleTimeout)
	}
	if c.Web.User == "" {
		ps.add("web.user", "must not be empty")
	}
}

func (c Config) validateAP(ps *Problems) {
	ap := c.AP
	if err := CheckInterfaceName(ap.Interface); err != nil {
		ps.add("ap.interface", "%v", err)
	}
	if err := CheckSSID(ap.SSID); err != nil {
		ps.add("ap.ssid", "%v", err)
	}
	if ap.Passphrase != "" {
		if err := CheckPassphrase(ap.Passphrase); err != nil {
			ps.add("ap.passphrase", "%v", err)
		}
	}
	switch ap.Security {
	case SecurityWPA2, SecurityWPA3, SecurityWPA2WPA3:
		if ap.Security != SecurityWPA2 && len(ap.Passphrase) == 64 {
			ps.add("ap.passphrase", "a 64-digit hex key works only with security wpa2; SAE needs a passphrase")
		}
	default:
		ps.add("ap.security", "%q is not one of wpa2, wpa3, wpa2-wpa3", ap.Security)
	}
	if !KnownCountry(ap.Country) {
		ps.add("ap.country", "%q is not a known ISO 3166 country code (two capital letters, for example US or DE)", ap.Country)
	}
	switch ap.Band {
	case Band24, Band5:
		if err := CheckChannel(ap.Band, ap.Channel); err != nil {
			ps.add("ap.channel", "%v", err)
		}
	default:
		ps.add("ap.band", "%q is not one of 2.4ghz, 5ghz", ap.Band)
	}
	if ap.MaxStations < 1 || ap.MaxStations > 2007 {
		ps.add("ap.max_stations", "%d is outside 1..2007", ap.MaxStations)
	}
	if err := CheckHostLabel(ap.Hostname); err != nil {
		ps.add("ap.hostname", "%v", err)
	}
	if err := CheckDomain(ap.Domain); err != nil {
		ps.add("ap.domain", "%v", err)
	}

	pfx, err := netip.ParsePrefix(ap.Address)
	if err != nil || !pfx.Addr().Is4() {
		ps.add("ap.address", "%q is not an IPv4 address with prefix length such as 192.168.4.1/24", ap.Address)
		return
	}
	if pfx.Bits() < 8 || pfx.Bits() > 30 {
		ps.add("ap.address", "prefix length /%d is outside /8../30", pfx.Bits())
		return
	}
	if !IsHostAddress(pfx) {
		ps.add("ap.address", "%s is the network or broadcast address of its subnet", pfx)
		return
	}
	for _, p := range CheckDHCP(pfx, ap.DHCP, func(key string) string { return "ap." + key }) {
		ps.add(strings.TrimSuffix("ap.dhcp."+p.Path, "."), "%s", p.Message)
	}
}

// Bounds of a DHCP lease time (dnsmasq's least is 2 minutes).
const (
	MinLease = 2 * time.Minute
	MaxLease = 30 * 24 * time.Hour
)

// CheckDHCP checks a DHCP range and lease time against the AP's address
// pfx (a valid ap.address): the rules of ap.dhcp, for the config file and
// the console's changes alike. Each problem's Path is its key: "start",
// "end", "lease", or "" for the range as a whole. name turns the keys
// "address" and "dhcp.start" into the words a message names them by.
func CheckDHCP(pfx netip.Prefix, d DHCP, name func(key string) string) []Problem {
	var ps Problems
	var start, end netip.Addr
	for _, f := range []struct {
		key, val string
		dst      *netip.Addr
	}{{"start", d.Start, &start}, {"end", d.End, &end}} {
		a, err := netip.ParseAddr(f.val)
		switch {
		case err != nil || !a.Is4():
			ps.add(f.key, "%q is not an IPv4 address", f.val)
		case !pfx.Contains(a) || !IsHostAddress(netip.PrefixFrom(a, pfx.Bits())):
			ps.add(f.key, "%s is outside %s %s", a, name("address"), pfx)
		case a == pfx.Addr():
			ps.add(f.key, "%s is the AP's own address", a)
		default:
			*f.dst = a
		}
	}
	if start.IsValid() && end.IsValid() {
		if end.Less(start) {
			ps.add("end", "%s comes before %s %s", end, name("dhcp.start"), start)
		} else if !pfx.Addr().Less(start) && !end.Less(pfx.Addr()) {
			ps.add("", "the range %s..%s contains the AP address %s", start, end, pfx.Addr())
		}
	}
	if d.Lease < MinLease || d.Lease > MaxLease {
		ps.add("lease", "%s is outside 2m..720h", d.Lease)
	}
	return ps.List
}

func (c Config) validateInterfaces(ps *Problems) {
	seen := map[string]string{c.AP.Interface: "ap.interface"}
	for _, list := range []struct {
		key   string
		names []string
	}{{"uplinks", c.Uplinks}, {"lan", c.LAN}} {
		for i, n := range list.names {
			path := fmt.Sprintf("%s[%d]", list.key, i)
			if err := CheckInterfaceName(n); err != nil {
				ps.add(path, "%v", err)
				continue
			}
			if other, ok := seen[n]; ok {
				ps.add(path, "%s is already %s", n, other)
				continue
			}
			seen[n] = path
		}
	}
}

// IsHostAddress reports whether p's address is neither the network nor the
// broadcast address of p (always true for /31 and /32).
func IsHostAddress(p netip.Prefix) bool {
	if p.Bits() >= p.Addr().BitLen()-1 {
		return true
	}
	a := p.Addr()
	if a == p.Masked().Addr() {
		return false
	}
	if a.Is4() {
		b := a.As4()
		v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		host := uint32(1)<<(32-p.Bits()) - 1
		return v&host != host
	}
	return true
}

// CheckInterfaceName validates a Linux interface name.
func CheckInterfaceName(s string) error {
	if s == "" || len(s) > 15 {
		return fmt.Errorf("%q is not an interface name of 1 to 15 characters", s)
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return fmt.Errorf("%q is not an interface name: only letters, digits, '-', '_' and '.'", s)
		}
	}
	if s == "." || s == ".." {
		return fmt.Errorf("%q is not an interface name", s)
	}
	return nil
}

// CheckSSID validates an SSID: 1..32 bytes of UTF-8 with no control characters.
func CheckSSID(s string) error {
	if len(s) < 1 || len(s) > 32 {
		return fmt.Errorf("must be 1 to 32 bytes, and is %d", len(s))
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("is not valid UTF-8")
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return fmt.Errorf("contains a control character (%U)", r)
		}
	}
	return nil
}

// CheckPassphrase validates a WPA passphrase: 8..63 printable ASCII
// characters, or exactly 64 hex digits (a raw PSK).
func CheckPassphrase(s string) error {
	if len(s) == 64 {
		for _, r := range s {
			if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
				return fmt.Errorf("64 characters must all be hex digits (a raw key); a passphrase has 8 to 63")
			}
		}
		return nil
	}
	if len(s) < 8 || len(s) > 63 {
		return fmt.Errorf("must be 8 to 63 characters, and is %d", len(s))
	}
	for _, r := range s {
		if r < 0x20 || r > 0x7e {
			return fmt.Errorf("may contain only printable ASCII characters")
		}
	}
	return nil
}

// Channels24 and Channels5 are the channels devmgr accepts per band.
var (
	Channels24 = []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}
	Channels5  = []int{36, 40, 44, 48, 52, 56, 60, 64, 100, 104, 108, 112, 116, 120, 124, 128, 132, 136, 140, 144, 149, 153, 157, 161, 165}
)

// CheckChannel checks that ch (0 = auto) is valid for band.
func CheckChannel(band string, ch Channel) error {
	if ch == 0 {
		return nil
	}
	valid := Channels24
	if band == Band5 {
		valid = Channels5
	}
	if !slices.Contains(valid, int(ch)) {
		return fmt.Errorf("%d is not a %s channel", ch, band)
	}
	return nil
}

// CheckHostLabel validates one RFC 1123 label.
func CheckHostLabel(s string) error {
	if len(s) < 1 || len(s) > 63 {
		return fmt.Errorf("%q must be 1 to 63 characters", s)
	}
	for i, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' && i > 0 && i < len(s)-1
		if !ok {
			return fmt.Errorf("%q is not a host name: letters, digits and inner '-' only", s)
		}
	}
	return nil
}

// CheckDomain validates an RFC 1123 domain name (one or more labels).
func CheckDomain(s string) error {
	if s == "" || len(s) > 253 {
		return fmt.Errorf("%q must be 1 to 253 characters", s)
	}
	for _, l := range strings.Split(s, ".") {
		if err := CheckHostLabel(l); err != nil {
			return fmt.Errorf("%q is not a domain name: %w", s, err)
		}
	}
	return nil
}

func validPort(p string) bool {
	var n int
	if _, err := fmt.Sscanf(p, "%d", &n); err != nil || fmt.Sprint(n) != p {
		return false
	}
	return n >= 1 && n <= 65535
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}
