package reset

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/devmgr/devmgr/internal/accounts"
	"github.com/devmgr/devmgr/internal/apmgr"
	"github.com/devmgr/devmgr/internal/backup"
	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/store"
	"github.com/devmgr/devmgr/internal/tlsutil"
)

// Settings carries devmgr's own settings across a reset (keep settings),
// or returns them to a first start. A reset calls it with the console
// and the agent stopped.
type Settings interface {
	// Save writes the settings a reset keeps to w, before the wipe.
	Save(ctx context.Context, w io.Writer) error
	// Restore puts back what Save wrote, once the overlay is back, and
	// says what it put back.
	Restore(ctx context.Context, r io.Reader) (string, error)
	// Clear returns devmgr's own state to a first start, wherever it
	// lies, and says what it removed.
	Clear(ctx context.Context) (string, error)
	// Paths are the files and directories Restore writes (and the
	// console then keeps writing): after a reset that kept the settings,
	// an upper layer holds nothing else.
	Paths() []string
}

// KeptSettings says what keeping the settings keeps; LostSettings what a
// reset without them loses, besides everything else in the overlay.
var (
	KeptSettings = []string{
		"the devmgr config",
		"the console's users and API tokens",
		"the console's TLS certificate",
		"the access point's settings saved from the console, and its deny list",
		"the LAN interfaces' configs",
	}
	LostSettings = []string{
		"the console's users and API tokens: the console starts afresh and writes a new generated admin password",
		"the console's TLS certificate: a new one is made (browsers warn again)",
		"the access point's settings saved from the console, and its deny list",
		"the LAN interfaces' configs",
	}
)

// BackupSettings are the settings of devmgr's backup archive
// (internal/backup): Save is a backup (backup.Collect, backup.Write),
// Restore puts it back (backup.PutBack; the agent's files as OfflineAgent
// writes them, for its next start), Clear removes the console's database
// and generated TLS pair and empties the agent's settings.
type BackupSettings struct {
	// Sources are the device's: the config and its file, the console's
	// part (backup.ChildConsole as web.user on a device), TempDir, Log.
	Sources  backup.Sources
	Version  string // this devmgr's
	Hostname string // "": os.Hostname
	Now      func() time.Time
}

var _ Settings = BackupSettings{}

// Save implements Settings.
func (b BackupSettings) Save(ctx context.Context, w io.Writer) error {
	c, err := backup.Collect(ctx, b.Sources)
	if err != nil {
		return fmt.Errorf("collecting the settings to keep: %w", err)
	}
	defer c.Close()
	now, host := b.Now, b.Hostname
	if now == nil {
		now = time.Now
	}
	if host == "" {
		host, _ = os.Hostname()
	}
	c.Manifest = backup.Manifest{Version: b.Version, Hostname: host, CreatedAt: now().UTC().Truncate(time.Second), Kind: backup.KindPreReset}
	if _, err := backup.Write(w, c, backup.WriteOptions{}); err != nil {
		return fmt.Errorf("writing the settings to keep: %w", err)
	}
	return nil
}

func (b BackupSettings) agent() backup.OfflineAgent {
	cfg := b.Sources.Config
	return backup.OfflineAgent{Socket: cfg.Agent.Socket, StateDir: cfg.Agent.StateDir}
}

// Restore implements Settings.
func (b BackupSettings) Restore(ctx context.Context, r io.Reader) (string, error) {
	return backup.PutBack(ctx, r, backup.PutBackOptions{Sources: b.Sources, Agent: b.agent()})
}

// Clear implements Settings: the console's database (so it makes a new
// admin and password at its start), the pair it generated and the
// initial password file go from data_dir; the agent's AP settings, deny
// list and LAN configs are emptied. The config file stays: it is the
// device's, or the factory layer's where the overlay holds it.
func (b BackupSettings) Clear(ctx context.Context) (string, error) {
	cfg := b.Sources.Config
	n, err := clearConsole(cfg)
	if err != nil {
		return "", err
	}
	if _, err := b.agent().Restore(ctx, cfg, backup.AgentState{AP: apmgr.State{Deny: []string{}}}); err != nil {
		return "", fmt.Errorf("clearing the agent's settings: %w", err)
	}
	return fmt.Sprintf("removed %d of the console's files from %s; emptied the agent's AP settings, deny list and LAN configs", n, cfg.DataDir), nil
}

// Paths implements Settings.
func (b BackupSettings) Paths() []string {
	cfg := b.Sources.Config
	return []string{b.Sources.ConfigPath, cfg.DataDir, cfg.Agent.StateDir}
}

// consoleFiles are what data_dir holds of the console's state.
var consoleFiles = []string{store.FileName, store.FileName + "-wal", store.FileName + "-shm", store.FileName + "-journal",
	accounts.InitialPasswordFile}

// clearConsole removes the console's state from data_dir, which its
// account owns: through descriptors opened without following a symlink,
// so that nothing outside data_dir is ever removed. It returns how many
// files went.
func clearConsole(cfg config.Config) (int, error) {
	dir, err := unix.Open(cfg.DataDir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("clearing the console's data in %s: %w", cfg.DataDir, err)
	}
	defer unix.Close(dir)
	n := 0
	remove := func(fd int, name string, flags int) error {
		err := unix.Unlinkat(fd, name, flags)
		switch {
		case err == nil:
			n++
		case !errors.Is(err, unix.ENOENT):
			return fmt.Errorf("clearing the console's data: removing %s: %w", name, err)
		}
		return nil
	}
	for _, f := range consoleFiles {
		if err := remove(dir, f, 0); err != nil {
			return n, err
		}
	}
	if cfg.Web.TLS.Cert != "" || cfg.Web.TLS.Disable {
		return n, nil // the console serves a pair of its own, or none
	}
	tlsDir := filepath.Base(backup.TLSDir(cfg))
	tls, err := unix.Openat(dir, tlsDir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		return n, nil
	}
	if err != nil {
		return n, fmt.Errorf("clearing the console's TLS pair: %w", err)
	}
	defer unix.Close(tls)
	for _, f := range []string{tlsutil.KeyFile, tlsutil.CertFile} {
		if err := remove(tls, f, 0); err != nil {
			return n, err
		}
	}
	if err := unix.Unlinkat(dir, tlsDir, unix.AT_REMOVEDIR); err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ENOTEMPTY) {
		return n, fmt.Errorf("clearing the console's TLS pair: %w", err)
	}
	return n, nil
}
