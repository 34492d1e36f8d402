// Package hostapd renders devmgr's access-point configuration into a
// hostapd.conf (pure), checks it with hostapd's own parser, and talks to a
// running hostapd over its control socket (STATUS, stations, RELOAD,
// DEAUTHENTICATE) without hostapd_cli.
package hostapd

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"

	"github.com/devmgr/devmgr/internal/config"
)

// Options are the file-system locations a rendered hostapd.conf refers to.
type Options struct {
	// CtrlInterface is the control socket directory, e.g. /run/hostapd;
	// hostapd creates <CtrlInterface>/<interface> in it. Required.
	CtrlInterface string
	// DenyFile is the deny_mac_file path; "" renders no deny list.
	DenyFile string
}

// DefaultCtrlInterface is the conventional control socket directory.
const DefaultCtrlInterface = "/run/hostapd"

// Render returns the hostapd.conf for ap. It is pure and re-validates every
// value it writes, so a value that could add or change a line is refused
// even if the config was never validated.
func Render(ap config.AP, o Options) ([]byte, error) {
	if err := validate(ap, o); err != nil {
		return nil, fmt.Errorf("rendering hostapd config: %w", err)
	}
	w := &writer{}
	w.comment("Rendered by devmgr from its config; changes here are overwritten.")
	w.kv("interface", ap.Interface)
	w.kv("driver", "nl80211")
	w.kv("ctrl_interface", o.CtrlInterface)
	w.kv("ctrl_interface_group", "0")
	w.blank()

	key, val, utf8SSID := ssidLine(ap.SSID)
	w.kv(key, val)
	if utf8SSID {
		w.kv("utf8_ssid", "1")
	}
	w.kv("ignore_broadcast_ssid", boolNum(ap.Hidden))
	w.kv("country_code", ap.Country)
	w.kv("ieee80211d", "1")
	switch ap.Band {
	case config.Band5:
		w.kv("ieee80211h", "1")
		w.kv("hw_mode", "a")
	default:
		w.kv("hw_mode", "g")
	}
	if ap.Channel == 0 {
		// Debian's hostapd is built with CONFIG_ACS: pick the least busy
		// channel from a survey at start-up.
		w.kv("channel", "acs_survey")
	} else {
		w.kv("channel", fmt.Sprint(int(ap.Channel)))
	}
	w.kv("ieee80211n", "1")
	if ap.Band == config.Band5 {
		w.kv("ieee80211ac", "1")
	}
	w.kv("wmm_enabled", "1")
	w.kv("ap_isolate", boolNum(ap.Isolate))
	w.kv("max_num_sta", fmt.Sprint(ap.MaxStations))
	w.blank()

	w.kv("auth_algs", "1")
	w.kv("wpa", "2")
	w.kv("rsn_pairwise", "CCMP")
	switch ap.Security {
	case config.SecurityWPA2:
		w.kv("wpa_key_mgmt", "WPA-PSK")
		if len(ap.Passphrase) == 64 {
			w.kv("wpa_psk", strings.ToLower(ap.Passphrase))
		} else {
			w.kv("wpa_passphrase", ap.Passphrase)
		}
	case config.SecurityWPA3:
		w.kv("wpa_key_mgmt", "SAE")
		w.kv("ieee80211w", "2")
		w.saePassword(ap.Passphrase)
	case config.SecurityWPA2WPA3:
		w.kv("wpa_key_mgmt", "WPA-PSK SAE")
		w.kv("ieee80211w", "1")
		w.kv("sae_require_mfp", "1")
		w.kv("wpa_passphrase", ap.Passphrase)
		w.saePassword(ap.Passphrase)
	}
	if o.DenyFile != "" {
		w.blank()
		w.kv("macaddr_acl", "0")
		w.kv("deny_mac_file", o.DenyFile)
	}
	if w.err != nil {
		return nil, fmt.Errorf("rendering hostapd config: %w", w.err)
	}
	return []byte(w.b.String()), nil
}

// saePassword writes the SAE password. hostapd splits sae_password at
// "|mac=", "|id=", "|vlanid=" and "|pk=", so a passphrase holding '|' is
// given as wpa_passphrase instead, which SAE falls back to.
func (w *writer) saePassword(p string) {
	if strings.Contains(p, "|") {
		if !w.has("wpa_passphrase") {
			w.kv("wpa_passphrase", p)
		}
		return
	}
	w.kv("sae_password", p)
}

// RenderDenyList returns the contents of a deny_mac_file: one MAC address
// per line, lower case, sorted, without duplicates.
func RenderDenyList(macs []string) ([]byte, error) {
	var norm []string
	for _, m := range macs {
		n, err := NormalizeMAC(m)
		if err != nil {
			return nil, fmt.Errorf("rendering hostapd deny list: %w", err)
		}
		norm = append(norm, n)
	}
	slices.Sort(norm)
	norm = slices.Compact(norm)
	var b strings.Builder
	b.WriteString("# Rendered by devmgr: stations refused by the access point.\n")
	for _, m := range norm {
		b.WriteString(m)
		b.WriteByte('\n')
	}
	return []byte(b.String()), nil
}

// NormalizeMAC parses a 48-bit MAC address and returns it as
// aa:bb:cc:dd:ee:ff.
func NormalizeMAC(s string) (string, error) {
	hw, err := net.ParseMAC(s)
	if err != nil || len(hw) != 6 {
		return "", fmt.Errorf("%q is not a MAC address such as 02:00:00:00:01:00", s)
	}
	return hw.String(), nil
}

func validate(ap config.AP, o Options) error {
	var errs []error
	add := func(field string, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", field, err))
		}
	}
	add("ap.interface", config.CheckInterfaceName(ap.Interface))
	add("ap.ssid", config.CheckSSID(ap.SSID))
	if ap.Passphrase == "" {
		add("ap.passphrase", errors.New("must be set: devmgr runs only protected networks"))
	} else {
		add("ap.passphrase", config.CheckPassphrase(ap.Passphrase))
	}
	switch ap.Security {
	case config.SecurityWPA2:
	case config.SecurityWPA3, config.SecurityWPA2WPA3:
		if len(ap.Passphrase) == 64 {
			add("ap.passphrase", errors.New("a 64-digit hex key works only with security wpa2"))
		}
	default:
		add("ap.security", fmt.Errorf("%q is not one of wpa2, wpa3, wpa2-wpa3", ap.Security))
	}
	if !config.KnownCountry(ap.Country) {
		add("ap.country", fmt.Errorf("%q is not a known ISO 3166 country code", ap.Country))
	}
	switch ap.Band {
	case config.Band24, config.Band5:
		add("ap.channel", config.CheckChannel(ap.Band, ap.Channel))
	default:
		add("ap.band", fmt.Errorf("%q is not one of 2.4ghz, 5ghz", ap.Band))
	}
	if ap.MaxStations < 1 || ap.MaxStations > 2007 {
		add("ap.max_stations", fmt.Errorf("%d is outside 1..2007", ap.MaxStations))
	}
	add("ctrl_interface", checkPath(o.CtrlInterface, true))
	add("deny_mac_file", checkPath(o.DenyFile, false))
	return errors.Join(errs...)
}

// checkPath accepts a clean absolute path of printable ASCII without spaces.
func checkPath(p string, required bool) error {
	if p == "" {
		if required {
			return errors.New("path must be set")
		}
		return nil
	}
	if !filepath.IsAbs(p) || filepath.Clean(p) != p {
		return fmt.Errorf("%q is not a clean absolute path", p)
	}
	for _, r := range p {
		if r <= 0x20 || r >= 0x7f {
			return fmt.Errorf("%q may hold only printable ASCII without spaces", p)
		}
	}
	return nil
}

// ssidLine picks how to write an SSID. hostapd takes the rest of an ssid=
// line verbatim, which is exact for printable ASCII; anything else (UTF-8,
// leading or trailing spaces) is written as ssid2=P"..." with printf
// escapes, which hostapd decodes byte for byte.
func ssidLine(ssid string) (key, value string, utf8SSID bool) {
	plain := ssid != "" && ssid[0] != ' ' && ssid[len(ssid)-1] != ' '
	for i := 0; i < len(ssid); i++ {
		c := ssid[i]
		if c < 0x20 || c > 0x7e {
			plain = false
			utf8SSID = true
		}
	}
	if plain {
		return "ssid", ssid, false
	}
	return "ssid2", "P\"" + printfEncode(ssid) + "\"", utf8SSID
}

// printfEncode escapes s the way hostapd's printf_decode reads it back.
func printfEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c >= 0x20 && c <= 0x7e:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "\\x%02x", c)
		}
	}
	return b.String()
}

func boolNum(v bool) string {
	if v {
		return "1"
	}
	return "0"
}

// writer builds key=value lines and refuses, as a last line of defence, any
// value that would end its line early.
type writer struct {
	b    strings.Builder
	keys []string
	err  error
}

func (w *writer) kv(k, v string) {
	if strings.ContainsAny(v, "\n\r\x00") && w.err == nil {
		w.err = fmt.Errorf("value of %s contains a line break or NUL: %q", k, v)
	}
	w.keys = append(w.keys, k)
	w.b.WriteString(k)
	w.b.WriteByte('=')
	w.b.WriteString(v)
	w.b.WriteByte('\n')
}

func (w *writer) has(k string) bool { return slices.Contains(w.keys, k) }

func (w *writer) comment(s string) { w.b.WriteString("# " + s + "\n") }

func (w *writer) blank() { w.b.WriteByte('\n') }
