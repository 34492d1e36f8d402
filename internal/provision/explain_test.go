package provision

import (
	"strings"
	"testing"
)

// The outputs are hostapd 2.10's and dnsmasq 2.90's own messages, as they
// print them (format strings from their sources with real values).
func TestExplainHostapd(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, output, want string
	}{
		{"regulatory: channel not allowed", `Configuration file: /etc/hostapd/devmgr.conf
Frequency 5260 (primary) not allowed for AP mode, flags: 0x1951 NO-IR RADAR
Could not set channel for kernel driver
Interface initialization failed
wlan0: interface state COUNTRY_UPDATE->DISABLED
wlan0: AP-DISABLED`, "regulatory domain"},
		{"channel missing from mode", `Configured channel (14) or frequency (2484) (secondary_channel=0) not found from the channel list of the current mode (2) IEEE 802.11g
Hardware does not support configured channel
Could not select hw_mode and channel. (-3)
wlan0: interface state UNINITIALIZED->DISABLED`, "may not use this channel"},
		{"country code", "Failed to set country code\nwlan0: interface state UNINITIALIZED->DISABLED", "ap.country"},
		{"no 5 GHz", `Hardware does not support configured mode
wlan0: IEEE 802.11 Hardware does not support configured mode (1) (hw_mode in hostapd.conf)
Could not select hw_mode and channel. (-2)
wlan0: interface state UNINITIALIZED->DISABLED`, "band"},
		{"NetworkManager holds it", `Configuration file: /etc/hostapd/devmgr.conf
Could not set interface wlan0 flags (UP): Device or resource busy
nl80211: Could not set interface 'wlan0' UP
nl80211 driver initialization failed.
wlan0: interface state UNINITIALIZED->DISABLED`, "NetworkManager"},
		{"driver mode", `Configuration file: /etc/hostapd/devmgr.conf
nl80211: Could not configure driver mode
nl80211: deinit ifname=wlan0 disabled_11b_rates=0
nl80211 driver initialization failed.
wlan0: interface state UNINITIALIZED->DISABLED
wlan0: AP-DISABLED
hostapd_free_hapd_data: Interface wlan0 wasn't started`, "access-point mode"},
		{"no such interface", `Configuration file: /etc/hostapd/devmgr.conf
Could not read interface wlan0 flags: No such device
nl80211: Driver does not support authentication/association or connect commands
nl80211: deinit ifname=wlan0 disabled_11b_rates=0
Could not read interface wlan0 flags: No such device
nl80211 driver initialization failed.`, "does not exist"},
		{"rfkill", "rfkill: WLAN soft blocked\nnl80211: Could not yet enable interface 'wlan0' due to rfkill\n", "rfkill unblock"},
		{"second hostapd", "ctrl_iface exists and seems to be in use - cannot override it\nDelete '/run/hostapd/wlan0' manually if it is not used anymore\nFailed to setup control interface for wlan0\n", "another hostapd"},
		{"crypto modules", "nl80211: kernel reports: key addition failed\nwlan0: AP-ENABLED\n", "crypto modules"},
		{"acs", "wlan0: ACS-FAILED\nACS: Possibly channel configuration is invalid\n", "fixed channel"},
		{"no cfg80211", "nl80211: 'nl80211' generic netlink not found\nFailed to initialize driver 'nl80211'\nwlan0: interface state UNINITIALIZED->DISABLED\n", "no WiFi support"},
		{"driver init only", "nl80211 driver initialization failed.\n", "did not initialise"},
		{"disabled only", "wlan0: interface state UNINITIALIZED->DISABLED\n", "could not bring up"},
		{"unknown", "wlan0: AP-ENABLED\n", ""},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ExplainHostapd(tt.output)
			if tt.want == "" && got != "" || !strings.Contains(got, tt.want) {
				t.Errorf("ExplainHostapd = %q, want it to contain %q", got, tt.want)
			}
		})
	}
}

func TestExplainDnsmasq(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, output, want string
	}{
		{"port 53 by resolved", "dnsmasq: failed to create listening socket for port 53: Address already in use\n", "systemd-resolved"},
		{"port 53 on the AP address", "dnsmasq: failed to create listening socket for 192.168.4.1: Address already in use\n", "port 53"},
		{"dhcp port", "dnsmasq: failed to bind DHCP server socket: Address already in use\n", "port 67"},
		{"not root", "dnsmasq: failed to create listening socket for 192.168.4.1: Permission denied\n", "root"},
		{"capabilities", "dnsmasq: setting capabilities failed: Operation not permitted\n", "root"},
		{"no interface", "dnsmasq: unknown interface wlan0\n", "ap.interface"},
		{"no address on AP", "dnsmasq-dhcp[812]: DHCP packet received on wlan0 which has no address\n", "no address"},
		{"no range", "dnsmasq-dhcp[812]: no address range available for DHCP request via wlan0\n", "no address"},
		{"lease file", "dnsmasq: cannot open or create lease file /var/lib/misc/dnsmasq.devmgr.leases: Read-only file system\n", "leases file"},
		{"pid file", "dnsmasq: failed to open pidfile /run/devmgr/dnsmasq.pid: No such file or directory\n", "pid file"},
		{"user", "dnsmasq: unknown user or group: dnsmasq\n", "dnsmasq user"},
		{"bad config", "dnsmasq: bad dhcp-range at line 19 of /etc/devmgr/dnsmasq.conf\n", "rejects"},
		{"started", "dnsmasq[812]: started, version 2.90 cachesize 150\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ExplainDnsmasq(tt.output)
			if tt.want == "" && got != "" || !strings.Contains(got, tt.want) {
				t.Errorf("ExplainDnsmasq = %q, want it to contain %q", got, tt.want)
			}
		})
	}
}
