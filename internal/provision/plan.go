// Package provision renders every system file devmgr needs from the config
// into a root directory ("/" on a device, or a staging directory), checks
// each with the real tool before anything is installed, shows a unified
// diff, writes atomically keeping the previous version, and on a device
// sets the sysctl, applies the firewall and (re)starts the services.
package provision

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"path/filepath"
	"strings"

	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/device"
	"github.com/devmgr/devmgr/internal/dnsmasq"
	"github.com/devmgr/devmgr/internal/firewall"
	"github.com/devmgr/devmgr/internal/hostapd"
)

// PrevSuffix names the previous version of a replaced file.
const PrevSuffix = ".devmgr-prev"

// Defaults for Options.
const (
	DefaultBinary    = "/usr/local/bin/devmgr"
	DefaultHostapd   = "/usr/sbin/hostapd"
	DefaultDnsmasq   = "/usr/sbin/dnsmasq"
	DefaultNft       = "/usr/sbin/nft"
	DnsmasqPIDFile   = dnsmasq.DefaultPIDFile
	NginxCertDefault = "/etc/ssl/certs/ssl-cert-snakeoil.pem"
	NginxKeyDefault  = "/etc/ssl/private/ssl-cert-snakeoil.key"
)

// Check names the real tool that validates a file before it is installed.
type Check string

// Checks.
const (
	CheckNone     Check = ""
	CheckHostapd  Check = "hostapd"  // hostapd's own parser, with the deny list
	CheckDenyList Check = "denylist" // checked together with the hostapd config
	CheckDnsmasq  Check = "dnsmasq"  // dnsmasq --test, with its DHCP range and hosts files in place
	CheckDHCPPart Check = "dhcppart" // checked together with the dnsmasq config
	CheckNft      Check = "nft"      // nft -c -f in an empty network namespace
	CheckUnit     Check = "systemd"  // systemd-analyze verify
	CheckNginx    Check = "nginx"    // nginx -t with a config including the site
)

// File is one rendered system file.
type File struct {
	Path    string // absolute path on the device
	Mode    fs.FileMode
	Content []byte
	Check   Check
	// Units are the services restarted when this file changes.
	Units []string
	// Secret marks files holding the AP passphrase: their diff hides values.
	Secret bool
}

// Plan renders every system file from c. It is pure: it reads nothing but
// its arguments. c must pass Validate and the provisioning requirements
// (see Requirements).
func Plan(c config.Config, o Options) ([]File, error) {
	if err := Requirements(c, o); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	var files []File
	add := func(f File, err error) error {
		if err != nil {
			return fmt.Errorf("rendering %s: %w", f.Path, err)
		}
		files = append(files, f)
		return nil
	}

	hconf, err := hostapd.Render(c.AP, hostapd.Options{CtrlInterface: hostapd.DefaultCtrlInterface, DenyFile: device.HostapdDeny})
	if err := add(File{Path: device.HostapdConf, Mode: 0o600, Content: hconf, Check: CheckHostapd, Units: []string{device.UnitHostapd}, Secret: true}, err); err != nil {
		return nil, err
	}
	deny, err := hostapd.RenderDenyList(o.DenyMACs)
	if err := add(File{Path: device.HostapdDeny, Mode: 0o644, Content: deny, Check: CheckDenyList, Units: []string{device.UnitHostapd}}, err); err != nil {
		return nil, err
	}
	dconf, err := dnsmasq.Render(c, dnsmasq.Options{LeaseFile: dnsmasq.DefaultLeaseFile, PIDFile: DnsmasqPIDFile,
		ServersFile: dnsmasq.DefaultServersFile, RangeFile: device.DnsmasqRange, HostsFile: device.DnsmasqHosts})
	if err := add(File{Path: device.DnsmasqConf, Mode: 0o644, Content: dconf, Check: CheckDnsmasq, Units: []string{device.UnitDnsmasq}}, err); err != nil {
		return nil, err
	}
	// The agent rewrites these two from the console; dnsmasq's own user
	// reads the hosts file again on SIGHUP.
	drange, err := dnsmasq.RenderRange(c)
	if err := add(File{Path: device.DnsmasqRange, Mode: 0o644, Content: drange, Check: CheckDHCPPart, Units: []string{device.UnitDnsmasq}}, err); err != nil {
		return nil, err
	}
	dhosts, err := dnsmasq.RenderHosts(c, o.StaticLeases)
	if err := add(File{Path: device.DnsmasqHosts, Mode: 0o644, Content: dhosts, Check: CheckDHCPPart, Units: []string{device.UnitDnsmasq}}, err); err != nil {
		return nil, err
	}
	nft, err := firewall.Render(c, firewall.Options{ConsolePorts: ConsolePorts(c)})
	if err := add(File{Path: device.NftRuleset, Mode: 0o644, Content: nft, Check: CheckNft, Units: []string{device.UnitFirewall}}, err); err != nil {
		return nil, err
	}
	files = append(files,
		File{Path: device.SysctlConf, Mode: 0o644, Content: renderSysctl()},
		File{Path: device.NetworkFile(c.AP.Interface), Mode: 0o644, Content: renderNetworkAP(c), Units: []string{device.UnitDnsmasq}},
	)
	for _, lan := range c.LAN {
		files = append(files, File{Path: device.NetworkFile(lan), Mode: 0o644, Content: renderNetworkUnmanaged(lan)})
	}
	files = append(files,
		File{Path: device.NMConf, Mode: 0o644, Content: renderNM(c)},
		File{Path: device.SysusersConf, Mode: 0o644, Content: renderSysusers(c)},
		File{Path: device.TmpfilesConf, Mode: 0o644, Content: renderTmpfiles(c)},
	)
	units, err := unitFiles(c, o, device.UnitDir)
	if err != nil {
		return nil, err
	}
	files = append(files, units...)
	stamp, err := renderConfigStamp(c)
	if err := add(File{Path: device.ConfigStamp, Mode: 0o600, Content: stamp, Units: []string{device.UnitAgent, device.UnitWeb}}, err); err != nil {
		return nil, err
	}
	site, err := renderNginx(c, o)
	if err := add(File{Path: device.NginxSite, Mode: 0o644, Content: site, Check: CheckNginx}, err); err != nil {
		return nil, err
	}
	return files, nil
}

// unitFiles renders devmgr's systemd units into dir.
func unitFiles(c config.Config, o Options, dir string) ([]File, error) {
	var files []File
	for _, u := range []struct {
		name string
		tmpl string
	}{
		{device.UnitAgent, unitAgent}, {device.UnitWeb, unitWeb}, {device.UnitHostapd, unitHostapd},
		{device.UnitDnsmasq, unitDnsmasq}, {device.UnitFirewall, unitFirewall},
		{device.UnitBackup, unitBackup}, {device.UnitBackupTimer, unitBackupTimer},
	} {
		b, err := renderTemplate(u.name, u.tmpl, unitData(c, o))
		if err != nil {
			return nil, fmt.Errorf("rendering %s/%s: %w", dir, u.name, err)
		}
		files = append(files, File{Path: dir + "/" + u.name, Mode: 0o644, Content: b, Check: CheckUnit, Units: []string{u.name}})
	}
	reset, err := resetFiles(c, o, dir)
	if err != nil {
		return nil, err
	}
	return append(files, reset...), nil
}

// PackageFiles renders what the distribution package ships for c (the
// default config when the package is built): devmgr's systemd units and
// its sysusers.d and tmpfiles.d entries, at their vendor paths under
// /usr/lib. They are the same renderings Plan installs under /etc, where
// provisioning overrides them with the device's own config. Unlike Plan it
// needs no AP passphrase: the package enables nothing.
func PackageFiles(c config.Config, o Options) ([]File, error) {
	if err := requirements(c, o, false); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	files := []File{
		{Path: device.VendorSysusersConf, Mode: 0o644, Content: renderSysusers(c)},
		{Path: device.VendorTmpfilesConf, Mode: 0o644, Content: renderTmpfiles(c)},
	}
	units, err := unitFiles(c, o, device.VendorUnitDir)
	if err != nil {
		return nil, err
	}
	return append(files, units...), nil
}

// ConsolePorts are the TCP ports of the web console: web.listen's port,
// web.redirect_listen's if set, and nginx's 80 and 443 when the console
// sits behind the reverse proxy (plain HTTP on loopback).
func ConsolePorts(c config.Config) []int {
	var ports []int
	if c.Web.TLS.Disable {
		ports = append(ports, 80, 443)
	}
	for _, l := range []string{c.Web.Listen, c.Web.RedirectListen} {
		if _, p, err := net.SplitHostPort(l); err == nil {
			var n int
			if _, err := fmt.Sscanf(p, "%d", &n); err == nil {
				ports = append(ports, n)
			}
		}
	}
	return ports
}

// Requirements checks c beyond config.Validate: what provisioning a device
// needs (a passphrase, absolute paths that are safe to write into unit
// files) and the options' paths. The error lists every problem.
func Requirements(c config.Config, o Options) error {
	return requirements(c, o, true)
}

func requirements(c config.Config, o Options, needPassphrase bool) error {
	var errs []error
	if err := c.Validate(); err != nil {
		errs = append(errs, err)
	}
	add := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{path}, args...)...))
	}
	if needPassphrase && c.AP.Passphrase == "" {
		add("ap.passphrase", "must be set to provision an access point (8 to 63 characters)")
	}
	for _, p := range []struct{ key, val string }{
		{"data_dir", c.DataDir}, {"agent.socket", c.Agent.Socket}, {"agent.state_dir", c.Agent.StateDir},
		{"backup.dir", c.Backup.Dir},
	} {
		if err := checkUnitPath(p.val); err != nil {
			add(p.key, "%v", err)
		}
	}
	if c.Web.TLS.Cert != "" {
		for _, p := range []struct{ key, val string }{{"web.tls.cert", c.Web.TLS.Cert}, {"web.tls.key", c.Web.TLS.Key}} {
			if err := checkUnitPath(p.val); err != nil {
				add(p.key, "%v", err)
			}
		}
	}
	if !validUserName(c.Web.User) {
		add("web.user", "%q is not a user name: lower-case letters, digits, '_' and '-', starting with a letter or '_'", c.Web.User)
	}
	if host, _, err := net.SplitHostPort(c.Web.Listen); err == nil && host != "" {
		if _, err := netip.ParseAddr(host); err != nil && config.CheckDomain(host) != nil {
			add("web.listen", "host %q is neither an IP address nor a host name", host)
		}
	}
	for _, p := range []struct{ name, val string }{
		{"config path", o.ConfigPath}, {"devmgr binary", o.Binary}, {"hostapd binary", o.Hostapd},
		{"dnsmasq binary", o.Dnsmasq}, {"nft binary", o.Nft},
	} {
		if p.val == "" {
			continue
		}
		if err := checkUnitPath(p.val); err != nil {
			add(p.name, "%v", err)
		}
	}
	return errors.Join(errs...)
}

// checkUnitPath accepts a clean absolute path that unit files, tmpfiles.d
// and nginx take literally: no spaces, quotes, backslashes, ';', '#' or
// '%' (a systemd specifier).
func checkUnitPath(p string) error {
	if !filepath.IsAbs(p) || filepath.Clean(p) != p {
		return fmt.Errorf("%q must be a clean absolute path", p)
	}
	for _, r := range p {
		if r <= 0x20 || r >= 0x7f || strings.ContainsRune("\"'\\;#%$`{}", r) {
			return fmt.Errorf("%q may hold only printable ASCII without spaces, quotes, backslashes or any of ;#%%$`{}", p)
		}
	}
	return nil
}

func validUserName(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i, r := range s {
		ok := r >= 'a' && r <= 'z' || r == '_' || i > 0 && (r >= '0' && r <= '9' || r == '-')
		if !ok {
			return false
		}
	}
	return true
}
