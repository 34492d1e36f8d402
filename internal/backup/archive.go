package backup

import (
	"archive/tar"
	"bufio"
	"bytes"
	"cmp"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"filippo.io/age"

	"github.com/devmgr/devmgr/internal/change"
	"github.com/devmgr/devmgr/internal/store"
)

// Contents are the members of one backup: the database staged in a
// private temporary directory, the rest in memory. Close removes the
// directory.
type Contents struct {
	Manifest  Manifest
	Encrypted bool // read from an encrypted archive
	Config    []byte
	// TLSCert and TLSKey are the pair devmgr generated; nil when it did
	// not (the config names its own, or TLS is off).
	TLSCert, TLSKey []byte
	AP, LAN         []byte // JSON: apmgr.State, map of netif.LinkConfig
	dir             string
}

// newContents makes empty contents staged in a new directory under
// tempDir ("" is os.TempDir), 0700.
func newContents(tempDir string) (*Contents, error) {
	dir, err := os.MkdirTemp(tempDir, "devmgr-backup-")
	if err != nil {
		return nil, fmt.Errorf("making a staging directory: %w", err)
	}
	if err := os.Mkdir(filepath.Join(dir, "db"), 0o700); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("making a staging directory: %w", err)
	}
	return &Contents{dir: dir}, nil
}

// DBDir is the directory that holds the database member as
// store.FileName: what store.Open takes.
func (c *Contents) DBDir() string { return filepath.Join(c.dir, "db") }

func (c *Contents) dbPath() string { return filepath.Join(c.DBDir(), store.FileName) }

// Close removes the staged files.
func (c *Contents) Close() error {
	if c == nil || c.dir == "" {
		return nil
	}
	return os.RemoveAll(c.dir)
}

// small returns the in-memory member name (nil for the database).
func (c *Contents) small(name string) *[]byte {
	switch name {
	case MemberConfig:
		return &c.Config
	case MemberTLSCert:
		return &c.TLSCert
	case MemberTLSKey:
		return &c.TLSKey
	case MemberAP:
		return &c.AP
	case MemberLAN:
		return &c.LAN
	}
	return nil
}

// present lists the members c holds, in archive order (no manifest).
func (c *Contents) present() []string {
	var names []string
	for _, n := range memberOrder[1:] {
		if n == MemberDB {
			if _, err := os.Lstat(c.dbPath()); err == nil {
				names = append(names, n)
			}
			continue
		}
		if *c.small(n) != nil {
			names = append(names, n)
		}
	}
	return names
}

// open opens a member for reading and returns its size.
func (c *Contents) open(name string) (io.ReadCloser, int64, error) {
	if name != MemberDB {
		b := *c.small(name)
		return io.NopCloser(bytes.NewReader(b)), int64(len(b)), nil
	}
	f, err := os.OpenFile(c.dbPath(), os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, 0, fmt.Errorf("opening the staged database: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("opening the staged database: %w", err)
	}
	return f, st.Size(), nil
}

// put stores member name of size bytes from r and returns its SHA-256.
func (c *Contents) put(name string, r io.Reader, size int64) (string, error) {
	h := sha256.New()
	r = io.TeeReader(io.LimitReader(r, size), h)
	if name == MemberDB {
		f, err := os.OpenFile(c.dbPath(), os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
		if err != nil {
			return "", fmt.Errorf("staging %s: %w", name, err)
		}
		n, err := io.Copy(f, r)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return "", readErr("member "+name, err)
		}
		if n != size {
			return "", fmt.Errorf("%w: member %s ends after %d of its %d bytes", ErrDamaged, name, n, size)
		}
		return hex.EncodeToString(h.Sum(nil)), nil
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return "", readErr("member "+name, err)
	}
	if int64(len(b)) != size {
		return "", fmt.Errorf("%w: member %s ends after %d of its %d bytes", ErrDamaged, name, len(b), size)
	}
	*c.small(name) = b
	return hex.EncodeToString(h.Sum(nil)), nil
}

// readErr says why reading what failed: a limit, or damage.
func readErr(what string, err error) error {
	var ce *capError
	if errors.As(err, &ce) {
		return ce
	}
	return fmt.Errorf("%w: reading %s: %v", ErrDamaged, what, err)
}

// WriteOptions configure Write.
type WriteOptions struct {
	// Passphrase, when set, encrypts the archive with it (age, scrypt).
	Passphrase string
	// WorkFactor is scrypt's log2 N; 0: DefaultWorkFactor. Tests lower it.
	WorkFactor int
}

// DefaultWorkFactor is scrypt's log2 N for an encrypted archive: 256 MiB
// and about a second to derive the key, the age tool's default.
const DefaultWorkFactor = 18

// MaxWorkFactor is the highest work factor Read accepts, so that an
// archive cannot ask for more memory than a small device has.
const MaxWorkFactor = 18

// MinPassphrase is the shortest passphrase Write accepts.
const MinPassphrase = 12

// Write writes c as an archive to w: a tar.gz whose first member is the
// manifest (c.Manifest with Format and Members filled in), then the
// members in a fixed order, each a regular file of mode 0600 under its
// logical name; encrypted with age when o.Passphrase is set. It returns
// the manifest written.
func Write(w io.Writer, c *Contents, o WriteOptions) (Manifest, error) {
	m := c.Manifest
	m.Format, m.Members = FormatVersion, nil
	if !slices.Contains(kinds, m.Kind) {
		return Manifest{}, fmt.Errorf("writing a backup: kind %q is not one of %s", m.Kind, strings.Join(kinds, ", "))
	}
	names := c.present()
	for _, name := range names {
		sum, size, err := hashMember(c, name)
		if err != nil {
			return Manifest{}, err
		}
		m.Members = append(m.Members, Member{Name: name, Size: size, SHA256: sum})
	}
	mb, err := m.encode()
	if err != nil {
		return Manifest{}, err
	}
	out := w
	var enc io.WriteCloser
	if o.Passphrase != "" {
		if len(o.Passphrase) < MinPassphrase {
			return Manifest{}, fmt.Errorf("the passphrase has %d characters; a backup's needs at least %d", len(o.Passphrase), MinPassphrase)
		}
		wf := cmp.Or(o.WorkFactor, DefaultWorkFactor)
		if wf < 1 || wf > MaxWorkFactor {
			return Manifest{}, fmt.Errorf("encrypting the backup: scrypt work factor %d is outside 1..%d", wf, MaxWorkFactor)
		}
		r, err := age.NewScryptRecipient(o.Passphrase)
		if err != nil {
			return Manifest{}, fmt.Errorf("encrypting the backup: %w", err)
		}
		r.SetWorkFactor(wf)
		if enc, err = age.Encrypt(w, r); err != nil {
			return Manifest{}, fmt.Errorf("encrypting the backup: %w", err)
		}
		out = enc
	}
	gz := gzip.NewWriter(out)
	tw := tar.NewWriter(gz)
	if err := writeEntry(tw, MemberManifest, bytes.NewReader(mb), int64(len(mb)), "", m.CreatedAt); err != nil {
		return Manifest{}, err
	}
	for _, x := range m.Members {
		r, _, err := c.open(x.Name)
		if err != nil {
			return Manifest{}, err
		}
		err = writeEntry(tw, x.Name, r, x.Size, x.SHA256, m.CreatedAt)
		r.Close()
		if err != nil {
			return Manifest{}, err
		}
	}
	if err := tw.Close(); err != nil {
		return Manifest{}, fmt.Errorf("writing the backup: %w", err)
	}
	if err := gz.Close(); err != nil {
		return Manifest{}, fmt.Errorf("writing the backup: %w", err)
	}
	if enc != nil {
		if err := enc.Close(); err != nil {
			return Manifest{}, fmt.Errorf("writing the backup: %w", err)
		}
	}
	return m, nil
}

// maxSize is the most an archive of c may be, however Write packs it:
// every member whole (deflate stores as it is a block it cannot shrink),
// with its 512-byte tar header and at most 511 bytes of padding; a
// thousandth more for deflate's 5 bytes and age's 16 per 64 KiB block;
// and 64 KiB for the manifest (some hundred bytes a member), tar's end,
// gzip's header and trailer and age's header. The database, the bulk of
// it, shrinks some sixfold: the bound is far above what is written, never
// below.
func (c *Contents) maxSize() (int64, error) {
	n := int64(64 << 10)
	for _, name := range c.present() {
		r, size, err := c.open(name)
		if err != nil {
			return 0, err
		}
		r.Close()
		n += size + 1024
	}
	return n + n/1000, nil
}

func hashMember(c *Contents, name string) (string, int64, error) {
	r, _, err := c.open(name)
	if err != nil {
		return "", 0, err
	}
	defer r.Close()
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return "", 0, fmt.Errorf("reading staged %s: %w", name, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// writeEntry writes one member; with sum set, what it wrote must hash to
// it (a staged file that changed meanwhile is an error, not a backup that
// fails its own check).
func writeEntry(tw *tar.Writer, name string, r io.Reader, size int64, sum string, mtime time.Time) error {
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o600, Size: size,
		ModTime: mtime.UTC().Truncate(time.Second), Format: tar.FormatUSTAR}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("writing member %s: %w", name, err)
	}
	h := sha256.New()
	if _, err := io.Copy(tw, io.TeeReader(r, h)); err != nil {
		return fmt.Errorf("writing member %s: %w", name, err)
	}
	if sum != "" && hex.EncodeToString(h.Sum(nil)) != sum {
		return fmt.Errorf("writing member %s: it changed while the backup was written", name)
	}
	return nil
}

// ReadOptions configure Read.
type ReadOptions struct {
	// Passphrase is asked for when the archive is encrypted (a prompt, a
	// file); nil: an encrypted archive is ErrNeedPassphrase.
	Passphrase func() (string, error)
	Limits     Limits
	// TempDir is where the database member is staged; "" is os.TempDir.
	TempDir string
	// MaxWorkFactor bounds scrypt's log2 N; 0: MaxWorkFactor.
	MaxWorkFactor int
}

var (
	ageMagic  = []byte("age-encryption.org/v1\n")
	gzipMagic = []byte{0x1f, 0x8b}
)

// Read reads an archive from r, which may come from anyone: its size, and
// every member's, is bounded; every member must be a regular file with
// one of the known logical names (a link, device, directory, absolute or
// ".." name is ErrUnsafe); the manifest comes first and its format must
// not be newer than this devmgr's (ErrTooNew, naming the devmgr that made
// it); every member must have the size and SHA-256 the manifest lists
// (ErrTampered), and gzip's and age's own checks must pass (ErrDamaged,
// ErrPassphrase). Read only stages what it reads; Verify judges the
// contents. The caller closes the result.
func Read(r io.Reader, o ReadOptions) (*Contents, error) {
	l := o.Limits.withDefaults()
	br := bufio.NewReader(&capReader{r: r, n: l.Archive, err: &capError{fmt.Sprintf("the file is larger than %d bytes", l.Archive)}})
	head, _ := br.Peek(len(ageMagic))
	var plain io.Reader = br
	encrypted := false
	switch {
	case bytes.Equal(head, ageMagic):
		encrypted = true
		if o.Passphrase == nil {
			return nil, ErrNeedPassphrase
		}
		pass, err := o.Passphrase()
		if err != nil {
			return nil, fmt.Errorf("reading the passphrase: %w", err)
		}
		if pass == "" {
			return nil, ErrNeedPassphrase
		}
		id, err := age.NewScryptIdentity(pass)
		if err != nil {
			return nil, fmt.Errorf("decrypting the backup: %w", err)
		}
		id.SetMaxWorkFactor(cmp.Or(o.MaxWorkFactor, MaxWorkFactor))
		plain, err = age.Decrypt(br, id)
		var nomatch *age.NoIdentityMatchError
		switch {
		case errors.As(err, &nomatch):
			return nil, ErrPassphrase
		case err != nil:
			return nil, fmt.Errorf("%w: decrypting: %v", ErrDamaged, err)
		}
	case bytes.HasPrefix(head, gzipMagic):
	case len(head) == 0:
		return nil, fmt.Errorf("%w: the file is empty", ErrNotBackup)
	default:
		return nil, fmt.Errorf("%w: it is neither a .tar.gz nor an encrypted .devmgr-backup", ErrNotBackup)
	}
	gz, err := gzip.NewReader(plain)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDamaged, err)
	}
	gz.Multistream(false)
	total := &capReader{r: gz, n: l.Total, err: &capError{fmt.Sprintf("it unpacks to more than %d bytes", l.Total)}}
	c, err := newContents(o.TempDir)
	if err != nil {
		return nil, err
	}
	c.Encrypted = encrypted
	if err := c.readArchive(tar.NewReader(total), l); err != nil {
		c.Close()
		return nil, err
	}
	// The rest of the stream: tar's padding, then gzip's checksum (and
	// age's last chunk) are checked only when read.
	if _, err := io.Copy(io.Discard, total); err != nil {
		c.Close()
		return nil, readErr("the end of the archive", err)
	}
	if _, err := io.Copy(io.Discard, br); err != nil {
		c.Close()
		return nil, readErr("the end of the file", err)
	}
	return c, nil
}

// readArchive reads the manifest, then every member it lists.
func (c *Contents) readArchive(tr *tar.Reader, l Limits) error {
	hdr, err := nextEntry(tr, l)
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: the archive is empty", ErrNotBackup)
	}
	if err != nil {
		return err
	}
	if hdr.Name != MemberManifest {
		return fmt.Errorf("%w: its first member is %q, not %s", ErrNotBackup, change.Clip(hdr.Name), MemberManifest)
	}
	mb, err := io.ReadAll(io.LimitReader(tr, hdr.Size))
	if err != nil {
		return readErr("member "+MemberManifest, err)
	}
	m, err := parseManifest(mb, l)
	if err != nil {
		return err
	}
	c.Manifest = m
	seen := map[string]bool{}
	for {
		hdr, err := nextEntry(tr, l)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		want, ok := m.member(hdr.Name)
		switch {
		case hdr.Name == MemberManifest || seen[hdr.Name]:
			return fmt.Errorf("%w: member %s appears twice", ErrTampered, hdr.Name)
		case !ok:
			return fmt.Errorf("%w: member %s is not in its manifest", ErrTampered, hdr.Name)
		case hdr.Size != want.Size:
			return fmt.Errorf("%w: member %s has %d bytes, its manifest says %d", ErrTampered, hdr.Name, hdr.Size, want.Size)
		}
		seen[hdr.Name] = true
		sum, err := c.put(hdr.Name, tr, hdr.Size)
		if err != nil {
			return err
		}
		if sum != want.SHA256 {
			return fmt.Errorf("%w: member %s does not match the SHA-256 its manifest lists", ErrTampered, hdr.Name)
		}
	}
	for _, x := range m.Members {
		if !seen[x.Name] {
			return fmt.Errorf("%w: member %s, which its manifest lists, is missing", ErrDamaged, x.Name)
		}
	}
	return nil
}

// nextEntry returns the next member's header once it is known to be a
// regular file with a known name within limits; io.EOF at the end.
func nextEntry(tr *tar.Reader, l Limits) (*tar.Header, error) {
	hdr, err := tr.Next()
	if errors.Is(err, io.EOF) {
		return nil, io.EOF
	}
	if err != nil {
		return nil, readErr("a member's header", err)
	}
	name := hdr.Name
	clean := path.Clean(name)
	switch {
	case strings.HasPrefix(name, "/"):
		return nil, fmt.Errorf("%w: member %q has an absolute name", ErrUnsafe, change.Clip(name))
	case clean == ".." || strings.HasPrefix(clean, "../") || slices.Contains(strings.Split(name, "/"), ".."):
		return nil, fmt.Errorf("%w: member %q climbs out of the archive (a .. element)", ErrUnsafe, change.Clip(name))
	case hdr.Typeflag == tar.TypeSymlink || hdr.Typeflag == tar.TypeLink:
		return nil, fmt.Errorf("%w: member %q is a link (to %q)", ErrUnsafe, change.Clip(name), change.Clip(hdr.Linkname))
	case hdr.Typeflag == tar.TypeChar || hdr.Typeflag == tar.TypeBlock || hdr.Typeflag == tar.TypeFifo:
		return nil, fmt.Errorf("%w: member %q is a device or FIFO", ErrUnsafe, change.Clip(name))
	case hdr.Typeflag == tar.TypeDir:
		return nil, fmt.Errorf("%w: member %q is a directory", ErrUnsafe, change.Clip(name))
	case hdr.Typeflag != tar.TypeReg:
		return nil, fmt.Errorf("%w: member %q is not a regular file (type %q)", ErrUnsafe, change.Clip(name), hdr.Typeflag)
	case !slices.Contains(memberOrder, name):
		return nil, fmt.Errorf("%w: member %q is not one devmgr writes", ErrInvalid, change.Clip(name))
	case hdr.Size > l.max(name):
		return nil, fmt.Errorf("%w: member %s is %d bytes, at most %d are read", ErrTooLarge, name, hdr.Size, l.max(name))
	}
	return hdr, nil
}

// capReader fails with err once more than n bytes have been read.
type capReader struct {
	r   io.Reader
	n   int64
	err error
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.n < 0 {
		return 0, c.err
	}
	if int64(len(p)) > c.n+1 {
		p = p[:c.n+1]
	}
	k, err := c.r.Read(p)
	c.n -= int64(k)
	if c.n < 0 {
		return k, c.err
	}
	return k, err
}

// capError is ErrTooLarge with what was too large.
type capError struct{ what string }

func (e *capError) Error() string { return ErrTooLarge.Error() + ": " + e.what }
func (e *capError) Is(target error) bool {
	return target == ErrTooLarge
}
