package provision

import (
	"regexp"
	"strings"
	"sync"
)

// explanation maps a message a daemon prints to advice a person can act
// on. The first rule whose pattern matches the output wins, so the more
// specific rules come first.
type explanation struct {
	re   *regexp.Regexp
	what string
}

// hostapdRules match hostapd 2.10's messages (src/ap/hostapd.c,
// hw_features.c, drivers/driver_nl80211.c, linux_ioctl.c, rfkill.c).
var hostapdRules = sync.OnceValue(func() []explanation {
	return []explanation{
		{regexp.MustCompile(`Could not read interface (\S+) flags: No such device|ifname=(\S+).*No such device`),
			"the WiFi interface does not exist: check ap.interface against `ip link` (is the adapter plugged in and its driver loaded?)"},
		{regexp.MustCompile(`rfkill: WLAN (soft|hard) blocked|Could not yet enable interface .* due to rfkill|nl80211: RFKILL blocked`),
			"the radio is switched off (rfkill): unblock it with `rfkill unblock wifi`, or flip the hardware WiFi switch"},
		{regexp.MustCompile(`Device or resource busy`),
			"the WiFi interface is busy, usually because NetworkManager or wpa_supplicant holds it: let devmgr have it (devmgr provision marks it unmanaged for NetworkManager; restart NetworkManager, or stop wpa_supplicant on it)"},
		{regexp.MustCompile(`ctrl_iface exists and seems to be in use - cannot override it`),
			"another hostapd is already running on this interface: stop it (for example `systemctl stop hostapd`) and disable it"},
		{regexp.MustCompile(`Hardware does not support configured mode`),
			"the radio does not support the configured band (ap.band): choose 2.4ghz, or use an adapter that supports 5 GHz"},
		{regexp.MustCompile(`not allowed for AP mode|Hardware does not support configured channel|not found from the channel list of the current mode|Could not set channel for kernel driver|Failed to set country code|Could not select hw_mode and channel`),
			"the radio may not use this channel in the configured country: the regulatory domain (ap.country) or the adapter forbids it (DFS, no-IR or an unsupported channel); pick another ap.channel, e.g. 1, 6 or 11 on 2.4ghz or 36 to 48 on 5ghz, and check ap.country is where the device is"},
		{regexp.MustCompile(`ACS-FAILED|ACS: |ACS error`),
			"automatic channel selection failed (the driver cannot survey channels): set ap.channel to a fixed channel"},
		{regexp.MustCompile(`nl80211: Could not configure driver mode|Failed to create interface .*Operation not supported|nl80211: Driver does not support`),
			"the WiFi driver does not support access-point mode on this interface (or something else holds it): check `iw list` shows AP under \"Supported interface modes\"; if it does, make sure NetworkManager and wpa_supplicant leave the interface alone"},
		{regexp.MustCompile(`key addition failed`),
			"the kernel cannot install the WPA keys: the crypto modules (ccm, gcm, cmac) or the driver's hardware crypto are missing"},
		{regexp.MustCompile(`'nl80211' generic netlink not found`),
			"the kernel has no WiFi support loaded (cfg80211/nl80211 is missing): load the adapter's driver (modprobe), or use a kernel with WiFi support"},
		{regexp.MustCompile(`nl80211 driver initialization failed|Could not connect to kernel driver|Failed to initialize driver`),
			"the WiFi driver did not initialise: the interface may be missing, down in another namespace, held by another program, or the driver lacks nl80211 support"},
		{regexp.MustCompile(`errors found in configuration file|Line \d+: `),
			"hostapd rejects the rendered configuration; re-run devmgr provision to see which line"},
		{regexp.MustCompile(`interface state \S+->DISABLED|Unable to setup interface|Interface initialization failed`),
			"hostapd could not bring up the access point on the interface; its output above says which step failed"},
	}
})

// dnsmasqRules match dnsmasq 2.90's messages (network.c, dnsmasq.c,
// lease.c, rfc2131.c).
var dnsmasqRules = sync.OnceValue(func() []explanation {
	return []explanation{
		{regexp.MustCompile(`failed to create listening socket for (port 53|[0-9.]+|[0-9a-fA-F:]+): Address already in use|failed to bind server socket.*Address already in use`),
			"another DNS server already listens on port 53, usually systemd-resolved or another dnsmasq (Debian's dnsmasq.service, or NetworkManager's): find it with `ss -lunp 'sport = :53'`, then stop it, or set DNSStubListener=no in /etc/systemd/resolved.conf"},
		{regexp.MustCompile(`failed to bind DHCP server socket: Address already in use`),
			"another DHCP server already listens on port 67 (another dnsmasq, isc-dhcp-server or NetworkManager's shared mode): find it with `ss -lunp 'sport = :67'` and stop it"},
		{regexp.MustCompile(`Permission denied|setting capabilities failed|Operation not permitted`),
			"dnsmasq lacks a permission it needs (binding ports 53 and 67 needs root or CAP_NET_BIND_SERVICE and CAP_NET_RAW): run it as root"},
		{regexp.MustCompile(`unknown interface (\S+)`),
			"the AP interface does not exist (yet): check ap.interface against `ip link`"},
		{regexp.MustCompile(`no address range available for DHCP request|DHCP packet received on \S+ which has no address`),
			"the AP interface has no address in the ap.address subnet, so DHCP has nothing to offer: check that systemd-networkd (or devmgr) set ap.address on it (`ip addr show`)"},
		{regexp.MustCompile(`cannot open or create lease file|failed to read lease file`),
			"dnsmasq cannot write its leases file: check that /var/lib/misc exists and is writable by root"},
		{regexp.MustCompile(`failed to open pidfile`),
			"dnsmasq cannot write its pid file: check that /run/devmgr exists (systemd-tmpfiles --create /etc/tmpfiles.d/devmgr.conf)"},
		{regexp.MustCompile(`unknown user or group|failed to change user-id`),
			"the account dnsmasq drops privileges to is missing: reinstall the dnsmasq package (it creates the dnsmasq user)"},
		{regexp.MustCompile(`bad option at line|bad \S+ at line|at line \d+ of|bad dhcp-range|bad address`),
			"dnsmasq rejects the rendered configuration; re-run devmgr provision to see which line"},
	}
})

// ExplainHostapd says in words a user can act on why hostapd failed, from
// its output; "" when no known message is in it.
func ExplainHostapd(output string) string { return explain(hostapdRules(), output) }

// ExplainDnsmasq says in words a user can act on why dnsmasq failed, from
// its output; "" when no known message is in it.
func ExplainDnsmasq(output string) string { return explain(dnsmasqRules(), output) }

func explain(rules []explanation, output string) string {
	if strings.TrimSpace(output) == "" {
		return ""
	}
	for _, r := range rules {
		if r.re.MatchString(output) {
			return r.what
		}
	}
	return ""
}
