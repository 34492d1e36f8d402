package hostapd

import (
	"regexp"
	"strings"
	"sync"
)

type explanation struct {
	re  *regexp.Regexp
	msg func(m []string) string
}

func fixed(s string) func([]string) string { return func([]string) string { return s } }

// explanations turn hostapd 2.10's own messages (format strings taken from
// the Debian binary) into advice; the first match wins, so specific causes
// come before the generic driver failure they lead to.
var explanations = sync.OnceValue(func() []explanation {
	return []explanation{
		{regexp.MustCompile(`(?m)^(Line \d+: .*)$`), func(m []string) string {
			return "the hostapd configuration has an error: " + m[1]
		}},
		{regexp.MustCompile(`rfkill: WLAN hard blocked`), fixed(
			"the WiFi radio is switched off by a hardware switch (rfkill hard block): turn the switch on")},
		{regexp.MustCompile(`rfkill: WLAN soft blocked|RFKILL blocked|due to rfkill`), fixed(
			"the WiFi radio is switched off (rfkill soft block): run `rfkill unblock wifi`")},
		{regexp.MustCompile(`Could not read interface (\S+) flags: No such device`), func(m []string) string {
			return "the interface " + m[1] + " does not exist: check ap.interface and that the WiFi driver is loaded"
		}},
		{regexp.MustCompile(`'nl80211' generic netlink not found`), fixed(
			"this system has no nl80211 WiFi support: no WiFi radio, or its driver (cfg80211) is not loaded")},
		{regexp.MustCompile(`Device or resource busy|Could not configure driver mode|Failed to set interface \S+ into AP mode`), fixed(
			"the radio refused to become an access point: the interface is probably in use by NetworkManager or wpa_supplicant " +
				"(mark it unmanaged or stop them), or the driver has no AP mode")},
		{regexp.MustCompile(`Frequency (\d+) \(([^)]*)\) not allowed for AP mode`), func(m []string) string {
			return "the regulatory domain does not allow an access point on " + m[1] + " MHz: choose another ap.channel, and check that ap.country is where the device is"
		}},
		{regexp.MustCompile(`Configured channel \((\d+)\).*not found from the channel list|Hardware does not support configured channel`), func(m []string) string {
			ch := "the configured channel"
			if len(m) > 1 && m[1] != "" {
				ch = "channel " + m[1]
			}
			return "the radio does not offer " + ch + " in this band and country: choose another ap.channel"
		}},
		{regexp.MustCompile(`Hardware does not support configured mode`), fixed(
			"the radio does not support the configured band: change ap.band (many radios are 2.4 GHz only)")},
		{regexp.MustCompile(`Driver does not support radar detection|Failed to start radar detection`), fixed(
			"the channel needs radar detection (DFS), which this radio cannot do: choose channel 36-48 or 149-165")},
		{regexp.MustCompile(`No survey data received|ACS: Possibly channel configuration is invalid|ACS: Cannot decide mode|ACS: .*[Ff]ail`), fixed(
			"automatic channel selection failed (the driver gives no survey data): set ap.channel to a number")},
		{regexp.MustCompile(`Could not set channel for kernel driver|nl80211: Failed to set channel`), fixed(
			"the driver refused the channel: choose another ap.channel or check ap.country")},
		{regexp.MustCompile(`Failed to set country code|Invalid country_code`), fixed(
			"the regulatory domain could not be set: check ap.country")},
		{regexp.MustCompile(`Failed to setup control interface`), fixed(
			"hostapd could not create its control socket: another hostapd may already run on this interface")},
		{regexp.MustCompile(`Interface name \S+ already in use|was already started`), fixed(
			"another hostapd already runs on this interface: stop it")},
		{regexp.MustCompile(`Failed to initialize driver`), fixed(
			"the WiFi driver could not be initialised for an access point: check that the interface is a WiFi radio with AP mode (`iw list`)")},
	}
})

// Explain turns hostapd's output from a failed start into a sentence a
// user can act on, or "" when it recognises no cause. It reads hostapd's
// own messages; callers show the raw output beside it.
func Explain(output string) string {
	for _, e := range explanations() {
		if m := e.re.FindStringSubmatch(output); m != nil {
			return e.msg(m)
		}
	}
	if strings.Contains(output, "errors found in configuration file") {
		return "the hostapd configuration has errors"
	}
	return ""
}
