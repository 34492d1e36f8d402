package dhcpsrv

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/renameio/v2"

	"github.com/devmgr/devmgr/internal/change"
	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/device"
	"github.com/devmgr/devmgr/internal/dnsmasq"
)

// Kind is the module's kind of change in the change engine.
const Kind = "ap-dhcp"

// settingsFile is under StateDir.
const settingsFile = "ap-dhcp.json"

// ErrNoChange refuses a change that changes nothing.
var ErrNoChange = errors.New("the new DHCP settings are the same as the current ones")

// UnavailableError says why the agent cannot apply a change on this
// device. Its text is a sentence for the user: it names no file and
// carries no error chain (the log has those).
type UnavailableError struct{ Why string }

func (e *UnavailableError) Error() string { return e.Why }

var (
	errNotProvisioned = &UnavailableError{Why: "the access point's DHCP server is not set up by devmgr on this device: " +
		"run devmgr provision (it installs dnsmasq's configuration), then try again"}
	errNoDnsmasq = &UnavailableError{Why: "dnsmasq is not installed on this device, so the DHCP settings cannot be checked or applied"}
	errNoRestart = &UnavailableError{Why: "a new DHCP range or lease time needs dnsmasq restarted, which this agent can do only " +
		"through systemd; static leases can still be changed"}
)

// Restarter restarts a service by name (service.Manager implements it).
type Restarter interface {
	Restart(ctx context.Context, name string) error
}

// Config configures a Manager.
type Config struct {
	// Cfg is the loaded configuration: ap.address, ap.hostname and ap.dhcp
	// (overridden by the settings saved under StateDir), agent.state_dir.
	Cfg config.Config
	// Changes is the device's change engine (required); the Manager
	// registers itself as Kind.
	Changes *change.Engine
	// StateDir holds the settings file; default Cfg.Agent.StateDir. It
	// must be the agent's own directory.
	StateDir string
	// OnRejected, if set, is told of a settings file that failed
	// validation when it was read back (it was set aside, not used).
	OnRejected func(file, reason string)
	// Root prefixes Conf, RangeFile and HostsFile ("" is "/"). Tests use
	// a temporary directory.
	Root string
	// Conf is dnsmasq's config as devmgr provision installs it; it must
	// read RangeFile and HostsFile. Default device.DnsmasqConf.
	Conf string
	// RangeFile and HostsFile are what a change rewrites; defaults
	// device.DnsmasqRange and device.DnsmasqHosts.
	RangeFile, HostsFile string
	// PIDFile names the dnsmasq that a change of the static leases
	// signals (not under Root); default dnsmasq.DefaultPIDFile.
	PIDFile string
	// Service is dnsmasq's service name; default device.UnitDnsmasq.
	Service string
	// Services restarts dnsmasq after a change of the range or lease
	// time; nil: such a change is refused (*UnavailableError).
	Services Restarter
	// Reload makes the dnsmasq of a pid file read its hosts file again;
	// nil: dnsmasq.Reload (SIGHUP).
	Reload func(pidFile string) error
	// Check runs dnsmasq's own --test on the config with its DHCP part;
	// nil: dnsmasq.CheckDHCP.
	Check func(ctx context.Context, conf, rangeConf, hosts []byte) error
	Log   *slog.Logger // nil: discard
	Now   func() time.Time
}

// Manager is the DHCP server module. It is safe for concurrent use.
type Manager struct {
	cfg    Config
	log    *slog.Logger
	reject change.Rejecter

	// op serialises Sync with the engine's changes.
	op sync.Mutex

	mu       sync.Mutex // guards settings
	settings Settings
}

var _ change.Module = (*Manager)(nil)

// New checks cfg, loads the saved settings and registers the Manager with
// the engine. It changes nothing on the system; call the engine's
// Recover, then Sync, at start.
func New(cfg Config) (*Manager, error) {
	if cfg.StateDir == "" {
		cfg.StateDir = cfg.Cfg.Agent.StateDir
	}
	switch {
	case cfg.StateDir == "":
		return nil, errors.New("dhcpsrv.New: StateDir or Cfg.Agent.StateDir is required")
	case cfg.Changes == nil:
		return nil, errors.New("dhcpsrv.New: Changes is required")
	case !cfg.Cfg.APPrefix().IsValid():
		return nil, fmt.Errorf("dhcpsrv.New: ap.address %q is not an address with a prefix length", cfg.Cfg.AP.Address)
	}
	if cfg.Root == "" {
		cfg.Root = "/"
	}
	for _, d := range []struct {
		p   *string
		def string
	}{
		{&cfg.Conf, device.DnsmasqConf}, {&cfg.RangeFile, device.DnsmasqRange}, {&cfg.HostsFile, device.DnsmasqHosts},
		{&cfg.PIDFile, dnsmasq.DefaultPIDFile}, {&cfg.Service, device.UnitDnsmasq},
	} {
		if *d.p == "" {
			*d.p = d.def
		}
	}
	if cfg.Reload == nil {
		cfg.Reload = dnsmasq.Reload
	}
	if cfg.Check == nil {
		cfg.Check = dnsmasq.CheckDHCP
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
	s, err := loadSettings(cfg.StateDir, cfg.Cfg)
	if errors.Is(err, change.ErrInvalid) {
		m.reject.Reject(settingsFile, err)
		s, err = fromConfig(cfg.Cfg), nil
	}
	if err != nil {
		return nil, err
	}
	m.settings = s
	if err := cfg.Changes.Register(Kind, m); err != nil {
		return nil, err
	}
	return m, nil
}

// Settings returns the settings in effect (a pending change's included).
func (m *Manager) Settings() Settings {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.settings
	s.StaticLeases = slices.Clone(s.StaticLeases)
	return s
}

// Address is the AP's address and prefix (ap.address): the network every
// address of the settings is in.
func (m *Manager) Address() string { return m.cfg.Cfg.APPrefix().String() }

// Problem says why a change cannot be applied on this device, in a
// sentence for the user; "" when it can (a change of the range may still
// be refused when dnsmasq cannot be restarted).
func (m *Manager) Problem() string {
	if _, err := m.installedConf(); err != nil {
		var ue *UnavailableError
		if errors.As(err, &ue) {
			return ue.Why
		}
		m.log.Error("reading dnsmasq's config", "err", err)
		return "the agent cannot read dnsmasq's configuration (see its log)"
	}
	return ""
}

// Change returns a DHCP change by id (change.ErrUnknownChange for none,
// and for other modules' changes).
func (m *Manager) Change(id string) (change.Change, error) { return m.cfg.Changes.GetOf(Kind, id) }

// Pending returns the pending change, if it is a DHCP change.
func (m *Manager) Pending() (change.Change, bool) { return m.cfg.Changes.PendingOf(Kind) }

// Confirm keeps a pending DHCP change.
func (m *Manager) Confirm(ctx context.Context, id string) (change.Change, error) {
	return m.cfg.Changes.ConfirmOf(ctx, Kind, id)
}

func (m *Manager) sys(p string) string { return filepath.Join(m.cfg.Root, p) }

func (m *Manager) data() string { return filepath.Join(m.cfg.StateDir, settingsFile) }

// readFile returns a file's bytes, nil when it does not exist.
func readFile(p string) ([]byte, error) {
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", p, err)
	}
	return b, nil
}

// installedConf returns dnsmasq's installed config when it reads the
// range and hosts files this module writes: else provision has not set
// the DHCP server up (or an older devmgr did), and nothing is applied.
func (m *Manager) installedConf() ([]byte, error) {
	conf, err := readFile(m.sys(m.cfg.Conf))
	if err != nil {
		return nil, err
	}
	lines := strings.Split(string(conf), "\n")
	if !slices.Contains(lines, "conf-file="+m.cfg.RangeFile) || !slices.Contains(lines, "dhcp-hostsfile="+m.cfg.HostsFile) {
		m.log.Warn("dnsmasq's config does not read devmgr's DHCP files; run devmgr provision", "conf", m.sys(m.cfg.Conf),
			"range_file", m.cfg.RangeFile, "hosts_file", m.cfg.HostsFile)
		return nil, errNotProvisioned
	}
	return conf, nil
}

// files are the two files of the DHCP part, rendered from settings.
type files struct{ rangeConf, hosts []byte }

// render renders s's files and has dnsmasq check the installed config
// with them in place.
func (m *Manager) render(ctx context.Context, s Settings) (files, error) {
	conf, err := m.installedConf()
	if err != nil {
		return files{}, err
	}
	c := s.apply(m.cfg.Cfg)
	var f files
	if f.rangeConf, err = dnsmasq.RenderRange(c); err != nil {
		return files{}, err
	}
	if f.hosts, err = dnsmasq.RenderHosts(c, s.StaticLeases); err != nil {
		return files{}, err
	}
	if err := m.cfg.Check(ctx, conf, f.rangeConf, f.hosts); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			m.log.Error("checking dnsmasq's config", "err", err)
			return files{}, errNoDnsmasq
		}
		return files{}, fmt.Errorf("checking the DHCP part of dnsmasq's config: %w", err)
	}
	return f, nil
}

// installed returns the files of the DHCP part as they are installed.
func (m *Manager) installed() (files, error) {
	r, err := readFile(m.sys(m.cfg.RangeFile))
	if err != nil {
		return files{}, err
	}
	h, err := readFile(m.sys(m.cfg.HostsFile))
	return files{rangeConf: r, hosts: h}, err
}

// undoState is what a change journals to undo it: the settings it
// replaced, never file contents.
type undoState struct {
	// PrevSettings is nil when the config file's values were in effect
	// (no settings file).
	PrevSettings *Settings `json:"prev_settings"`
}

// Update validates s, renders the DHCP part of dnsmasq's config from it
// and has dnsmasq check it (plan); the engine journals the settings in
// effect and applies: the settings file and the DHCP files are written
// and dnsmasq restarted (a new range or lease time) or signalled (new
// static leases). Unless Confirm(id) comes within the rollback timeout,
// the change is undone. Nothing is written when Update fails.
func (m *Manager) Update(ctx context.Context, s Settings) (change.Change, error) {
	m.op.Lock()
	defer m.op.Unlock()
	return m.cfg.Changes.Begin(ctx, func(ctx context.Context) (change.Plan, error) { return m.plan(ctx, s) })
}

// plan is a change as the engine takes it: it validates, renders and
// checks, and writes nothing; its Apply does the writing.
func (m *Manager) plan(ctx context.Context, s Settings) (change.Plan, error) {
	if _, err := m.installedConf(); err != nil {
		return change.Plan{}, err
	}
	cur := m.Settings()
	next, err := validate(s, m.cfg.Cfg)
	if err != nil {
		return change.Plan{}, err
	}
	f, err := m.render(ctx, next)
	if err != nil {
		return change.Plan{}, err
	}
	inst, err := m.installed()
	if err != nil {
		return change.Plan{}, err
	}
	if next.equal(cur) && bytes.Equal(inst.rangeConf, f.rangeConf) && bytes.Equal(inst.hosts, f.hosts) {
		return change.Plan{}, ErrNoChange
	}
	if !bytes.Equal(inst.rangeConf, f.rangeConf) && m.cfg.Services == nil {
		return change.Plan{}, errNoRestart
	}
	var u undoState
	if saved, err := readFile(m.data()); err != nil {
		return change.Plan{}, err
	} else if saved != nil {
		u.PrevSettings = &cur
	}
	return change.Plan{Kind: Kind, Fields: changedFields(cur, next), Changes: fieldChanges(cur, next), Undo: u,
		Apply: func(ctx context.Context) error { return m.apply(ctx, next, f) }}, nil
}

// apply saves next and installs its files.
func (m *Manager) apply(ctx context.Context, next Settings, f files) error {
	if err := change.WriteJSON(m.data(), next); err != nil {
		return err
	}
	m.setSettings(next)
	restart, err := m.write(f)
	if err != nil {
		return err
	}
	return m.tell(ctx, restart)
}

func (m *Manager) setSettings(s Settings) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.settings = s
}

// write installs the files that differ from f, atomically, and reports
// whether the range changed (dnsmasq must restart) or only the hosts
// (it must read them again): tell does that.
func (m *Manager) write(f files) (restart *bool, err error) {
	inst, err := m.installed()
	if err != nil {
		return nil, err
	}
	for _, w := range []struct {
		path      string
		old, want []byte
	}{{m.cfg.RangeFile, inst.rangeConf, f.rangeConf}, {m.cfg.HostsFile, inst.hosts, f.hosts}} {
		if bytes.Equal(w.old, w.want) {
			continue
		}
		// 0644 whatever the umask (the agent's unit has UMask=0077):
		// dnsmasq reads the hosts file again as its own user.
		p := m.sys(w.path)
		if err := renameio.WriteFile(p, w.want, 0o644, renameio.WithStaticPermissions(0o644)); err != nil {
			return nil, fmt.Errorf("writing %s: %w", p, err)
		}
		m.log.Info("installed the access point's DHCP settings", "path", p)
	}
	switch {
	case !bytes.Equal(inst.rangeConf, f.rangeConf):
		return ptr(true), nil
	case !bytes.Equal(inst.hosts, f.hosts):
		return ptr(false), nil
	}
	return nil, nil
}

func ptr[T any](v T) *T { return &v }

// tell has dnsmasq use what write installed: a restart for a new range,
// SIGHUP for new static leases alone (nil: nothing changed). A dnsmasq
// that is not running reads the files when it starts.
func (m *Manager) tell(ctx context.Context, restart *bool) error {
	switch {
	case restart == nil:
		return nil
	case *restart && m.cfg.Services == nil:
		return errors.New("dnsmasq must be restarted to use the new DHCP range, and this agent cannot restart it")
	case *restart:
		if err := m.cfg.Services.Restart(ctx, m.cfg.Service); err != nil {
			return fmt.Errorf("restarting dnsmasq: %w", err)
		}
		return nil
	}
	switch err := m.cfg.Reload(m.cfg.PIDFile); {
	case errors.Is(err, dnsmasq.ErrNotRunning):
		m.log.Warn("dnsmasq is not running; it reads the static leases when it starts", "pid_file", m.cfg.PIDFile)
		return nil
	case err != nil:
		return fmt.Errorf("telling dnsmasq of the static leases: %w", err)
	}
	return nil
}

// Check implements change.Module: a journal read back from disk names
// settings only and holds previous settings that pass the API's
// validation.
func (m *Manager) Check(ch change.Change, undo, keep json.RawMessage) error {
	if ch.Target != "" {
		return change.Invalidf("change %s names target %q", ch.ID, change.Clip(ch.Target))
	}
	for _, f := range ch.Fields {
		if !slices.Contains(settingNames, f) {
			return change.Invalidf("change %s: field %q is not a setting", ch.ID, change.Clip(f))
		}
	}
	if len(keep) > 0 && string(keep) != "null" {
		return change.Invalidf("change %s keeps something; DHCP changes keep nothing", ch.ID)
	}
	var u undoState
	if err := change.DecodeStrict(undo, &u); err != nil {
		return change.Invalidf("undo of change %s: %v", ch.ID, err)
	}
	if u.PrevSettings != nil {
		if err := u.PrevSettings.valid(m.cfg.Cfg); err != nil {
			return change.Invalidf("previous settings of change %s: %v", ch.ID, err)
		}
	}
	return nil
}

// Undo implements change.Module: it installs the previous settings (or
// the config file's) again, rendered and checked as a change is, and
// restarts or signals dnsmasq. When nothing could be installed the
// journal stays for the next start.
func (m *Manager) Undo(ctx context.Context, ch change.Change, undo json.RawMessage) error {
	var u undoState
	if err := change.DecodeStrict(undo, &u); err != nil {
		return fmt.Errorf("decoding the undo of change %s: %w", ch.ID, err)
	}
	prev := fromConfig(m.cfg.Cfg)
	if u.PrevSettings != nil {
		prev = *u.PrevSettings
	}
	f, err := m.render(ctx, prev)
	if err != nil {
		return fmt.Errorf("%w: checking the previous DHCP settings: %w", change.ErrKeepJournal, err)
	}
	if u.PrevSettings != nil {
		err = change.WriteJSON(m.data(), prev)
	} else if err = os.Remove(m.data()); errors.Is(err, fs.ErrNotExist) {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("%w: %w", change.ErrKeepJournal, err)
	}
	m.setSettings(prev)
	restart, err := m.write(f)
	if err != nil {
		return fmt.Errorf("%w: %w", change.ErrKeepJournal, err)
	}
	return m.tell(ctx, restart)
}

// Keep implements change.Module: the settings file written when the
// change was applied stays; nothing more to do.
func (m *Manager) Keep(context.Context, change.Change, json.RawMessage) error { return nil }

// Sync installs the DHCP files of the settings saved from the console
// when the installed ones differ (a re-provision from an older state,
// say) and restarts or signals dnsmasq. Call it at start, after the
// engine's Recover. It reports whether it changed anything; with no saved
// settings, or a DHCP change pending, it leaves the files alone.
func (m *Manager) Sync(ctx context.Context) (bool, error) {
	m.op.Lock()
	defer m.op.Unlock()
	if _, pending := m.Pending(); pending {
		return false, nil
	}
	if saved, err := readFile(m.data()); err != nil || saved == nil {
		return false, err
	}
	f, err := m.render(ctx, m.Settings())
	if err != nil {
		return false, fmt.Errorf("checking the DHCP settings saved from the console: %w", err)
	}
	restart, err := m.write(f)
	if err != nil || restart == nil {
		return false, err
	}
	return true, m.tell(ctx, restart)
}
