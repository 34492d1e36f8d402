package backup

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/google/renameio/v2"

	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/store"
	"github.com/devmgr/devmgr/internal/tlsutil"
)

// Console reaches the console's share of a backup in data_dir: a
// consistent snapshot of its database and the TLS pair devmgr generated.
// Root never opens files there (the console's account owns the directory
// and could leave symlinks in it): on a device ChildConsole runs
// LocalConsole as web.user; where the caller is that account (a
// development run, tests) LocalConsole serves directly.
type Console interface {
	// Export writes the console's members as an uncompressed tar stream:
	// MemberDB, and MemberTLSCert and MemberTLSKey when devmgr generated
	// the pair.
	Export(ctx context.Context, w io.Writer) error
	// Import puts the members of such a stream in place: the database's
	// users and tokens (every session ends; see store.RestoreAccounts) and
	// the TLS pair, which the console serves from its next start.
	Import(ctx context.Context, r io.Reader) error
}

// LocalConsole is Console in this process, which must run as the owner of
// data_dir.
type LocalConsole struct {
	Config config.Config
	Log    *slog.Logger // nil: discard
	Limits Limits       // of an imported stream; zero: DefaultLimits
}

// ActRestore is the audit action of a restore, in the console's log and
// the agent's.
const ActRestore = "backup.restore"

// TLSDir is where the console keeps the pair it generates (internal/web).
func TLSDir(cfg config.Config) string { return filepath.Join(cfg.DataDir, "tls") }

// generatedTLS reports whether cfg has the console serve a pair devmgr
// generated (no cert of its own, TLS on).
func generatedTLS(cfg config.Config) bool { return cfg.Web.TLS.Cert == "" && !cfg.Web.TLS.Disable }

func (l LocalConsole) log() *slog.Logger {
	if l.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l.Log
}

func (l LocalConsole) open(ctx context.Context) (*store.DB, error) {
	c := l.Config
	return store.Open(ctx, c.DataDir, l.log(), store.AuditRetention(time.Duration(c.Audit.Keep), c.Audit.MaxRows))
}

// Export implements Console: the snapshot is taken in a private directory
// of data_dir and removed once written.
func (l LocalConsole) Export(ctx context.Context, w io.Writer) error {
	db, err := l.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	tmp, err := os.MkdirTemp(l.Config.DataDir, ".backup-")
	if err != nil {
		return fmt.Errorf("making a directory for the database snapshot: %w", err)
	}
	defer os.RemoveAll(tmp)
	snap := filepath.Join(tmp, store.FileName)
	if err := db.Snapshot(ctx, snap); err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	f, err := os.Open(snap)
	if err != nil {
		return fmt.Errorf("reading the database snapshot: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("reading the database snapshot: %w", err)
	}
	now := time.Now()
	if err := writeEntry(tw, MemberDB, f, st.Size(), "", now); err != nil {
		return err
	}
	cert, key, err := readTLS(l.Config)
	if err != nil {
		return err
	}
	if cert != nil {
		for _, m := range []struct {
			name string
			b    []byte
		}{{MemberTLSCert, cert}, {MemberTLSKey, key}} {
			if err := writeEntry(tw, m.name, bytes.NewReader(m.b), int64(len(m.b)), "", now); err != nil {
				return err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("writing the console's members: %w", err)
	}
	return nil
}

// readTLS reads the generated pair, if the config uses one and both files
// are there; nil otherwise.
func readTLS(cfg config.Config) (cert, key []byte, err error) {
	if !generatedTLS(cfg) {
		return nil, nil, nil
	}
	dir := TLSDir(cfg)
	cert, err = readSmall(filepath.Join(dir, tlsutil.CertFile))
	if err == nil {
		key, err = readSmall(filepath.Join(dir, tlsutil.KeyFile))
	}
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil // none made yet: the console makes one at its start
	}
	if err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}

// readSmall reads a regular file of at most DefaultLimits.Member bytes
// without following a symlink.
func readSmall(p string) ([]byte, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", p, err)
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return nil, fmt.Errorf("reading %s: not a regular file", p)
	}
	b, err := io.ReadAll(io.LimitReader(f, DefaultLimits.Member+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", p, err)
	}
	if int64(len(b)) > DefaultLimits.Member {
		return nil, fmt.Errorf("reading %s: larger than %d bytes", p, DefaultLimits.Member)
	}
	return b, nil
}

// Import implements Console. The stream is checked again before anything
// changes: the database opens, migrates and passes SQLite's integrity
// check in a private directory of data_dir, and the TLS pair loads.
func (l LocalConsole) Import(ctx context.Context, r io.Reader) error {
	tmp, err := os.MkdirTemp(l.Config.DataDir, ".restore-")
	if err != nil {
		return fmt.Errorf("making a directory for the restored database: %w", err)
	}
	c := &Contents{dir: tmp}
	defer c.Close()
	if err := os.Mkdir(c.DBDir(), 0o700); err != nil {
		return fmt.Errorf("making a directory for the restored database: %w", err)
	}
	if err := c.readConsole(r, l.Limits.withDefaults()); err != nil {
		return err
	}
	snap, err := openChecked(ctx, c.DBDir(), l.log())
	if err != nil {
		return err
	}
	if err := snap.Close(); err != nil {
		return fmt.Errorf("closing the restored database: %w", err)
	}
	if c.TLSCert != nil {
		if _, err := tls.X509KeyPair(c.TLSCert, c.TLSKey); err != nil {
			return fmt.Errorf("%w: the TLS certificate and key: %v", ErrInvalid, err)
		}
	}
	db, err := l.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	res, err := db.RestoreAccounts(ctx, c.dbPath())
	if err != nil {
		return err
	}
	detail := fmt.Sprintf("%d users and %d tokens restored; every session ended", res.Users, res.Tokens)
	if c.TLSCert != nil {
		if err := installTLS(l.Config, c.TLSCert, c.TLSKey); err != nil {
			return err
		}
		detail += "; TLS certificate restored"
	}
	if err := db.Audit(ctx, store.AuditEntry{User: "restore", Source: "local", Action: ActRestore, Target: "console",
		Result: "ok", Detail: detail}); err != nil {
		l.log().Warn("writing audit entry", "action", ActRestore, "err", err)
	}
	return nil
}

// openChecked opens the database in dir (migrating it to this devmgr's
// schema) once SQLite's integrity check passes.
func openChecked(ctx context.Context, dir string, log *slog.Logger) (*store.DB, error) {
	db, err := store.Open(ctx, dir, log)
	if errors.Is(err, store.ErrTooNew) {
		return nil, fmt.Errorf("%w: its database: %v", ErrTooNew, err)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: its database does not open: %v", ErrDamaged, err)
	}
	if err := db.Check(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("%w: its database: %v", ErrDamaged, err)
	}
	return db, nil
}

// installTLS writes the pair where the console finds it, key first.
func installTLS(cfg config.Config, cert, key []byte) error {
	dir := TLSDir(cfg)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	for _, f := range []struct {
		name string
		b    []byte
		mode os.FileMode
	}{{tlsutil.KeyFile, key, 0o600}, {tlsutil.CertFile, cert, 0o644}} {
		p := filepath.Join(dir, f.name)
		if err := renameio.WriteFile(p, f.b, f.mode); err != nil {
			return fmt.Errorf("writing %s: %w", p, err)
		}
	}
	return nil
}

// readConsole stages the members of a console stream (Console.Export's
// form): only the console's members, the database required.
func (c *Contents) readConsole(r io.Reader, l Limits) error {
	tr := tar.NewReader(&capReader{r: r, n: l.Total, err: &capError{fmt.Sprintf("the console's members are more than %d bytes", l.Total)}})
	seen := map[string]bool{}
	for {
		hdr, err := nextEntry(tr, l)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if !slices.Contains(consoleMembers, hdr.Name) || seen[hdr.Name] {
			return fmt.Errorf("%w: the console's members hold %s, or hold it twice", ErrInvalid, hdr.Name)
		}
		seen[hdr.Name] = true
		if _, err := c.put(hdr.Name, tr, hdr.Size); err != nil {
			return err
		}
	}
	if !seen[MemberDB] {
		return fmt.Errorf("%w: the console's members lack %s", ErrInvalid, MemberDB)
	}
	if seen[MemberTLSCert] != seen[MemberTLSKey] {
		return fmt.Errorf("%w: the console's members hold only one of %s and %s", ErrInvalid, MemberTLSCert, MemberTLSKey)
	}
	return nil
}

// writeConsole writes c's console members as a console stream; the TLS
// pair only withTLS.
func (c *Contents) writeConsole(w io.Writer, withTLS bool) error {
	tw := tar.NewWriter(w)
	for _, name := range c.present() {
		if !slices.Contains(consoleMembers, name) || !withTLS && name != MemberDB {
			continue
		}
		r, size, err := c.open(name)
		if err != nil {
			return err
		}
		err = writeEntry(tw, name, r, size, "", c.Manifest.CreatedAt)
		r.Close()
		if err != nil {
			return err
		}
	}
	return tw.Close()
}

// ChildConsole is Console in a child process running as the console's
// account: Argv (devmgr's binary and the subcommand that serves
// LocalConsole on standard input and output) gets "export" or "import"
// and --config=/dev/fd/3 appended, and the config file's bytes come on
// descriptor 3, so that the account needs no access to the file. What the
// child exports is read as untrusted, as an archive is.
type ChildConsole struct {
	Argv       []string
	Config     []byte
	Credential *syscall.Credential
	// Env is the child's environment (nil: this process's).
	Env []string
}

// Export implements Console.
func (c ChildConsole) Export(ctx context.Context, w io.Writer) error {
	return c.run(ctx, "export", nil, w)
}

// Import implements Console.
func (c ChildConsole) Import(ctx context.Context, r io.Reader) error {
	return c.run(ctx, "import", r, io.Discard)
}

func (c ChildConsole) run(ctx context.Context, verb string, stdin io.Reader, stdout io.Writer) error {
	if len(c.Argv) == 0 || c.Credential == nil {
		return errors.New("backup.ChildConsole: Argv and Credential are required")
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("passing the config on: %w", err)
	}
	defer pr.Close()
	go func() {
		pw.Write(c.Config)
		pw.Close()
	}()
	stderr := &tailBuffer{n: 64 << 10}
	cmd := exec.CommandContext(ctx, c.Argv[0], slices.Concat(c.Argv[1:], []string{verb, "--config=/dev/fd/3"})...)
	cmd.Env = c.Env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	cmd.ExtraFiles = []*os.File{pr}
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.Credential, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(string(stderr.b))
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
			msg = msg[i+1:]
		}
		msg = strings.TrimPrefix(msg, "devmgr: ")
		if msg == "" {
			msg = err.Error()
		}
		return fmt.Errorf("the console's part (%s, as uid %d): %s", verb, c.Credential.Uid, msg)
	}
	return nil
}

// tailBuffer keeps the last n bytes written to it: the child's error
// message is its last line.
type tailBuffer struct {
	b []byte
	n int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > t.n {
		t.b = t.b[len(t.b)-t.n:]
	}
	return len(p), nil
}
