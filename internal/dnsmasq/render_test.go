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

var defaultOpts = Options{LeaseFile: DefaultLeaseFile, PIDFile: DefaultPIDFile, ServersFile: DefaultServersFile}

var renderCases = []struct {
	name string
	cfg  func(*config.Config)
	opts Options
}{
	{"default", func(*config.Config) {}, defaultOpts},
	{"custom", func(c *config.Config) {
		c.AP.Interface = "wlp2s0"
		c.AP.Address = "10.20.0.1/16"
		c.AP.DHCP = config.DHCP{Start: "10.20.1.0", End: "10.20.4.255", Lease: 90 * time.Minute}
		c.AP.Domain = "appliance.lan"
		c.AP.Hostname = "console"
		c.Uplinks = []string{"eth0", "wwan0"}
	}, Options{LeaseFile: "/run/devmgr/leases"}},
	{"lease-seconds", func(c *config.Config) { c.AP.DHCP.Lease = 150 * time.Second }, defaultOpts},
}

func TestRenderGolden(t *testing.T) {
	t.Parallel()
	for _, tc := range renderCases {
		t.Run(tc.name, func(t *testing.T) {
			c := config.Default()
			tc.cfg(&c)
			got, err := Render(c, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			testutil.Golden(t, filepath.Join("testdata", tc.name+".golden"), got)
		})
	}
}

func TestRenderedFilesPassDnsmasq(t *testing.T) {
	t.Parallel()
	testutil.RequireBinary(t, "dnsmasq")
	for _, tc := range renderCases {
		t.Run(tc.name, func(t *testing.T) {
			c := config.Default()
			tc.cfg(&c)
			got, err := Render(c, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if err := Check(context.Background(), got); err != nil {
				t.Errorf("Check: %v\n%s", err, got)
			}
		})
	}
}

func TestCheckRejectsBadOption(t *testing.T) {
	t.Parallel()
	testutil.RequireBinary(t, "dnsmasq")
	err := Check(context.Background(), []byte("interface=wlan0\ndhcp-range=nonsense\n"))
	if err == nil || !strings.Contains(err.Error(), "line 2") || !strings.Contains(err.Error(), "--test") {
		t.Errorf("Check error = %v, want one naming line 2 and the argv", err)
	}
}

// The rendered config serves only the AP interface and never uplinks.
func TestRenderServesOnlyAP(t *testing.T) {
	t.Parallel()
	c := config.Default()
	c.Uplinks = []string{"eth0", "wwan0"}
	b, err := Render(c, defaultOpts)
	if err != nil {
		t.Fatal(err)
	}
	got := parseDnsmasq(t, b)
	var ifaces []string
	for _, o := range got {
		if o.key == "interface" || o.key == "listen-address" || o.key == "except-interface" {
			ifaces = append(ifaces, o.key+"="+o.val)
		}
		for _, u := range c.Uplinks {
			if strings.Contains(o.val, u) {
				t.Errorf("uplink %s appears in %s=%s", u, o.key, o.val)
			}
		}
	}
	want := []string{"interface=wlan0", "except-interface=lo", "listen-address=192.168.4.1"}
	if diff := cmp.Diff(want, ifaces); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestRenderRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  func(*config.Config)
		opts Options
		want string
	}{
		{"range outside subnet", func(c *config.Config) { c.AP.DHCP.Start = "192.168.5.2" }, defaultOpts, "is outside ap.address"},
		{"range holds AP", func(c *config.Config) { c.AP.Address = "192.168.4.10/24" }, defaultOpts, "contains the AP address"},
		{"range reversed", func(c *config.Config) { c.AP.DHCP.Start, c.AP.DHCP.End = c.AP.DHCP.End, c.AP.DHCP.Start }, defaultOpts, "comes before"},
		{"ipv6 address", func(c *config.Config) { c.AP.Address = "fd00::1/64" }, defaultOpts, "ap.address"},
		{"lease too short", func(c *config.Config) { c.AP.DHCP.Lease = time.Minute }, defaultOpts, "ap.dhcp.lease"},
		{"no lease file", func(*config.Config) {}, Options{}, "lease file"},
		{"relative pid file", func(*config.Config) {}, Options{LeaseFile: "/l", PIDFile: "x.pid"}, "pid file"},
		{"servers file with a comma", func(*config.Config) {}, Options{LeaseFile: "/l", ServersFile: "/run/a,b"}, "servers file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := config.Default()
			tt.cfg(&c)
			_, err := Render(c, tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Render error = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

var injections = []string{
	"a\nb", "x\ndhcp-range=1.2.3.4,1.2.3.5", "x\rport=0", "nul\x00", "#c", "a #c", "a=b", "a,b", `"q"`, `'q'`,
	`back\slash`, "\xc0\xaf", "\xff", "\u2028", " sp", "sp ", "a b", "\t", strings.Repeat("a", 64),
	"conf-file=/etc/passwd", "/", "..", "*", "-x",
}

// valid values must render and pass dnsmasq, proving the parse-back runs.
var valid = map[string][]string{
	"interface": {"wlan0", "wlp2s0", "wl-a_b.1"},
	"domain":    {"local", "home.arpa", "a-b.example"},
	"hostname":  {"device", "ap-1"},
	"address":   {"10.0.0.1/8", "172.16.0.1/12"},
	"lease":     {"lease.db"},
}

func TestInjection(t *testing.T) {
	t.Parallel()
	haveDnsmasq := false
	if _, err := toolrun.LookPath("dnsmasq"); err == nil {
		haveDnsmasq = true
	}
	fields := []struct {
		name string
		set  func(c *config.Config, o *Options, v string)
	}{
		{"interface", func(c *config.Config, _ *Options, v string) { c.AP.Interface = v }},
		{"domain", func(c *config.Config, _ *Options, v string) { c.AP.Domain = v }},
		{"hostname", func(c *config.Config, _ *Options, v string) { c.AP.Hostname = v }},
		{"address", func(c *config.Config, _ *Options, v string) {
			c.AP.Address = v
			if strings.HasPrefix(v, "10.") || strings.HasPrefix(v, "172.") {
				p := strings.Split(v, ".")
				c.AP.DHCP.Start = p[0] + "." + p[1] + ".0.10"
				c.AP.DHCP.End = p[0] + "." + p[1] + ".0.20"
			}
		}},
		{"dhcp start", func(c *config.Config, _ *Options, v string) { c.AP.DHCP.Start = v }},
		{"dhcp end", func(c *config.Config, _ *Options, v string) { c.AP.DHCP.End = v }},
		{"lease", func(_ *config.Config, o *Options, v string) { o.LeaseFile = "/var/lib/" + v }},
		{"pid", func(_ *config.Config, o *Options, v string) { o.PIDFile = "/run/" + v }},
	}
	accepted := 0
	for _, f := range fields {
		for i, v := range append(append([]string(nil), injections...), valid[f.name]...) {
			t.Run(fmt.Sprintf("%s/%d", f.name, i), func(t *testing.T) {
				c := config.Default()
				o := defaultOpts
				f.set(&c, &o, v)
				b, err := Render(c, o)
				if err != nil {
					return
				}
				accepted++
				if diff := cmp.Diff(intended(c, o), parseDnsmasq(t, b), cmp.AllowUnexported(option{})); diff != "" {
					t.Fatalf("value %q in %s: (-want +got):\n%s\n%s", v, f.name, diff, b)
				}
				if haveDnsmasq {
					if err := Check(context.Background(), b); err != nil {
						t.Errorf("value %q in %s: dnsmasq rejects the file: %v", v, f.name, err)
					}
				}
			})
		}
	}
	if accepted < 10 {
		t.Errorf("only %d values rendered; the parse-back check barely ran", accepted)
	}
}

type option struct{ key, val string }

// intended lists the options a config must produce, in order.
func intended(c config.Config, o Options) []option {
	p := c.APPrefix()
	mask := map[int]string{8: "255.0.0.0", 12: "255.240.0.0", 16: "255.255.0.0", 24: "255.255.255.0"}[p.Bits()]
	a := p.Addr().String()
	opts := []option{
		{"interface", c.AP.Interface}, {"except-interface", "lo"}, {"listen-address", a}, {"bind-dynamic", ""},
		{"domain-needed", ""}, {"bogus-priv", ""}, {"stop-dns-rebind", ""}, {"no-hosts", ""},
		{"domain", c.AP.Domain}, {"local", "/" + c.AP.Domain + "/"}, {"host-record", c.AP.Hostname + "." + c.AP.Domain + "," + c.AP.Hostname + "," + a},
	}
	if o.ServersFile != "" {
		opts = append(opts, option{"servers-file", o.ServersFile})
	}
	opts = append(opts, []option{
		{"dhcp-authoritative", ""},
		{"dhcp-range", c.AP.DHCP.Start + "," + c.AP.DHCP.End + "," + mask + "," + leaseTime(c.AP.DHCP.Lease)},
		{"dhcp-option", "option:router," + a}, {"dhcp-option", "option:dns-server," + a},
		{"dhcp-leasefile", o.LeaseFile},
	}...)
	if o.PIDFile != "" {
		opts = append(opts, option{"pid-file", o.PIDFile})
	}
	return opts
}

// parseDnsmasq reads a config the way dnsmasq's read_file does: quotes are
// removed (with their escapes), '#' after whitespace or at the start of the
// line begins a comment, whitespace is folded, and the option name ends at
// the first '='.
func parseDnsmasq(t testing.TB, b []byte) []option {
	t.Helper()
	var out []option
	for i, raw := range strings.Split(string(b), "\n") {
		var sb strings.Builder
		white, inQuote := true, false
		for j := 0; j < len(raw); j++ {
			ch := raw[j]
			if ch == '"' {
				inQuote = !inQuote
				continue
			}
			if inQuote {
				if ch == '\\' && j+1 < len(raw) {
					j++
					ch = raw[j]
				}
				sb.WriteByte(ch)
				continue
			}
			if ch == ' ' || ch == '\t' || ch == '\r' || ch == '\v' || ch == '\f' {
				sb.WriteByte(' ')
				white = true
				continue
			}
			if white && ch == '#' {
				break
			}
			white = false
			sb.WriteByte(ch)
		}
		line := strings.TrimSpace(sb.String())
		if line == "" {
			continue
		}
		k, v, _ := strings.Cut(line, "=")
		if strings.ContainsAny(line, "\x00") {
			t.Fatalf("line %d %q holds NUL", i+1, raw)
		}
		out = append(out, option{strings.TrimSpace(k), strings.TrimSpace(v)})
	}
	return out
}
