package dnsmasq

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/devmgr/devmgr/internal/config"
)

// The DHCP part of devmgr's dnsmasq config that the agent may change from
// the console: the range and lease time (RenderRange, a file the main
// config reads with conf-file=, so a change needs dnsmasq restarted) and
// the static leases (RenderHosts, dnsmasq's dhcp-hostsfile, read again on
// SIGHUP). Both are pure and re-validate every value they write.

// StaticLease is one host that always gets the same address.
type StaticLease struct {
	MAC string `json:"mac"` // aa:bb:cc:dd:ee:ff
	IP  string `json:"ip"`  // IPv4, inside the AP's subnet
	// Hostname is a host name label the device's DNS answers with the
	// address; "": none (the client's own name is used).
	Hostname string `json:"hostname,omitempty"`
}

// LeaseProblem is one bad field of a static lease: Index is its place in
// the list, Field one of "mac", "ip", "hostname".
type LeaseProblem struct {
	Index int
	Field string
	Err   error
}

// apPrefix returns ap.address when it is an IPv4 host address with a
// prefix length of /8 to /30, as the config requires.
func apPrefix(ap config.AP) (netip.Prefix, bool) {
	pfx, err := netip.ParsePrefix(ap.Address)
	ok := err == nil && pfx.Addr().Is4() && pfx.Bits() >= 8 && pfx.Bits() <= 30 && config.IsHostAddress(pfx)
	return pfx, ok
}

// checkRange checks ap's address and DHCP range as the config does.
func checkRange(ap config.AP) (netip.Prefix, error) {
	pfx, ok := apPrefix(ap)
	if !ok {
		return pfx, fmt.Errorf("ap.address: %q is not an IPv4 host address with a prefix length of /8 to /30", ap.Address)
	}
	var errs []error
	for _, p := range config.CheckDHCP(pfx, ap.DHCP, func(key string) string { return "ap." + key }) {
		errs = append(errs, fmt.Errorf("%s: %s", strings.TrimSuffix("ap.dhcp."+p.Path, "."), p.Message))
	}
	return pfx, errors.Join(errs...)
}

func rangeLine(pfx netip.Prefix, d config.DHCP) string {
	mask := net.IP(net.CIDRMask(pfx.Bits(), 32)).String()
	return fmt.Sprintf("dhcp-range=%s,%s,%s,%s", d.Start, d.End, mask, leaseTime(d.Lease))
}

// RenderRange returns the file Options.RangeFile names: the dhcp-range of
// c's ap.dhcp.
func RenderRange(c config.Config) ([]byte, error) {
	pfx, err := checkRange(c.AP)
	if err != nil {
		return nil, fmt.Errorf("rendering the DHCP range: %w", err)
	}
	return []byte("# Rendered by devmgr: the access point's DHCP range and lease time.\n" + rangeLine(pfx, c.AP.DHCP) + "\n"), nil
}

// CheckStaticLeases checks static leases against the AP's config and
// returns them normalised (MAC addresses in lower case, addresses in
// canonical form) with every problem, in list order: a MAC address is a
// unicast EUI-48 address, an address is an IPv4 host address of the AP's
// subnet other than the AP's own, a host name is an RFC 1123 label other
// than the AP's own name; none of the three appears twice (host names
// compared without case). An address inside the dynamic range is allowed:
// dnsmasq never gives it to another client.
func CheckStaticLeases(ap config.AP, leases []StaticLease) ([]StaticLease, []LeaseProblem) {
	pfx, _ := apPrefix(ap)
	out := make([]StaticLease, 0, len(leases))
	var probs []LeaseProblem
	bad := func(i int, field, format string, args ...any) {
		probs = append(probs, LeaseProblem{Index: i, Field: field, Err: fmt.Errorf(format, args...)})
	}
	macs, ips, names := map[string]int{}, map[netip.Addr]int{}, map[string]int{}
	for i, l := range leases {
		n := StaticLease{MAC: l.MAC, IP: l.IP, Hostname: l.Hostname}
		hw, err := net.ParseMAC(l.MAC)
		switch {
		case err != nil || len(hw) != 6:
			bad(i, "mac", "%q is not a MAC address such as 02:00:00:00:01:00", l.MAC)
		case hw[0]&1 != 0:
			bad(i, "mac", "%s is a multicast address; a client's address is unicast", hw)
		case bytes.Equal(hw, make(net.HardwareAddr, 6)):
			bad(i, "mac", "%s is not a client's address", hw)
		default:
			n.MAC = hw.String()
			if j, dup := macs[n.MAC]; dup {
				bad(i, "mac", "%s has a static lease already (static_leases[%d])", n.MAC, j)
			} else {
				macs[n.MAC] = i
			}
		}
		a, err := netip.ParseAddr(l.IP)
		switch {
		case err != nil || !a.Is4():
			bad(i, "ip", "%q is not an IPv4 address", l.IP)
		case !pfx.IsValid() || !pfx.Contains(a) || !config.IsHostAddress(netip.PrefixFrom(a, pfx.Bits())):
			bad(i, "ip", "%s is outside the access point's network %s", a, pfx.Masked())
		case a == pfx.Addr():
			bad(i, "ip", "%s is the access point's own address", a)
		default:
			n.IP = a.String()
			if j, dup := ips[a]; dup {
				bad(i, "ip", "%s is given to static_leases[%d] already", a, j)
			} else {
				ips[a] = i
			}
		}
		if l.Hostname != "" {
			key := strings.ToLower(l.Hostname)
			if err := config.CheckHostLabel(l.Hostname); err != nil {
				bad(i, "hostname", "%v", err)
			} else if key == strings.ToLower(ap.Hostname) {
				bad(i, "hostname", "%s is the device's own name", l.Hostname)
			} else if j, dup := names[key]; dup {
				bad(i, "hostname", "%s is the name of static_leases[%d] already", l.Hostname, j)
			} else {
				names[key] = i
			}
		}
		out = append(out, n)
	}
	return out, probs
}

// RenderHosts returns the file Options.HostsFile names: one static lease
// a line, in the order given, as dnsmasq's dhcp-host takes it
// (MAC,IP[,HOSTNAME]); the lease time is the range's.
func RenderHosts(c config.Config, leases []StaticLease) ([]byte, error) {
	norm, probs := CheckStaticLeases(c.AP, leases)
	if len(probs) > 0 {
		errs := make([]error, len(probs))
		for i, p := range probs {
			errs[i] = fmt.Errorf("static lease %d: %s: %w", p.Index, p.Field, p.Err)
		}
		return nil, fmt.Errorf("rendering the static leases: %w", errors.Join(errs...))
	}
	var b strings.Builder
	b.WriteString("# Written by devmgr: static DHCP leases, one host a line (MAC,IP[,HOSTNAME]).\n")
	for _, l := range norm {
		b.WriteString(l.MAC + "," + l.IP)
		if l.Hostname != "" {
			b.WriteString("," + l.Hostname)
		}
		b.WriteByte('\n')
	}
	return []byte(b.String()), nil
}

// CheckDHCP runs `dnsmasq --test` on conf with its DHCP part in place:
// the line conf-file= is replaced by rangeConf, and the line
// dhcp-hostsfile= by a dhcp-host line for each line of hosts (the
// hosts-file is not read by --test, and its lines are dhcp-host's
// arguments). conf must have both lines.
func CheckDHCP(ctx context.Context, conf, rangeConf, hosts []byte) error {
	var b bytes.Buffer
	var sawRange, sawHosts bool
	for _, l := range strings.SplitAfter(string(conf), "\n") {
		switch {
		case strings.HasPrefix(l, "conf-file="):
			sawRange = true
			b.Write(rangeConf)
		case strings.HasPrefix(l, "dhcp-hostsfile="):
			sawHosts = true
			for _, h := range strings.Split(string(hosts), "\n") {
				if h = strings.TrimSpace(h); h != "" && !strings.HasPrefix(h, "#") {
					b.WriteString("dhcp-host=" + h + "\n")
				}
			}
		default:
			b.WriteString(l)
		}
	}
	if !sawRange || !sawHosts {
		return errors.New("checking dnsmasq config: it reads no range file (conf-file=) or no hosts file (dhcp-hostsfile=)")
	}
	return Check(ctx, b.Bytes())
}

// LeaseText writes a lease time in dnsmasq's units, as a person reads
// them: 24h, 90m, 150s.
func LeaseText(d time.Duration) string {
	s := leaseTime(d)
	if !strings.HasSuffix(s, "h") && !strings.HasSuffix(s, "m") {
		s += "s"
	}
	return s
}
