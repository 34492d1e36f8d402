package provision

import (
	"strings"
	"testing"

	"github.com/devmgr/devmgr/internal/config"
)

// No value that reaches a rendered file can add a line or a directive to
// it: Plan refuses the value, or every file still has exactly the lines of
// a clean render with the value in place.
func TestPlanRefusesInjection(t *testing.T) {
	t.Parallel()
	payloads := []string{
		"x\ninjected=1", "x\r\ninjected=1", "x\rinjected=1", "x\x00injected", "x\u2028injected",
		"x#injected", "x=injected", `x"injected`, "x'injected", "x;injected", "x%ninjected",
		"x injected", "x\tinjected", "x\\ninjected", "x{injected}", "x$injected", "x`injected`",
		"\xc0\xaf", "\xed\xa0\x80", strings.Repeat("\xe2\x82\xac", 40),
	}
	fields := []struct {
		name string
		set  func(*config.Config, *Options, string)
	}{
		{"ap.interface", func(c *config.Config, _ *Options, v string) { c.AP.Interface = v }},
		{"ap.ssid", func(c *config.Config, _ *Options, v string) { c.AP.SSID = v }},
		{"ap.passphrase", func(c *config.Config, _ *Options, v string) { c.AP.Passphrase = "password" + v }},
		{"ap.hostname", func(c *config.Config, _ *Options, v string) { c.AP.Hostname = v }},
		{"ap.domain", func(c *config.Config, _ *Options, v string) { c.AP.Domain = v }},
		{"ap.address", func(c *config.Config, _ *Options, v string) { c.AP.Address = "192.168.4.1/24" + v }},
		{"data_dir", func(c *config.Config, _ *Options, v string) { c.DataDir = "/var/lib/" + v }},
		{"agent.socket", func(c *config.Config, _ *Options, v string) { c.Agent.Socket = "/run/devmgr/" + v + ".sock" }},
		{"web.user", func(c *config.Config, _ *Options, v string) { c.Web.User = v }},
		{"web.listen", func(c *config.Config, _ *Options, v string) { c.Web.Listen = v + ":443" }},
		{"web.tls.cert", func(c *config.Config, _ *Options, v string) {
			c.Web.TLS.Cert, c.Web.TLS.Key = "/etc/"+v, "/etc/k.pem"
		}},
		{"uplinks", func(c *config.Config, _ *Options, v string) { c.Uplinks = []string{v} }},
		{"lan", func(c *config.Config, _ *Options, v string) { c.LAN = []string{v} }},
		{"binary", func(_ *config.Config, o *Options, v string) { o.Binary = "/usr/bin/" + v }},
		{"config path", func(_ *config.Config, o *Options, v string) { o.ConfigPath = "/etc/" + v }},
		{"deny mac", func(_ *config.Config, o *Options, v string) { o.DenyMACs = []string{"02:00:00:00:01:00" + v} }},
	}
	clean, err := Plan(testConfig(), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	lines := map[string]int{}
	for _, f := range clean {
		lines[f.Path] = strings.Count(string(f.Content), "\n")
	}
	for _, f := range fields {
		for _, p := range payloads {
			c, o := testConfig(), testOptions()
			f.set(&c, &o, p)
			files, err := Plan(c, o)
			if err != nil {
				continue
			}
			for _, file := range files {
				for _, l := range strings.Split(string(file.Content), "\n") {
					if strings.HasPrefix(strings.TrimSpace(l), "injected") || strings.ContainsAny(l, "\r\x00") {
						t.Errorf("%s = %q: %s has the injected line %q", f.name, p, file.Path, l)
					}
				}
				// A non-ASCII SSID adds utf8_ssid=1, which is intended.
				got := strings.Count(strings.Replace(string(file.Content), "utf8_ssid=1\n", "", 1), "\n")
				if n, ok := lines[file.Path]; ok && n != got && f.name != "deny mac" {
					t.Errorf("%s = %q changed the number of lines of %s:\n%s", f.name, p, file.Path, file.Content)
				}
			}
		}
	}
}
