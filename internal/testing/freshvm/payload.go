package freshvm

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/devmgr/devmgr/internal/device"
	"github.com/devmgr/devmgr/internal/provision"
	"github.com/devmgr/devmgr/internal/testing/vm"
)

// Payload is what the test brings into the VM on its second disk: the
// packages, the checks and their values.
type Payload struct {
	V1 string // devmgr_<version>_amd64.deb, installed first
	V2 string // a newer build, installed over it by the checks ("" for the demo)
	// V2Version is the Debian version of V2, V2Describe what its
	// `devmgr version` says.
	V2Version, V2Describe string
	// StageDeadline bounds each boot's stage, in seconds; 0 sets none.
	StageDeadline int
	// Demo makes the boot after the install the demo's (demo.sh: the
	// console reachable from the host, two stations associated, running
	// until the VM is stopped) instead of the checks'.
	Demo bool
}

// What setup is given and the checks use.
const (
	ssid       = "devmgr-freshvm"
	passphrase = "correct horse battery staple"
	apAddress  = "192.168.4.1"
	fqdn       = "device.local"
	// The first admin's new password, and a user added before the upgrade.
	adminPassword  = "freshvm admin password"
	viewerPassword = "freshvm viewer password"
	channelMHz     = 2437 // channel 6, setup's default
)

// Units are devmgr's services, as the checks expect them after setup.
var Units = []string{device.UnitFirewall, device.UnitHostapd, device.UnitDnsmasq, device.UnitAgent, device.UnitWeb}

// Build writes the payload's files into dir and makes the disk image out
// of them (ext4, mkfs.ext4 -d).
func (p Payload) Build(ctx context.Context, run vm.Runner, dir, out string) error {
	files := map[string][]byte{
		"udhcpc.sh": vm.UdhcpcScript,
		"vm-lib.sh": vm.GuestLib,
		"globs":     []byte(strings.Join(provision.InstalledGlobs(), "\n") + "\n"),
	}
	entries, err := fs.ReadDir(guest, "guest/payload")
	if err != nil {
		return err
	}
	for _, e := range entries {
		b, err := guest.ReadFile("guest/payload/" + e.Name())
		if err != nil {
			return err
		}
		files[e.Name()] = b
	}
	for _, sta := range []struct{ name, ctrl, keyMgmt string }{
		{"sta-wpa2.conf", "/run/wpa_sta", "WPA-PSK"}, {"sta-sae.conf", "/run/wpa_sta", "SAE"},
		{"demo-sta1.conf", "/run/wpa_sta1", "WPA-PSK"}, {"demo-sta2.conf", "/run/wpa_sta2", "SAE"},
	} {
		b, err := vm.StationConf(ssid, channelMHz, sta.ctrl, sta.keyMgmt, passphrase)
		if err != nil {
			return err
		}
		files[sta.name] = b
	}
	afterInstall := "checks"
	if p.Demo {
		afterInstall = "demo"
	}
	env := map[string]string{
		"SSID": ssid, "PASSPHRASE": passphrase, "AP_IF": apInterface, "STA_IF": staInterface, "UPLINK": uplink,
		"AP_ADDR": apAddress, "FQDN": fqdn, "UNITS": strings.Join(Units, " "),
		"ADMIN_PASSWORD": adminPassword, "VIEWER_PASSWORD": viewerPassword,
		"V2_VERSION": p.V2Version, "V2_DESCRIBE": p.V2Describe,
		"STAGE_DEADLINE": fmt.Sprint(p.StageDeadline), "AFTER_INSTALL": afterInstall,
	}
	var b strings.Builder
	for _, k := range []string{"SSID", "PASSPHRASE", "AP_IF", "STA_IF", "UPLINK", "AP_ADDR", "FQDN", "UNITS",
		"ADMIN_PASSWORD", "VIEWER_PASSWORD", "V2_VERSION", "V2_DESCRIBE", "STAGE_DEADLINE", "AFTER_INSTALL"} {
		v := env[k]
		if strings.ContainsAny(v, "'\n") {
			return fmt.Errorf("payload value %s=%q cannot be quoted", k, v)
		}
		fmt.Fprintf(&b, "%s='%s'\n", k, v)
	}
	files["env"] = []byte(b.String())
	for name, data := range files {
		mode := os.FileMode(0o644)
		if strings.HasSuffix(name, ".sh") {
			mode = 0o755 // udhcpc runs its script
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, mode); err != nil {
			return err
		}
	}
	for sub, deb := range map[string]string{"v1": p.V1, "v2": p.V2} {
		if deb == "" {
			continue
		}
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return err
		}
		if _, err := run.Run(ctx, "", "cp", deb, filepath.Join(dir, sub, filepath.Base(deb))); err != nil {
			return err
		}
	}
	return vm.Ext4Image(ctx, run, dir, out, "payload", 256<<20)
}
