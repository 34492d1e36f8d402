package reset

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// keptSet holds paths relative to an overlay's root that a reset may
// leave in its upper layer: the kept settings, as Settings.Paths names
// them, that lie inside the overlay.
type keptSet []string

// keptWithin maps absolute paths into the overlay merged at merged; those
// outside it are left out.
func keptWithin(paths []string, merged string) keptSet {
	var k keptSet
	for _, p := range paths {
		if within(p, merged) {
			rel, err := filepath.Rel(merged, p)
			if err == nil && rel != "." {
				k = append(k, rel)
			}
		}
	}
	return k
}

// holds reports whether rel is a kept path or lies below one.
func (k keptSet) holds(rel string) bool {
	return slices.ContainsFunc(k, func(p string) bool { return within(rel, p) })
}

// leadsTo reports whether rel is a directory above a kept path.
func (k keptSet) leadsTo(rel string) bool {
	return slices.ContainsFunc(k, func(p string) bool { return p != rel && within(p, rel) })
}

// digests maps every entry below root (relative paths) to what a reader
// sees of it: its type, permission bits and owner, and the SHA-256 of a
// regular file's content, a symlink's target or a device's number. Times
// are left out. Entries that skip names are passed over (a directory with
// what is below it).
func digests(ctx context.Context, root string, skip func(rel string, dir bool) bool) (map[string]string, error) {
	out := map[string]string{}
	err := walk(ctx, root, func(p, rel string, fi fs.FileInfo) error {
		if skip(rel, fi.IsDir()) {
			if fi.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		dg, err := digest(p, fi)
		if err != nil {
			return err
		}
		out[rel] = dg
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func digest(p string, fi fs.FileInfo) (string, error) {
	var uid, gid uint32
	var rdev uint64
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		uid, gid, rdev = st.Uid, st.Gid, st.Rdev
	}
	head := fmt.Sprintf("%s %#o %d:%d", fi.Mode().Type(), fi.Mode().Perm()|fi.Mode()&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky), uid, gid)
	switch {
	case fi.Mode().IsRegular():
		f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
		if err != nil {
			return "", err
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return "", err
		}
		return head + " sha256:" + hex.EncodeToString(h.Sum(nil)), nil
	case fi.Mode().Type() == fs.ModeSymlink:
		t, err := os.Readlink(p)
		if err != nil {
			return "", err
		}
		return head + " -> " + t, nil
	case fi.Mode().Type()&fs.ModeDevice != 0:
		return fmt.Sprintf("%s dev %d", head, rdev), nil
	}
	return head, nil
}

// maxTreeDiffs bounds the differences a verification names.
const maxTreeDiffs = 10

// compareTrees compares merged with lower by content and returns the
// differences (at most maxTreeDiffs named, and their count), passing
// over the kept settings and the directories that lead to them.
func compareTrees(ctx context.Context, lower, merged string, kept keptSet) ([]string, int, error) {
	skip := func(rel string, dir bool) bool { return kept.holds(rel) || dir && kept.leadsTo(rel) }
	want, err := digests(ctx, lower, skip)
	if err != nil {
		return nil, 0, err
	}
	got, err := digests(ctx, merged, skip)
	if err != nil {
		return nil, 0, err
	}
	var diffs []string
	for rel, w := range want {
		switch g, ok := got[rel]; {
		case !ok:
			diffs = append(diffs, rel+": missing")
		case g != w:
			diffs = append(diffs, fmt.Sprintf("%s: %s, factory %s", rel, g, w))
		}
	}
	for rel := range got {
		if _, ok := want[rel]; !ok {
			diffs = append(diffs, rel+": not in the factory layer")
		}
	}
	slices.Sort(diffs)
	n := len(diffs)
	return diffs[:min(n, maxTreeDiffs)], n, nil
}

// unexpected lists what upper holds beyond the kept settings (at most
// maxTreeDiffs named, and their count).
func unexpected(ctx context.Context, upper string, kept keptSet) ([]string, int, error) {
	var out []string
	n := 0
	err := walk(ctx, upper, func(_, rel string, fi fs.FileInfo) error {
		if kept.holds(rel) || fi.IsDir() && kept.leadsTo(rel) {
			return nil
		}
		n++
		if len(out) < maxTreeDiffs {
			out = append(out, rel)
		}
		if fi.IsDir() {
			return fs.SkipDir
		}
		return nil
	})
	return out, n, err
}

// within reports whether path is dir or lies below it (lexically).
func within(path, dir string) bool {
	p, d := filepath.Clean(path), filepath.Clean(dir)
	return p == d || d == "/" || strings.HasPrefix(p, d+"/")
}
