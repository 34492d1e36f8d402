package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestDefaultIsValid(t *testing.T) {
	t.Parallel()
	if err := Default().Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
}

func TestParseOverridesDefaults(t *testing.T) {
	t.Parallel()
	c, err := Parse([]byte(`
data_dir: /srv/devmgr
web:
  listen: "127.0.0.1:8080"
  tls: {disable: true}
ap:
  ssid: Kiosk
  passphrase: "correct horse battery"
  security: wpa3
  band: 5ghz
  channel: 36
  dhcp: {start: 192.168.4.100, end: 192.168.4.150, lease: 12h}
uplinks: [eth0, wwan0]
lan: []
network:
  rollback_timeout: 90s
`))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := Default()
	want.DataDir = "/srv/devmgr"
	want.Web.Listen = "127.0.0.1:8080"
	want.Web.TLS.Disable = true
	want.AP.SSID = "Kiosk"
	want.AP.Passphrase = "correct horse battery"
	want.AP.Security = SecurityWPA3
	want.AP.Band = Band5
	want.AP.Channel = 36
	want.AP.DHCP = DHCP{Start: "192.168.4.100", End: "192.168.4.150", Lease: 12 * time.Hour}
	want.Uplinks = []string{"eth0", "wwan0"}
	want.LAN = []string{}
	want.Network.RollbackTimeout = 90 * time.Second
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("Parse mismatch (-want +got):\n%s", diff)
	}
}

func TestChannelAuto(t *testing.T) {
	t.Parallel()
	c, err := Parse([]byte("ap: {channel: auto}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.AP.Channel != 0 || c.AP.Channel.String() != "auto" {
		t.Errorf("channel = %v, want auto", c.AP.Channel)
	}
}

func TestEmptyFileIsDefaults(t *testing.T) {
	t.Parallel()
	c, err := Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Default(), c); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// Each bad document must produce exactly the listed problems, in order.
func TestProblems(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		{"unknown top-level key", "data_dir: /x\nbogus: 1\n", []string{`bogus: unknown key "bogus" (line 2)`}},
		{"unknown nested key", "web:\n  listen: \":443\"\n  tlss: {}\n", []string{`web.tlss: unknown key "tlss" (line 3)`}},
		{"unknown key in ap.dhcp", "ap:\n  dhcp:\n    begin: 1.2.3.4\n", []string{`ap.dhcp.begin: unknown key "begin" (line 3)`}},
		{"dhcp start outside subnet", "ap:\n  dhcp: {start: 192.168.5.2}\n", []string{"ap.dhcp.start: 192.168.5.2 is outside ap.address 192.168.4.1/24"}},
		{"dhcp end before start", "ap:\n  dhcp: {start: 192.168.4.20, end: 192.168.4.10}\n", []string{"ap.dhcp.end: 192.168.4.10 comes before ap.dhcp.start 192.168.4.20"}},
		{"dhcp range holds AP", "ap:\n  address: 192.168.4.10/24\n", []string{"ap.dhcp: the range 192.168.4.2..192.168.4.20 contains the AP address 192.168.4.10"}},
		{"dhcp end is broadcast", "ap:\n  dhcp: {end: 192.168.4.255}\n", []string{"ap.dhcp.end: 192.168.4.255 is outside ap.address 192.168.4.1/24"}},
		{"ap address is network", "ap:\n  address: 192.168.4.0/24\n", []string{"ap.address: 192.168.4.0/24 is the network or broadcast address of its subnet"}},
		{"ap address not cidr", "ap:\n  address: 192.168.4.1\n", []string{`ap.address: "192.168.4.1" is not an IPv4 address with prefix length such as 192.168.4.1/24`}},
		{"ssid too long", "ap:\n  ssid: " + strings.Repeat("x", 33) + "\n", []string{"ap.ssid: must be 1 to 32 bytes, and is 33"}},
		{"ssid control char", "ap:\n  ssid: \"a\\nb\"\n", []string{"ap.ssid: contains a control character (U+000A)"}},
		{"passphrase short", "ap:\n  passphrase: short\n", []string{"ap.passphrase: must be 8 to 63 characters, and is 5"}},
		{"passphrase non-ascii", "ap:\n  passphrase: \"pässwörter\"\n", []string{"ap.passphrase: may contain only printable ASCII characters"}},
		{"security", "ap:\n  security: wep\n", []string{`ap.security: "wep" is not one of wpa2, wpa3, wpa2-wpa3`}},
		{"country", "ap:\n  country: XX\n", []string{`ap.country: "XX" is not a known ISO 3166 country code (two capital letters, for example US or DE)`}},
		{"channel for band", "ap:\n  band: 5ghz\n  channel: 6\n", []string{"ap.channel: 6 is not a 5ghz channel"}},
		{"channel word", "ap:\n  channel: six\n", []string{`ap.channel: "six" is neither a channel number nor auto (line 2)`}},
		{"band", "ap:\n  band: 60ghz\n", []string{`ap.band: "60ghz" is not one of 2.4ghz, 5ghz`}},
		{"duration", "network:\n  rollback_timeout: soon\n", []string{`network.rollback_timeout: "soon" is not a duration such as 30s, 15m or 24h (line 2)`}},
		{"rollback range", "network:\n  rollback_timeout: 1s\n", []string{"network.rollback_timeout: 1s is outside 10s..10m"}},
		{"listen", "web:\n  listen: nope\n", []string{`web.listen: "nope" is not host:port (for example :443 or 127.0.0.1:8080)`}},
		{"plain http off loopback", "web:\n  listen: \":80\"\n  tls: {disable: true}\n", []string{`web.tls.disable: plain HTTP is allowed only on a loopback address, and web.listen is ":80"`}},
		{"cert without key", "web:\n  tls: {cert: /c.pem}\n", []string{"web.tls: cert and key must be given together"}},
		{"uplink is ap", "uplinks: [wlan0]\n", []string{"uplinks[0]: wlan0 is already ap.interface"}},
		{"lan duplicates uplink", "uplinks: [eth0]\nlan: [eth1, eth0]\n", []string{"lan[1]: eth0 is already uplinks[0]"}},
		{"bad interface name", "lan: [\"eth 1\"]\n", []string{`lan[0]: "eth 1" is not an interface name: only letters, digits, '-', '_' and '.'`}},
		{"lan not a list", "lan: eth1\n", []string{"lan: must be a list (line 1)"}},
		{"hostname", "ap:\n  hostname: -dev\n", []string{`ap.hostname: "-dev" is not a host name: letters, digits and inner '-' only`}},
		{"several at once", "ap:\n  ssid: \"\"\n  country: usa\n", []string{
			"ap.ssid: must be 1 to 32 bytes, and is 0",
			`ap.country: "usa" is not a known ISO 3166 country code (two capital letters, for example US or DE)`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc))
			var ps *Problems
			if !errors.As(err, &ps) {
				t.Fatalf("Parse error = %v, want *Problems", err)
			}
			var got []string
			for _, p := range ps.List {
				got = append(got, p.String())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadNamesFile(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "devmgr.yaml")
	if err := os.WriteFile(p, []byte("nope: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(p)
	if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), `unknown key "nope"`) {
		t.Errorf("Load error = %v, want it to name the file and the key", err)
	}
}

func TestPathPrecedence(t *testing.T) {
	t.Setenv("DEVMGR_CONFIG", "/env.yaml")
	if got := Path("/flag.yaml"); got != "/flag.yaml" {
		t.Errorf("Path(flag) = %q", got)
	}
	if got := Path(""); got != "/env.yaml" {
		t.Errorf("Path(\"\") with env = %q", got)
	}
	t.Setenv("DEVMGR_CONFIG", "")
	if got := Path(""); got != DefaultPath {
		t.Errorf("Path(\"\") = %q", got)
	}
}

func TestCountry(t *testing.T) {
	t.Parallel()
	for _, c := range []string{"US", "DE", "JP", "ZW", "AD"} {
		if !KnownCountry(c) {
			t.Errorf("KnownCountry(%q) = false", c)
		}
	}
	for _, c := range []string{"", "U", "us", "S ", "XX", "SD A", "D "} {
		if KnownCountry(c) {
			t.Errorf("KnownCountry(%q) = true", c)
		}
	}
}
