package apmgr

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/renameio/v2"

	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/device"
	"github.com/devmgr/devmgr/internal/dnsmasq"
	"github.com/devmgr/devmgr/internal/hostapd"
	"github.com/devmgr/devmgr/internal/service"
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
	journalFile  = "ap-pending.json"
	changesFile  = "ap-changes.json"
	maxChanges   = 50
	// maxDenied bounds the deny list read back from disk.
	maxDenied = 4096
)

// Errors of the Manager.
var (
	ErrPending       = errors.New("another access point change is pending; confirm it or wait for its rollback")
	ErrUnknownChange = errors.New("no such access point change")
	ErrNotPending    = errors.New("access point change is not pending")
	ErrNoChange      = errors.New("the new settings are the same as the current ones")
	ErrNotDenied     = errors.New("the station is not on the deny list")
	ErrNotRunning    = errors.New("hostapd is not running")
)

// Status of a change, as netif's.
const (
	StatusPending    = "pending"
	StatusConfirmed  = "confirmed"
	StatusRolledBack = "rolled_back"
)

// FieldError is an invalid value in a request; Field names its JSON field.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"error"`
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

func fieldErr(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
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
	// settings saved under StateDir), agent.state_dir and
	// network.rollback_timeout.
	Cfg config.Config
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
	// the status and output explain a hostapd that is not running.
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
	// RollbackTimeout is how long a change waits for Confirm; 0:
	// Cfg.Network.RollbackTimeout.
	RollbackTimeout time.Duration
}

// Manager is the AP module. It is safe for concurrent use.
type Manager struct {
	cfg Config
	log *slog.Logger

	op sync.Mutex // serialises changes: Update, Confirm, rollback, Deny, Allow

	mu       sync.Mutex // guards the fields below
	settings saved
	deny     []string
	pending  *journal
	timer    *time.Timer
	changes  map[string]Change
}

// New checks cfg and loads the saved settings, deny list and change log.
// It changes nothing on the system; call Recover at start.
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
	if cfg.RollbackTimeout == 0 {
		cfg.RollbackTimeout = cfg.Cfg.Network.RollbackTimeout
	}
	if cfg.RollbackTimeout <= 0 {
		return nil, errors.New("apmgr.New: RollbackTimeout must be positive")
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
	m := &Manager{cfg: cfg, log: log, changes: map[string]Change{}}
	var err error
	m.settings, err = loadSettings(cfg.StateDir, cfg.Cfg.AP)
	if errors.Is(err, errInvalid) {
		m.reject(settingsFile, err)
		m.settings, err = fromAP(cfg.Cfg.AP), nil
	}
	if err != nil {
		return nil, err
	}
	m.deny, err = m.loadDeny()
	if errors.Is(err, errInvalid) {
		m.reject(denyFile, err)
		m.deny, err = m.loadDeny() // the installed deny file, then
	}
	if err != nil {
		return nil, err
	}
	var list []Change
	_, err = m.readJSON(changesFile, &list)
	if err == nil {
		err = validChanges(list)
	}
	if errors.Is(err, errInvalid) {
		m.reject(changesFile, err)
		list, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	for _, ch := range list {
		m.changes[ch.ID] = ch
	}
	return m, nil
}

// errInvalid marks a state file that did not pass validation when read
// back: it is set aside and never used.
var errInvalid = errors.New("failed validation")

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errInvalid, fmt.Sprintf(format, args...))
}

// reject sets a state file aside (NAME.rejected-UNIXTIME) and reports it.
func (m *Manager) reject(name string, why error) {
	aside := fmt.Sprintf("%s.rejected-%d", m.data(name), m.cfg.Now().Unix())
	if err := os.Rename(m.data(name), aside); err != nil && !errors.Is(err, fs.ErrNotExist) {
		m.log.Error("setting aside a state file that failed validation", "file", m.data(name), "err", err)
	}
	m.log.Error("state file failed validation; set aside, not used", "file", m.data(name), "moved_to", aside, "reason", why)
	if m.cfg.OnRejected != nil {
		m.cfg.OnRejected(name, why.Error())
	}
}

// validChanges checks a change log read back from disk.
func validChanges(list []Change) error {
	if len(list) > 10*maxChanges {
		return invalidf("%d changes listed, at most %d kept", len(list), maxChanges)
	}
	for _, ch := range list {
		if err := ch.valid(); err != nil {
			return err
		}
	}
	return nil
}

// valid checks a change read back from disk: an ID of newID's form, a
// known status, known field names.
func (ch Change) valid() error {
	if len(ch.ID) != 16 || strings.Trim(ch.ID, "0123456789abcdef") != "" {
		return invalidf("change ID %q is not 16 hex digits", clip(ch.ID))
	}
	switch ch.Status {
	case StatusPending, StatusConfirmed, StatusRolledBack:
	default:
		return invalidf("change %s: status %q is unknown", ch.ID, clip(ch.Status))
	}
	for _, f := range ch.Fields {
		if !slices.Contains(settingNames, f) {
			return invalidf("change %s: field %q is not a setting", ch.ID, clip(f))
		}
	}
	if len(ch.Error) > 4096 {
		return invalidf("change %s: error text of %d bytes", ch.ID, len(ch.Error))
	}
	return nil
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// sys returns a system path under Root.
func (m *Manager) sys(p string) string { return filepath.Join(m.cfg.Root, p) }

func (m *Manager) data(name string) string { return filepath.Join(m.cfg.StateDir, name) }

// readJSON strictly decodes StateDir/name into v and reports whether it
// existed. A file that does not decode is errInvalid.
func (m *Manager) readJSON(name string, v any) (bool, error) {
	return readJSONFile(m.data(name), v)
}

// maxStateFile bounds what is read back of a state file.
const maxStateFile = 1 << 20

func readJSONFile(p string, v any) (bool, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", p, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxStateFile+1))
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", p, err)
	}
	if len(b) > maxStateFile {
		return true, invalidf("%s is larger than %d bytes", p, maxStateFile)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return true, invalidf("parsing %s: %v", p, err)
	}
	return true, nil
}

func (m *Manager) writeJSON(name string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding %s: %w", name, err)
	}
	if err := renameio.WriteFile(m.data(name), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", m.data(name), err)
	}
	return nil
}

// readFile returns a file's bytes and whether it exists.
func readFile(p string) ([]byte, bool, error) {
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
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
	if m.cfg.Services == nil {
		return fmt.Errorf("reloading hostapd: %w", err)
	}
	m.log.Warn("hostapd did not reload; restarting it", "service", m.cfg.Service, "err", err)
	if rerr := m.cfg.Services.Restart(ctx, m.cfg.Service); rerr != nil {
		return fmt.Errorf("reloading hostapd: %w; restarting %s: %w", err, m.cfg.Service, rerr)
	}
	return nil
}

// Change is one settings change as the API shows it.
type Change struct {
	ID         string     `json:"change_id"`
	Status     string     `json:"status"` // pending, confirmed, rolled_back
	Fields     []string   `json:"fields"` // the settings it changes, e.g. ["ssid", "channel"]
	CreatedAt  time.Time  `json:"created_at"`
	RollbackAt time.Time  `json:"rollback_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	Error      string     `json:"error,omitempty"` // why a rollback was incomplete
}

// Change returns a change by id.
func (m *Manager) Change(id string) (Change, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ch, ok := m.changes[id]
	if !ok {
		return Change{}, fmt.Errorf("change %q: %w", id, ErrUnknownChange)
	}
	return ch, nil
}

// Pending returns the pending change, if any.
func (m *Manager) Pending() (Change, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.pending == nil {
		return Change{}, false
	}
	return m.pending.Change, true
}

// Changes returns the recorded changes, newest first.
func (m *Manager) Changes() []Change {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.changeListLocked()
}

func (m *Manager) changeListLocked() []Change {
	list := make([]Change, 0, len(m.changes))
	for _, c := range m.changes {
		list = append(list, c)
	}
	sort.Slice(list, func(a, b int) bool { return list[a].CreatedAt.After(list[b].CreatedAt) })
	return list
}

// recordLocked stores ch in the change log (bounded) and saves it.
func (m *Manager) recordLocked(ch Change) {
	m.changes[ch.ID] = ch
	list := m.changeListLocked()
	if len(list) > maxChanges {
		for _, c := range list[maxChanges:] {
			delete(m.changes, c.ID)
		}
		list = list[:maxChanges]
	}
	if err := m.writeJSON(changesFile, list); err != nil {
		m.log.Error("saving access point change log", "err", err)
	}
}

// Close stops the rollback timer; a pending change stays journaled and the
// next Recover rolls it back.
func (m *Manager) Close() {
	m.op.Lock()
	defer m.op.Unlock()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.timer != nil {
		m.timer.Stop()
		m.timer = nil
	}
	m.pending = nil
}

func newID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
