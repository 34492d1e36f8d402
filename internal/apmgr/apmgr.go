package apmgr

import (
	"context"
	"errors"
	"fmt"
	"github.com/devmgr/devmgr/internal/fielderr"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/devmgr/devmgr/internal/change"
	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/device"
	"github.com/devmgr/devmgr/internal/dnsmasq"
	"github.com/devmgr/devmgr/internal/hostapd"
	"github.com/devmgr/devmgr/internal/service"
	"github.com/google/renameio/v2"
)

// Default locations on a device: the files and service that devmgr
// provision installs.
const (
	DefaultHostapdConf = device.HostapdConf
	DefaultDenyFile    = device.HostapdDeny
	DefaultService     = device.UnitHostapd
)

// Files under StateDir.
const (
	settingsFile = "ap-settings.json"
	denyFile     = "ap-deny.json"
	// maxDenied bounds the deny list read back from disk.
	maxDenied = 4096
)

// Kind is the AP module's kind of change in the change engine.
const Kind = "ap"

// Errors of the Manager; the change errors are the engine's.
var (
	ErrPending       = change.ErrPending
	ErrUnknownChange = change.ErrUnknownChange
	ErrNotPending    = change.ErrNotPending
	ErrNoChange      = errors.New("the new settings are the same as the current ones")
	ErrNotDenied     = errors.New("the station is not on the deny list")
	ErrNotRunning    = errors.New("hostapd is not running")
)

// Status of a change.
const (
	StatusPending    = change.StatusPending
	StatusConfirmed  = change.StatusConfirmed
	StatusRolledBack = change.StatusRolledBack
)

func fieldErr(field, format string, args ...any) *fielderr.Error {
	return fielderr.New(field, format, args...)
}

// Control is what apmgr asks of hostapd's control socket (*hostapd.Client).
type Control interface {
	Status(ctx context.Context) (hostapd.Status, error)
	Stations(ctx context.Context) ([]hostapd.Station, error)
	Reload(ctx context.Context) error
	Deauth(ctx context.Context, mac string) error
	Close() error
}

// Restarter restarts a service by name (service.Manager implements it).
type Restarter interface {
	Restart(ctx context.Context, name string) error
}

// statuser is the optional part of a service.Manager that tells why
// hostapd is not running.
type statuser interface {
	Status(ctx context.Context, name string) (service.Status, error)
}

// Config configures a Manager.
type Config struct {
	// Cfg is the loaded configuration: its ap section (overridden by the
	// settings saved under StateDir) and agent.state_dir.
	Cfg config.Config
	// Changes is the device's change engine (required); the Manager
	// registers itself as Kind.
	Changes *change.Engine
	// StateDir holds apmgr's state files; default Cfg.Agent.StateDir. It
	// must be the agent's own directory: what is read back from it is
	// validated again, but nobody else should be able to write it.
	StateDir string
	// OnRejected, if set, is told of a state file that failed validation
	// when it was read back; the file has been set aside (renamed to
	// NAME.rejected-TIME) and was not used.
	OnRejected func(file, reason string)
	// Root prefixes the system paths below when they are read or written
	// ("" is "/"); the rendered config names them without it. Tests use a
	// temporary directory.
	Root string
	// HostapdConf is the hostapd config file; default DefaultHostapdConf.
	HostapdConf string
	// DenyFile is hostapd's deny_mac_file; default DefaultDenyFile.
	DenyFile string
	// CtrlDir is hostapd's ctrl_interface; default hostapd.DefaultCtrlInterface.
	CtrlDir string
	// LeaseFile is dnsmasq's leases file; default dnsmasq.DefaultLeaseFile.
	LeaseFile string
	// Service is hostapd's service name; default DefaultService.
	Service string
	// Services restarts hostapd when a RELOAD over the control socket does
	// not work; nil: that is an error. When it also has
	// Status(ctx, name) (service.Status, error) (as service.Manager does),
	// the status and output explain a hostapd that is not running. It is
	// used only with the CtrlDir devmgr provision renders (the default):
	// its service runs that hostapd, not one with a directory of its own.
	Services Restarter
	// Output, if set, returns hostapd's recent output (overrides Services).
	Output func(ctx context.Context) string
	// Dial connects to the control socket; nil: hostapd.Dial.
	Dial func(ctrlDir, iface string) (Control, error)
	// Check runs hostapd's own parser on a config and its deny list; nil:
	// hostapd.CheckWithDenyList.
	Check func(ctx context.Context, conf, denyList []byte) error
	Log   *slog.Logger // nil: discard
	Now   func() time.Time
}

// Manager is the AP module. It is safe for concurrent use.
type Manager struct {
	cfg    Config
	log    *slog.Logger
	reject change.Rejecter

	// op serialises the deny list's changes and Sync; settings change only
	// through the engine, one change at a time.
	op sync.Mutex

	mu       sync.Mutex // guards the fields below
	settings saved
	deny     []string
}

var _ change.Module = (*Manager)(nil)

// New checks cfg, loads the saved settings and deny list and registers
// the Manager with the engine. It changes nothing on the system; call the
// engine's Recover, then Sync, at start.
func New(cfg Config) (*Manager, error) {
	if cfg.StateDir == "" {
		cfg.StateDir = cfg.Cfg.Agent.StateDir
	}
	if cfg.StateDir == "" {
		return nil, errors.New("apmgr.New: StateDir or Cfg.Agent.StateDir is required")
	}
	if cfg.Root == "" {
		cfg.Root = "/"
	}
	for _, d := range []struct {
		p   *string
		def string
	}{
		{&cfg.HostapdConf, DefaultHostapdConf},
		{&cfg.DenyFile, DefaultDenyFile},
		{&cfg.CtrlDir, hostapd.DefaultCtrlInterface},
		{&cfg.LeaseFile, dnsmasq.DefaultLeaseFile},
		{&cfg.Service, DefaultService},
	} {
		if *d.p == "" {
			*d.p = d.def
		}
	}
	if cfg.Changes == nil {
		return nil, errors.New("apmgr.New: Changes is required")
	}
	if cfg.Cfg.AP.Interface == "" {
		return nil, errors.New("apmgr.New: Cfg.AP.Interface is required")
	}
	if cfg.Dial == nil {
		cfg.Dial = func(dir, iface string) (Control, error) { return hostapd.Dial(dir, iface) }
	}
	if cfg.Check == nil {
		cfg.Check = hostapd.CheckWithDenyList
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating state directory: %w", err)
	}
	m := &Manager{cfg: cfg, log: log,
		reject: change.Rejecter{Dir: cfg.StateDir, OnRejected: cfg.OnRejected, Now: cfg.Now, Log: log}}
	if err := m.load(); err != nil {
		return nil, err
	}
	if err := cfg.Changes.Register(Kind, m); err != nil {
		return nil, err
	}
	return m, nil
}

// load reads the saved settings and deny list; a file that fails
// validation is set aside and the config file's values (and the installed
// deny file) are used instead.
func (m *Manager) load() error {
	var err error
	m.settings, err = loadSettings(m.cfg.StateDir, m.cfg.Cfg.AP)
	if errors.Is(err, change.ErrInvalid) {
		m.reject.Reject(settingsFile, err)
		m.settings, err = fromAP(m.cfg.Cfg.AP), nil
	}
	if err != nil {
		return err
	}
	m.deny, err = m.loadDeny()
	if errors.Is(err, change.ErrInvalid) {
		m.reject.Reject(denyFile, err)
		m.deny, err = m.loadDeny() // the installed deny file, then
	}
	return err
}

var invalidf = change.Invalidf

// sys returns a system path under Root.
func (m *Manager) sys(p string) string { return filepath.Join(m.cfg.Root, p) }

func (m *Manager) data(name string) string { return filepath.Join(m.cfg.StateDir, name) }

func (m *Manager) writeJSON(name string, v any) error {
	return change.WriteJSON(m.data(name), v)
}

// readFile returns a file's bytes and whether it exists.
func readFile(p string) ([]byte, bool, error) {
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("reading %s: %w", p, err)
	}
	return b, true, nil
}

// writeFile writes p atomically, making its directory if needed.
func writeFile(p string, b []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("creating directory of %s: %w", p, err)
	}
	if err := renameio.WriteFile(p, b, mode); err != nil {
		return fmt.Errorf("writing %s: %w", p, err)
	}
	return nil
}

// control dials hostapd, runs f and closes the connection. A connection
// per use survives hostapd restarts, which recreate the socket.
func (m *Manager) control(f func(Control) error) error {
	c, err := m.cfg.Dial(m.sys(m.cfg.CtrlDir), m.cfg.Cfg.AP.Interface)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNotRunning, err)
	}
	defer c.Close()
	return f(c)
}

// reload makes hostapd read its files again: RELOAD over the control
// socket, else a restart of its service.
func (m *Manager) reload(ctx context.Context) error {
	err := m.control(func(c Control) error { return c.Reload(ctx) })
	if err == nil {
		return nil
	}
	svc := m.services()
	if svc == nil {
		return fmt.Errorf("reloading hostapd: %w", err)
	}
	m.log.Warn("hostapd did not reload; restarting it", "service", m.cfg.Service, "err", err)
	if rerr := svc.Restart(ctx, m.cfg.Service); rerr != nil {
		return fmt.Errorf("reloading hostapd: %w; restarting %s: %w", err, m.cfg.Service, rerr)
	}
	return nil
}

// Change is one settings change as the API shows it.
type Change struct {
	ID     string   `json:"change_id"`
	Status string   `json:"status"` // pending, confirmed, rolled_back
	Fields []string `json:"fields"` // the settings it changes, e.g. ["ssid", "channel"]
	User   string   `json:"user,omitempty"`
	// Changes says what it does, old → new per setting; the passphrase
	// only as "changed".
	Changes    []change.FieldChange `json:"changes,omitempty"`
	CreatedAt  time.Time            `json:"created_at"`
	RollbackAt time.Time            `json:"rollback_at"`
	FinishedAt *time.Time           `json:"finished_at,omitempty"`
	Error      string               `json:"error,omitempty"` // why a rollback was incomplete
}

func fromChange(ch change.Change) Change {
	return Change{ID: ch.ID, Status: ch.Status, Fields: ch.Fields, User: ch.User, Changes: ch.Changes, CreatedAt: ch.CreatedAt,
		RollbackAt: ch.RollbackAt, FinishedAt: ch.FinishedAt, Error: ch.Error}
}

// Change returns an AP change by id (ErrUnknownChange for none, and for
// other modules' changes).
func (m *Manager) Change(id string) (Change, error) {
	ch, err := m.cfg.Changes.GetOf(Kind, id)
	return fromChange(ch), err
}

// Pending returns the pending change, if it is an AP change.
func (m *Manager) Pending() (Change, bool) {
	ch, ok := m.cfg.Changes.PendingOf(Kind)
	return fromChange(ch), ok
}

// Changes returns the logged AP changes, newest first.
func (m *Manager) Changes() []Change {
	var out []Change
	for _, ch := range m.cfg.Changes.Changes() {
		if ch.Kind == Kind {
			out = append(out, fromChange(ch))
		}
	}
	return out
}

// Confirm keeps a pending AP change.
func (m *Manager) Confirm(ctx context.Context, id string) (Change, error) {
	ch, err := m.cfg.Changes.ConfirmOf(ctx, Kind, id)
	return fromChange(ch), err
}
