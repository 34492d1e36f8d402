// Package device names the files and services devmgr owns on a device:
// where provisioning installs them and where the agent's access point
// manager rewrites them. One place, so the two never disagree.
package device

// Files devmgr owns on a device.
const (
	HostapdConf  = "/etc/hostapd/devmgr.conf"
	HostapdDeny  = "/etc/hostapd/devmgr.deny"
	DnsmasqConf  = "/etc/devmgr/dnsmasq.conf"
	NftRuleset   = "/etc/nftables.d/devmgr.nft"
	SysctlConf   = "/etc/sysctl.d/90-devmgr.conf"
	NMConf       = "/etc/NetworkManager/conf.d/devmgr-unmanaged.conf"
	SysusersConf = "/etc/sysusers.d/devmgr.conf"
	TmpfilesConf = "/etc/tmpfiles.d/devmgr.conf"
	// ConfigStamp is the digest of the config the agent and the console
	// were last started with: a change restarts them.
	ConfigStamp = "/etc/devmgr/provisioned.sha256"
	NginxSite   = "/etc/nginx/sites-available/devmgr"
	// NginxEnabled is the link that enables the site (deploy/README.md).
	NginxEnabled = "/etc/nginx/sites-enabled/devmgr"
	UnitDir      = "/etc/systemd/system"
	NetworkDir   = "/etc/systemd/network"
)

// The part of dnsmasq's config that the agent changes from the console
// (provision installs it too): the DHCP range, which DnsmasqConf reads, and
// the static leases, dnsmasq's hosts file. The directory must be readable
// by dnsmasq's own user, which reads the hosts file again on SIGHUP.
const (
	DnsmasqDHCPDir = "/etc/devmgr/dhcp"
	DnsmasqRange   = DnsmasqDHCPDir + "/range.conf"
	DnsmasqHosts   = DnsmasqDHCPDir + "/hosts"
)

// Files the distribution package ships (rendered for the default config
// when the package is built). Provision's files of the same names under
// /etc take precedence over them.
const (
	VendorUnitDir      = "/usr/lib/systemd/system"
	VendorSysusersConf = "/usr/lib/sysusers.d/devmgr.conf"
	VendorTmpfilesConf = "/usr/lib/tmpfiles.d/devmgr.conf"
)

// Services devmgr installs, in the order they are started.
const (
	UnitHostapd  = "devmgr-hostapd.service"
	UnitDnsmasq  = "devmgr-dnsmasq.service"
	UnitAgent    = "devmgr-agent.service"
	UnitWeb      = "devmgr-web.service"
	UnitFirewall = "devmgr-firewall.service"
	// UnitBackup makes a scheduled backup; UnitBackupTimer starts it on
	// backup.schedule.
	UnitBackup      = "devmgr-backup.service"
	UnitBackupTimer = "devmgr-backup.timer"
)

// NetworkFile is the systemd-networkd drop-in devmgr writes for iface.
func NetworkFile(iface string) string {
	return NetworkDir + "/10-devmgr-" + iface + ".network"
}
