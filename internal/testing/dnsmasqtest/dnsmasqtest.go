// Package dnsmasqtest installs dnsmasq's config as devmgr provision does,
// for the tests of the packages that change its DHCP part (dhcpsrv, the
// agent).
package dnsmasqtest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/device"
	"github.com/devmgr/devmgr/internal/dnsmasq"
)

// Install renders dnsmasq's config for c with o (RangeFile and HostsFile
// default to the device's) and writes it at conf, with its DHCP range and
// its static leases (none) at o.RangeFile and o.HostsFile, each path under
// root. Directories are made 0755 and files 0644, as on a device:
// dnsmasq's own user reads the hosts file again on SIGHUP.
func Install(t testing.TB, root, conf string, c config.Config, o dnsmasq.Options) {
	t.Helper()
	if o.RangeFile == "" {
		o.RangeFile = device.DnsmasqRange
	}
	if o.HostsFile == "" {
		o.HostsFile = device.DnsmasqHosts
	}
	b, err := dnsmasq.Render(c, o)
	if err != nil {
		t.Fatal(err)
	}
	rng, err := dnsmasq.RenderRange(c)
	if err != nil {
		t.Fatal(err)
	}
	hosts, err := dnsmasq.RenderHosts(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	for p, content := range map[string][]byte{conf: b, o.RangeFile: rng, o.HostsFile: hosts} {
		p = filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
