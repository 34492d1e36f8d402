// Package dnsmasq renders the DHCP and DNS service of devmgr's access point
// into a dnsmasq config file (pure), checks it with `dnsmasq --test`, and
// reads dnsmasq's leases file.
package dnsmasq

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/devmgr/devmgr/internal/config"
)

// Options are the file-system locations a rendered config refers to.
type Options struct {
	// LeaseFile is dnsmasq's leases file (dhcp-leasefile). Required.
	LeaseFile string
	// PIDFile is dnsmasq's pid-file; "" leaves dnsmasq's default.
	PIDFile string
	// ServersFile is a servers-file of more upstream DNS servers (the
	// agent's: see DefaultServersFile); "": none.
	ServersFile string
	// RangeFile, if set, is read for the DHCP range (conf-file=, rendered
	// by RenderRange) instead of a dhcp-range line of the config itself:
	// the agent rewrites it when an admin changes the range from the
	// console. dnsmasq reads it only when it starts.
	RangeFile string
	// HostsFile, if set, is dnsmasq's dhcp-hostsfile: the static leases
	// (RenderHosts), which dnsmasq reads again on SIGHUP.
	HostsFile string
}

// Default locations on a device.
const (
	DefaultLeaseFile = "/var/lib/misc/dnsmasq.devmgr.leases"
	// DefaultPIDFile is where the agent finds dnsmasq to signal it;
	// provision's tmpfiles.d entry makes its directory.
	DefaultPIDFile = "/run/devmgr/dnsmasq.pid"
)

// Render returns the dnsmasq config serving DHCP and DNS on the AP
// interface only. It is pure and re-validates every value it writes.
//
// Upstream DNS comes from the system's resolv.conf and from ServersFile,
// which dnsmasq reads again on SIGHUP. /etc/hosts is not read
// (no-hosts), so the device's own host entries (127.0.1.1) never leak to AP
// clients; <hostname>.<domain> and the bare <hostname> are a host-record
// for the AP address, which also answers the reverse lookup.
func Render(c config.Config, o Options) ([]byte, error) {
	ap := c.AP
	var errs []error
	add := func(field string, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", field, err))
		}
	}
	add("ap.interface", config.CheckInterfaceName(ap.Interface))
	add("ap.domain", config.CheckDomain(ap.Domain))
	add("ap.hostname", config.CheckHostLabel(ap.Hostname))
	pfx, err := checkRange(ap)
	if err != nil {
		errs = append(errs, err)
	}
	add("lease file", checkPath(o.LeaseFile, true))
	add("pid file", checkPath(o.PIDFile, false))
	add("servers file", checkPath(o.ServersFile, false))
	add("range file", checkPath(o.RangeFile, false))
	add("hosts file", checkPath(o.HostsFile, false))
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("rendering dnsmasq config: %w", err)
	}

	addr := pfx.Addr().String()
	var b strings.Builder
	line := func(s string, args ...any) { fmt.Fprintf(&b, s+"\n", args...) }
	line("# Rendered by devmgr from its config; changes here are overwritten.")
	line("# DHCP and DNS for the access point only; nothing on uplinks or LAN.")
	line("interface=%s", ap.Interface)
	line("except-interface=lo")
	line("listen-address=%s", addr)
	line("bind-dynamic")
	line("")
	line("# DNS")
	line("domain-needed")
	line("bogus-priv")
	line("stop-dns-rebind")
	line("no-hosts")
	line("domain=%s", ap.Domain)
	line("local=/%s/", ap.Domain)
	line("host-record=%s,%s,%s", c.FQDN(), ap.Hostname, addr)
	if o.ServersFile != "" {
		line("servers-file=%s", o.ServersFile)
	}
	line("")
	line("# DHCP")
	line("dhcp-authoritative")
	if o.RangeFile != "" {
		line("conf-file=%s", o.RangeFile)
	} else {
		line("%s", rangeLine(pfx, ap.DHCP))
	}
	if o.HostsFile != "" {
		line("dhcp-hostsfile=%s", o.HostsFile)
	}
	line("dhcp-option=option:router,%s", addr)
	line("dhcp-option=option:dns-server,%s", addr)
	line("dhcp-leasefile=%s", o.LeaseFile)
	if o.PIDFile != "" {
		line("pid-file=%s", o.PIDFile)
	}
	return []byte(b.String()), nil
}

// leaseTime writes d in dnsmasq's units (h, m or plain seconds).
func leaseTime(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	default:
		return fmt.Sprintf("%d", int64(d.Round(time.Second)/time.Second))
	}
}

// checkPath accepts a clean absolute path of characters dnsmasq's option
// parser takes literally (no spaces, '#', quotes, commas or backslashes).
func checkPath(p string, required bool) error {
	if p == "" {
		if required {
			return errors.New("path must be set")
		}
		return nil
	}
	if !filepath.IsAbs(p) || filepath.Clean(p) != p {
		return fmt.Errorf("%q is not a clean absolute path", p)
	}
	for _, r := range p {
		if r <= 0x20 || r >= 0x7f || strings.ContainsRune("#\"'\\,", r) {
			return fmt.Errorf("%q may hold only printable ASCII without spaces, '#', quotes, commas or backslashes", p)
		}
	}
	return nil
}
