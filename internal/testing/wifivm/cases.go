package wifivm

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/dnsmasq"
	"github.com/devmgr/devmgr/internal/hostapd"
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
	sta, err := stationConf(c.Name, "/run/wpa_sta", c.StationKeyMgmt, c.Passphrase)
	if err != nil {
		return nil, err
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
		bad, err := stationConf(c.Name, "/run/wpa_bad", c.StationKeyMgmt, c.WrongPassphrase)
		if err != nil {
			return nil, err
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

// stationConf is a station's wpa_supplicant.conf. Scanning only the AP's
// channel (6, 2437 MHz) saves seconds under emulation.
func stationConf(name, ctrlDir, keyMgmt, pass string) ([]byte, error) {
	if strings.ContainsAny(pass, "\"\n\\") {
		return nil, fmt.Errorf("case %s: station passphrase %q needs escaping", name, pass)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "ctrl_interface=%s\nap_scan=1\n", ctrlDir)
	b.WriteString("network={\n")
	fmt.Fprintf(&b, "\tssid=%q\n\tscan_ssid=1\n\tscan_freq=2437\n\tkey_mgmt=%s\n\tproto=RSN\n\tpairwise=CCMP\n", vmSSID, keyMgmt)
	switch keyMgmt {
	case "WPA-PSK":
		fmt.Fprintf(&b, "\tpsk=%q\n", pass)
	case "SAE":
		fmt.Fprintf(&b, "\tsae_password=%q\n\tieee80211w=2\n", pass)
	default:
		return nil, fmt.Errorf("case %s: station key_mgmt %q is not WPA-PSK or SAE", name, keyMgmt)
	}
	b.WriteString("}\n")
	return []byte(b.String()), nil
}
