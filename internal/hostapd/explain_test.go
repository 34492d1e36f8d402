package hostapd

import (
	"strings"
	"testing"
)

func TestExplain(t *testing.T) {
	t.Parallel()
	tests := []struct{ out, want string }{
		{"Line 12: unknown configuration item 'bogus'\n1 errors found in configuration file '/etc/hostapd/devmgr.conf'\n", "Line 12: unknown configuration item 'bogus'"},
		{"rfkill: WLAN soft blocked\nnl80211: Could not yet enable interface 'wlan0' due to rfkill\n", "rfkill unblock wifi"},
		{"rfkill: WLAN hard blocked\n", "hardware switch"},
		{"Could not read interface wlan0 flags: No such device\nnl80211: Driver does not support authentication/association or connect commands\nFailed to initialize driver 'nl80211'\n", "wlan0 does not exist"},
		{"nl80211: 'nl80211' generic netlink not found\nFailed to initialize driver 'nl80211'\n", "no nl80211 WiFi support"},
		{"nl80211: Could not configure driver mode\nnl80211: deinit ifname=wlan0 disabled_11b_rates=0\nnl80211 driver initialization failed.\nFailed to initialize driver 'nl80211'\n", "NetworkManager"},
		{"wlan0: IEEE 802.11 Frequency 5260 (DFS) not allowed for AP mode, flags: 0x19 NO-IR RADAR\n", "5260 MHz"},
		{"wlan0: IEEE 802.11 Configured channel (14) or frequency (2484) (secondary_channel=0) not found from the channel list of the current mode (2) IEEE 802.11g\nwlan0: IEEE 802.11 Hardware does not support configured channel\n", "channel 14"},
		{"Hardware does not support configured mode\nwlan0: IEEE 802.11 Hardware does not support configured mode (2) (hw_mode in hostapd.conf)\n", "ap.band"},
		{"ACS: Possibly channel configuration is invalid, please report this along with your config file.\n", "set ap.channel to a number"},
		{"Could not set channel for kernel driver\n", "refused the channel"},
		{"Failed to setup control interface for wlan0\n", "control socket"},
		{"all good\n", ""},
	}
	for _, tt := range tests {
		got := Explain(tt.out)
		if tt.want == "" && got != "" || !strings.Contains(got, tt.want) {
			t.Errorf("Explain(%q) = %q, want it to contain %q", tt.out, got, tt.want)
		}
	}
}
