package hostapd

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/testing/testutil"
	"github.com/devmgr/devmgr/internal/toolrun"
)

var defaultOpts = Options{CtrlInterface: "/run/hostapd"}

func testAP() config.AP {
	ap := config.Default().AP
	ap.Passphrase = "correct horse battery"
	return ap
}

type renderCase struct {
	name string
	ap   func(*config.AP)
	opts Options
}

var renderCases = []renderCase{
	{"wpa2-wpa3-2.4ghz", func(*config.AP) {}, defaultOpts},
	{"wpa2-2.4ghz", func(ap *config.AP) { ap.Security = config.SecurityWPA2; ap.Channel = 11 }, defaultOpts},
	{"wpa2-psk-hex", func(ap *config.AP) {
		ap.Security = config.SecurityWPA2
		ap.Passphrase = strings.Repeat("0123456789ABCDEF", 4)
	}, defaultOpts},
	{"wpa3-2.4ghz", func(ap *config.AP) { ap.Security = config.SecurityWPA3; ap.Channel = 1 }, defaultOpts},
	{"wpa3-5ghz", func(ap *config.AP) {
		ap.Security = config.SecurityWPA3
		ap.Band = config.Band5
		ap.Channel = 36
		ap.Country = "DE"
	}, defaultOpts},
	{"wpa2-wpa3-5ghz-auto", func(ap *config.AP) { ap.Band = config.Band5; ap.Channel = 0 }, defaultOpts},
	{"wpa2-5ghz", func(ap *config.AP) { ap.Security = config.SecurityWPA2; ap.Band = config.Band5; ap.Channel = 149 }, defaultOpts},
	{"hidden-isolated-deny", func(ap *config.AP) {
		ap.Hidden = true
		ap.Isolate = true
		ap.MaxStations = 10
		ap.Interface = "wlp2s0"
	}, Options{CtrlInterface: "/var/run/hostapd", DenyFile: "/etc/hostapd/devmgr.deny"}},
	{"utf8-ssid", func(ap *config.AP) { ap.SSID = `Café "Ünïcødé" \ 📶` }, defaultOpts},
	{"ssid-edge-spaces", func(ap *config.AP) { ap.SSID = " lead and trail " }, defaultOpts},
	{"sae-passphrase-with-bar", func(ap *config.AP) {
		ap.Security = config.SecurityWPA3
		ap.Passphrase = "pw|id=x|mac=ff:ff:ff:ff:ff:ff"
	}, defaultOpts},
}

func TestRenderGolden(t *testing.T) {
	t.Parallel()
	for _, tc := range renderCases {
		t.Run(tc.name, func(t *testing.T) {
			ap := testAP()
			tc.ap(&ap)
			got, err := Render(ap, tc.opts)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			testutil.Golden(t, filepath.Join("testdata", tc.name+".golden"), got)
		})
	}
}

// TestRenderedFilesPassHostapd runs every golden case through hostapd's parser.
func TestRenderedFilesPassHostapd(t *testing.T) {
	t.Parallel()
	requireHostapd(t)
	for _, tc := range renderCases {
		t.Run(tc.name, func(t *testing.T) {
			ap := testAP()
			tc.ap(&ap)
			got, err := Render(ap, tc.opts)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if err := Check(context.Background(), got); err != nil {
				t.Errorf("Check: %v\n%s", err, got)
			}
		})
	}
}

func TestRenderSettings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ap   func(*config.AP)
		opts Options
		want map[string]string // subset of the parsed settings; "" means absent
	}{
		{"wpa2 never tkip", func(ap *config.AP) { ap.Security = config.SecurityWPA2 }, defaultOpts, map[string]string{
			"wpa_key_mgmt": "WPA-PSK", "rsn_pairwise": "CCMP", "wpa_pairwise": "", "ieee80211w": "", "sae_password": "",
		}},
		{"wpa3", func(ap *config.AP) { ap.Security = config.SecurityWPA3 }, defaultOpts, map[string]string{
			"wpa_key_mgmt": "SAE", "ieee80211w": "2", "sae_password": "correct horse battery", "wpa_passphrase": "",
		}},
		{"transition", func(*config.AP) {}, defaultOpts, map[string]string{
			"wpa_key_mgmt": "WPA-PSK SAE", "ieee80211w": "1", "sae_require_mfp": "1",
			"wpa_passphrase": "correct horse battery", "sae_password": "correct horse battery",
		}},
		{"5ghz", func(ap *config.AP) { ap.Band = config.Band5; ap.Channel = 44 }, defaultOpts, map[string]string{
			"hw_mode": "a", "channel": "44", "ieee80211ac": "1", "ieee80211h": "1", "ieee80211d": "1", "ieee80211n": "1",
		}},
		{"2.4ghz", func(*config.AP) {}, defaultOpts, map[string]string{
			"hw_mode": "g", "channel": "6", "ieee80211ac": "", "ieee80211h": "", "wmm_enabled": "1",
		}},
		{"auto channel", func(ap *config.AP) { ap.Channel = 0 }, defaultOpts, map[string]string{"channel": "acs_survey"}},
		{"no deny file", func(*config.AP) {}, defaultOpts, map[string]string{"deny_mac_file": "", "macaddr_acl": ""}},
		{"deny file", func(*config.AP) {}, Options{CtrlInterface: "/run/hostapd", DenyFile: "/etc/hostapd/deny"}, map[string]string{
			"deny_mac_file": "/etc/hostapd/deny", "macaddr_acl": "0",
		}},
		{"hidden, isolated", func(ap *config.AP) { ap.Hidden = true; ap.Isolate = true; ap.MaxStations = 5 }, defaultOpts, map[string]string{
			"ignore_broadcast_ssid": "1", "ap_isolate": "1", "max_num_sta": "5",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ap := testAP()
			tt.ap(&ap)
			b, err := Render(ap, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			got := parseHostapd(t, b)
			for k, v := range tt.want {
				if got.get(k) != v {
					t.Errorf("%s = %q, want %q", k, got.get(k), v)
				}
			}
		})
	}
}

func TestRenderRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ap   func(*config.AP)
		opts Options
		want string
	}{
		{"no passphrase", func(ap *config.AP) { ap.Passphrase = "" }, defaultOpts, "ap.passphrase"},
		{"hex key with sae", func(ap *config.AP) { ap.Passphrase = strings.Repeat("ab", 32) }, defaultOpts, "only with security wpa2"},
		{"channel not in band", func(ap *config.AP) { ap.Band = config.Band5; ap.Channel = 6 }, defaultOpts, "ap.channel"},
		{"band", func(ap *config.AP) { ap.Band = "60ghz" }, defaultOpts, "ap.band"},
		{"security", func(ap *config.AP) { ap.Security = "wep" }, defaultOpts, "ap.security"},
		{"country", func(ap *config.AP) { ap.Country = "XX" }, defaultOpts, "ap.country"},
		{"max stations", func(ap *config.AP) { ap.MaxStations = 0 }, defaultOpts, "ap.max_stations"},
		{"no ctrl dir", func(*config.AP) {}, Options{}, "ctrl_interface"},
		{"relative deny file", func(*config.AP) {}, Options{CtrlInterface: "/run/hostapd", DenyFile: "deny"}, "deny_mac_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ap := testAP()
			tt.ap(&ap)
			_, err := Render(ap, tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Render error = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

// injections are attempts to add or change a line in a rendered file.
var injections = []string{
	"a\nb", "x\nwpa=0", "x\rwpa=0", "x\r\nwpa=0", "nul\x00byte", "#comment", "a#b", "a=b", "=",
	`"quoted"`, `P"x"`, `'single'`, `back\slash`, `\n`, `\x41`, "trailing\\", "ends\n",
	"\xc0\xaf", "\xed\xa0\x80", "\xff\xfe", "\xe2\x80\xae", "\u2028", "é" + strings.Repeat("x", 31),
	strings.Repeat("s", 33), strings.Repeat("s", 32), " space ", "  ", " ", "\t", "\x7f", "\x1b[2J",
	"wlan0\nwpa=0", "../../etc", "/run/hostapd\nwpa=0", "/run/host apd", "/run/hostapd#",
	"US\n", "U", "us", "pass|mac=00:00:00:00:00:01", "pass|id=x secret",
}

// TestInjection tries every injection against every field that reaches
// hostapd.conf: either Render refuses, or the file parses back to exactly
// the intended settings, and hostapd accepts it.
func TestInjection(t *testing.T) {
	t.Parallel()
	haveHostapd := false
	if _, err := toolrun.LookPath("hostapd"); err == nil && os.Geteuid() == 0 {
		haveHostapd = true
	}
	fields := []struct {
		name string
		set  func(ap *config.AP, o *Options, v string)
	}{
		{"ssid", func(ap *config.AP, _ *Options, v string) { ap.SSID = v }},
		{"passphrase wpa2", func(ap *config.AP, _ *Options, v string) {
			ap.Security = config.SecurityWPA2
			ap.Passphrase = v + "12345678"
		}},
		{"passphrase sae", func(ap *config.AP, _ *Options, v string) {
			ap.Security = config.SecurityWPA3
			ap.Passphrase = v + "12345678"
		}},
		{"passphrase transition", func(ap *config.AP, _ *Options, v string) { ap.Passphrase = "12345678" + v }},
		{"interface", func(ap *config.AP, _ *Options, v string) { ap.Interface = v }},
		{"country", func(ap *config.AP, _ *Options, v string) { ap.Country = v }},
		{"security", func(ap *config.AP, _ *Options, v string) { ap.Security = v }},
		{"band", func(ap *config.AP, _ *Options, v string) { ap.Band = v }},
		{"ctrl_interface", func(_ *config.AP, o *Options, v string) { o.CtrlInterface = "/run/" + v }},
		{"deny_mac_file", func(_ *config.AP, o *Options, v string) { o.DenyFile = "/etc/" + v }},
	}
	accepted := 0
	for _, f := range fields {
		for i, v := range injections {
			t.Run(fmt.Sprintf("%s/%d", f.name, i), func(t *testing.T) {
				ap := testAP()
				o := defaultOpts
				f.set(&ap, &o, v)
				b, err := Render(ap, o)
				if err != nil {
					return // refused: fine
				}
				accepted++
				got := parseHostapd(t, b)
				want := intended(ap, o)
				if diff := cmp.Diff(want, got.settings()); diff != "" {
					t.Fatalf("value %q in %s: settings differ (-want +got):\n%s\nfile:\n%s", v, f.name, diff, b)
				}
				if haveHostapd {
					if err := Check(context.Background(), b); err != nil {
						t.Errorf("value %q in %s: hostapd rejects the file: %v\n%s", v, f.name, err, b)
					}
				}
			})
		}
	}
	if accepted == 0 {
		t.Error("every injection was refused; the parse-back check never ran")
	}
}

func FuzzRender(f *testing.F) {
	f.Add("DeviceManager", "correct horse battery", 0)
	for _, v := range injections {
		f.Add(v, v+"12345678", 1)
	}
	f.Fuzz(func(t *testing.T, ssid, pass string, mode int) {
		ap := testAP()
		ap.SSID = ssid
		ap.Passphrase = pass
		ap.Security = []string{config.SecurityWPA2, config.SecurityWPA3, config.SecurityWPA2WPA3}[uint(mode)%3]
		b, err := Render(ap, defaultOpts)
		if err != nil {
			return
		}
		got := parseHostapd(t, b)
		if diff := cmp.Diff(intended(ap, defaultOpts), got.settings()); diff != "" {
			t.Fatalf("ssid %q pass %q: (-want +got):\n%s\n%s", ssid, pass, diff, b)
		}
	})
}

// intended is what a hostapd.conf for ap must mean, with the SSID decoded.
func intended(ap config.AP, o Options) map[string]string {
	m := map[string]string{
		"interface": ap.Interface, "driver": "nl80211", "ctrl_interface": o.CtrlInterface, "ctrl_interface_group": "0",
		"SSID": ap.SSID, "ignore_broadcast_ssid": boolNum(ap.Hidden), "country_code": ap.Country, "ieee80211d": "1",
		"hw_mode": "g", "channel": ap.Channel.String(), "ieee80211n": "1", "wmm_enabled": "1",
		"ap_isolate": boolNum(ap.Isolate), "max_num_sta": strconv.Itoa(ap.MaxStations),
		"auth_algs": "1", "wpa": "2", "rsn_pairwise": "CCMP",
	}
	if ap.Channel == 0 {
		m["channel"] = "acs_survey"
	}
	for i := 0; i < len(ap.SSID); i++ {
		if ap.SSID[i] >= 0x80 {
			m["utf8_ssid"] = "1"
		}
	}
	if ap.Band == config.Band5 {
		m["hw_mode"], m["ieee80211ac"], m["ieee80211h"] = "a", "1", "1"
	}
	sae := func() {
		if strings.Contains(ap.Passphrase, "|") {
			m["wpa_passphrase"] = ap.Passphrase
		} else {
			m["sae_password"] = ap.Passphrase
		}
	}
	switch ap.Security {
	case config.SecurityWPA2:
		m["wpa_key_mgmt"] = "WPA-PSK"
		if len(ap.Passphrase) == 64 {
			m["wpa_psk"] = strings.ToLower(ap.Passphrase)
		} else {
			m["wpa_passphrase"] = ap.Passphrase
		}
	case config.SecurityWPA3:
		m["wpa_key_mgmt"], m["ieee80211w"] = "SAE", "2"
		sae()
	case config.SecurityWPA2WPA3:
		m["wpa_key_mgmt"], m["ieee80211w"], m["sae_require_mfp"] = "WPA-PSK SAE", "1", "1"
		m["wpa_passphrase"] = ap.Passphrase
		sae()
	}
	if o.DenyFile != "" {
		m["macaddr_acl"], m["deny_mac_file"] = "0", o.DenyFile
	}
	return m
}

// hostapdConf is a hostapd.conf read the way hostapd reads it: '#' starts a
// comment only in the first column, a line is split at its first '=', and
// the value is everything up to the newline.
type hostapdConf struct {
	keys []string
	vals map[string]string
}

func parseHostapd(t testing.TB, b []byte) hostapdConf {
	t.Helper()
	c := hostapdConf{vals: map[string]string{}}
	for i, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if l == "" || l[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			t.Fatalf("line %d %q has no '='", i+1, l)
		}
		if _, dup := c.vals[k]; dup {
			t.Fatalf("line %d: key %s repeated", i+1, k)
		}
		c.keys = append(c.keys, k)
		c.vals[k] = v
	}
	return c
}

func (c hostapdConf) get(k string) string { return c.vals[k] }

// settings returns the parsed keys with ssid/ssid2 decoded into "SSID".
func (c hostapdConf) settings() map[string]string {
	m := map[string]string{}
	for _, k := range c.keys {
		v := c.vals[k]
		switch k {
		case "ssid":
			m["SSID"] = v
		case "ssid2":
			m["SSID"] = decodeSSID2(v)
		default:
			m[k] = v
		}
	}
	if _, ok := c.vals["ssid"]; ok {
		if _, ok := c.vals["ssid2"]; ok {
			m["SSID"] = "<both ssid and ssid2>"
		}
	}
	return m
}

// decodeSSID2 follows hostapd's wpa_config_parse_string: "..." literal,
// P"..." printf-escaped, else hex.
func decodeSSID2(v string) string {
	switch {
	case strings.HasPrefix(v, `P"`):
		end := strings.LastIndexByte(v, '"')
		if end != len(v)-1 || end < 2 {
			return "<bad P string>"
		}
		s := v[2:end]
		var b bytes.Buffer
		for i := 0; i < len(s); i++ {
			if s[i] != '\\' {
				b.WriteByte(s[i])
				continue
			}
			i++
			switch {
			case i >= len(s):
				return "<lone backslash>"
			case s[i] == 'x' && i+3 <= len(s):
				n, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
				if err != nil {
					return "<bad hex escape>"
				}
				b.WriteByte(byte(n))
				i += 2
			case s[i] == '\\' || s[i] == '"':
				b.WriteByte(s[i])
			default:
				return "<unexpected escape>"
			}
		}
		return b.String()
	case strings.HasPrefix(v, `"`):
		return strings.TrimSuffix(v[1:], `"`)
	default:
		d, err := hex.DecodeString(v)
		if err != nil {
			return "<bad hex>"
		}
		return string(d)
	}
}

func TestRenderDenyList(t *testing.T) {
	t.Parallel()
	got, err := RenderDenyList([]string{"02:00:00:00:01:0B", "02-00-00-00-00-01", "02:00:00:00:01:0b"})
	if err != nil {
		t.Fatal(err)
	}
	testutil.Golden(t, "testdata/deny.golden", got)
	var lines []string
	for _, l := range strings.Split(string(got), "\n") {
		if l != "" && l[0] != '#' {
			lines = append(lines, l)
		}
	}
	if diff := cmp.Diff([]string{"02:00:00:00:00:01", "02:00:00:00:01:0b"}, lines); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for _, bad := range []string{"", "02:00:00:00:01", "02:00:00:00:01:0b\n03:00:00:00:00:00", "00:00:00:00:00:00:00:01", "zz:00:00:00:00:00", "02:00:00:00:01:0b #"} {
		if _, err := RenderDenyList([]string{bad}); err == nil || !strings.Contains(err.Error(), strconv.Quote(bad)) {
			t.Errorf("RenderDenyList(%q) error = %v, want one quoting it", bad, err)
		}
	}
	empty, err := RenderDenyList(nil)
	if err != nil || slices.ContainsFunc(strings.Split(string(empty), "\n"), func(l string) bool { return l != "" && l[0] != '#' }) {
		t.Errorf("RenderDenyList(nil) = %q, %v", empty, err)
	}
}

func requireHostapd(t *testing.T) {
	t.Helper()
	testutil.RequireBinary(t, "hostapd")
	testutil.RequireRoot(t) // a throwaway network namespace
}
