package provision

import (
	"path"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/device"
)

// The package ships provision's own renderings of the default config, at
// the vendor paths: only the directory differs from what Plan installs.
func TestPackageFilesAreProvisionsRenderings(t *testing.T) {
	t.Parallel()
	c := config.Default() // no passphrase: the package enables nothing
	o := Options{Binary: "/usr/bin/devmgr"}
	pkg, err := PackageFiles(c, o)
	if err != nil {
		t.Fatal(err)
	}
	c.AP.Passphrase = "correct horse battery"
	plan, err := Plan(c, o)
	if err != nil {
		t.Fatal(err)
	}
	vendor := map[string]string{
		device.SysusersConf: device.VendorSysusersConf,
		device.TmpfilesConf: device.VendorTmpfilesConf,
	}
	want := map[string]string{}
	for _, f := range plan {
		switch {
		case vendor[f.Path] != "":
			want[vendor[f.Path]] = string(f.Content)
		case path.Dir(f.Path) == device.UnitDir:
			want[device.VendorUnitDir+"/"+path.Base(f.Path)] = string(f.Content)
		}
	}
	got := map[string]string{}
	for _, f := range pkg {
		got[f.Path] = string(f.Content)
		if f.Mode != 0o644 {
			t.Errorf("%s: mode %#o, want 0644", f.Path, f.Mode)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("package files (-want +got):\n%s", diff)
	}
	if !strings.Contains(got[device.VendorUnitDir+"/"+device.UnitAgent], "ExecStart=/usr/bin/devmgr agent --config /etc/devmgr/devmgr.yaml\n") {
		t.Errorf("packaged agent unit does not run the packaged binary:\n%s", got[device.VendorUnitDir+"/"+device.UnitAgent])
	}
	c.DataDir = "relative"
	if _, err := PackageFiles(c, o); err == nil {
		t.Error("PackageFiles accepted a relative data_dir")
	}
}

// Every file provision installs, for any config, is one that removing
// devmgr for good removes.
func TestInstalledGlobsCoverPlan(t *testing.T) {
	t.Parallel()
	globs := InstalledGlobs()
	for i := range planCases {
		_, _, files := planFor(t, i)
		for _, f := range files {
			for _, p := range []string{f.Path, f.Path + PrevSuffix} {
				if !matchesAny(globs, p) {
					t.Errorf("%s (case %s) is matched by none of %q", p, planCases[i].name, globs)
				}
			}
		}
	}
	if !matchesAny(globs, config.DefaultPath) {
		t.Errorf("the config file %s is not in %q", config.DefaultPath, globs)
	}
	for _, keep := range []string{"/etc/devmgr/devmgr.example.yaml", "/etc/hostapd/hostapd.conf", "/var/lib/devmgr/devmgr.db", "/etc/systemd/system/multi-user.target.wants"} {
		if matchesAny(globs, keep) {
			t.Errorf("%s is matched by %q", keep, globs)
		}
	}
}

func matchesAny(globs []string, p string) bool {
	for _, g := range globs {
		if ok, _ := path.Match(g, p); ok {
			return true
		}
	}
	return false
}

// Any change of the config restarts the agent and the console, which read
// it only when they start: the stamp they restart on changes with it.
func TestConfigStampFollowsTheConfig(t *testing.T) {
	t.Parallel()
	stamp := func(c config.Config) File {
		t.Helper()
		files, err := Plan(c, testOptions())
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if f.Path == device.ConfigStamp {
				return f
			}
		}
		t.Fatalf("Plan renders no %s", device.ConfigStamp)
		return File{}
	}
	a := stamp(testConfig())
	if diff := cmp.Diff([]string{device.UnitAgent, device.UnitWeb}, a.Units); diff != "" {
		t.Errorf("units restarted on a change (-want +got):\n%s", diff)
	}
	c := testConfig()
	c.Web.Listen = "127.0.0.1:8080"
	c.Web.TLS.Disable = true
	if b := stamp(c); string(b.Content) == string(a.Content) {
		t.Error("the stamp did not change with web.listen")
	}
	if again := stamp(testConfig()); string(again.Content) != string(a.Content) {
		t.Error("the same config gave another stamp")
	}
	if strings.Contains(string(a.Content), "correct horse") {
		t.Error("the stamp holds the passphrase")
	}
}
