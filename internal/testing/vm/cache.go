package vm

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Cached returns the path of the file "<prefix>-<key><ext>" in dir,
// building it first if it is not there: build writes it to the temporary
// path it is given, which is renamed into place when build succeeds, so
// that a concurrent or interrupted run never sees half a file. Files of
// the same prefix with another key are removed: their inputs changed.
// An empty key is refused: an artefact without one could never be rebuilt.
func Cached(dir, prefix, key, ext string, build func(tmp string) error) (string, error) {
	if key == "" || strings.ContainsAny(prefix+key+ext, "/*?[") {
		return "", fmt.Errorf("caching %s: bad name %q %q %q", prefix, prefix, key, ext)
	}
	path := filepath.Join(dir, prefix+"-"+key+ext)
	if _, err := os.Stat(path); err == nil {
		return path, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("caching %s: %w", prefix, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("caching %s: %w", prefix, err)
	}
	tmp, err := os.MkdirTemp(dir, ".build-"+prefix+"-")
	if err != nil {
		return "", fmt.Errorf("caching %s: %w", prefix, err)
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, filepath.Base(path))
	if err := build(out); err != nil {
		return "", err
	}
	old, _ := filepath.Glob(filepath.Join(dir, prefix+"-*"+ext))
	if err := os.Rename(out, path); err != nil {
		return "", fmt.Errorf("caching %s: %w", prefix, err)
	}
	for _, o := range old {
		if o != path {
			os.RemoveAll(o)
		}
	}
	return path, nil
}

// Ext4Image makes out a sparse raw disk of size bytes holding an ext4
// file system with dir's contents (mkfs.ext4 -d keeps owners and modes).
func Ext4Image(ctx context.Context, run Runner, dir, out, label string, size int64) error {
	f, err := os.Create(out)
	if err != nil {
		return fmt.Errorf("making disk %s: %w", out, err)
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return fmt.Errorf("making disk %s: %w", out, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("making disk %s: %w", out, err)
	}
	if _, err := run.Run(ctx, "", "mkfs.ext4", "-q", "-F", "-L", label, "-d", dir, out); err != nil {
		return fmt.Errorf("making disk %s: %w", out, err)
	}
	return nil
}
