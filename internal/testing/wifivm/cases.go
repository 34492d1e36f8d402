package wifivm

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/dnsmasq"
	"github.com/devmgr/devmgr/internal/hostapd"
	"github.com/devmgr/devmgr/internal/testing/vm"
)

// Case is one access-point configuration and the station that joins it.
type Case struct {
	// Name is printed in the VM's "CASE <name> PASS|FAIL" line.
	Name string
	// Security is the AP's ap.security: wpa2, wpa3 or wpa2-wpa3.
	Security string
	// Passphrase is the AP's ap.passphrase; the station uses it too.
	Passphrase string
	// StationKeyMgmt is the station's key_mgmt: WPA-PSK or SAE (SAE
	// stations use ieee80211w=2).
	StationKeyMgmt string
	// WrongPassphrase, if set, is tried at the same time by a second
	// station (on a third radio), which the AP must refuse for its key.
	// Its result is the case "<Name>-wrong-passphrase".
	WrongPassphrase string
}

// ResultNames are the CASE lines the VM prints for c.
func (c Case) ResultNames() []string {
	if c.WrongPassphrase != "" {
		return []string{c.Name, c.Name + "-wrong-passphrase"}
	}
	return []string{c.Name}
}

// Paths inside the VM that the rendered files and the checks share.
const (
	vmSSID       = "devmgr-wifivm"
	vmFreqMHz    = 2437 // channel 6, the case configs' channel
	vmAPIface    = "wlan0"
	vmAPAddress  = "192.168.4.1"
	vmFQDN       = "device.local"
	vmCtrlDir    = hostapd.DefaultCtrlInterface
	vmLeaseFile  = dnsmasq.DefaultLeaseFile
	vmDnsmasqPID = "/run/devmgr/dnsmasq.pid"
)

// DefaultCases are the three security modes the AP offers; in the first
// two an intruder with a wrong passphrase must be refused meanwhile.
func DefaultCases() []Case {
	const pass, wrong = "correct horse battery staple", "not the passphrase"
	return []Case{
		{Name: "wpa2", Security: config.SecurityWPA2, Passphrase: pass, StationKeyMgmt: "WPA-PSK", WrongPassphrase: wrong},
		{Name: "wpa3-sae", Security: config.SecurityWPA3, Passphrase: pass, StationKeyMgmt: "SAE", WrongPassphrase: wrong},
		{Name: "wpa2-wpa3", Security: config.SecurityWPA2WPA3, Passphrase: pass, StationKeyMgmt: "SAE"},
	}
}

// caseFiles renders the files of one case: the devmgr config, the hostapd
// and dnsmasq configs rendered by devmgr's own renderers (used when the VM
// starts the daemons itself), the stations' wpa_supplicant configs and the
// key management hostapd must report.
func caseFiles(c Case) (map[string][]byte, error) {
	doc := devmgrYAML(c)
	cfg, err := config.Parse([]byte(doc))
	if err != nil {
		return nil, fmt.Errorf("case %s: devmgr config: %w", c.Name, err)
	}
	hc, err := hostapd.Render(cfg.AP, hostapd.Options{CtrlInterface: vmCtrlDir})
	if err != nil {
		return nil, fmt.Errorf("case %s: %w", c.Name, err)
	}
	dc, err := dnsmasq.Render(cfg, dnsmasq.Options{LeaseFile: vmLeaseFile, PIDFile: vmDnsmasqPID})
	if err != nil {
		return nil, fmt.Errorf("case %s: %w", c.Name, err)
	}
	sta, err := vm.StationConf(vmSSID, vmFreqMHz, "/run/wpa_sta", c.StationKeyMgmt, c.Passphrase)
	if err != nil {
		return nil, fmt.Errorf("case %s: %w", c.Name, err)
	}
	// What hostapd_cli get_config shows as key_mgmt when the AP runs it.
	km, ok := map[string]string{
		config.SecurityWPA2:     "WPA-PSK",
		config.SecurityWPA3:     "SAE",
		config.SecurityWPA2WPA3: "WPA-PSK SAE",
	}[c.Security]
	if !ok {
		return nil, fmt.Errorf("case %s: security %q is not wpa2, wpa3 or wpa2-wpa3", c.Name, c.Security)
	}
	files := map[string][]byte{
		"name":         []byte(c.Name + "\n"),
		"ap_key_mgmt":  []byte(km + "\n"),
		"devmgr.yaml":  []byte(doc),
		"hostapd.conf": hc,
		"dnsmasq.conf": dc,
		"sta.conf":     sta,
	}
	if c.WrongPassphrase != "" {
		if c.WrongPassphrase == c.Passphrase {
			return nil, fmt.Errorf("case %s: the wrong passphrase is the right one", c.Name)
		}
		bad, err := vm.StationConf(vmSSID, vmFreqMHz, "/run/wpa_bad", c.StationKeyMgmt, c.WrongPassphrase)
		if err != nil {
			return nil, fmt.Errorf("case %s: %w", c.Name, err)
		}
		files["bad.conf"] = bad
	}
	return files, nil
}

// devmgrYAML is the config file a user would write for the case.
func devmgrYAML(c Case) string {
	return fmt.Sprintf(`data_dir: /var/lib/devmgr
uplinks: []
lan: []
ap:
  interface: %s
  ssid: %s
  passphrase: %s
  security: %s
  country: US
  band: 2.4ghz
  channel: 6
  address: %s/24
  dhcp: {start: 192.168.4.2, end: 192.168.4.20, lease: 1h}
  domain: local
  hostname: device
`, vmAPIface, vmSSID, strconv.Quote(c.Passphrase), c.Security, vmAPAddress)
}

// AbortPrefix starts the line /init prints when it gives up.
const AbortPrefix = "WIFIVM ABORT: "

// Check returns an error listing every case that did not pass, including
// cases the VM never reported.
func Check(cases []Case, out []byte) error {
	var names []string
	for _, c := range cases {
		names = slices.Concat(names, c.ResultNames())
	}
	res, abort := vm.ParseResults(out, AbortPrefix)
	return vm.Check(names, res, abort)
}
