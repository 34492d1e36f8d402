package change

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/google/renameio/v2"
)

// ErrInvalid marks a file read back from a state directory that failed
// validation: it is set aside and never used.
var ErrInvalid = errors.New("failed validation")

// Invalidf returns an error wrapping ErrInvalid.
func Invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// MaxFile bounds what is read back of a state file.
const MaxFile = 1 << 20

// ReadJSON strictly decodes the file at p into v and reports whether it
// existed. No symlink is followed; a file larger than MaxFile, with
// unknown fields or trailing data is ErrInvalid.
func ReadJSON(p string, v any) (bool, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", p, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxFile+1))
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", p, err)
	}
	if len(b) > MaxFile {
		return true, Invalidf("%s is larger than %d bytes", p, MaxFile)
	}
	if err := DecodeStrict(b, v); err != nil {
		return true, Invalidf("parsing %s: %v", p, err)
	}
	return true, nil
}

// DecodeStrict decodes one JSON value from b into v, refusing unknown
// fields and trailing data. Modules decode their journaled Undo and Keep
// with it: the engine's own decoding leaves those raw.
func DecodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("data after the JSON value")
	}
	return nil
}

// WriteJSON writes v as indented JSON to p atomically, mode 0600.
func WriteJSON(p string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding %s: %w", filepath.Base(p), err)
	}
	if err := renameio.WriteFile(p, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", p, err)
	}
	return nil
}

// Rejecter sets aside files of a state directory that failed validation
// and reports them.
type Rejecter struct {
	Dir string
	// Prefix is put before a file's name in what OnRejected is told, so
	// that the report names the file within the state directory.
	Prefix     string
	OnRejected func(file, reason string) // nil: only logged
	Now        func() time.Time          // nil: time.Now
	Log        *slog.Logger              // nil: discard
}

// Reject renames Dir/name to Dir/name.rejected-UNIXTIME, logs it and
// tells OnRejected.
func (r Rejecter) Reject(name string, why error) {
	now, log := r.Now, r.Log
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := filepath.Join(r.Dir, name)
	aside := fmt.Sprintf("%s.rejected-%d", p, now().Unix())
	if err := os.Rename(p, aside); err != nil && !errors.Is(err, fs.ErrNotExist) {
		log.Error("setting aside a state file that failed validation", "file", p, "err", err)
	}
	log.Error("state file failed validation; set aside, not used", "file", p, "moved_to", aside, "reason", why)
	if r.OnRejected != nil {
		r.OnRejected(r.Prefix+name, why.Error())
	}
}

// Clip shortens s for an error message about a value read back from disk.
func Clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// JournalPending reports whether dir (an engine's Dir) holds the journal
// of a pending change, which the engine's next Recover rolls back: files
// written beside it while no engine runs (a restore) would be undone.
func JournalPending(dir string) (bool, error) {
	_, err := os.Lstat(filepath.Join(dir, pendingFile))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	}
	return false, fmt.Errorf("looking for a pending change: %w", err)
}
