package main

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/devmgr/devmgr/internal/config"
)

func TestDebVersion(t *testing.T) {
	at := time.Date(2026, 11, 29, 17, 38, 18, 0, time.UTC)
	for _, tt := range []struct{ describe, want string }{
		{"v1.2.3", "1.2.3"},
		{"v1.2.3-dirty", "1.2.3+dirty"},
		{"v1.2.3-4-gabcdef0", "1.2.3+4.gabcdef0"},
		{"v1.2.3-4-gabcdef0-dirty", "1.2.3+4.gabcdef0.dirty"},
		{"v2.0~rc1", "2.0~rc1"},
		{"ec1936f", "0~git20261129173818.gec1936f"},
		{"1234567", "0~git20261129173818.g1234567"}, // a hash of digits is no tag
		{"ec1936f-dirty", "0~git20261129173818.gec1936f.dirty"},
	} {
		got, err := DebVersion(tt.describe, at)
		if err != nil || got != tt.want {
			t.Errorf("DebVersion(%q) = %q, %v; want %q", tt.describe, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "dev", "v1.2.3 x", "release-1"} {
		if v, err := DebVersion(bad, at); err == nil {
			t.Errorf("DebVersion(%q) = %q, want an error", bad, v)
		}
	}
}

// Debian orders versions so that a later commit, a tag and a build made
// after an upgrade test's suffix are newer.
func TestDebVersionOrder(t *testing.T) {
	dpkg, err := exec.LookPath("dpkg")
	if err != nil {
		missing(t, "no dpkg to compare versions with")
	}
	for _, p := range [][2]string{
		{"0~git20261129173818.gec1936f", "0~git20261130090000.g0a1b2c3"},
		{"0~git20261129173818.gec1936f", "0~git20261129173818.gec1936f+upgrade1"},
		{"0~git20261129173818.gec1936f", "0.1.0"},
		{"1.2.3", "1.2.3+4.gabcdef0"},
	} {
		if err := exec.Command(dpkg, "--compare-versions", p[0], "lt", p[1]).Run(); err != nil {
			t.Errorf("dpkg does not order %s before %s", p[0], p[1])
		}
	}
}

func TestSubcommands(t *testing.T) {
	help := "Manage users\n\nUsage:\n  devmgr user [command]\n\nAvailable Commands:\n  add         add a user\n  completion  x\n  help        Help about any command\n  list        list users\n\nFlags:\n  -h, --help   help for user\n"
	got := strings.Join(Subcommands(help), " ")
	if got != "add list" {
		t.Errorf("Subcommands = %q, want \"add list\"", got)
	}
}

func TestRenderScripts(t *testing.T) {
	v := ScriptValues(config.Default())
	for _, name := range []string{"postinst", "prerm", "postrm"} {
		tmpl, err := os.ReadFile(filepath.Join("..", "..", "deploy", "debian", name))
		if err != nil {
			t.Fatal(err)
		}
		b, err := RenderScript(name, string(tmpl), v)
		if err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("sh", "-n", "-c", string(b)).CombinedOutput(); err != nil {
			t.Errorf("%s: sh -n: %v\n%s", name, err, out)
		}
		if strings.Contains(string(b), "{{") {
			t.Errorf("%s still holds template text:\n%s", name, b)
		}
		if name == "prerm" && !strings.Contains(string(b), "systemctl disable --quiet devmgr-firewall.service devmgr-hostapd.service devmgr-dnsmasq.service devmgr-agent.service devmgr-web.service devmgr-backup.timer devmgr-backup.service devmgr-reset.service") {
			t.Errorf("prerm does not disable every unit:\n%s", b)
		}
		if name == "postrm" {
			for _, want := range []string{"rm -rf -- /etc/devmgr/devmgr.yaml ", "/etc/systemd/system/devmgr-*.service ", "userdel devmgr", "for d in /var/lib/devmgr /var/lib/devmgr-agent /var/backups/devmgr; do", "/var/lib/systemd/timers/stamp-devmgr-*.timer"} {
				if !strings.Contains(string(b), want) {
					t.Errorf("postrm lacks %q:\n%s", want, b)
				}
			}
		}
	}
	v.DataDir = "/var/lib/x y"
	if _, err := RenderScript("postinst", "{{.DataDir}}", v); err == nil {
		t.Error("a value with a space was rendered into a script")
	}
}

// fakeDevmgr is a "devmgr" whose help has one subcommand.
const fakeDevmgr = `#!/bin/sh
case "$*" in
"--help") printf 'devmgr\n\nAvailable Commands:\n  version     print version\n\nFlags:\n' ;;
"version --help") printf 'print version\n\nUsage:\n  devmgr version\n' ;;
*) exit 1 ;;
esac
`

// Two builds from the same inputs are the same bytes, whatever the
// inputs' own times and the staging directories, and every time in the
// package is the given one.
func TestBuildIsReproducible(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "devmgr")
	if err := os.WriteFile(bin, []byte(fakeDevmgr), 0o755); err != nil {
		t.Fatal(err)
	}
	at := time.Unix(1_800_000_000, 0).UTC()
	build := func(out string) []byte {
		t.Helper()
		o := Options{
			Version: "0~git20270115080000.gabcdef0", Time: at, Repo: filepath.Join("..", ".."),
			OutDir: filepath.Join(dir, out), HelpBinary: bin,
			Binaries: []Binary{{Arch: "amd64", Path: bin}, {Arch: "arm64", Path: bin}},
		}
		paths, err := Build(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"devmgr_0~git20270115080000.gabcdef0_amd64.deb", "devmgr_0~git20270115080000.gabcdef0_arm64.deb"}
		if len(paths) != 2 || filepath.Base(paths[0]) != want[0] || filepath.Base(paths[1]) != want[1] {
			t.Fatalf("Build wrote %q, want %q", paths, want)
		}
		b, err := os.ReadFile(paths[0])
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	first := build("a")
	// The input's own time must not matter.
	if err := os.Chtimes(bin, time.Now(), time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	second := build("b")
	if !bytes.Equal(first, second) {
		t.Fatal("two builds from the same inputs differ")
	}

	dpkgDeb, err := exec.LookPath("dpkg-deb")
	if err != nil {
		missing(t, "no dpkg-deb to read the package with")
	}
	deb := filepath.Join(dir, "a", "devmgr_0~git20270115080000.gabcdef0_amd64.deb")
	out, err := exec.Command(dpkgDeb, "--fsys-tarfile", deb).Output()
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(bytes.NewReader(out))
	seen := map[string]bool{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		seen[strings.TrimPrefix(h.Name, ".")] = true
		if !h.ModTime.Equal(at) {
			t.Errorf("%s: time %s, want %s", h.Name, h.ModTime, at)
		}
		if h.Uname != "root" || h.Gname != "root" {
			t.Errorf("%s: owner %s:%s, want root:root", h.Name, h.Uname, h.Gname)
		}
	}
	for _, p := range []string{"/usr/bin/devmgr", "/etc/devmgr/devmgr.example.yaml", "/usr/lib/systemd/system/devmgr-agent.service",
		"/usr/lib/sysusers.d/devmgr.conf", "/usr/lib/tmpfiles.d/devmgr.conf", "/usr/share/man/man1/devmgr.1.gz", "/usr/share/doc/devmgr/README.md"} {
		if !seen[p] {
			t.Errorf("the package lacks %s", p)
		}
	}
	for field, want := range map[string]string{
		"Depends": "hostapd, dnsmasq-base, nftables, iw", "Recommends": "nginx-light", "Architecture": "amd64",
	} {
		got, err := exec.Command(dpkgDeb, "--field", deb, field).Output()
		if err != nil || strings.TrimSpace(string(got)) != want {
			t.Errorf("%s: %q, %v; want %q", field, got, err, want)
		}
	}
	conffiles, err := exec.Command(dpkgDeb, "--info", deb, "conffiles").Output()
	if err != nil || strings.TrimSpace(string(conffiles)) != "/etc/devmgr/devmgr.example.yaml" {
		t.Errorf("conffiles: %q, %v", conffiles, err)
	}
}

// missing skips a test whose tool is not installed, or fails it under CI
// (CI=true), where nothing is skipped.
func missing(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("prerequisite missing under CI: %s", why)
	}
	t.Skip(why)
}
