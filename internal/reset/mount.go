package reset

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/devmgr/devmgr/internal/mountinfo"
)

// mountFlags are the per-mount options a remount keeps, by the name
// mountinfo lists them under.
var mountFlags = map[string]uintptr{
	"ro": unix.MS_RDONLY, "nosuid": unix.MS_NOSUID, "nodev": unix.MS_NODEV, "noexec": unix.MS_NOEXEC,
	"noatime": unix.MS_NOATIME, "nodiratime": unix.MS_NODIRATIME, "relatime": unix.MS_RELATIME,
	"strictatime": unix.MS_STRICTATIME, "sync": unix.MS_SYNCHRONOUS, "dirsync": unix.MS_DIRSYNC,
}

// keptFlags are the per-mount options of m that a remount keeps, sorted.
func keptFlags(m mountinfo.Mount) []string {
	var out []string
	for _, o := range m.Options {
		if _, ok := mountFlags[o]; ok {
			out = append(out, o)
		}
	}
	slices.Sort(out)
	return out
}

func flagBits(flags []string) uintptr {
	var b uintptr
	for _, f := range flags {
		b |= mountFlags[f]
	}
	return b
}

// overlay is what the mount table says of the overlay.
type overlay struct {
	mounted bool
	mount   mountinfo.Mount
}

// findOverlay reads the mount table: what is mounted at merged. Something
// other than an overlay with the configured layers there is an error: a
// reset would unmount and wipe the wrong thing.
func (r *Resetter) findOverlay() (overlay, error) {
	ms, err := mountinfo.Read(r.mountInfo())
	if err != nil {
		return overlay{}, err
	}
	rc := r.cfg.Reset
	m, ok := mountinfo.Top(ms, rc.Merged)
	if !ok {
		return overlay{}, nil
	}
	l, isOverlay := m.Layers()
	switch {
	case !isOverlay:
		return overlay{}, fmt.Errorf("%s is a %s mount (%s), not an overlay", rc.Merged, m.FSType, m.Source)
	case filepath.Clean(l.Upper) != rc.Upper || filepath.Clean(l.Work) != rc.Work:
		return overlay{}, fmt.Errorf("the overlay at %s has upperdir %s and workdir %s, not reset.upper %s and reset.work %s",
			rc.Merged, l.Upper, l.Work, rc.Upper, rc.Work)
	case len(l.Lower) != 1 || filepath.Clean(l.Lower[0]) != rc.Lower:
		return overlay{}, fmt.Errorf("the overlay at %s has lowerdir %s, not reset.lower %s", rc.Merged, strings.Join(l.Lower, ":"), rc.Lower)
	}
	return overlay{mounted: true, mount: m}, nil
}

// mountInfo is this process's mount table.
func (r *Resetter) mountInfo() string { return filepath.Join(r.cfg.Proc, "self", "mountinfo") }

// mountOverlay mounts the overlay at merged with the configured layers
// and options and the flags it had.
func (r *Resetter) mountOverlay(flags []string) error {
	rc := r.cfg.Reset
	if err := unix.Mount("overlay", rc.Merged, "overlay", flagBits(flags), rc.MountOptions()); err != nil {
		return fmt.Errorf("mounting the overlay at %s (%s): %w", rc.Merged, rc.MountOptions(), err)
	}
	return nil
}

// layerInUse names an overlay, in any mount namespace of this system,
// that uses the upper or work directory (or has merged mounted, here).
// A layer of a mounted overlay is never changed: overlayfs.rst calls
// that undefined.
func (r *Resetter) layerInUse() (string, error) {
	rc := r.cfg.Reset
	own, err := mountinfo.Read(r.mountInfo())
	if err != nil {
		return "", err
	}
	if m, ok := mountinfo.Top(own, rc.Merged); ok && m.FSType == "overlay" {
		return fmt.Sprintf("an overlay is mounted at %s", rc.Merged), nil
	}
	seen := map[string]bool{}
	tables := []string{r.mountInfo()}
	if ns, err := os.Readlink(filepath.Join(r.cfg.Proc, "self", "ns", "mnt")); err == nil {
		seen[ns] = true
	}
	ents, _ := os.ReadDir(r.cfg.Proc)
	for _, e := range ents {
		if e.Name()[0] < '1' || e.Name()[0] > '9' {
			continue
		}
		ns, err := os.Readlink(filepath.Join(r.cfg.Proc, e.Name(), "ns", "mnt"))
		if err != nil || seen[ns] {
			continue
		}
		seen[ns] = true
		tables = append(tables, filepath.Join(r.cfg.Proc, e.Name(), "mountinfo"))
	}
	for _, t := range tables {
		ms, err := mountinfo.Read(t)
		if err != nil {
			continue // the process ended
		}
		for _, m := range ms {
			for _, dir := range []string{rc.Upper, rc.Work} {
				if mountinfo.UsesLayer(m, dir) {
					return fmt.Sprintf("the overlay at %s (mount table %s) uses %s", m.Point, t, dir), nil
				}
			}
		}
	}
	return "", nil
}

// emptyDir removes everything inside dir, which stays, and returns how
// many entries it held. A symlink or non-directory in dir's place is an
// error: it is never followed.
func emptyDir(dir string) (int, error) {
	fi, err := os.Lstat(dir)
	if err != nil {
		return 0, fmt.Errorf("emptying %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return 0, fmt.Errorf("emptying %s: not a directory (%s)", dir, fi.Mode().Type())
	}
	f, err := os.Open(dir)
	if err != nil {
		return 0, fmt.Errorf("emptying %s: %w", dir, err)
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, fmt.Errorf("emptying %s: %w", dir, err)
	}
	for _, n := range names {
		if err := os.RemoveAll(filepath.Join(dir, n)); err != nil {
			return 0, fmt.Errorf("emptying %s: %w", dir, err)
		}
	}
	return len(names), nil
}

// isEmptyDir reports whether dir holds nothing.
func isEmptyDir(dir string) (bool, error) {
	f, err := os.Open(dir)
	if err != nil {
		return false, err
	}
	defer f.Close()
	names, err := f.Readdirnames(1)
	if errors.Is(err, io.EOF) {
		return true, nil
	}
	return len(names) == 0, err
}
