package provision

import (
	"path/filepath"

	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/device"
	"github.com/devmgr/devmgr/internal/dnsmasq"
)

// InstalledGlobs are shell globs of every file devmgr makes on a device
// outside its data directories, whatever the config: the config file at
// its default path (devmgr setup writes it), the files Plan installs
// (networkd drop-ins for any interface) with their previous versions, and
// the daemons' lease and runtime files. Removing devmgr for good (the
// package's purge) removes them.
func InstalledGlobs() []string {
	files := []string{
		config.DefaultPath, device.ConfigStamp, device.HostapdConf, device.HostapdDeny, device.DnsmasqConf, device.NftRuleset,
		device.SysctlConf, device.NMConf, device.SysusersConf, device.TmpfilesConf, device.NginxSite,
		device.UnitDir + "/devmgr-*.service", device.UnitDir + "/devmgr-*.timer",
		device.InitramfsHook, device.InitramfsScript, device.DnsmasqDHCPDir + "/*",
		device.NetworkFile("*"),
	}
	var globs []string
	for _, f := range files {
		globs = append(globs, f, f+PrevSuffix)
	}
	return append(globs,
		dnsmasq.DefaultLeaseFile,
		filepath.Dir(DnsmasqPIDFile),
		filepath.Dir(dnsmasq.DefaultServersFile),
		AgentTmpDir,
		device.DnsmasqDHCPDir,
	)
}
