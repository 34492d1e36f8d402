package setup

import (
	"bufio"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/netif"
)

const iwList = `Wiphy phy0
	wiphy index: 0
	max # scan SSIDs: 255
	Supported interface modes:
		 * IBSS
		 * managed
		 * AP
		 * AP/VLAN
		 * monitor
	Band 1:
		Capabilities: 0x1862
Wiphy phy1
	Supported interface modes:
		 * managed
		 * monitor
	software interface modes (can always be added):
		 * monitor
`

func TestParseIWList(t *testing.T) {
	t.Parallel()
	want := map[string][]string{
		"phy0": {"IBSS", "managed", "AP", "AP/VLAN", "monitor"},
		"phy1": {"managed", "monitor"},
	}
	if diff := cmp.Diff(want, ParseIWList(iwList)); diff != "" {
		t.Errorf("ParseIWList (-want +got):\n%s", diff)
	}
}

// fakeSystem is a machine with a client-only WiFi card (wlan0), an
// AP-capable one (wlan1), an uplink with a default route and a LAN port.
func fakeSystem(t *testing.T) Detector {
	sys := t.TempDir()
	for name, phy := range map[string]string{"wlan0": "phy1", "wlan1": "phy0"} {
		dir := filepath.Join(sys, name, "phy80211")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "name"), []byte(phy+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return Detector{
		List: func(context.Context) ([]netif.Interface, error) {
			return []netif.Interface{
				{Name: "eth0", Kind: netif.KindEthernet, Carrier: true, Addresses: []string{"198.51.100.2/24", "fe80::1/64"}, Gateway: "198.51.100.1"},
				{Name: "eth1", Kind: netif.KindEthernet, Carrier: true, Addresses: []string{"203.0.113.1/24"}},
				{Name: "lo", Kind: netif.KindLoopback, Carrier: true, Addresses: []string{"127.0.0.1/8"}},
				{Name: "usb0", Kind: netif.KindEthernet},
				{Name: "wlan0", Kind: netif.KindWireless},
				{Name: "wlan1", Kind: netif.KindWireless},
			}, nil
		},
		IWList: func(context.Context) (string, error) { return iwList, nil },
		SysNet: sys,
	}
}

func TestDetectAndCandidates(t *testing.T) {
	t.Parallel()
	ifs, note, err := fakeSystem(t).Detect(context.Background())
	if err != nil || note != "" {
		t.Fatalf("Detect: %v, note %q", err, note)
	}
	names := func(l []Interface) string {
		var s []string
		for _, i := range l {
			s = append(s, i.Name)
		}
		return strings.Join(s, " ")
	}
	// The client-only card is no candidate; the AP-capable one comes first.
	if got := names(APCandidates(ifs)); got != "wlan1" {
		t.Errorf("APCandidates = %q, want wlan1", got)
	}
	if got := names(UplinkCandidates(ifs, "wlan1")); got != "eth0 eth1 usb0 wlan0" {
		t.Errorf("UplinkCandidates = %q", got)
	}
	byName := map[string]Interface{}
	for _, i := range ifs {
		byName[i.Name] = i
	}
	if i := byName["wlan1"]; i.Phy != "phy0" || i.AP != APYes || i.Describe() != "WiFi, can be an access point" {
		t.Errorf("wlan1 = %+v, %q", i, i.Describe())
	}
	if i := byName["wlan0"]; i.AP != APNo {
		t.Errorf("wlan0 = %+v, want no AP mode", i)
	}
	if d := byName["eth0"].Describe(); d != "ethernet, 198.51.100.2/24, default route via 198.51.100.1" {
		t.Errorf("eth0 described as %q", d)
	}

	// Without iw every radio's AP mode is unknown: offered, not refused.
	d := fakeSystem(t)
	d.IWList = func(context.Context) (string, error) { return "", errors.New("iw: not found") }
	ifs, note, err = d.Detect(context.Background())
	if err != nil || !strings.Contains(note, "iw list") {
		t.Fatalf("Detect without iw: %v, note %q", err, note)
	}
	if got := names(APCandidates(ifs)); got != "wlan0 wlan1" {
		t.Errorf("APCandidates without iw = %q", got)
	}
}

func TestApply(t *testing.T) {
	t.Parallel()
	ifs, _, err := fakeSystem(t).Detect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	base, _, err := loadBase(filepath.Join(t.TempDir(), "none.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	good := Answers{Country: "de", SSID: "Lab", Passphrase: "correct horse battery", Security: "wpa3", APInterface: "wlan1", Uplinks: []string{"eth0"}, LAN: []string{"eth1"}}
	c, err := Apply(base, good, ifs)
	if err != nil {
		t.Fatal(err)
	}
	if c.AP.Country != "DE" || c.AP.SSID != "Lab" || c.AP.Interface != "wlan1" || c.AP.Security != "wpa3" ||
		!cmp.Equal(c.Uplinks, []string{"eth0"}) || !cmp.Equal(c.LAN, []string{"eth1"}) {
		t.Errorf("Apply gave %+v", c)
	}

	tests := []struct {
		name string
		edit func(*Answers)
		want []string
	}{
		{"bad values", func(a *Answers) { a.Country, a.SSID, a.Passphrase = "XX", strings.Repeat("s", 33), "short" },
			[]string{"--country: ", "--ssid: ", "--passphrase-stdin: "}},
		{"no passphrase", func(a *Answers) { a.Passphrase = "" }, []string{"--passphrase-stdin: is required"}},
		{"AP not WiFi", func(a *Answers) { a.APInterface = "eth1"; a.LAN = []string{} }, []string{"--ap-interface: eth1 is not a WiFi interface"}},
		{"AP without AP mode", func(a *Answers) { a.APInterface = "wlan0" }, []string{"--ap-interface: wlan0 cannot be an access point"}},
		{"missing interfaces", func(a *Answers) { a.APInterface, a.Uplinks = "wlan9", []string{"eht0"} },
			[]string{"--ap-interface: wlan9 is not an interface of this system (interfaces here: eth0, eth1, usb0, wlan0, wlan1)", "--uplink: eht0 is not"}},
		{"AP as uplink", func(a *Answers) { a.Uplinks = []string{"wlan1"} }, []string{"--uplink: wlan1 is already ap.interface"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := good
			tt.edit(&a)
			_, err := Apply(base, a, ifs)
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("Apply = %v, want Problems", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("problems %q lack %q", err, w)
				}
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	ifs, _, err := fakeSystem(t).Detect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var a Answers
	said := a.Defaults(ifs)
	if a.APInterface != "wlan1" || !cmp.Equal(a.Uplinks, []string{"eth0"}) || a.Security != config.SecurityWPA2WPA3 {
		t.Errorf("Defaults chose %+v", a)
	}
	if got := strings.Join(said, "; "); got != "access point on wlan1 (WiFi, can be an access point); uplinks (NAT to them): eth0" {
		t.Errorf("Defaults said %q", got)
	}
	given := Answers{APInterface: "wlan0", Uplinks: []string{}, Security: "wpa2"}
	if said := given.Defaults(ifs); len(said) != 0 || given.APInterface != "wlan0" || len(given.Uplinks) != 0 || given.Security != "wpa2" {
		t.Errorf("Defaults changed given answers: %+v, %q", given, said)
	}
}

func TestPrompterAsks(t *testing.T) {
	t.Parallel()
	ifs, _, err := fakeSystem(t).Detect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// A bad country, then a good one; an SSID; a passphrase too short,
	// then one typed twice differently, then right; the AP by number; the
	// uplinks by the default.
	input := "XX\nde\nLab\nshort\ncorrect horse battery\ncorrect horse batterx\ncorrect horse battery\ncorrect horse battery\n1\n\n"
	var out strings.Builder
	p := Prompter{In: bufio.NewReader(strings.NewReader(input)), Out: &out}
	a := Answers{Security: "wpa2"}
	base, _, _ := loadBase(filepath.Join(t.TempDir(), "none.yaml"))
	if err := p.Ask(&a, base, false, ifs); err != nil {
		t.Fatalf("Ask: %v\n%s", err, out.String())
	}
	want := Answers{Country: "DE", SSID: "Lab", Passphrase: "correct horse battery", Security: "wpa2", APInterface: "wlan1", Uplinks: []string{"eth0"}}
	if diff := cmp.Diff(want, a); diff != "" {
		t.Errorf("answers (-want +got):\n%s\n%s", diff, out.String())
	}
	for _, s := range []string{`"XX" is not an ISO 3166 country code`, "the passphrase must be", "the two differ", "1) wlan1      WiFi, can be an access point",
		"1) eth0       ethernet, 198.51.100.2/24, default route via 198.51.100.1", "Choose [eth0]: "} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("the questions lack %q:\n%s", s, out.String())
		}
	}

	// Input that ends is an error, not a loop.
	p = Prompter{In: bufio.NewReader(strings.NewReader("DE\n")), Out: &out}
	if err := p.Ask(&Answers{}, base, false, ifs); err == nil || !strings.Contains(err.Error(), "input ended") {
		t.Errorf("Ask at the end of input = %v", err)
	}
}

func TestPick(t *testing.T) {
	t.Parallel()
	cands := []Interface{{Name: "eth0"}, {Name: "eth1"}}
	for _, tt := range []struct {
		in   string
		many bool
		want []string
		err  string
	}{
		{"1", false, []string{"eth0"}, ""},
		{"2, eth0,2", true, []string{"eth1", "eth0"}, ""},
		{"-", true, []string{}, ""},
		{"3", true, nil, "3 is not one of the numbers shown"},
		{"1,2", false, nil, "choose one"},
		{"wl an0", false, nil, "is not an interface name"},
		{"usb0", false, []string{"usb0"}, ""},
	} {
		got, err := pick(tt.in, cands, tt.many)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("pick(%q) = %q, %v; want error %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || !cmp.Equal(got, tt.want) {
			t.Errorf("pick(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestRunWritesConfigAndProvisions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "etc", "devmgr.yaml")
	data := filepath.Join(dir, "data")
	var provisioned []string
	var out strings.Builder
	o := Options{
		ConfigPath: path, Out: &out, Detector: fakeSystem(t),
		Answers: Answers{Country: "DE", SSID: "Lab", Passphrase: "correct horse battery"},
		Provision: func(_ context.Context, c config.Config, p string) error {
			provisioned = append(provisioned, p+" "+c.AP.Interface)
			// The console's first start writes the password file.
			if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(c.DataDir, "initial-admin-password"), []byte("x\n"), 0o600)
		},
	}
	// A config with a data_dir of the test's; setup keeps what it does
	// not ask about.
	c := config.Default()
	c.DataDir = data
	c.AP.Passphrase = "an older passphrase"
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := config.WriteKeeping(path, c, ""); err != nil {
		t.Fatal(err)
	}
	o.Answers.APInterface, o.Answers.Uplinks, o.Answers.LAN = "wlan1", []string{"eth0"}, []string{"eth1"}
	if err := Run(context.Background(), o); err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	got, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.AP.SSID != "Lab" || got.AP.Country != "DE" || got.AP.Passphrase != "correct horse battery" || got.DataDir != data || got.AP.Interface != "wlan1" {
		t.Errorf("written config: %+v", got)
	}
	if diff := cmp.Diff([]string{path + " wlan1"}, provisioned); diff != "" {
		t.Errorf("provisioned (-want +got):\n%s", diff)
	}
	for _, s := range []string{"wrote " + path, `WiFi:      "Lab" on wlan1 (wpa2-wpa3, country DE, channel 6)`,
		"https://device.local/ or https://192.168.4.1/ from the WiFi", "https://203.0.113.1/ from the LAN (eth1)",
		"closed on the uplinks: eth0", "as admin with the password in " + filepath.Join(data, "initial-admin-password")} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("output lacks %q:\n%s", s, out.String())
		}
	}
}

func TestRunWithoutTerminalNeedsTheValues(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "devmgr.yaml")
	var out strings.Builder
	err := Run(context.Background(), Options{ConfigPath: path, Out: &out, Detector: fakeSystem(t), Answers: Answers{SSID: "Lab"}})
	if err == nil || !strings.Contains(err.Error(), "give --country, --passphrase-stdin") {
		t.Errorf("Run = %v", err)
	}
	if _, err := os.Stat(path); err == nil {
		t.Error("a config was written")
	}
	// Values that cannot be used: every problem, nothing written.
	err = Run(context.Background(), Options{ConfigPath: path, Out: &out, Detector: fakeSystem(t),
		Answers: Answers{Country: "DE", SSID: "Lab", Passphrase: "short", APInterface: "wlan0"}})
	if err == nil || !strings.Contains(err.Error(), "nothing was written") || !strings.Contains(err.Error(), "--ap-interface: wlan0 cannot") {
		t.Errorf("Run = %v", err)
	}
	if _, err := os.Stat(path); err == nil {
		t.Error("a config was written")
	}
}

func TestSummary(t *testing.T) {
	t.Parallel()
	c := config.Default()
	c.Web.Listen = ":8443"
	s := Summary(c, nil, PasswordNotYet)
	for _, want := range []string{"https://device.local:8443/ or https://192.168.4.1:8443/ from the WiFi", "the console writes the password to /var/lib/devmgr/initial-admin-password when it first starts"} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q:\n%s", want, s)
		}
	}
	if s := Summary(c, nil, PasswordUsers); !strings.Contains(s, "with a console user you have") {
		t.Errorf("summary with users:\n%s", s)
	}
}
