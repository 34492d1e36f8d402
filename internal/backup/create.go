package backup

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/google/renameio/v2"

	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/provision"
)

// Sources are where a backup's members come from on a device.
type Sources struct {
	// Config is the config in effect; ConfigPath its file, which is
	// archived as it is (comments and all) and restored in its place.
	Config     config.Config
	ConfigPath string
	// Console exports the console's members (ChildConsole on a device).
	Console Console
	// DenyFile is the installed hostapd deny list, read while
	// agent.state_dir has none; "" is the device's.
	DenyFile string
	// TempDir is where members are staged; "" is os.TempDir.
	TempDir string
	Limits  Limits
	Log     *slog.Logger // nil: discard
}

func (s Sources) log() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}

// Collect gathers the device's members: the config file, the console's
// (a snapshot of its database and its generated TLS pair, through
// Console) and the agent's settings from agent.state_dir. The manifest is
// left for the caller. What the console's account sends is read as
// untrusted.
func Collect(ctx context.Context, s Sources) (*Contents, error) {
	if s.Console == nil || s.ConfigPath == "" {
		return nil, errors.New("backup.Collect: Console and ConfigPath are required")
	}
	l := s.Limits.withDefaults()
	raw, err := readSmall(s.ConfigPath)
	if err != nil {
		return nil, fmt.Errorf("reading the config: %w", err)
	}
	if _, err := config.Parse(raw); err != nil {
		return nil, fmt.Errorf("the config %s fails devmgr config check: %w", s.ConfigPath, err)
	}
	c, err := newContents(s.TempDir)
	if err != nil {
		return nil, err
	}
	c.Config = raw
	if err := c.collect(ctx, s, l); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (c *Contents) collect(ctx context.Context, s Sources, l Limits) error {
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := s.Console.Export(ctx, pw)
		pw.CloseWithError(err)
		done <- err
	}()
	rerr := c.readConsole(pr, l)
	pr.CloseWithError(errors.New("the console's members were read")) // unblocks an Export that writes on
	if eerr := <-done; eerr != nil {
		return fmt.Errorf("taking the console's members: %w", eerr)
	}
	if rerr != nil {
		return fmt.Errorf("reading the console's members: %w", rerr)
	}
	ag, err := ReadAgentState(s.Config, s.DenyFile)
	if err != nil {
		return err
	}
	return c.encodeAgent(ag)
}

// CreateOptions configure Create.
type CreateOptions struct {
	Sources
	// Dir is backup.dir: the archive is written there under Name unless
	// Output names a file. Dir is made root:root 0700 (mode 0700 when not
	// root).
	Dir    string
	Output string
	Kind   string // KindManual, KindScheduled or KindPreRestore
	// Passphrase, when set, encrypts the archive.
	Passphrase string
	WorkFactor int    // scrypt's; 0: DefaultWorkFactor
	Version    string // this devmgr's
	Hostname   string // "": os.Hostname
	Now        func() time.Time
}

// Info describes an archive in backup.dir.
type Info struct {
	Name      string    `json:"name"`
	Path      string    `json:"-"`
	Size      int64     `json:"size"`
	CreatedAt time.Time `json:"created_at"`
	Kind      string    `json:"kind"`
	Encrypted bool      `json:"encrypted"`
	// Version and Hostname are the manifest's; "" for an encrypted
	// archive (its manifest needs the passphrase) or one that does not
	// read (Problem says why).
	Version  string `json:"devmgr_version,omitempty"`
	Hostname string `json:"hostname,omitempty"`
	Problem  string `json:"problem,omitempty"`
}

// Create collects the device's members and writes them as an archive,
// atomically (a temporary file in the same directory, fsync, rename; mode
// 0600), then reads it back as Read does: a backup that would be refused
// is not kept. An existing file is never replaced, and none is written
// where it would take its filesystem's last free space (ErrNoRoom).
func Create(ctx context.Context, o CreateOptions) (Info, error) {
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	at := now().UTC().Truncate(time.Second)
	host := o.Hostname
	if host == "" {
		host, _ = os.Hostname()
	}
	path := o.Output
	if path == "" {
		if o.Dir == "" {
			return Info{}, errors.New("backup.Create: Dir or Output is required")
		}
		if err := EnsureDir(o.Dir); err != nil {
			return Info{}, err
		}
		path = filepath.Join(o.Dir, Name(host, at, o.Kind, o.Passphrase != ""))
		// Names go by the second: a second backup within the same one (a
		// button pressed twice) waits for the next, on the real clock.
		for try := 0; o.Now == nil && try < 3 && exists(path); try++ {
			select {
			case <-ctx.Done():
				return Info{}, ctx.Err()
			case <-time.After(time.Until(at.Add(time.Second))):
			}
			at = time.Now().UTC().Truncate(time.Second)
			path = filepath.Join(o.Dir, Name(host, at, o.Kind, o.Passphrase != ""))
		}
	}
	if exists(path) {
		return Info{}, fmt.Errorf("%s: %w", path, ErrExists)
	}
	c, err := Collect(ctx, o.Sources)
	if err != nil {
		return Info{}, err
	}
	defer c.Close()
	c.Manifest = Manifest{Version: o.Version, Hostname: host, CreatedAt: at, Kind: o.Kind}
	if err := writeFile(path, c, WriteOptions{Passphrase: o.Passphrase, WorkFactor: o.WorkFactor}); err != nil {
		return Info{}, err
	}
	if err := checkWritten(path, o); err != nil {
		os.Remove(path)
		return Info{}, err
	}
	st, err := os.Stat(path)
	if err != nil {
		return Info{}, err
	}
	return Info{Name: filepath.Base(path), Path: path, Size: st.Size(), CreatedAt: at, Kind: o.Kind,
		Encrypted: o.Passphrase != "", Version: o.Version, Hostname: host}, nil
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// writeFile writes c as an archive at path, atomically, mode 0600, when
// its filesystem has room for it (checkRoom): every kind of backup made
// on the device goes through it. The archive's size is not known before
// it is written, but its members' are (staged by Collect), and bound it
// (maxSize); checking before with that bound keeps even the temporary
// file from taking the last free space, which checking once written
// would not.
func writeFile(path string, c *Contents, o WriteOptions) error {
	size, err := c.maxSize()
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := checkRoom(filepath.Dir(path), size); err != nil {
		return err
	}
	pf, err := renameio.NewPendingFile(path, renameio.WithPermissions(0o600), renameio.WithStaticPermissions(0o600))
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer pf.Cleanup()
	if _, err := Write(pf, c, o); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := pf.CloseAtomicallyReplace(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// checkWritten reads a new archive back as a restore would read it.
func checkWritten(path string, o CreateOptions) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	c, err := Read(f, ReadOptions{Passphrase: func() (string, error) { return o.Passphrase, nil },
		TempDir: o.TempDir})
	if err != nil {
		return fmt.Errorf("reading back %s: %w", path, err)
	}
	return c.Close()
}

// Archive file names: devmgr-HOST-20060102T150405Z-KIND.tar.gz, or
// .devmgr-backup when encrypted.
const (
	extPlain     = ".tar.gz"
	extEncrypted = ".devmgr-backup"
)

var nameRE = regexp.MustCompile(`^devmgr-([A-Za-z0-9-]{1,63})-(\d{8}T\d{6}Z)-(manual|scheduled|pre-restore|pre-reset|uploaded)(\.tar\.gz|\.devmgr-backup)$`)

// KindUploaded names an archive that came in through Upload: its name
// has the host and time of its manifest, its manifest the kind it was
// made as. It is never a manifest's kind, and Prune leaves it.
const KindUploaded = "uploaded"

// ValidName reports whether name is the name of an archive in backup.dir
// as List names them: a base name, never a path.
func ValidName(name string) bool { return nameRE.MatchString(name) }

// Name is the file name of an archive made on host at at.
func Name(host string, at time.Time, kind string, encrypted bool) string {
	h := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '-'
	}, host)
	if h == "" {
		h = "device"
	}
	ext := extPlain
	if encrypted {
		ext = extEncrypted
	}
	return fmt.Sprintf("devmgr-%s-%s-%s%s", h[:min(len(h), 63)], at.UTC().Format("20060102T150405Z"), kind, ext)
}

// EnsureDir makes backup.dir: root:root 0700 when run as root (a symlink
// in its place is refused), else mode 0700.
func EnsureDir(dir string) error {
	if os.Geteuid() == 0 {
		return provision.MakeRootDir(dir, "the backup directory")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating the backup directory %s: %w", dir, err)
	}
	st, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("checking the backup directory %s: %w", dir, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("the backup directory %s is not a directory (%s)", dir, st.Mode().Type())
	}
	return os.Chmod(dir, 0o700)
}

// List describes the archives in dir, newest first; files of other names
// are left out.
func List(dir string) ([]Info, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return []Info{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing backups: %w", err)
	}
	out := []Info{}
	for _, e := range ents {
		m := nameRE.FindStringSubmatch(e.Name())
		if m == nil || !e.Type().IsRegular() {
			continue
		}
		at, err := time.Parse("20060102T150405Z", m[2])
		if err != nil {
			continue
		}
		info := Info{Name: e.Name(), Path: filepath.Join(dir, e.Name()), CreatedAt: at, Kind: m[3], Encrypted: m[4] == extEncrypted}
		if fi, err := e.Info(); err == nil {
			info.Size = fi.Size()
		}
		if !info.Encrypted {
			if man, err := peekManifest(info.Path); err != nil {
				info.Problem = err.Error()
			} else {
				info.Version, info.Hostname = man.Version, man.Hostname
			}
		}
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b Info) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(b.Name, a.Name)
	})
	return out, nil
}

// peekManifest reads the manifest of an unencrypted archive, only.
func peekManifest(path string) (Manifest, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return Manifest{}, err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return Manifest{}, fmt.Errorf("%w: %v", ErrDamaged, err)
	}
	l := DefaultLimits
	tr := tar.NewReader(gz)
	hdr, err := nextEntry(tr, l)
	if err != nil {
		return Manifest{}, err
	}
	if hdr.Name != MemberManifest {
		return Manifest{}, fmt.Errorf("%w: its first member is not %s", ErrNotBackup, MemberManifest)
	}
	b, err := io.ReadAll(io.LimitReader(tr, hdr.Size))
	if err != nil {
		return Manifest{}, readErr("member "+MemberManifest, err)
	}
	return parseManifest(b, l)
}

// Prune removes the scheduled archives of dir beyond the keep newest and
// returns the names it removed. Manual and pre-restore backups stay until
// someone removes them.
func Prune(dir string, keep int) ([]string, error) {
	list, err := List(dir)
	if err != nil {
		return nil, err
	}
	var removed []string
	n := 0
	for _, b := range list {
		if b.Kind != KindScheduled {
			continue
		}
		if n++; n <= keep {
			continue
		}
		if err := os.Remove(b.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return removed, fmt.Errorf("removing old backup: %w", err)
		}
		removed = append(removed, b.Name)
	}
	return removed, nil
}

// LastScheduled is when the newest scheduled archive in dir was made
// (Ticker.Last); ok is false when there is none.
func LastScheduled(dir string) (time.Time, bool) {
	list, err := List(dir)
	if err != nil {
		return time.Time{}, false
	}
	for _, b := range list {
		if b.Kind == KindScheduled {
			return b.CreatedAt, true
		}
	}
	return time.Time{}, false
}
