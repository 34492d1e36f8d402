package reset

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/devmgr/devmgr/internal/agent/api"
)

// opaqueXattrs mark an opaque directory of an upper layer: everything
// the lower layers have below it is hidden. "user." is overlayfs's
// namespace when mounted with userxattr.
var opaqueXattrs = []string{"trusted.overlay.opaque", "user.overlay.opaque"}

// IsWhiteout reports whether fi, from an upper layer, is a whiteout: a
// character device 0/0, which hides the lower layers' entry of its name.
func IsWhiteout(fi fs.FileInfo) bool {
	if fi.Mode().Type() != fs.ModeDevice|fs.ModeCharDevice {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Rdev == 0
}

// IsOpaque reports whether the directory at path, in an upper layer, is
// opaque: its overlay.opaque attribute is "y". ("x" on newer kernels
// marks a directory that may hold whiteouts of another kind; it hides
// nothing itself.)
func IsOpaque(path string) bool {
	buf := make([]byte, 8)
	for _, name := range opaqueXattrs {
		if n, err := unix.Lgetxattr(path, name, buf); err == nil && n == 1 && buf[0] == 'y' {
			return true
		}
	}
	return false
}

// Kinds of change an upper-layer entry makes.
const (
	changeAdded   = "added"
	changeChanged = "changed"
	changeDeleted = "deleted"
)

// changes collects ScanUpper's result.
type changes struct {
	usage  api.OverlayUsage
	c      api.OverlayChanges
	groups map[string]*api.ChangeGroup
	listed int
}

func (cs *changes) add(kind, rel string) {
	switch kind {
	case changeAdded:
		cs.c.Added++
	case changeChanged:
		cs.c.Changed++
	case changeDeleted:
		cs.c.Deleted++
	}
	top, _, nested := strings.Cut(rel, "/")
	dir := "/"
	if nested {
		dir = "/" + top
	}
	g := cs.groups[dir]
	if g == nil {
		g = &api.ChangeGroup{Dir: dir}
		cs.groups[dir] = g
	}
	if cs.listed >= api.MaxListedChanges {
		g.More++
		cs.c.Truncated = true
		return
	}
	cs.listed++
	switch kind {
	case changeAdded:
		g.Added = append(g.Added, rel)
	case changeChanged:
		g.Changed = append(g.Changed, rel)
	case changeDeleted:
		g.Deleted = append(g.Deleted, rel)
	}
}

// ScanUpper reads the upper layer beside the lower layers (top first) and
// says what it holds and what differs from the lower layers: an entry
// the lower layers lack is added, one they have is changed (its data or
// its metadata), a whiteout deletes, an opaque directory over a lower
// one deletes what was below it (listed as "dir/"). Directories copied up
// only to hold changes below them are not changes themselves. Reading a
// mounted overlay's upper layer is safe; nothing is written.
func ScanUpper(ctx context.Context, upper string, lowers []string) (api.OverlayUsage, api.OverlayChanges, error) {
	cs := &changes{groups: map[string]*api.ChangeGroup{}}
	err := walk(ctx, upper, func(p, rel string, fi fs.FileInfo) error {
		exists, isDir := inLower(lowers, rel)
		switch {
		case fi.IsDir():
			cs.usage.Dirs++
			switch {
			case !exists:
				cs.add(changeAdded, rel+"/")
			case !isDir:
				cs.add(changeChanged, rel+"/")
			case IsOpaque(p):
				cs.add(changeDeleted, rel+"/")
			}
		case IsWhiteout(fi):
			cs.usage.Files++
			cs.add(changeDeleted, rel)
		default:
			cs.usage.Files++
			if fi.Mode().IsRegular() {
				cs.usage.Bytes += fi.Size()
			}
			if exists {
				cs.add(changeChanged, rel)
			} else {
				cs.add(changeAdded, rel)
			}
		}
		return nil
	})
	if err != nil {
		return cs.usage, api.OverlayChanges{Groups: []api.ChangeGroup{}}, err
	}
	cs.c.Groups = []api.ChangeGroup{}
	for _, g := range cs.groups {
		cs.c.Groups = append(cs.c.Groups, *g)
	}
	slices.SortFunc(cs.c.Groups, func(a, b api.ChangeGroup) int { return strings.Compare(a.Dir, b.Dir) })
	return cs.usage, cs.c, nil
}

// walk calls fn for every entry below dir (not dir itself), with its
// path relative to dir, until ctx ends; fn may return fs.SkipDir.
func walk(ctx context.Context, dir string, fn func(p, rel string, fi fs.FileInfo) error) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("reading %s: %w", dir, err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return fmt.Errorf("reading %s: %w", dir, err)
		}
		return fn(p, rel, fi)
	})
}

// inLower reports whether a lower layer has rel, and whether as a
// directory (the topmost one that has it decides).
func inLower(lowers []string, rel string) (exists, isDir bool) {
	for _, l := range lowers {
		fi, err := os.Lstat(filepath.Join(l, rel))
		if err == nil {
			return true, fi.IsDir()
		}
	}
	return false, false
}

// WriteChanges writes the upper layer to w as a .tar.gz: directories,
// regular files, symlinks and FIFOs as they are, whiteouts as character
// devices 0/0 and opaque directories with a PAX record
// SCHILY.xattr.trusted.overlay.opaque=y, the form overlay-aware tools
// read. Sockets are left out. A file that changes while it is read is an
// error: the archive would not be what the layer held.
func WriteChanges(ctx context.Context, w io.Writer, upper string) error {
	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	err := walk(ctx, upper, func(p, rel string, fi fs.FileInfo) error {
		if fi.Mode().Type() == fs.ModeSocket {
			return nil
		}
		return writeChange(tw, p, rel, fi)
	})
	if err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("writing the changes: %w", err)
	}
	if err := gz.Close(); err != nil {
		return fmt.Errorf("writing the changes: %w", err)
	}
	return nil
}

func writeChange(tw *tar.Writer, p, rel string, fi fs.FileInfo) error {
	var link string
	if fi.Mode().Type() == fs.ModeSymlink {
		var err error
		if link, err = os.Readlink(p); err != nil {
			return fmt.Errorf("reading the upper layer: %w", err)
		}
	}
	hdr, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return fmt.Errorf("archiving %s: %w", rel, err)
	}
	hdr.Name = filepath.ToSlash(rel)
	hdr.Format = tar.FormatPAX
	if fi.IsDir() {
		hdr.Name += "/"
		if IsOpaque(p) {
			hdr.PAXRecords = map[string]string{"SCHILY.xattr.trusted.overlay.opaque": "y"}
		}
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("archiving %s: %w", rel, err)
	}
	if !fi.Mode().IsRegular() {
		return nil
	}
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return fmt.Errorf("archiving %s: %w", rel, err)
	}
	defer f.Close()
	if _, err := io.CopyN(tw, f, hdr.Size); err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("archiving %s: it shrank while it was read", rel)
		}
		return fmt.Errorf("archiving %s: %w", rel, err)
	}
	return nil
}
