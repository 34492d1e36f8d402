package provision

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/renameio/v2"

	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/device"
	"github.com/devmgr/devmgr/internal/dnsmasq"
	"github.com/devmgr/devmgr/internal/service"
)

// Options configure Plan and Run.
type Options struct {
	// Root is the directory the system files are written under; "" is "/".
	// Only with Root "/" does Run touch the running system (sysctl,
	// firewall, services).
	Root string
	// DryRun shows the diff and writes nothing.
	DryRun bool
	// Stdout receives the diff and the summary; nil discards them.
	Stdout io.Writer
	// Services (re)starts and enables the services when Root is "/"; nil
	// leaves services alone.
	Services service.Manager
	Log      *slog.Logger

	// Binary is the devmgr binary the units run (default DefaultBinary).
	Binary string
	// ConfigPath is the config file the units pass to devmgr (default
	// config.DefaultPath).
	ConfigPath string
	// Hostapd, Dnsmasq and Nft are the daemons' paths on the device.
	Hostapd, Dnsmasq, Nft string
	// DenyMACs are the stations the AP refuses (hostapd's deny list); nil
	// keeps the list installed under Root (Run reads it; Plan renders nil
	// as an empty list).
	DenyMACs []string
	// StaticLeases are the AP's static DHCP leases (dnsmasq's hosts file):
	// those saved from the console (dhcpsrv.Effective); nil: none.
	StaticLeases []dnsmasq.StaticLease
	// Settle is how long Run waits after starting hostapd and dnsmasq
	// before it judges whether they stay up (default 3s).
	Settle time.Duration
}

func (o Options) withDefaults() Options {
	if o.Root == "" {
		o.Root = "/"
	}
	if o.Binary == "" {
		o.Binary = DefaultBinary
	}
	if o.ConfigPath == "" {
		o.ConfigPath = config.DefaultPath
	}
	if o.Hostapd == "" {
		o.Hostapd = DefaultHostapd
	}
	if o.Dnsmasq == "" {
		o.Dnsmasq = DefaultDnsmasq
	}
	if o.Nft == "" {
		o.Nft = DefaultNft
	}
	if o.Stdout == nil {
		o.Stdout = io.Discard
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Settle == 0 {
		o.Settle = 3 * time.Second
	}
	return o
}

// Result says what Run changed (or, in a dry run, would change).
type Result struct {
	Changed []string // paths on the device, written or to be written
	Removed []string // stale devmgr files removed
}

// change is one file to write or remove under the root.
type change struct {
	file    File
	remove  bool
	old     []byte
	oldMode fs.FileMode
	exists  bool
}

// Run renders, checks, diffs and installs every system file; see the
// package comment. Nothing is written unless every file passes its check.
func Run(ctx context.Context, c config.Config, o Options) (Result, error) {
	o = o.withDefaults()
	var res Result
	if o.DenyMACs == nil {
		macs, err := InstalledDenyList(o.Root)
		if err != nil {
			return res, fmt.Errorf("provisioning: %w", err)
		}
		o.DenyMACs = macs
	}
	files, err := Plan(c, o)
	if err != nil {
		return res, fmt.Errorf("provisioning: %w", err)
	}
	onDevice := filepath.Clean(o.Root) == "/"
	if onDevice && !o.DryRun && os.Geteuid() != 0 {
		return res, errors.New("provisioning /: needs root (or use --root DIR or --dry-run)")
	}
	if c.Reset.Mode == config.ResetRoot && onDevice {
		if err := CheckResetRoot("/", "/proc/self/mountinfo", c); err != nil {
			return res, fmt.Errorf("provisioning: nothing was installed: reset.mode root: %w", err)
		}
	}
	if err := checkAll(ctx, files, o.Log); err != nil {
		return res, fmt.Errorf("provisioning: nothing was installed: %w", err)
	}
	changes, err := diffRoot(o.Root, files)
	if err != nil {
		return res, fmt.Errorf("provisioning: %w", err)
	}
	for _, ch := range changes {
		if err := printChange(o.Stdout, o.Root, ch); err != nil {
			return res, fmt.Errorf("provisioning: writing diff: %w", err)
		}
		if ch.remove {
			res.Removed = append(res.Removed, ch.file.Path)
		} else {
			res.Changed = append(res.Changed, ch.file.Path)
		}
	}
	switch {
	case len(changes) == 0:
		fmt.Fprintln(o.Stdout, "no changes")
	case o.DryRun:
		fmt.Fprintf(o.Stdout, "dry run: %s would change; nothing written\n", plural(len(changes), "file"))
		return res, nil
	}
	for _, ch := range changes {
		if err := apply(o.Root, ch); err != nil {
			return res, fmt.Errorf("provisioning: %w", err)
		}
		o.Log.Debug("installed", "path", ch.file.Path, "removed", ch.remove)
	}
	if len(changes) > 0 {
		fmt.Fprintf(o.Stdout, "%s changed under %s\n", plural(len(changes), "file"), o.Root)
	}
	if !onDevice || o.DryRun {
		return res, nil
	}
	return res, activate(ctx, c, o, files, changes)
}

// diffRoot compares the rendered files with what root holds, and lists
// devmgr's stale networkd drop-ins for removal.
func diffRoot(root string, files []File) ([]change, error) {
	var out []change
	want := map[string]bool{}
	for _, f := range files {
		want[f.Path] = true
		ch := change{file: f}
		p := filepath.Join(root, f.Path)
		st, err := os.Lstat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return nil, fmt.Errorf("reading %s: %w", p, err)
		case !st.Mode().IsRegular():
			return nil, fmt.Errorf("%s is not a regular file (%s); move it away first", p, st.Mode().Type())
		default:
			old, err := os.ReadFile(p)
			if err != nil {
				return nil, fmt.Errorf("reading %s: %w", p, err)
			}
			ch.old, ch.oldMode, ch.exists = old, st.Mode().Perm(), true
			if bytes.Equal(old, f.Content) && ch.oldMode == f.Mode {
				continue
			}
		}
		out = append(out, ch)
	}
	stale, err := filepath.Glob(filepath.Join(root, device.NetworkDir, "10-devmgr-*.network"))
	if err != nil {
		return nil, err
	}
	for _, p := range stale {
		dev := "/" + strings.TrimPrefix(filepath.ToSlash(strings.TrimPrefix(p, filepath.Clean(root))), "/")
		if want[dev] {
			continue
		}
		old, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", p, err)
		}
		out = append(out, change{file: File{Path: dev, Units: []string{device.UnitDnsmasq}}, remove: true, old: old, exists: true})
	}
	return out, nil
}

func printChange(w io.Writer, root string, ch change) error {
	p := filepath.Join(root, ch.file.Path)
	oldName, newName := p, p
	old, cur := ch.old, ch.file.Content
	if !ch.exists {
		oldName = "/dev/null"
	}
	if ch.remove {
		newName, cur = "/dev/null", nil
	}
	if ch.file.Secret {
		old, cur = redact(old), redact(cur)
	}
	if err := Unified(w, oldName, newName, old, cur); err != nil {
		return err
	}
	if bytes.Equal(old, cur) && !bytes.Equal(ch.old, ch.file.Content) {
		if _, err := fmt.Fprintf(w, "changed: %s (hidden values only)\n", p); err != nil {
			return err
		}
	}
	if ch.exists && !ch.remove && ch.oldMode != ch.file.Mode {
		if _, err := fmt.Fprintf(w, "mode of %s: %#o -> %#o\n", p, ch.oldMode, ch.file.Mode); err != nil {
			return err
		}
	}
	return nil
}

var secretKeys = []string{"wpa_passphrase", "sae_password", "wpa_psk"}

// redact hides the values of the AP's secrets, so a diff can be shown and
// logged.
func redact(b []byte) []byte {
	lines := strings.SplitAfter(string(b), "\n")
	for i, l := range lines {
		k, v, ok := strings.Cut(l, "=")
		if !ok || !slices.Contains(secretKeys, k) {
			continue
		}
		nl := ""
		if strings.HasSuffix(v, "\n") {
			nl = "\n"
		}
		lines[i] = k + "=(hidden)" + nl
	}
	return []byte(strings.Join(lines, ""))
}

// apply writes (or removes) one file atomically, keeping the previous
// version beside it.
func apply(root string, ch change) error {
	p := filepath.Join(root, ch.file.Path)
	if ch.exists {
		if err := renameio.WriteFile(p+PrevSuffix, ch.old, ch.oldMode, renameio.WithStaticPermissions(ch.oldMode)); err != nil {
			return fmt.Errorf("keeping previous version of %s: %w", p, err)
		}
	}
	if ch.remove {
		if err := os.Remove(p); err != nil {
			return fmt.Errorf("removing stale %s: %w", p, err)
		}
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("creating directory for %s: %w", p, err)
	}
	if err := renameio.WriteFile(p, ch.file.Content, ch.file.Mode, renameio.WithStaticPermissions(ch.file.Mode)); err != nil {
		return fmt.Errorf("writing %s: %w", p, err)
	}
	return nil
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
