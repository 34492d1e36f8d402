package vm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"sort"
	"strings"
)

// Archive is an initramfs under construction: a set of entries written as a
// cpio "newc" archive, the format the kernel unpacks into its rootfs.
// Parent directories are added on demand; a later entry for the same path
// replaces an earlier one.
type Archive struct {
	entries map[string]entry
}

type entry struct {
	mode  uint32 // file type and permission bits, as in stat(2)
	data  []byte // file contents or symlink target
	src   string // host file read when written, instead of data
	size  int64  // of src
	mtime int64  // of src, for Key
	major uint32 // device numbers for character devices
	minor uint32
}

// File types of cpio entries (stat(2) S_IF*).
const (
	modeDir     = 0o040000
	modeFile    = 0o100000
	modeSymlink = 0o120000
	modeCharDev = 0o020000
)

// NewArchive returns an empty archive.
func NewArchive() *Archive { return &Archive{entries: map[string]entry{}} }

func clean(p string) string { return strings.TrimPrefix(path.Clean("/"+p), "/") }

func (a *Archive) parents(p string) {
	for d := path.Dir(p); d != "." && d != "/"; d = path.Dir(d) {
		if _, ok := a.entries[d]; !ok {
			a.entries[d] = entry{mode: modeDir | 0o755}
		}
	}
}

// Dir adds a directory.
func (a *Archive) Dir(p string, perm uint32) {
	p = clean(p)
	a.parents(p)
	a.entries[p] = entry{mode: modeDir | perm&0o7777}
}

// File adds a regular file.
func (a *Archive) File(p string, perm uint32, data []byte) {
	p = clean(p)
	a.parents(p)
	a.entries[p] = entry{mode: modeFile | perm&0o7777, data: data}
}

// HostFile adds the host file src (following symlinks) as p; it is read
// when the archive is written.
func (a *Archive) HostFile(p string, perm uint32, src string) error {
	st, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("adding %s: %w", p, err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("adding %s: %s is not a regular file", p, src)
	}
	p = clean(p)
	a.parents(p)
	a.entries[p] = entry{mode: modeFile | perm&0o7777, src: src, size: st.Size(), mtime: st.ModTime().UnixNano()}
	return nil
}

// Symlink adds a symbolic link at p pointing to target.
func (a *Archive) Symlink(p, target string) {
	p = clean(p)
	a.parents(p)
	a.entries[p] = entry{mode: modeSymlink | 0o777, data: []byte(target)}
}

// CharDev adds a character device node.
func (a *Archive) CharDev(p string, perm, major, minor uint32) {
	p = clean(p)
	a.parents(p)
	a.entries[p] = entry{mode: modeCharDev | perm&0o7777, major: major, minor: minor}
}

// Has reports whether p is in the archive.
func (a *Archive) Has(p string) bool {
	_, ok := a.entries[clean(p)]
	return ok
}

// Key identifies the archive's contents without reading host files: their
// paths, sizes and modification times stand for their contents.
func (a *Archive) Key() string {
	h := sha256.New()
	for _, n := range a.names() {
		e := a.entries[n]
		fmt.Fprintf(h, "%q %o %d:%d %q %d %d %d\n", n, e.mode, e.major, e.minor, e.src, e.size, e.mtime, len(e.data))
		h.Write(e.data)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func (a *Archive) names() []string {
	names := make([]string, 0, len(a.entries))
	for n := range a.entries {
		names = append(names, n)
	}
	sort.Strings(names) // "a" sorts before "a/b": directories precede their contents
	return names
}

// WriteTo writes the archive in cpio newc format, parents before children.
func (a *Archive) WriteTo(w io.Writer) (int64, error) {
	cw := &countWriter{w: w}
	for i, n := range a.names() {
		e := a.entries[n]
		if e.src != "" {
			b, err := os.ReadFile(e.src)
			if err != nil {
				return cw.n, fmt.Errorf("writing cpio archive: %w", err)
			}
			e.data = b
		}
		writeEntry(cw, uint32(i+1), n, e)
	}
	writeEntry(cw, 0, "TRAILER!!!", entry{})
	if cw.err != nil {
		return cw.n, fmt.Errorf("writing cpio archive: %w", cw.err)
	}
	return cw.n, nil
}

func writeEntry(w *countWriter, ino uint32, name string, e entry) {
	nlink := uint32(1)
	if e.mode&0o170000 == modeDir {
		nlink = 2
	}
	fmt.Fprintf(w, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		ino, e.mode, 0, 0, nlink, 0, len(e.data), 0, 0, e.major, e.minor, len(name)+1, 0)
	io.WriteString(w, name)
	w.Write([]byte{0})
	w.pad()
	w.Write(e.data)
	w.pad()
}

// countWriter counts bytes for newc's 4-byte alignment and keeps the first error.
type countWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.err = err
	return n, err
}

func (c *countWriter) pad() {
	if r := c.n % 4; r != 0 {
		c.Write(make([]byte, 4-r))
	}
}

// AddBusybox installs the static busybox as /bin/busybox and a link for
// each of its applets, except the paths in skip (where a real program
// goes instead).
func (a *Archive) AddBusybox(ctx context.Context, run Runner, busybox string, skip ...string) error {
	if err := a.HostFile("/bin/busybox", 0o755, busybox); err != nil {
		return fmt.Errorf("building initramfs: %w", err)
	}
	out, err := run.Run(ctx, "", busybox, "--list-full")
	if err != nil {
		return fmt.Errorf("listing busybox applets: %w", err)
	}
	for _, l := range strings.Fields(string(out)) {
		p := "/" + strings.TrimPrefix(l, "/")
		if p == "/bin/busybox" || slices.Contains(skip, p) {
			continue
		}
		a.Symlink(p, "/bin/busybox")
	}
	if !a.Has("/bin/sh") {
		return fmt.Errorf("busybox %s has no sh applet", busybox)
	}
	return nil
}
