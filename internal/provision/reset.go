package provision

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/device"
	"github.com/devmgr/devmgr/internal/mountinfo"
)

// The factory reset's system files (internal/reset): in the mount mode
// the overlay's mount unit, in the root mode the early-boot step for
// initramfs-tools, and in both devmgr-reset.service, which finishes at
// boot a reset that a reboot or a crash interrupted.

// resetFiles renders the reset's files for c, its units in unitDir; none
// while reset.mode is none.
func resetFiles(c config.Config, o Options, unitDir string) ([]File, error) {
	r := c.Reset
	var files []File
	v := resetValues{Binary: o.Binary, ConfigPath: o.ConfigPath, Reset: r, Journal: filepath.Join(c.ResetDir(), "journal.json")}
	switch r.Mode {
	case config.ResetMount:
		v.MountUnit = MountUnit(r.Merged)
		b, err := renderTemplate(v.MountUnit, unitResetMount, v)
		if err != nil {
			return nil, fmt.Errorf("rendering %s: %w", v.MountUnit, err)
		}
		files = append(files, File{Path: unitDir + "/" + v.MountUnit, Mode: 0o644, Content: b, Check: CheckUnit})
	case config.ResetRoot:
		script, err := RenderEarlyBoot(EarlyBootFor(r))
		if err != nil {
			return nil, err
		}
		hook, err := renderTemplate("initramfs hook", initramfsHook, r)
		if err != nil {
			return nil, fmt.Errorf("rendering %s: %w", device.InitramfsHook, err)
		}
		files = append(files,
			File{Path: device.InitramfsHook, Mode: 0o755, Content: hook},
			File{Path: device.InitramfsScript, Mode: 0o755, Content: script})
	default:
		return nil, nil
	}
	b, err := renderTemplate(device.UnitReset, unitReset, v)
	if err != nil {
		return nil, fmt.Errorf("rendering %s: %w", device.UnitReset, err)
	}
	return append(files, File{Path: unitDir + "/" + device.UnitReset, Mode: 0o644, Content: b, Check: CheckUnit}), nil
}

type resetValues struct {
	Binary, ConfigPath string
	Reset              config.Reset
	MountUnit          string
	Journal            string // the reset's journal: devmgr-reset.service runs while there is one
}

// MountUnit is the systemd mount unit of a path, named as systemd-escape
// --path --suffix=mount names it ("/mnt/merged" is mnt-merged.mount).
func MountUnit(path string) string {
	p := strings.Trim(filepath.Clean(path), "/")
	if p == "" {
		return "-.mount"
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '/':
			b.WriteByte('-')
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' && i > 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "\\x%02x", c)
		}
	}
	return b.String() + ".mount"
}

// The mount mode's overlay, mounted at boot before the services that use
// it; the reset unmounts and mounts it itself, with the same options.
const unitResetMount = header + `[Unit]
Description=devmgr data overlay on {{.Reset.Merged}} (reset.mode mount)
Documentation=https://github.com/devmgr/devmgr
RequiresMountsFor={{.Reset.Lower}} {{.Reset.Upper}} {{.Reset.Work}}
Before={{range .Reset.Services}}{{.}} {{end}}devmgr-reset.service

[Mount]
What=overlay
Where={{.Reset.Merged}}
Type=overlay
Options={{.Reset.MountOptions}}

[Install]
WantedBy=local-fs.target
`

// devmgr reset --resume mounts and unmounts the overlay, empties layers
// that hold any account's files (DAC_OVERRIDE, DAC_READ_SEARCH, FOWNER),
// puts the console's part of the kept settings back as web.user (SETUID,
// SETGID, CHOWN) and stops and starts services through systemd. Its
// mounts must be the system's: no option that gives the unit a mount
// namespace of its own (PrivateTmp, ProtectHome, ProtectSystem,
// ProtectKernel*, ProtectControlGroups, PrivateMounts), in which an
// unmount would not unmount the overlay everyone else sees. It runs at
// every boot while a journal is there, and does nothing unless a reset
// waits to be finished.
const unitReset = header + `[Unit]
Description=devmgr factory reset: finishes a reset that a reboot or a crash interrupted
Documentation=https://github.com/devmgr/devmgr
After=local-fs.target{{if .MountUnit}} {{.MountUnit}}{{end}}
ConditionPathExists={{.Journal}}

[Service]
Type=oneshot
ExecStart={{.Binary}} reset --resume --config {{.ConfigPath}}
TimeoutStartSec=30min
UMask=0077
CapabilityBoundingSet=CAP_SYS_ADMIN CAP_DAC_OVERRIDE CAP_DAC_READ_SEARCH CAP_FOWNER CAP_CHOWN CAP_SETUID CAP_SETGID
NoNewPrivileges=yes
` + restrictProcess + `RestrictAddressFamilies=AF_UNIX
SystemCallArchitectures=native

[Install]
WantedBy=multi-user.target
`

// initramfs-tools copies its scripts (scripts/local-bottom) itself; the
// hook adds the persistent layer's filesystem driver and a full rm
// (klibc's has no -r) for the early-boot step.
const initramfsHook = `#!/bin/sh
` + header + `# initramfs-tools hook of the devmgr factory reset's early-boot step
# (scripts/local-bottom/devmgr-reset), which mounts {{.Device}} ({{.FSType}})
# before overlayroot does.
PREREQ=""
prereqs() { echo "$PREREQ"; }
case "$1" in
prereqs) prereqs; exit 0 ;;
esac
. /usr/share/initramfs-tools/hook-functions
manual_add_modules {{.FSType}}
copy_exec /bin/rm /bin/rm
`

// EarlyBoot are the values of the root mode's early-boot step.
type EarlyBoot struct {
	// Device is the persistent device as the initramfs's /dev names it
	// (LABEL=x is /dev/disk/by-label/x), FSType its filesystem.
	Device, FSType string
	// MountOptions are the options the step mounts it with ("rw"; the
	// tests add "loop").
	MountOptions string
	// Mountpoint is where the step mounts it (in the initramfs's /run).
	Mountpoint string
	// Upper, Work and Dir are the upper and work directories and the
	// reset's directory, relative to the device's root.
	Upper, Work, Dir string
	// BootIDFile tells one boot from the next (the kernel's boot_id): the
	// step records it with what it did.
	BootIDFile string
}

// EarlyBootFor is the early-boot step of a root mode's config.
func EarlyBootFor(r config.Reset) EarlyBoot {
	rel := func(p string) string {
		s, err := filepath.Rel(r.Persist, p)
		if err != nil {
			return p
		}
		return s
	}
	dev := r.Device
	for tag, dir := range map[string]string{"LABEL=": "by-label", "UUID=": "by-uuid", "PARTUUID=": "by-partuuid", "PARTLABEL=": "by-partlabel"} {
		if v, ok := strings.CutPrefix(dev, tag); ok {
			dev = "/dev/disk/" + dir + "/" + v
		}
	}
	return EarlyBoot{Device: dev, FSType: r.FSType, MountOptions: "rw", Mountpoint: "/run/devmgr-reset",
		Upper: rel(r.Upper), Work: rel(r.Work), Dir: device.ResetDirName, BootIDFile: "/proc/sys/kernel/random/boot_id"}
}

// RenderEarlyBoot renders the early-boot step, a POSIX sh script for
// initramfs-tools' local-bottom (busybox's and klibc's sh run it).
func RenderEarlyBoot(e EarlyBoot) ([]byte, error) {
	for _, v := range []string{e.Device, e.FSType, e.MountOptions, e.Mountpoint, e.Upper, e.Work, e.Dir, e.BootIDFile} {
		if v == "" || strings.ContainsAny(v, "'\n\\") {
			return nil, fmt.Errorf("rendering %s: %q is empty or holds a quote, newline or backslash", device.InitramfsScript, v)
		}
	}
	if filepath.IsAbs(e.Upper) || filepath.IsAbs(e.Work) || strings.HasPrefix(e.Upper, "..") || strings.HasPrefix(e.Work, "..") {
		return nil, fmt.Errorf("rendering %s: the upper and work directories must lie on the device (%s, %s)", device.InitramfsScript, e.Upper, e.Work)
	}
	b, err := renderTemplate("early boot", earlyBootScript, struct {
		EarlyBoot
		Request, Wiped, Refused string
	}{e, device.ResetRequest, device.ResetWiped, device.ResetRefused})
	if err != nil {
		return nil, fmt.Errorf("rendering %s: %w", device.InitramfsScript, err)
	}
	return b, nil
}

// The early-boot step. It runs after the root device is mounted and
// before overlayroot (init-bottom) mounts the overlay, so nothing has the
// layers mounted: it refuses when the persistent device is mounted
// anywhere else. It never fails the boot.
const earlyBootScript = `#!/bin/sh
` + header + `# devmgr factory reset, root mode: the early-boot step (initramfs-tools,
# local-bottom). When the persistent layer holds devmgr's reset request, it
# empties the overlay's upper and work directories there while nothing has
# them mounted: before overlayroot mounts the overlay. (Changing a layer of
# a mounted overlay is undefined; see the kernel's overlayfs.rst.) What it
# did goes into {{.Dir}}/{{.Wiped}}, or why not into {{.Dir}}/{{.Refused}};
# devmgr reads it after the boot. It never stops the boot.
PREREQ=""
prereqs() { echo "$PREREQ"; }
case "$1" in
prereqs) prereqs; exit 0 ;;
esac

DEVICE='{{.Device}}'
FSTYPE='{{.FSType}}'
OPTIONS='{{.MountOptions}}'
MNT='{{.Mountpoint}}'
UPPER='{{.Upper}}'
WORK='{{.Work}}'
DIR='{{.Dir}}'
BOOT_ID_FILE='{{.BootIDFile}}'

say() { echo "devmgr-reset: $*" >&2; }

# fs_of POINT: the device numbers of the filesystem mounted at POINT.
fs_of() {
	found=""
	while read -r _id _parent majmin _root point _rest; do
		[ "$point" = "$1" ] && found=$majmin
	done </proc/self/mountinfo
	echo "$found"
}

# elsewhere MAJMIN POINT: the other mount points of filesystem MAJMIN.
elsewhere() {
	while read -r _id _parent majmin _root point _rest; do
		if [ "$majmin" = "$1" ] && [ "$point" != "$2" ]; then
			printf ' %s' "$point"
		fi
	done </proc/self/mountinfo
}

# record NAME LINES: writes the record NAME for devmgr, then drops the request.
record() {
	name=$1
	shift
	printf '%s\n' "boot_id=$BOOT_ID" "$@" >"$MNT/$DIR/$name.tmp" &&
		mv -f "$MNT/$DIR/$name.tmp" "$MNT/$DIR/$name" &&
		rm -f "$MNT/$DIR/{{.Request}}"
	sync
}

refuse() {
	say "not wiped: $*"
	record '{{.Refused}}' "reason=$*"
}

# count DIR: how many entries DIR holds.
count() {
	n=0
	for e in "$1"/* "$1"/.[!.]* "$1"/..?*; do
		if [ -e "$e" ] || [ -L "$e" ]; then n=$((n + 1)); fi
	done
	echo "$n"
}

# empty DIR: removes everything inside DIR; fails if anything is left.
empty() {
	for e in "$1"/* "$1"/.[!.]* "$1"/..?*; do
		if [ -e "$e" ] || [ -L "$e" ]; then rm -rf "$e" || return 1; fi
	done
	[ "$(count "$1")" = 0 ]
}

wipe() {
	[ -f "$MNT/$DIR/{{.Request}}" ] || return 0
	fs=$(fs_of "$MNT")
	if [ -z "$fs" ]; then
		refuse "$MNT is not in the mount table"
		return 0
	fi
	others=$(elsewhere "$fs" "$MNT")
	if [ -n "$others" ]; then
		refuse "$DEVICE is mounted at$others as well: a layer is wiped only while nothing mounts it"
		return 0
	fi
	for d in "$UPPER" "$WORK"; do
		if [ -L "$MNT/$d" ] || { [ -e "$MNT/$d" ] && [ ! -d "$MNT/$d" ]; }; then
			refuse "$d on $DEVICE is not a directory"
			return 0
		fi
	done
	mkdir -p "$MNT/$UPPER" "$MNT/$WORK"
	n=$(count "$MNT/$UPPER")
	for d in "$UPPER" "$WORK"; do
		if ! empty "$MNT/$d"; then
			refuse "$d on $DEVICE could not be emptied"
			return 0
		fi
	done
	sync
	record '{{.Wiped}}' "entries=$n"
	say "emptied $UPPER ($n entries) and $WORK on $DEVICE"
}

BOOT_ID=$(cat "$BOOT_ID_FILE" 2>/dev/null)
tries=0
while [ ! -e "$DEVICE" ] && [ "$tries" -lt 10 ]; do
	sleep 1
	tries=$((tries + 1))
done
mkdir -p "$MNT" || exit 0
if ! mount -t "$FSTYPE" -o "$OPTIONS" "$DEVICE" "$MNT"; then
	say "cannot mount $DEVICE: no reset in this boot"
	exit 0
fi
wipe
umount "$MNT" || say "cannot unmount $MNT"
exit 0
`

// ErrResetPrerequisite is a root mode's prerequisite that is missing.
var ErrResetPrerequisite = errors.New("the root mode's reset needs")

// CheckResetRoot checks the root mode's prerequisites on the system under
// root: initramfs-tools (the early-boot step is one of its scripts), and
// overlayroot enabled on reset.device, or another overlay on / whose
// upper layer is reset.upper (table is the mount table to look in).
func CheckResetRoot(root, table string, c config.Config) error {
	r := c.Reset
	var errs []error
	need := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w "+format, append([]any{ErrResetPrerequisite}, args...)...))
	}
	for _, f := range []string{"/usr/sbin/update-initramfs", "/usr/share/initramfs-tools/hook-functions"} {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			need("initramfs-tools (%s is missing; apt-get install initramfs-tools): its early-boot step is an initramfs-tools script", f)
			break
		}
	}
	if _, err := os.Stat(filepath.Join(root, "/usr/share/initramfs-tools/scripts/init-bottom/overlayroot")); err == nil {
		mode, err := overlayrootSetting(root)
		switch {
		case err != nil:
			errs = append(errs, err)
		case mode == "" || mode == "disabled":
			need(`overlayroot enabled: set overlayroot="device:dev=%s" in /etc/overlayroot.local.conf, then reboot`, r.Device)
		case strings.HasPrefix(mode, "tmpfs"):
			need("a persistent upper layer: overlayroot=%q keeps it in RAM, where every reboot resets it already; "+
				`set overlayroot="device:dev=%s" in /etc/overlayroot.local.conf`, mode, r.Device)
		case !strings.HasPrefix(mode, "device:"):
			need("overlayroot on a device (overlayroot=%q): set overlayroot=\"device:dev=%s\"", mode, r.Device)
		case !slices.Contains(strings.Split(strings.TrimPrefix(mode, "device:"), ","), "dev="+r.Device) &&
			!slices.Contains(strings.Split(strings.TrimPrefix(mode, "device:"), ","), "dev="+EarlyBootFor(r).Device):
			need("overlayroot's device to be reset.device %s (overlayroot=%q)", r.Device, mode)
		}
	} else if !rootOverlayOn(table, r.Upper) {
		need("overlayroot (apt-get install overlayroot), or another initramfs overlay on / with upperdir=%s: none is there", r.Upper)
	}
	return errors.Join(errs...)
}

// overlayrootSetting reads overlayroot= as overlayroot's configs set it
// (overlayroot.local.conf after overlayroot.conf), unquoted.
func overlayrootSetting(root string) (string, error) {
	var val string
	for _, f := range []string{"/etc/overlayroot.conf", "/etc/overlayroot.local.conf"} {
		b, err := os.ReadFile(filepath.Join(root, f))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("reading overlayroot's config: %w", err)
		}
		sc := bufio.NewScanner(strings.NewReader(string(b)))
		for sc.Scan() {
			if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "overlayroot="); ok {
				val = strings.Trim(v, `"'`)
			}
		}
	}
	return val, nil
}

// rootOverlayOn reports whether the mount table mountinfo has an overlay
// on / whose upperdir is upper.
func rootOverlayOn(table, upper string) bool {
	ms, err := mountinfo.Read(table)
	if err != nil {
		return false
	}
	m, ok := mountinfo.Top(ms, "/")
	l, isOverlay := m.Layers()
	return ok && isOverlay && filepath.Clean(l.Upper) == upper
}

// activateReset makes the reset's directories (mount mode) and rebuilds
// the initramfs when the early-boot step changed (root mode).
func activateReset(ctx context.Context, c config.Config, o Options, changes []change) error {
	r := c.Reset
	switch r.Mode {
	case config.ResetMount:
		for _, d := range []string{r.Lower, r.Upper, r.Work, r.Merged} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return fmt.Errorf("creating the overlay's directory %s: %w", d, err)
			}
		}
	case config.ResetRoot:
		if !slices.ContainsFunc(changes, func(ch change) bool {
			return ch.file.Path == device.InitramfsScript || ch.file.Path == device.InitramfsHook
		}) {
			return nil
		}
		bin, err := lookTool("update-initramfs")
		if err != nil {
			return fmt.Errorf("the early-boot step is installed but not in the initramfs: %w", err)
		}
		if out, err := runTool(ctx, bin, "-u"); err != nil {
			return fmt.Errorf("putting the early-boot step into the initramfs (update-initramfs -u): %w\n%s", err, out)
		}
		fmt.Fprintln(o.Stdout, "the initramfs holds the reset's early-boot step (update-initramfs -u)")
	}
	return nil
}

// resetUnits are the reset's units to enable (and the mount unit to
// start) where systemd runs.
func resetUnits(c config.Config) (enable, start []string) {
	switch c.Reset.Mode {
	case config.ResetMount:
		m := MountUnit(c.Reset.Merged)
		return []string{m, device.UnitReset}, []string{m}
	case config.ResetRoot:
		return []string{device.UnitReset}, nil
	}
	return nil, nil
}
