package dnsmasq

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/testing/testutil"
	"github.com/devmgr/devmgr/internal/toolrun"
)

// dhcpOpts is how devmgr provision renders the config: the DHCP range and
// the static leases in files of their own.
var dhcpOpts = Options{LeaseFile: DefaultLeaseFile, PIDFile: DefaultPIDFile, ServersFile: DefaultServersFile,
	RangeFile: "/etc/devmgr/dhcp/range.conf", HostsFile: "/etc/devmgr/dhcp/hosts"}

var someLeases = []StaticLease{
	{MAC: "02:00:00:00:00:01", IP: "192.168.4.50", Hostname: "printer"},
	{MAC: "02:00:00:00:00:02", IP: "192.168.4.10"}, // inside the range: allowed
	{MAC: "0A:1B:2C:3D:4E:5F", IP: "192.168.4.254", Hostname: "NAS-1"},
}

var dhcpCases = []struct {
	name   string
	cfg    func(*config.Config)
	leases []StaticLease
}{
	{"dhcp-default", func(*config.Config) {}, nil},
	{"dhcp-leases", func(c *config.Config) {
		c.AP.DHCP = config.DHCP{Start: "192.168.4.100", End: "192.168.4.199", Lease: 90 * time.Minute}
	}, someLeases},
	{"dhcp-wide", func(c *config.Config) {
		c.AP.Address = "10.20.0.1/16"
		c.AP.DHCP = config.DHCP{Start: "10.20.1.0", End: "10.20.4.255", Lease: 150 * time.Second}
	}, []StaticLease{{MAC: "02:00:00:00:00:09", IP: "10.20.200.7", Hostname: "cam"}}},
}

// render gives the three files of a case: the config, its range file and
// its hosts file.
func renderDHCP(t *testing.T, c config.Config, leases []StaticLease) (conf, rng, hosts []byte) {
	t.Helper()
	conf, err := Render(c, dhcpOpts)
	if err != nil {
		t.Fatal(err)
	}
	if rng, err = RenderRange(c); err != nil {
		t.Fatal(err)
	}
	if hosts, err = RenderHosts(c, leases); err != nil {
		t.Fatal(err)
	}
	return conf, rng, hosts
}

func TestRenderDHCPGolden(t *testing.T) {
	t.Parallel()
	for _, tc := range dhcpCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := config.Default()
			tc.cfg(&c)
			conf, rng, hosts := renderDHCP(t, c, tc.leases)
			testutil.Golden(t, filepath.Join("testdata", tc.name+".conf.golden"), conf)
			testutil.Golden(t, filepath.Join("testdata", tc.name+".range.golden"), rng)
			testutil.Golden(t, filepath.Join("testdata", tc.name+".hosts.golden"), hosts)
		})
	}
}

// The three files together pass dnsmasq's own --test, static leases
// included.
func TestRenderedDHCPPassesDnsmasq(t *testing.T) {
	t.Parallel()
	testutil.RequireBinary(t, "dnsmasq")
	for _, tc := range dhcpCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := config.Default()
			tc.cfg(&c)
			conf, rng, hosts := renderDHCP(t, c, tc.leases)
			if err := CheckDHCP(context.Background(), conf, rng, hosts); err != nil {
				t.Errorf("CheckDHCP: %v\n%s%s%s", err, conf, rng, hosts)
			}
		})
	}
}

// CheckDHCP reads the hosts file's lines as dnsmasq does: a line dnsmasq
// refuses fails the check, as does a config without the two files.
func TestCheckDHCPRefuses(t *testing.T) {
	t.Parallel()
	testutil.RequireBinary(t, "dnsmasq")
	c := config.Default()
	conf, rng, _ := renderDHCP(t, c, nil)
	for name, tc := range map[string]struct{ conf, hosts, want string }{
		"bad hex":      {string(conf), "zz:00:00:00:00:01,192.168.4.50\n", "bad hex"},
		"duplicate ip": {string(conf), "02:00:00:00:00:01,192.168.4.50\n02:00:00:00:00:02,192.168.4.50\n", "duplicate"},
		"no includes":  {"interface=wlan0\n", "", "no range file"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			err := CheckDHCP(context.Background(), []byte(tc.conf), rng, []byte(tc.hosts))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("CheckDHCP = %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

func TestCheckStaticLeases(t *testing.T) {
	t.Parallel()
	c := config.Default() // 192.168.4.1/24, hostname device
	type p struct {
		Index int
		Field string
	}
	tests := []struct {
		name   string
		leases []StaticLease
		want   []p
	}{
		{"good", someLeases, nil},
		{"no leases", nil, nil},
		{"bad mac", []StaticLease{{MAC: "02:00:00:00:00", IP: "192.168.4.50"}}, []p{{0, "mac"}}},
		{"eui-64", []StaticLease{{MAC: "02:00:00:00:00:00:00:01", IP: "192.168.4.50"}}, []p{{0, "mac"}}},
		{"multicast mac", []StaticLease{{MAC: "01:00:5e:00:00:01", IP: "192.168.4.50"}}, []p{{0, "mac"}}},
		{"broadcast mac", []StaticLease{{MAC: "ff:ff:ff:ff:ff:ff", IP: "192.168.4.50"}}, []p{{0, "mac"}}},
		{"zero mac", []StaticLease{{MAC: "00:00:00:00:00:00", IP: "192.168.4.50"}}, []p{{0, "mac"}}},
		{"duplicate mac in another case", []StaticLease{{MAC: "02:00:00:00:00:0a", IP: "192.168.4.50"}, {MAC: "02:00:00:00:00:0A", IP: "192.168.4.51"}}, []p{{1, "mac"}}},
		{"ipv6", []StaticLease{{MAC: "02:00:00:00:00:01", IP: "fd00::5"}}, []p{{0, "ip"}}},
		{"outside subnet", []StaticLease{{MAC: "02:00:00:00:00:01", IP: "192.168.5.50"}}, []p{{0, "ip"}}},
		{"network address", []StaticLease{{MAC: "02:00:00:00:00:01", IP: "192.168.4.0"}}, []p{{0, "ip"}}},
		{"broadcast address", []StaticLease{{MAC: "02:00:00:00:00:01", IP: "192.168.4.255"}}, []p{{0, "ip"}}},
		{"AP address", []StaticLease{{MAC: "02:00:00:00:00:01", IP: "192.168.4.1"}}, []p{{0, "ip"}}},
		{"not an address", []StaticLease{{MAC: "02:00:00:00:00:01", IP: "printer"}}, []p{{0, "ip"}}},
		{"address with zone", []StaticLease{{MAC: "02:00:00:00:00:01", IP: "192.168.4.5%eth0"}}, []p{{0, "ip"}}},
		{"duplicate address", []StaticLease{{MAC: "02:00:00:00:00:01", IP: "192.168.4.50"}, {MAC: "02:00:00:00:00:02", IP: "192.168.4.50"}}, []p{{1, "ip"}}},
		{"bad name", []StaticLease{{MAC: "02:00:00:00:00:01", IP: "192.168.4.50", Hostname: "my_printer"}}, []p{{0, "hostname"}}},
		{"dotted name", []StaticLease{{MAC: "02:00:00:00:00:01", IP: "192.168.4.50", Hostname: "printer.local"}}, []p{{0, "hostname"}}},
		{"long name", []StaticLease{{MAC: "02:00:00:00:00:01", IP: "192.168.4.50", Hostname: strings.Repeat("a", 64)}}, []p{{0, "hostname"}}},
		{"device's name", []StaticLease{{MAC: "02:00:00:00:00:01", IP: "192.168.4.50", Hostname: "Device"}}, []p{{0, "hostname"}}},
		{"duplicate name", []StaticLease{{MAC: "02:00:00:00:00:01", IP: "192.168.4.50", Hostname: "cam"}, {MAC: "02:00:00:00:00:02", IP: "192.168.4.51", Hostname: "CAM"}}, []p{{1, "hostname"}}},
		{"every field of two", []StaticLease{{MAC: "x", IP: "y", Hostname: "-z"}, {MAC: "02:00:00:00:00:02", IP: "192.168.4.1", Hostname: "ok"}},
			[]p{{0, "mac"}, {0, "ip"}, {0, "hostname"}, {1, "ip"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			norm, probs := CheckStaticLeases(c.AP, tt.leases)
			var got []p
			for _, x := range probs {
				if x.Err == nil || x.Err.Error() == "" {
					t.Errorf("problem %+v without words", x)
				}
				got = append(got, p{x.Index, x.Field})
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
			if len(norm) != len(tt.leases) {
				t.Errorf("%d leases back, want %d", len(norm), len(tt.leases))
			}
		})
	}
	norm, _ := CheckStaticLeases(c.AP, []StaticLease{{MAC: "0A-1B-2C-3D-4E-5F", IP: "192.168.4.50", Hostname: "Cam"}})
	if want := (StaticLease{MAC: "0a:1b:2c:3d:4e:5f", IP: "192.168.4.50", Hostname: "Cam"}); norm[0] != want {
		t.Errorf("normalised %+v, want %+v", norm[0], want)
	}
}

// Values a console user types go into the hosts file only as one line of
// dnsmasq's dhcp-host syntax each: anything else is refused.
func TestHostsInjection(t *testing.T) {
	t.Parallel()
	haveDnsmasq := false
	if _, err := toolrun.LookPath("dnsmasq"); err == nil {
		haveDnsmasq = true
	}
	c := config.Default()
	conf, rng, _ := renderDHCP(t, c, nil)
	fields := []struct {
		name string
		set  func(l *StaticLease, v string)
	}{
		{"mac", func(l *StaticLease, v string) { l.MAC = v }},
		{"ip", func(l *StaticLease, v string) { l.IP = v }},
		{"hostname", func(l *StaticLease, v string) { l.Hostname = v }},
	}
	extra := []string{"printer,infinite", "x,ignore", "set:evil", "02:00:00:00:00:01,192.168.4.9", "192.168.4.50,id:*"}
	accepted := 0
	for _, f := range fields {
		for i, v := range append(append([]string(nil), injections...), extra...) {
			t.Run(fmt.Sprintf("%s/%d", f.name, i), func(t *testing.T) {
				l := StaticLease{MAC: "02:00:00:00:00:01", IP: "192.168.4.50", Hostname: "printer"}
				f.set(&l, v)
				b, err := RenderHosts(c, []StaticLease{l})
				if err != nil {
					return
				}
				accepted++
				lines := strings.Split(strings.TrimSpace(string(b)), "\n")
				if len(lines) != 2 || strings.Count(lines[1], ",") != 2 {
					t.Fatalf("value %q in %s: %q is not one lease of three fields", v, f.name, b)
				}
				if haveDnsmasq {
					if err := CheckDHCP(context.Background(), conf, rng, b); err != nil {
						t.Errorf("value %q in %s: dnsmasq refuses the hosts file: %v", v, f.name, err)
					}
				}
			})
		}
	}
	if accepted > 0 {
		t.Errorf("%d injected values were rendered", accepted)
	}
}
