package provision

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/dnsmasq"
	"github.com/devmgr/devmgr/internal/testing/testutil"
)

// testConfig is a valid config that can be provisioned.
func testConfig() config.Config {
	c := config.Default()
	c.AP.Passphrase = "correct horse battery"
	return c
}

func testOptions() Options {
	return Options{Binary: "/usr/local/bin/devmgr", ConfigPath: "/etc/devmgr/devmgr.yaml"}
}

var planCases = []struct {
	name string
	conf func(*config.Config)
	opts func(*Options)
}{
	{name: "default"},
	{
		name: "behind-nginx-wpa3-5ghz",
		conf: func(c *config.Config) {
			c.Web.Listen = "127.0.0.1:8080"
			c.Web.TLS.Disable = true
			c.AP.Security = config.SecurityWPA3
			c.AP.Band = config.Band5
			c.AP.Channel = 36
			c.AP.Interface = "wlp2s0"
			c.AP.Address = "10.42.0.1/24"
			c.AP.DHCP = config.DHCP{Start: "10.42.0.100", End: "10.42.0.199", Lease: 12 * 60 * 60 * 1e9}
			c.Uplinks = []string{"eth0", "wwan0"}
			c.LAN = []string{"eth1", "eth2"}
			c.Firewall.AllowAPToLAN = true
			c.DataDir = "/srv/devmgr"
			c.Agent.Socket = "/run/devmgr-agent/agent.sock"
			c.Agent.StateDir = "/srv/devmgr-agent"
			c.Web.User = "devmgr-web"
		},
		opts: func(o *Options) {
			o.DenyMACs = []string{"02:00:00:00:01:00", "AA:BB:CC:DD:EE:FF"}
			o.StaticLeases = []dnsmasq.StaticLease{{MAC: "02:00:00:00:02:00", IP: "10.42.0.10", Hostname: "printer"},
				{MAC: "02:00:00:00:03:00", IP: "10.42.0.150"}}
		},
	},
	{
		name: "own-cert-no-lan-redirect",
		conf: func(c *config.Config) {
			c.Web.TLS.Cert = "/etc/devmgr/tls/cert.pem"
			c.Web.TLS.Key = "/etc/devmgr/tls/key.pem"
			c.Web.RedirectListen = ":80"
			c.LAN = nil
			c.AP.Security = config.SecurityWPA2
			c.AP.Hidden = true
			c.AP.Isolate = true
		},
	},
}

func planFor(t *testing.T, i int) (config.Config, Options, []File) {
	t.Helper()
	tc := planCases[i]
	c := testConfig()
	if tc.conf != nil {
		tc.conf(&c)
	}
	o := testOptions()
	if tc.opts != nil {
		tc.opts(&o)
	}
	files, err := Plan(c, o)
	if err != nil {
		t.Fatalf("Plan: %v", err)
	}
	return c, o, files
}

func goldenName(path string) string {
	return strings.ReplaceAll(strings.TrimPrefix(path, "/"), "/", "_") + ".golden"
}

func TestPlanGolden(t *testing.T) {
	t.Parallel()
	for i, tc := range planCases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, files := planFor(t, i)
			dir := filepath.Join("testdata", tc.name)
			if testutil.Updating() {
				os.RemoveAll(dir)
			}
			var names []string
			for _, f := range files {
				name := goldenName(f.Path)
				names = append(names, name)
				testutil.Golden(t, filepath.Join(dir, name), f.Content)
			}
			// No golden file without a rendered file.
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				if !strings.Contains(strings.Join(names, " "), e.Name()) {
					t.Errorf("stale golden file %s", e.Name())
				}
			}
		})
	}
}

func TestPlanFiles(t *testing.T) {
	t.Parallel()
	_, _, files := planFor(t, 1)
	type row struct {
		Path  string
		Mode  fs.FileMode
		Check Check
	}
	var got []row
	for _, f := range files {
		got = append(got, row{f.Path, f.Mode, f.Check})
	}
	want := []row{
		{"/etc/hostapd/devmgr.conf", 0o600, CheckHostapd},
		{"/etc/hostapd/devmgr.deny", 0o644, CheckDenyList},
		{"/etc/devmgr/dnsmasq.conf", 0o644, CheckDnsmasq},
		{"/etc/devmgr/dhcp/range.conf", 0o644, CheckDHCPPart},
		{"/etc/devmgr/dhcp/hosts", 0o644, CheckDHCPPart},
		{"/etc/nftables.d/devmgr.nft", 0o644, CheckNft},
		{"/etc/sysctl.d/90-devmgr.conf", 0o644, CheckNone},
		{"/etc/systemd/network/10-devmgr-wlp2s0.network", 0o644, CheckNone},
		{"/etc/systemd/network/10-devmgr-eth1.network", 0o644, CheckNone},
		{"/etc/systemd/network/10-devmgr-eth2.network", 0o644, CheckNone},
		{"/etc/NetworkManager/conf.d/devmgr-unmanaged.conf", 0o644, CheckNone},
		{"/etc/sysusers.d/devmgr.conf", 0o644, CheckNone},
		{"/etc/tmpfiles.d/devmgr.conf", 0o644, CheckNone},
		{"/etc/systemd/system/devmgr-agent.service", 0o644, CheckUnit},
		{"/etc/systemd/system/devmgr-web.service", 0o644, CheckUnit},
		{"/etc/systemd/system/devmgr-hostapd.service", 0o644, CheckUnit},
		{"/etc/systemd/system/devmgr-dnsmasq.service", 0o644, CheckUnit},
		{"/etc/systemd/system/devmgr-firewall.service", 0o644, CheckUnit},
		{"/etc/systemd/system/devmgr-backup.service", 0o644, CheckUnit},
		{"/etc/systemd/system/devmgr-backup.timer", 0o644, CheckUnit},
		{"/etc/devmgr/provisioned.sha256", 0o600, CheckNone},
		{"/etc/nginx/sites-available/devmgr", 0o644, CheckNginx},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
}

func TestPlanIsDeterministic(t *testing.T) {
	t.Parallel()
	_, _, a := planFor(t, 1)
	_, _, b := planFor(t, 1)
	if diff := cmp.Diff(a, b, cmp.Comparer(func(x, y File) bool { return x.Path == y.Path && string(x.Content) == string(y.Content) })); diff != "" {
		t.Error(diff)
	}
}

func TestPlanRefusesBadInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		conf func(*config.Config)
		opts func(*Options)
		want []string
	}{
		{"no passphrase", func(c *config.Config) { c.AP.Passphrase = "" }, nil, []string{"ap.passphrase: must be set"}},
		{"config problem", func(c *config.Config) { c.AP.Channel = 40 }, nil, []string{"ap.channel: 40 is not a 2.4ghz channel"}},
		{"ssid newline", func(c *config.Config) { c.AP.SSID = "x\nwpa=0" }, nil, []string{"ap.ssid: contains a control character"}},
		{"relative data dir", func(c *config.Config) { c.DataDir = "./var" }, nil, []string{`data_dir: "./var" must be a clean absolute path`}},
		{"specifier in data dir", func(c *config.Config) { c.DataDir = "/var/lib/%n" }, nil, []string{`data_dir: "/var/lib/%n" may hold only`}},
		{"space in socket", func(c *config.Config) { c.Agent.Socket = "/run/dev mgr/a.sock" }, nil, []string{"agent.socket:"}},
		{"bad user", func(c *config.Config) { c.Web.User = "Dev;rm" }, nil, []string{`web.user: "Dev;rm" is not a user name`}},
		{"bad listen host", func(c *config.Config) { c.Web.Listen = "a;b:443" }, nil, []string{`web.listen: host "a;b"`}},
		{"binary with newline", nil, func(o *Options) { o.Binary = "/usr/bin/devmgr\nExecStartPre=/bin/sh" }, []string{"devmgr binary:"}},
		{"bad deny mac", nil, func(o *Options) { o.DenyMACs = []string{"02:00:00:00:01:00\nwpa=0"} }, []string{"rendering /etc/hostapd/devmgr.deny", "is not a MAC address"}},
		{"several", func(c *config.Config) { c.AP.Passphrase = ""; c.DataDir = "rel" }, nil, []string{"ap.passphrase", "data_dir"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, o := testConfig(), testOptions()
			if tt.conf != nil {
				tt.conf(&c)
			}
			if tt.opts != nil {
				tt.opts(&o)
			}
			files, err := Plan(c, o)
			if err == nil {
				t.Fatalf("Plan succeeded with %d files", len(files))
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestRequirementsKeepsProblems(t *testing.T) {
	t.Parallel()
	c := testConfig()
	c.AP.Channel = 99
	err := Requirements(c, testOptions())
	var ps *config.Problems
	if !errors.As(err, &ps) {
		t.Fatalf("error %v does not wrap *config.Problems", err)
	}
}

func TestConsolePorts(t *testing.T) {
	t.Parallel()
	c := testConfig()
	if diff := cmp.Diff([]int{443}, ConsolePorts(c)); diff != "" {
		t.Errorf("default (-want +got):\n%s", diff)
	}
	c.Web.RedirectListen = ":80"
	if diff := cmp.Diff([]int{443, 80}, ConsolePorts(c)); diff != "" {
		t.Errorf("with redirect (-want +got):\n%s", diff)
	}
	c.Web.RedirectListen = ""
	c.Web.Listen, c.Web.TLS.Disable = "127.0.0.1:8080", true
	if diff := cmp.Diff([]int{80, 443, 8080}, ConsolePorts(c)); diff != "" {
		t.Errorf("behind nginx (-want +got):\n%s", diff)
	}
}
