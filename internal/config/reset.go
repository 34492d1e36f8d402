package config

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/devmgr/devmgr/internal/device"
)

// Reset configures the factory reset (internal/reset): which overlay it
// returns to its lower layer, and how.
type Reset struct {
	// Mode is none (no reset on this device), mount (a data overlay
	// mounted at Merged, reset live: stop, unmount, wipe, mount) or root
	// (the root filesystem on overlayroot: a marker and a reboot; an
	// early-boot step empties the upper layer before it is mounted).
	Mode string `yaml:"mode"`
	// Lower, Upper, Work and Merged are the overlay's layers and its
	// mount point. Left out, they are the mode's defaults
	// (DefaultMountLayers, DefaultRootLayers).
	Lower  string `yaml:"lower"`
	Upper  string `yaml:"upper"`
	Work   string `yaml:"work"`
	Merged string `yaml:"merged"`
	// Options are overlayfs options added to lowerdir, upperdir and
	// workdir when the mount mode mounts the overlay (e.g. index=off).
	Options []string `yaml:"options,omitempty"`
	// Services are the systemd units that use the overlay: stopped before
	// it is unmounted, started again after it is back, and verified to
	// run. devmgr's own console is stopped and started by the reset
	// itself.
	Services []string `yaml:"services,omitempty"`
	// KeepSettings is what a reset does unless told otherwise: keep the
	// devmgr config, users, TLS certificate and the agent's settings
	// across the reset.
	KeepSettings bool `yaml:"keep_settings"`
	// Device, FSType and Persist are the root mode's persistent layer:
	// the block device that holds Upper and Work (as the kernel's mount
	// takes it: /dev/..., LABEL=..., UUID=...), its filesystem type, and
	// where it is mounted once the system runs. The early-boot step
	// mounts Device itself, before overlayroot does.
	Device  string `yaml:"device,omitempty"`
	FSType  string `yaml:"fstype,omitempty"`
	Persist string `yaml:"persist,omitempty"`
}

// Reset modes.
const (
	ResetNone  = "none"
	ResetMount = "mount"
	ResetRoot  = "root"
)

// ResetModes lists the values reset.mode takes.
var ResetModes = []string{ResetNone, ResetMount, ResetRoot}

// DefaultMountLayers are the mount mode's layers when the config names
// none.
var DefaultMountLayers = Reset{Lower: "/mnt/lower", Upper: "/mnt/upper", Work: "/mnt/work", Merged: "/mnt/merged"}

// DefaultRootLayers are the root mode's: Ubuntu overlayroot's layout.
var DefaultRootLayers = Reset{Lower: "/media/root-ro", Upper: "/media/root-rw/overlay",
	Work: "/media/root-rw/overlay-workdir", Merged: "/", Persist: "/media/root-rw", FSType: "ext4"}

// ResetFSTypes are the persistent layer's filesystem types the root mode
// accepts: those overlayfs takes as an upper layer.
var ResetFSTypes = []string{"ext4", "ext3", "ext2", "xfs", "btrfs", "f2fs"}

// DefaultReset is the reset section's default: no reset.
func DefaultReset() Reset { return Reset{Mode: ResetNone, KeepSettings: true} }

// withModeDefaults fills the paths the config leaves out with its mode's.
func (r Reset) withModeDefaults() Reset {
	var d Reset
	switch r.Mode {
	case ResetMount:
		d = DefaultMountLayers
	case ResetRoot:
		d = DefaultRootLayers
	default:
		return r
	}
	r.Lower = cmpOr(r.Lower, d.Lower)
	r.Upper = cmpOr(r.Upper, d.Upper)
	r.Work = cmpOr(r.Work, d.Work)
	r.Merged = cmpOr(r.Merged, d.Merged)
	r.Persist = cmpOr(r.Persist, d.Persist)
	r.FSType = cmpOr(r.FSType, d.FSType)
	return r
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

var (
	// An overlayfs option as the mount mode passes it on: name or
	// name=value, nothing that needs escaping.
	overlayOptionRE = regexp.MustCompile(`^[a-z][a-z0-9_]*(=[A-Za-z0-9_.+/-]+)?$`)
	// A systemd unit name (systemd.unit(5)): a name and a type suffix.
	unitNameRE = regexp.MustCompile(`^[A-Za-z0-9:_.\\@-]{1,200}\.(service|socket|target|mount|timer|path)$`)
	// The persistent device: a path under /dev, or a tag the kernel's
	// mount(8) resolves.
	resetDeviceRE = regexp.MustCompile(`^(/dev/[A-Za-z0-9._/:+-]+|(LABEL|UUID|PARTUUID|PARTLABEL)=[A-Za-z0-9._:+-]+)$`)
)

// overlay options the reset sets itself.
var layerOptions = []string{"lowerdir", "upperdir", "workdir"}

func (c Config) validateReset(ps *Problems) {
	r := c.Reset
	if !slices.Contains(ResetModes, r.Mode) {
		ps.add("reset.mode", "%q is not one of %s", r.Mode, strings.Join(ResetModes, ", "))
		return
	}
	if r.Mode == ResetNone {
		return
	}
	layers := []struct{ key, val string }{
		{"reset.lower", r.Lower}, {"reset.upper", r.Upper}, {"reset.work", r.Work}, {"reset.merged", r.Merged},
	}
	if r.Mode == ResetRoot {
		layers = append(layers, struct{ key, val string }{"reset.persist", r.Persist})
	}
	ok := true
	for _, l := range layers {
		if err := checkLayerPath(l.val); err != "" {
			ps.add(l.key, "%s", err)
			ok = false
		}
	}
	if ok {
		c.validateResetLayers(ps, layers)
	}
	seen := map[string]bool{}
	for i, o := range r.Options {
		path := fmt.Sprintf("reset.options[%d]", i)
		name, _, _ := strings.Cut(o, "=")
		switch {
		case r.Mode != ResetMount:
			ps.add(path, "options are for mode mount; overlayroot mounts the root overlay with its own")
		case !overlayOptionRE.MatchString(o):
			ps.add(path, "%q is not an overlayfs option such as index=off (name or name=value; letters, digits, _ . + / -)", clipValue(o))
		case slices.Contains(layerOptions, name):
			ps.add(path, "%s is set from reset.lower, reset.upper and reset.work", name)
		case seen[name]:
			ps.add(path, "%s is given twice", name)
		}
		seen[name] = true
	}
	units := map[string]bool{}
	for i, s := range r.Services {
		path := fmt.Sprintf("reset.services[%d]", i)
		switch {
		case !unitNameRE.MatchString(s):
			ps.add(path, "%q is not a systemd unit name such as myapp.service", clipValue(s))
		case strings.HasPrefix(s, "devmgr-"):
			ps.add(path, "%s is devmgr's own: the reset stops and starts the console itself, and never its agent", s)
		case units[s]:
			ps.add(path, "%s is listed twice", s)
		}
		units[s] = true
	}
	if r.Mode == ResetRoot {
		switch {
		case r.Device == "":
			ps.add("reset.device", "must name the persistent device that holds reset.upper (for example LABEL=devmgr-data or /dev/mmcblk0p3)")
		case !resetDeviceRE.MatchString(r.Device):
			ps.add("reset.device", "%q is neither a path under /dev nor LABEL=, UUID=, PARTUUID= or PARTLABEL= with a plain value", clipValue(r.Device))
		}
		if !slices.Contains(ResetFSTypes, r.FSType) {
			ps.add("reset.fstype", "%q is not one of %s", clipValue(r.FSType), strings.Join(ResetFSTypes, ", "))
		}
	} else {
		if r.Device != "" {
			ps.add("reset.device", "is for mode root only")
		}
		if r.Persist != "" {
			ps.add("reset.persist", "is for mode root only")
		}
	}
}

// validateResetLayers checks how the layers lie: apart from each other,
// and none holding devmgr's state or backups, which the reset must not
// wipe.
func (c Config) validateResetLayers(ps *Problems, layers []struct{ key, val string }) {
	r := c.Reset
	if r.Mode == ResetRoot {
		for _, l := range []struct{ key, val string }{{"reset.upper", r.Upper}, {"reset.work", r.Work}} {
			if !within(l.val, r.Persist) || filepath.Clean(l.val) == filepath.Clean(r.Persist) {
				ps.add(l.key, "%q must lie inside reset.persist %q: the early-boot step empties it there", l.val, r.Persist)
			}
		}
		if within(r.Upper, r.Work) || within(r.Work, r.Upper) {
			ps.add("reset.work", "%q and reset.upper %q must not lie inside each other", r.Work, r.Upper)
		}
		if within(r.Persist, r.Lower) || within(r.Lower, r.Persist) {
			ps.add("reset.persist", "%q and reset.lower %q must not lie inside each other", r.Persist, r.Lower)
		}
		if b := c.Backup.Dir; filepath.IsAbs(b) && (!within(b, r.Persist) || within(b, r.Upper) || within(b, r.Work)) {
			ps.add("backup.dir", "%q lies in the root overlay, which a reset wipes: put it on the persistent device beside the layers, such as %s",
				b, filepath.Join(r.Persist, "devmgr-backups"))
		}
		return
	}
	for i, a := range layers {
		for _, b := range layers[i+1:] {
			if within(a.val, b.val) || within(b.val, a.val) {
				ps.add(b.key, "%q and %s %q must not lie inside each other", b.val, a.key, a.val)
			}
		}
	}
	if filepath.Dir(filepath.Clean(r.Upper)) != filepath.Dir(filepath.Clean(r.Work)) {
		ps.add("reset.work", "%q must be beside reset.upper %q (overlayfs needs both on one filesystem)", r.Work, r.Upper)
	}
	for _, d := range []struct{ key, val, why string }{
		{"agent.state_dir", c.Agent.StateDir, "the reset's journal would be wiped with it"},
		{"backup.dir", c.Backup.Dir, "a reset would wipe the backups"},
	} {
		if !filepath.IsAbs(d.val) {
			continue
		}
		for _, l := range layers {
			if within(d.val, l.val) {
				ps.add(d.key, "%q must not be inside %s %q: %s", d.val, l.key, l.val, d.why)
				break
			}
		}
	}
}

// checkLayerPath accepts a clean absolute path that overlayfs options and
// systemd units take literally; it returns what is wrong, or "".
func checkLayerPath(p string) string {
	switch {
	case p == "":
		return "must not be empty"
	case !filepath.IsAbs(p) || filepath.Clean(p) != p:
		return "\"" + clipValue(p) + "\" must be a clean absolute path"
	}
	for _, r := range p {
		if r <= 0x20 || r >= 0x7f || strings.ContainsRune(",:\\\"'=;#%$`{}", r) {
			return "\"" + clipValue(p) + "\" may hold only printable ASCII without spaces, quotes or any of ,:\\=;#%$`{} (overlayfs options and unit files take it literally)"
		}
	}
	return ""
}

// MountOptions are the options the mount mode mounts its overlay with
// (and its mount unit names): the layers, then reset.options.
func (r Reset) MountOptions() string {
	return strings.Join(append([]string{"lowerdir=" + r.Lower, "upperdir=" + r.Upper, "workdir=" + r.Work}, r.Options...), ",")
}

// ResetDir is where the reset keeps its journal: agent.state_dir/reset
// in the mount mode; in the root mode, whose wipe takes agent.state_dir
// with it, beside the upper layer on the persistent device
// (reset.persist/devmgr-reset), where the early-boot step finds its
// marker.
func (c Config) ResetDir() string {
	if c.Reset.Mode == ResetRoot {
		return filepath.Join(c.Reset.Persist, device.ResetDirName)
	}
	return filepath.Join(c.Agent.StateDir, "reset")
}
