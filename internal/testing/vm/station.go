package vm

import (
	_ "embed"
	"fmt"
	"strings"
)

// UdhcpcScript is busybox udhcpc's event script for a WiFi station in a
// VM test: it applies the lease (address, default route) and writes the
// address to /tmp/lease.<interface>.
//
//go:embed udhcpc.sh
var UdhcpcScript []byte

// GuestLib holds the shell helpers the VMs' scripts share (wait_for,
// now_ms, since, show); a guest sources it.
//
//go:embed guest.sh
var GuestLib []byte

// StationConf is a wpa_supplicant.conf for a station joining ssid with
// keyMgmt WPA-PSK or SAE (SAE with management frame protection required,
// as WPA3 wants), controlled at ctrlDir. Scanning only freqMHz (the AP's
// channel) saves seconds under emulation.
func StationConf(ssid string, freqMHz int, ctrlDir, keyMgmt, pass string) ([]byte, error) {
	for _, s := range []string{ssid, pass} {
		if strings.ContainsAny(s, "\"\n\\") {
			return nil, fmt.Errorf("station config: %q needs escaping", s)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "ctrl_interface=%s\nap_scan=1\n", ctrlDir)
	b.WriteString("network={\n")
	fmt.Fprintf(&b, "\tssid=%q\n\tscan_ssid=1\n\tscan_freq=%d\n\tkey_mgmt=%s\n\tproto=RSN\n\tpairwise=CCMP\n", ssid, freqMHz, keyMgmt)
	switch keyMgmt {
	case "WPA-PSK":
		fmt.Fprintf(&b, "\tpsk=%q\n", pass)
	case "SAE":
		fmt.Fprintf(&b, "\tsae_password=%q\n\tieee80211w=2\n", pass)
	default:
		return nil, fmt.Errorf("station config: key_mgmt %q is not WPA-PSK or SAE", keyMgmt)
	}
	b.WriteString("}\n")
	return []byte(b.String()), nil
}
