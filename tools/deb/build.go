package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"
	"time"

	"github.com/google/renameio/v2"
	"github.com/goreleaser/nfpm/v2"
	"github.com/goreleaser/nfpm/v2/deb"
	"github.com/goreleaser/nfpm/v2/files"

	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/device"
	"github.com/devmgr/devmgr/internal/provision"
)

// Options say what Build packs.
type Options struct {
	Version    string    // Debian version
	Time       time.Time // of every file and of the archive members
	Repo       string    // repository root: deploy/ is read from it
	OutDir     string
	HelpBinary string // a devmgr this machine runs, for the man page
	Binaries   []Binary
}

// Binary is the static devmgr for one architecture.
type Binary struct {
	Arch string // Debian architecture: amd64, arm64
	Path string
}

// Package metadata.
const (
	pkgName     = "devmgr"
	installPath = "/usr/bin/devmgr"
	// The example config, a conffile: the device's own config
	// (config.DefaultPath) is written by devmgr setup and is not the
	// package's, so that an upgrade never asks about it.
	examplePath = "/etc/devmgr/devmgr.example.yaml"
	manPath     = "/usr/share/man/man1/devmgr.1.gz"
	docDir      = "/usr/share/doc/devmgr"
	maintainer  = "devmgr maintainers <devmgr@users.noreply.github.com>"
	homepage    = "https://github.com/devmgr/devmgr"
)

// Relations of the package. dnsmasq-base is enough: devmgr runs its own
// dnsmasq (devmgr-dnsmasq.service). nginx-light serves the console behind
// nginx (deploy/README.md), which is optional.
var (
	depends    = []string{"hostapd", "dnsmasq-base", "nftables", "iw"}
	recommends = []string{"nginx-light"}
)

const description = `WiFi access-point appliance with a web console
 devmgr turns a Debian or Ubuntu machine with a WiFi interface into a
 managed access point: hostapd (WPA2, WPA3-SAE), dnsmasq (DHCP and DNS),
 NAT to the uplinks and a firewall, rendered from one YAML file, and a
 secure web console (users and roles, network settings with rollback,
 diagnostics, audit log).
 .
 After installing, 'devmgr setup' asks for the country, the network name and
 passphrase and the interfaces, writes /etc/devmgr/devmgr.yaml, provisions the
 system and prints the console's address.`

// Build writes one package per binary into o.OutDir and returns their
// paths. Its output depends on its inputs alone.
func Build(ctx context.Context, o Options) ([]string, error) {
	if len(o.Binaries) == 0 {
		return nil, fmt.Errorf("no -binary ARCH=PATH to package")
	}
	if o.Time.IsZero() || o.Time.Unix() <= 0 {
		return nil, fmt.Errorf("no time for the package's files (SOURCE_DATE_EPOCH)")
	}
	stage, err := os.MkdirTemp("", "devmgr-deb-")
	if err != nil {
		return nil, fmt.Errorf("staging package files: %w", err)
	}
	defer os.RemoveAll(stage)
	common, scripts, err := stageCommon(ctx, o, stage)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return nil, fmt.Errorf("making %s: %w", o.OutDir, err)
	}
	var out []string
	for _, b := range o.Binaries {
		p, err := buildOne(o, b, common, scripts)
		if err != nil {
			return out, err
		}
		out = append(out, p)
	}
	return out, nil
}

// stageCommon writes what every architecture's package holds into stage
// and returns it as package contents, with the maintainer scripts.
func stageCommon(ctx context.Context, o Options, stage string) (files.Contents, nfpm.Scripts, error) {
	var contents files.Contents
	add := func(dst string, mode fs.FileMode, data []byte, typ string) error {
		src := filepath.Join(stage, "files", strings.TrimPrefix(dst, "/"))
		if err := os.MkdirAll(filepath.Dir(src), 0o755); err != nil {
			return fmt.Errorf("staging %s: %w", dst, err)
		}
		if err := os.WriteFile(src, data, 0o644); err != nil {
			return fmt.Errorf("staging %s: %w", dst, err)
		}
		contents = append(contents, &files.Content{
			Source: src, Destination: dst, Type: typ,
			FileInfo: &files.ContentFileInfo{Mode: mode, MTime: o.Time},
		})
		return nil
	}

	c := config.Default()
	rendered, err := provision.PackageFiles(c, provision.Options{Binary: installPath, ConfigPath: config.DefaultPath})
	if err != nil {
		return nil, nfpm.Scripts{}, fmt.Errorf("rendering the package's units: %w", err)
	}
	for _, f := range rendered {
		if err := add(f.Path, f.Mode, f.Content, files.TypeFile); err != nil {
			return nil, nfpm.Scripts{}, err
		}
	}
	example, err := os.ReadFile(filepath.Join(o.Repo, "deploy", "devmgr.example.yaml"))
	if err != nil {
		return nil, nfpm.Scripts{}, fmt.Errorf("reading the example config: %w", err)
	}
	if _, err := config.Parse(example); err != nil {
		return nil, nfpm.Scripts{}, fmt.Errorf("the example config is not valid: %w", err)
	}
	if err := add(examplePath, 0o644, example, files.TypeConfig); err != nil {
		return nil, nfpm.Scripts{}, err
	}
	readme, err := os.ReadFile(filepath.Join(o.Repo, "deploy", "README.md"))
	if err != nil {
		return nil, nfpm.Scripts{}, fmt.Errorf("reading deploy/README.md: %w", err)
	}
	if err := add(docDir+"/README.md", 0o644, readme, files.TypeFile); err != nil {
		return nil, nfpm.Scripts{}, err
	}
	if o.HelpBinary == "" {
		return nil, nfpm.Scripts{}, fmt.Errorf("no -help-binary for the man page")
	}
	page, err := ManPage(ctx, o.HelpBinary, o.Version, o.Time)
	if err != nil {
		return nil, nfpm.Scripts{}, err
	}
	gz, err := gzipFixed(page)
	if err != nil {
		return nil, nfpm.Scripts{}, err
	}
	if err := add(manPath, 0o644, gz, files.TypeFile); err != nil {
		return nil, nfpm.Scripts{}, err
	}

	var scripts nfpm.Scripts
	for _, s := range []struct {
		name string
		dst  *string
	}{{"postinst", &scripts.PostInstall}, {"prerm", &scripts.PreRemove}, {"postrm", &scripts.PostRemove}} {
		tmpl, err := os.ReadFile(filepath.Join(o.Repo, "deploy", "debian", s.name))
		if err != nil {
			return nil, nfpm.Scripts{}, fmt.Errorf("reading maintainer script: %w", err)
		}
		b, err := RenderScript(s.name, string(tmpl), ScriptValues(c))
		if err != nil {
			return nil, nfpm.Scripts{}, err
		}
		p := filepath.Join(stage, "scripts", s.name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, nfpm.Scripts{}, fmt.Errorf("staging %s: %w", s.name, err)
		}
		if err := os.WriteFile(p, b, 0o755); err != nil {
			return nil, nfpm.Scripts{}, fmt.Errorf("staging %s: %w", s.name, err)
		}
		*s.dst = p
	}
	return contents, scripts, nil
}

func buildOne(o Options, b Binary, common files.Contents, scripts nfpm.Scripts) (string, error) {
	contents := append(files.Contents{{
		Source: b.Path, Destination: installPath, Type: files.TypeFile,
		FileInfo: &files.ContentFileInfo{Mode: 0o755, MTime: o.Time},
	}}, common...)
	info := nfpm.WithDefaults(&nfpm.Info{
		Name: pkgName, Arch: b.Arch, Platform: "linux",
		Version: o.Version, VersionSchema: "none",
		Section: "net", Priority: "optional",
		Maintainer: maintainer, Homepage: homepage, Description: description,
		MTime: o.Time,
		Overridables: nfpm.Overridables{
			Depends: depends, Recommends: recommends,
			Contents: contents, Scripts: scripts,
			Deb: nfpm.Deb{Compression: "gzip"},
		},
	})
	if err := nfpm.Validate(info); err != nil {
		return "", fmt.Errorf("package for %s: %w", b.Arch, err)
	}
	pkg := deb.Default
	path := filepath.Join(o.OutDir, pkg.ConventionalFileName(info))
	var buf bytes.Buffer
	if err := pkg.Package(info, &buf); err != nil {
		return "", fmt.Errorf("packaging for %s: %w", b.Arch, err)
	}
	if err := renameio.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return "", fmt.Errorf("writing %s: %w", path, err)
	}
	return path, nil
}

// gzipFixed compresses b with no name and no time in the header, as
// Debian's man pages are (gzip -9n).
func gzipFixed(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(b); err != nil {
		return nil, fmt.Errorf("compressing man page: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("compressing man page: %w", err)
	}
	return buf.Bytes(), nil
}

// ScriptData are the values the maintainer scripts are rendered with.
type ScriptData struct {
	User    string // web.user: the console's account
	DataDir string // data_dir: kept on purge, given back on install
	Config  string // the device's config, written by devmgr setup
	// Sysusers and Tmpfiles are the names of the package's sysusers.d and
	// tmpfiles.d entries.
	Sysusers, Tmpfiles string
	Units              []string // every devmgr unit, firewall first
	BinaryUnits        []string // the services that run devmgr itself
	Globs              []string // what purge removes (provision.InstalledGlobs)
	OwnDirs            []string // directories devmgr made, removed on purge when empty
	Kept               []string // data directories purge keeps
	// NginxSite and NginxEnabled are the console's nginx site and the
	// link that enables it, which purge removes when it is the site's.
	NginxSite, NginxEnabled string
}

// ScriptValues are the maintainer scripts' values for config c.
func ScriptValues(c config.Config) ScriptData {
	return ScriptData{
		User: c.Web.User, DataDir: c.DataDir, Config: config.DefaultPath,
		Sysusers: filepath.Base(device.VendorSysusersConf), Tmpfiles: filepath.Base(device.VendorTmpfilesConf),
		Units: []string{device.UnitFirewall, device.UnitHostapd, device.UnitDnsmasq, device.UnitAgent, device.UnitWeb,
			device.UnitBackupTimer, device.UnitBackup, device.UnitReset},
		BinaryUnits: []string{device.UnitAgent, device.UnitWeb},
		// And systemd's record of the backup timer's last run.
		Globs:     append(provision.InstalledGlobs(), "/var/lib/systemd/timers/stamp-devmgr-*.timer"),
		OwnDirs:   []string{filepath.Dir(config.DefaultPath), filepath.Dir(device.NftRuleset)},
		Kept:      []string{c.DataDir, c.Agent.StateDir, c.Backup.Dir},
		NginxSite: device.NginxSite, NginxEnabled: device.NginxEnabled,
	}
}

// safeShellWord is what RenderScript lets into a script unquoted: paths,
// globs and names, never a character the shell would interpret otherwise.
var safeShellWord = regexp.MustCompile(`^[A-Za-z0-9/._*@-]+$`)

// RenderScript renders a maintainer script template with v. Every value
// must be a plain word (safeShellWord), so the templates need no quoting.
func RenderScript(name, tmpl string, v ScriptData) ([]byte, error) {
	words := append([]string{v.User, v.DataDir, v.Config, v.Sysusers, v.Tmpfiles, v.NginxSite, v.NginxEnabled}, v.Units...)
	for _, l := range [][]string{v.BinaryUnits, v.Globs, v.OwnDirs, v.Kept} {
		words = append(words, l...)
	}
	for _, w := range words {
		if !safeShellWord.MatchString(w) {
			return nil, fmt.Errorf("maintainer script %s: value %q is not a plain shell word", name, w)
		}
	}
	t, err := template.New(name).Option("missingkey=error").Funcs(template.FuncMap{"join": strings.Join}).Parse(tmpl)
	if err != nil {
		return nil, fmt.Errorf("parsing maintainer script %s: %w", name, err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, v); err != nil {
		return nil, fmt.Errorf("rendering maintainer script %s: %w", name, err)
	}
	return b.Bytes(), nil
}
