package provision

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/device"
	"github.com/devmgr/devmgr/internal/dnsmasq"
	"github.com/devmgr/devmgr/internal/service"
	"github.com/devmgr/devmgr/internal/testing/testutil"
)

// requireTools needs every validator Run uses. hostapd and nft run their
// checks in a new network namespace: root (or user namespaces).
func requireTools(t *testing.T) {
	t.Helper()
	testutil.RequireBinary(t, "hostapd", "dnsmasq", "nft", "systemd-analyze", "nginx")
	testutil.RequireRoot(t)
}

// runOptions are options whose unit files pass systemd-analyze verify on
// this machine: the devmgr binary is the running test binary.
func runOptions(t *testing.T, root string, out *strings.Builder) Options {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	o := testOptions()
	o.Root, o.Binary, o.Stdout = root, exe, out
	return o
}

type fileState struct {
	mode    fs.FileMode
	mtime   time.Time
	content string
}

func snapshot(t *testing.T, root string) map[string]fileState {
	t.Helper()
	m := map[string]fileState{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		m[strings.TrimPrefix(p, root)] = fileState{st.Mode().Perm(), st.ModTime(), string(b)}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestRunInstallsDiffsAndIsIdempotent(t *testing.T) {
	requireTools(t)
	ctx := context.Background()
	root := t.TempDir()
	c := testConfig()
	var out strings.Builder
	res, err := Run(ctx, c, runOptions(t, root, &out))
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	files, err := Plan(c, runOptions(t, root, nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Changed) != len(files) {
		t.Errorf("first run changed %d files, want all %d", len(res.Changed), len(files))
	}
	snap := snapshot(t, root)
	for _, f := range files {
		got, ok := snap[f.Path]
		if !ok {
			t.Errorf("%s not written", f.Path)
			continue
		}
		if got.mode != f.Mode || got.content != string(f.Content) {
			t.Errorf("%s: mode %v, content equal %v; want mode %v", f.Path, got.mode, got.content == string(f.Content), f.Mode)
		}
	}
	if len(snap) != len(files) {
		t.Errorf("root holds %d files, want %d (no .devmgr-prev on a fresh root)", len(snap), len(files))
	}
	diff := out.String()
	for _, want := range []string{
		"--- /dev/null\n+++ " + filepath.Join(root, device.HostapdConf) + "\n",
		"+interface=wlan0\n",
		"+wpa_passphrase=(hidden)\n",
		"+net.ipv4.ip_forward = 1\n",
		fmt.Sprintf("%d files changed under %s", len(files), root),
	} {
		if !strings.Contains(diff, want) {
			t.Errorf("output lacks %q:\n%s", want, diff)
		}
	}
	if strings.Contains(diff, c.AP.Passphrase) {
		t.Errorf("the diff shows the passphrase")
	}

	// Second run: nothing written, says so.
	time.Sleep(10 * time.Millisecond)
	out.Reset()
	res, err = Run(ctx, c, runOptions(t, root, &out))
	if err != nil {
		t.Fatalf("second Run: %v", err)
	}
	if out.String() != "no changes\n" || len(res.Changed)+len(res.Removed) != 0 {
		t.Errorf("second run: output %q, result %+v; want only \"no changes\"", out.String(), res)
	}
	if after := snapshot(t, root); !mapsEqual(snap, after) {
		t.Errorf("second run touched files")
	}

	// A change: diff of the changed lines only, previous version kept; the
	// config's digest changes with it (the agent and the console restart).
	c2 := c
	c2.AP.SSID = "Kiosk"
	c2.AP.Passphrase = "another passphrase"
	out.Reset()
	res, err = Run(ctx, c2, runOptions(t, root, &out))
	if err != nil {
		t.Fatalf("third Run: %v", err)
	}
	if want := []string{device.HostapdConf, device.ConfigStamp}; strings.Join(res.Changed, ",") != strings.Join(want, ",") {
		t.Errorf("changed %v, want %v", res.Changed, want)
	}
	for _, want := range []string{"-ssid=DeviceManager\n+ssid=Kiosk\n", "2 files changed"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "another passphrase") {
		t.Errorf("the diff shows the new passphrase")
	}
	prev := filepath.Join(root, device.HostapdConf+PrevSuffix)
	st, err := os.Stat(prev)
	if err != nil {
		t.Fatalf("previous version not kept: %v", err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("%s mode %v, want 0600 (it holds the old passphrase)", prev, st.Mode().Perm())
	}
	if b, _ := os.ReadFile(prev); string(b) != snap[device.HostapdConf].content {
		t.Errorf("%s is not the previous version", prev)
	}
}

func mapsEqual(a, b map[string]fileState) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || !v.mtime.Equal(w.mtime) || v.mode != w.mode || v.content != w.content {
			return false
		}
	}
	return true
}

func TestRunDryRunWritesNothing(t *testing.T) {
	requireTools(t)
	root := t.TempDir()
	var out strings.Builder
	o := runOptions(t, root, &out)
	o.DryRun = true
	res, err := Run(context.Background(), testConfig(), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Changed) != 21 {
		t.Errorf("dry run reports %d changes, want 21", len(res.Changed))
	}
	if got := snapshot(t, root); len(got) != 0 {
		t.Errorf("dry run wrote %d files", len(got))
	}
	if !strings.Contains(out.String(), "+ssid=DeviceManager") || !strings.Contains(out.String(), "dry run: 21 files would change; nothing written") {
		t.Errorf("output:\n%s", out.String())
	}
}

func TestRunFailedCheckInstallsNothing(t *testing.T) {
	requireTools(t)
	root := t.TempDir()
	var out strings.Builder
	o := runOptions(t, root, &out)
	o.Hostapd = "/nonexistent/sbin/hostapd" // the unit cannot start: systemd-analyze verify says so
	_, err := Run(context.Background(), testConfig(), o)
	var ce *CheckError
	if !errors.As(err, &ce) {
		t.Fatalf("Run error = %v, want a CheckError", err)
	}
	if ce.Path != device.UnitDir+"/"+device.UnitHostapd || !strings.Contains(err.Error(), "/nonexistent/sbin/hostapd") {
		t.Errorf("error = %v, want it to name %s and the missing program", err, device.UnitHostapd)
	}
	if !strings.Contains(err.Error(), "nothing was installed") {
		t.Errorf("error = %v, want it to say nothing was installed", err)
	}
	if got := snapshot(t, root); len(got) != 0 || out.Len() != 0 {
		t.Errorf("a failed check wrote %d files and printed %q", len(got), out.String())
	}
}

func TestRunBadConfigWritesNothing(t *testing.T) {
	root := t.TempDir()
	c := testConfig()
	c.AP.Passphrase = ""
	var out strings.Builder
	_, err := Run(context.Background(), c, runOptions(t, root, &out))
	if err == nil || !strings.Contains(err.Error(), "ap.passphrase") {
		t.Fatalf("Run error = %v, want it to name ap.passphrase", err)
	}
	if got := snapshot(t, root); len(got) != 0 {
		t.Errorf("wrote %d files", len(got))
	}
}

func TestRunRemovesStaleNetworkFiles(t *testing.T) {
	requireTools(t)
	ctx := context.Background()
	root := t.TempDir()
	c := testConfig()
	c.LAN = []string{"eth1", "eth2"}
	if _, err := Run(ctx, c, runOptions(t, root, &strings.Builder{})); err != nil {
		t.Fatal(err)
	}
	c.LAN = []string{"eth1"}
	var out strings.Builder
	res, err := Run(ctx, c, runOptions(t, root, &out))
	if err != nil {
		t.Fatal(err)
	}
	stale := device.NetworkFile("eth2")
	if strings.Join(res.Removed, ",") != stale {
		t.Errorf("removed %v, want [%s]", res.Removed, stale)
	}
	if _, err := os.Stat(filepath.Join(root, stale)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s still there: %v", stale, err)
	}
	if _, err := os.Stat(filepath.Join(root, stale+PrevSuffix)); err != nil {
		t.Errorf("removed file's previous version not kept: %v", err)
	}
	if !strings.Contains(out.String(), "+++ /dev/null") || !strings.Contains(out.String(), "unmanaged-devices=interface-name:wlan0;interface-name:eth1\n") {
		t.Errorf("output:\n%s", out.String())
	}
}

// Every plan case's units pass systemd-analyze verify and its site nginx -t.
func TestRenderedFilesPassRealTools(t *testing.T) {
	testutil.RequireBinary(t, "systemd-analyze", "nginx")
	testutil.RequireRoot(t) // nginx -t binds the site's ports 80 and 443
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range planCases {
		t.Run(tc.name, func(t *testing.T) {
			c, o, _ := planFor(t, i)
			o.Binary = exe
			files, err := Plan(c, o)
			if err != nil {
				t.Fatal(err)
			}
			var units []File
			for _, f := range files {
				switch f.Check {
				case CheckUnit:
					units = append(units, f)
				case CheckNginx:
					if err := checkNginx(context.Background(), f.Content); err != nil {
						t.Errorf("nginx -t: %v", err)
					}
				}
			}
			if errs := checkUnits(context.Background(), units); len(errs) > 0 {
				t.Errorf("systemd-analyze verify: %v", errors.Join(errs...))
			}
		})
	}
}

func TestCheckUnitsNamesTheBadUnit(t *testing.T) {
	testutil.RequireBinary(t, "systemd-analyze")
	exe, _ := os.Executable()
	good := File{Path: device.UnitDir + "/a.service", Content: []byte("[Service]\nExecStart=" + exe + "\n")}
	bad := File{Path: device.UnitDir + "/b.service", Content: []byte("[Service]\nExecStart=" + exe + "\nNoSuchKey=1\n")}
	errs := checkUnits(context.Background(), []File{good, bad})
	if len(errs) != 1 {
		t.Fatalf("errors = %v, want one", errs)
	}
	var ce *CheckError
	if !errors.As(errs[0], &ce) || ce.Path != bad.Path || !strings.Contains(ce.Error(), "NoSuchKey") {
		t.Errorf("error = %v, want it to name %s and the key", errs[0], bad.Path)
	}
}

func TestCheckNginxRejectsBadSite(t *testing.T) {
	testutil.RequireBinary(t, "nginx")
	err := checkNginx(context.Background(), []byte("server { listen 80; bogus_directive on; }\n"))
	if err == nil || !strings.Contains(err.Error(), "bogus_directive") {
		t.Errorf("checkNginx = %v, want nginx's complaint about bogus_directive", err)
	}
}

// startServices with the real supervisor: a hostapd stand-in that fails
// like hostapd does on a forbidden channel is reported in words.
func TestStartServicesExplainsFailure(t *testing.T) {
	sh := testutil.RequireBinary(t, "sh")
	sleep := testutil.RequireBinary(t, "sleep")
	specs := []service.Spec{
		{Name: device.UnitHostapd, Argv: []string{sh, "-c", "echo 'Frequency 5260 (primary) not allowed for AP mode, flags: 0x1951 NO-IR RADAR'; echo 'Could not set channel for kernel driver'; exit 1"}},
		{Name: device.UnitDnsmasq, Argv: []string{sleep, "60"}},
		{Name: device.UnitAgent, Argv: []string{sleep, "60"}},
		{Name: device.UnitWeb, Argv: []string{sleep, "60"}},
	}
	sup, err := service.NewSupervisor(service.SupervisorConfig{MinBackoff: 50 * time.Millisecond}, specs...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sup.StopAll(context.Background()) })
	var out strings.Builder
	o := Options{Services: sup, Stdout: &out, Settle: 500 * time.Millisecond}.withDefaults()
	err = startServices(context.Background(), o, map[string]bool{}, false)
	var nr *NotRunningError
	if !errors.As(err, &nr) || nr.Service != device.UnitHostapd {
		t.Fatalf("startServices = %v, want hostapd not running", err)
	}
	for _, want := range []string{"regulatory domain", "Could not set channel for kernel driver"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if !strings.Contains(out.String(), device.UnitDnsmasq+": running") {
		t.Errorf("output = %q", out.String())
	}
	for _, name := range []string{device.UnitAgent, device.UnitWeb} {
		if st, _ := sup.Status(context.Background(), name); !st.Running() {
			t.Errorf("%s not started: %+v", name, st)
		}
	}
}

// Specs run the same commands as the units.
func TestSpecsMatchUnits(t *testing.T) {
	c, o := testConfig(), testOptions()
	files, err := Plan(c, o)
	if err != nil {
		t.Fatal(err)
	}
	units := map[string]string{}
	for _, f := range files {
		units[filepath.Base(f.Path)] = string(f.Content)
	}
	for _, s := range Specs(c, o) {
		if !strings.Contains(units[s.Name], "\nExecStart="+strings.Join(s.Argv, " ")+"\n") {
			t.Errorf("%s: unit does not run %q", s.Name, s.Argv)
		}
	}
	if web := Specs(c, o)[3]; web.User != c.Web.User {
		t.Errorf("web runs as %q", web.User)
	}
}

var _ = config.Default

// A missing optional tool (nginx) leaves its file unchecked; the rest is
// still checked and installed.
func TestCheckAllSkipsMissingOptionalTool(t *testing.T) {
	site := File{Path: device.NginxSite, Content: []byte("not even nginx syntax"), Check: CheckNginx}
	lookTool = func(name string) (string, error) {
		if name == "nginx" {
			return "", fmt.Errorf("program nginx %w", errToolMissing)
		}
		return lookToolOS(name)
	}
	t.Cleanup(func() { lookTool = lookToolOS })
	if err := checkAll(context.Background(), []File{site}, slog.New(slog.DiscardHandler)); err != nil {
		t.Errorf("checkAll = %v, want the site left unchecked", err)
	}
}

// dnsmasq's config is checked with its DHCP range and static leases in
// place: a hosts line dnsmasq refuses fails the config's check.
func TestCheckDnsmasqWithItsDHCPPart(t *testing.T) {
	t.Parallel()
	testutil.RequireBinary(t, "dnsmasq")
	c := testConfig()
	o := testOptions()
	o.StaticLeases = []dnsmasq.StaticLease{{MAC: "02:00:00:00:02:00", IP: "192.168.4.10", Hostname: "printer"}}
	files, err := Plan(c, o)
	if err != nil {
		t.Fatal(err)
	}
	var dns []File
	for _, f := range files {
		if f.Check == CheckDnsmasq || f.Check == CheckDHCPPart {
			dns = append(dns, f)
		}
	}
	if len(dns) != 3 {
		t.Fatalf("%d dnsmasq files, want the config, its range and its hosts", len(dns))
	}
	log := slog.New(slog.DiscardHandler)
	if err := checkAll(context.Background(), dns, log); err != nil {
		t.Errorf("checkAll: %v", err)
	}
	for i := range dns {
		if dns[i].Path == device.DnsmasqHosts {
			dns[i].Content = append(slices.Clone(dns[i].Content), "02:00:00:00:03:00,192.168.4.10\n"...) // the address twice
		}
	}
	var ce *CheckError
	if err := checkAll(context.Background(), dns, log); !errors.As(err, &ce) || ce.Path != device.DnsmasqConf || !strings.Contains(err.Error(), "duplicate") {
		t.Errorf("checkAll with a duplicate address = %v, want dnsmasq's refusal of %s", err, device.DnsmasqConf)
	}
}
