package backup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

// ErrExists refuses to write an archive where one is already: a backup
// never replaces a file.
var ErrExists = errors.New("a backup of that name is there already; a backup never replaces a file")

// UploadOptions configure Upload.
type UploadOptions struct {
	// Dir is backup.dir, where the archive is kept.
	Dir string
	// Passphrase is asked for when the archive is encrypted.
	Passphrase func() (string, error)
	// Limits bound the archive (Archive: the upload itself) and what it
	// unpacks to.
	Limits Limits
	// TempDir is where its database is staged to be checked; "" is
	// os.TempDir.
	TempDir string
	Log     *slog.Logger // nil: discard
}

// Upload keeps in o.Dir an archive that comes from elsewhere (the
// console's upload), once it passes every check of a restore
// (CheckArchive: Read, then Verify). It is written to a temporary file of
// o.Dir (mode 0600), at most o.Limits.Archive bytes, checked there, and
// only then named Name(its manifest's host, its manifest's time,
// KindUploaded, encrypted); a refused archive leaves nothing behind. The
// same archive uploaded twice is ErrExists; one that might take the last
// free space of o.Dir's filesystem, o.Limits.Archive bytes, is ErrNoRoom
// before anything is read.
func Upload(ctx context.Context, r io.Reader, o UploadOptions) (Info, error) {
	if o.Dir == "" {
		return Info{}, errors.New("backup.Upload: Dir is required")
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := EnsureDir(o.Dir); err != nil {
		return Info{}, err
	}
	l := o.Limits.withDefaults()
	// Its size is known once it is read; the most it may be is known now.
	if err := checkRoom(o.Dir, l.Archive); err != nil {
		return Info{}, err
	}
	f, err := os.CreateTemp(o.Dir, ".upload-")
	if err != nil {
		return Info{}, fmt.Errorf("keeping the upload: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // once linked to its name, or refused
	defer f.Close()
	size, err := io.Copy(f, &capReader{r: r, n: l.Archive, err: &capError{fmt.Sprintf("the file is larger than %d bytes", l.Archive)}})
	var ce *capError
	if errors.As(err, &ce) {
		return Info{}, ce
	}
	if err != nil {
		return Info{}, fmt.Errorf("reading the upload: %w", err)
	}
	if err := f.Sync(); err != nil {
		return Info{}, fmt.Errorf("keeping the upload: %w", err)
	}
	head := make([]byte, len(ageMagic))
	n, _ := f.ReadAt(head, 0)
	encrypted := bytes.Equal(head[:n], ageMagic)
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return Info{}, fmt.Errorf("checking the upload: %w", err)
	}
	m, _, err := CheckArchive(ctx, f, ReadOptions{Passphrase: o.Passphrase, Limits: o.Limits, TempDir: o.TempDir}, log)
	if err != nil {
		return Info{}, err
	}
	at := m.CreatedAt.UTC().Truncate(time.Second)
	name := Name(m.Hostname, at, KindUploaded, encrypted)
	path := filepath.Join(o.Dir, name)
	// A link does not replace what is there, as a rename would.
	if err := os.Link(tmp, path); errors.Is(err, os.ErrExist) {
		return Info{}, fmt.Errorf("%s: %w", name, ErrExists)
	} else if err != nil {
		return Info{}, fmt.Errorf("keeping the upload as %s: %w", name, err)
	}
	if d, err := os.Open(o.Dir); err == nil {
		d.Sync()
		d.Close()
	}
	info := Info{Name: name, Path: path, Size: size, CreatedAt: at, Kind: KindUploaded, Encrypted: encrypted}
	if !encrypted {
		info.Version, info.Hostname = m.Version, m.Hostname
	}
	return info, nil
}
