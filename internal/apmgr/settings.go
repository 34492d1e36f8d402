package apmgr

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/hostapd"
)

// Settings are the AP settings an admin may change from the console.
//
// The agent gives PATCH semantics by decoding a request body over
// Settings(): fields the body leaves out keep their values.
type Settings struct {
	SSID string `json:"ssid"`
	// Passphrase is write-only: never returned; "" keeps the current one.
	Passphrase string `json:"passphrase,omitempty"`
	// PassphraseSet is output only: whether a passphrase is configured.
	PassphraseSet bool   `json:"passphrase_set"`
	Security      string `json:"security"` // wpa2, wpa3, wpa2-wpa3
	Band          string `json:"band"`     // 2.4ghz, 5ghz
	Channel       int    `json:"channel"`  // 0: automatic
	Country       string `json:"country"`  // ISO 3166 alpha-2, upper case
	Isolate       bool   `json:"isolate"`  // clients cannot reach each other
	Hidden        bool   `json:"hidden"`   // SSID not broadcast
}

// saved is ap-settings.json: the effective settings, passphrase included.
type saved struct {
	SSID       string `json:"ssid"`
	Passphrase string `json:"passphrase"`
	Security   string `json:"security"`
	Band       string `json:"band"`
	Channel    int    `json:"channel"`
	Country    string `json:"country"`
	Isolate    bool   `json:"isolate"`
	Hidden     bool   `json:"hidden"`
}

func fromAP(ap config.AP) saved {
	return saved{
		SSID: ap.SSID, Passphrase: ap.Passphrase, Security: ap.Security, Band: ap.Band,
		Channel: int(ap.Channel), Country: ap.Country, Isolate: ap.Isolate, Hidden: ap.Hidden,
	}
}

func (s saved) apply(ap config.AP) config.AP {
	ap.SSID, ap.Passphrase, ap.Security, ap.Band = s.SSID, s.Passphrase, s.Security, s.Band
	ap.Channel, ap.Country, ap.Isolate, ap.Hidden = config.Channel(s.Channel), s.Country, s.Isolate, s.Hidden
	return ap
}

func (s saved) public() Settings {
	return Settings{
		SSID: s.SSID, PassphraseSet: s.Passphrase != "", Security: s.Security, Band: s.Band,
		Channel: s.Channel, Country: s.Country, Isolate: s.Isolate, Hidden: s.Hidden,
	}
}

// settingNames are the fields a change may name.
var settingNames = []string{"ssid", "passphrase", "security", "band", "channel", "country", "isolate", "hidden"}

// changedFields names the settings that differ between a and b.
func changedFields(a, b saved) []string {
	var f []string
	for _, c := range []struct {
		name string
		diff bool
	}{
		{"ssid", a.SSID != b.SSID}, {"passphrase", a.Passphrase != b.Passphrase},
		{"security", a.Security != b.Security}, {"band", a.Band != b.Band},
		{"channel", a.Channel != b.Channel}, {"country", a.Country != b.Country},
		{"isolate", a.Isolate != b.Isolate}, {"hidden", a.Hidden != b.Hidden},
	} {
		if c.diff {
			f = append(f, c.name)
		}
	}
	return f
}

// loadSettings reads stateDir/ap-settings.json, the config file's values
// when there is none. What it reads passes the API's validation again, or
// is errInvalid.
func loadSettings(stateDir string, ap config.AP) (saved, error) {
	p := filepath.Join(stateDir, settingsFile)
	var s saved
	ok, err := readJSONFile(p, &s)
	if err != nil || !ok {
		return fromAP(ap), err
	}
	if err := s.valid(); err != nil {
		return saved{}, invalidf("%s: %v", p, err)
	}
	return s, nil
}

// valid checks settings read back from disk with the API's rules.
func (s saved) valid() error {
	in := s.public()
	in.Passphrase = s.Passphrase
	next, err := validate(in, saved{})
	if err != nil {
		return err
	}
	if next != s {
		return errors.New("settings do not survive validation unchanged")
	}
	return nil
}

// Effective returns cfg's ap section with the settings saved from the
// console (STATEDIR/ap-settings.json; stateDir "" is agent.state_dir)
// applied: what hostapd's config must be rendered from. Settings that fail
// validation are an error.
func Effective(cfg config.Config, stateDir string) (config.AP, error) {
	if stateDir == "" {
		stateDir = cfg.Agent.StateDir
	}
	s, err := loadSettings(stateDir, cfg.AP)
	if err != nil {
		return config.AP{}, err
	}
	return s.apply(cfg.AP), nil
}

// Settings returns the effective settings, without the passphrase.
func (m *Manager) Settings() Settings {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.settings.public()
}

// EffectiveAP returns the AP config hostapd runs with (passphrase included).
func (m *Manager) EffectiveAP() config.AP {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.settings.apply(m.cfg.Cfg.AP)
}

// validate checks s against the rules of the config file and merges it
// into cur (an empty passphrase keeps cur's).
func validate(s Settings, cur saved) (saved, error) {
	if err := config.CheckSSID(s.SSID); err != nil {
		return saved{}, fieldErr("ssid", "%v", err)
	}
	next := saved{
		SSID: s.SSID, Passphrase: cur.Passphrase, Security: s.Security, Band: s.Band,
		Channel: s.Channel, Country: s.Country, Isolate: s.Isolate, Hidden: s.Hidden,
	}
	if s.Passphrase != "" {
		if err := config.CheckPassphrase(s.Passphrase); err != nil {
			return saved{}, fieldErr("passphrase", "%v", err)
		}
		next.Passphrase = s.Passphrase
	}
	switch s.Security {
	case config.SecurityWPA2, config.SecurityWPA3, config.SecurityWPA2WPA3:
	default:
		return saved{}, fieldErr("security", "%q is not one of wpa2, wpa3, wpa2-wpa3", s.Security)
	}
	if next.Passphrase == "" {
		return saved{}, fieldErr("passphrase", "must be set: the access point runs only protected networks")
	}
	if s.Security != config.SecurityWPA2 && len(next.Passphrase) == 64 {
		if s.Passphrase == "" {
			return saved{}, fieldErr("passphrase", "the current 64-digit hex key works only with security wpa2; give a passphrase for %s", s.Security)
		}
		return saved{}, fieldErr("passphrase", "a 64-digit hex key works only with security wpa2; SAE needs a passphrase")
	}
	switch s.Band {
	case config.Band24, config.Band5:
	default:
		return saved{}, fieldErr("band", "%q is not one of 2.4ghz, 5ghz", s.Band)
	}
	if s.Channel < 0 {
		return saved{}, fieldErr("channel", "%d is not a channel (0 is automatic)", s.Channel)
	}
	if err := config.CheckChannel(s.Band, config.Channel(s.Channel)); err != nil {
		return saved{}, fieldErr("channel", "%v", err)
	}
	if !config.KnownCountry(s.Country) {
		return saved{}, fieldErr("country", "%q is not a known ISO 3166 country code (two capital letters, for example US or DE)", s.Country)
	}
	return next, nil
}

func (m *Manager) renderOptions() hostapd.Options {
	return hostapd.Options{CtrlInterface: m.cfg.CtrlDir, DenyFile: m.cfg.DenyFile}
}

// journal is ap-pending.json: a pending change and the settings it
// replaced. A rollback re-renders hostapd's config from those settings,
// after validating them as the API does: no file content is ever copied
// back from a journal.
type journal struct {
	Change Change `json:"change"`
	// PrevSettings is nil when the config file's values were in effect
	// (no ap-settings.json).
	PrevSettings *saved `json:"prev_settings"`
}

// valid checks a journal read back from disk.
func (j *journal) valid() error {
	if err := j.Change.valid(); err != nil {
		return err
	}
	if j.Change.Status != StatusPending {
		return invalidf("change %s is %s, not pending", j.Change.ID, j.Change.Status)
	}
	if j.PrevSettings != nil {
		if err := j.PrevSettings.valid(); err != nil {
			return invalidf("previous settings of change %s: %v", j.Change.ID, err)
		}
	}
	return nil
}

// Update validates s, renders hostapd's config from it, has hostapd's
// parser check it, journals the current config and settings, writes the
// new ones and reloads hostapd. The change is pending: unless Confirm(id)
// comes within the rollback timeout, it is undone. Errors: *FieldError,
// ErrPending, ErrNoChange; nothing is written when Update fails.
func (m *Manager) Update(ctx context.Context, s Settings) (Change, error) {
	m.op.Lock()
	defer m.op.Unlock()
	m.mu.Lock()
	cur, pending := m.settings, m.pending
	deny := append([]string(nil), m.deny...)
	m.mu.Unlock()
	if pending != nil {
		return Change{}, fmt.Errorf("%w (%s)", ErrPending, pending.Change.ID)
	}
	next, err := validate(s, cur)
	if err != nil {
		return Change{}, err
	}
	conf, err := hostapd.Render(next.apply(m.cfg.Cfg.AP), m.renderOptions())
	if err != nil {
		return Change{}, err
	}
	confPath, setPath := m.sys(m.cfg.HostapdConf), m.data(settingsFile)
	prevConf, confExists, err := readFile(confPath)
	if err != nil {
		return Change{}, err
	}
	if confExists && bytes.Equal(prevConf, conf) && next == cur {
		return Change{}, ErrNoChange
	}
	denyList, err := hostapd.RenderDenyList(deny)
	if err != nil {
		return Change{}, err
	}
	if err := m.cfg.Check(ctx, conf, denyList); err != nil {
		return Change{}, fmt.Errorf("checking the new hostapd config: %w", err)
	}
	var prevSet *saved
	if _, ok, err := readFile(setPath); err != nil {
		return Change{}, err
	} else if ok {
		prevSet = &cur
	}
	setBytes, err := json.MarshalIndent(next, "", "  ")
	if err != nil {
		return Change{}, fmt.Errorf("encoding settings: %w", err)
	}

	now := m.cfg.Now()
	j := &journal{
		Change: Change{
			ID: newID(), Status: StatusPending, Fields: changedFields(cur, next),
			CreatedAt: now, RollbackAt: now.Add(m.cfg.RollbackTimeout),
		},
		PrevSettings: prevSet,
	}
	if err := m.writeJSON(journalFile, j); err != nil {
		return Change{}, err
	}
	m.mu.Lock()
	m.pending = j
	m.changes[j.Change.ID] = j.Change
	m.mu.Unlock()
	m.log.Info("changing access point settings", "id", j.Change.ID, "fields", j.Change.Fields, "rollback_at", j.Change.RollbackAt)

	apply := func() error {
		// hostapd refuses to start without the deny file the config names.
		if _, ok, err := readFile(m.sys(m.cfg.DenyFile)); err != nil {
			return err
		} else if !ok {
			if err := writeFile(m.sys(m.cfg.DenyFile), denyList, 0o644); err != nil {
				return err
			}
		}
		if err := writeFile(setPath, append(setBytes, '\n'), 0o600); err != nil {
			return err
		}
		m.mu.Lock()
		m.settings = next
		m.mu.Unlock()
		if err := writeFile(confPath, conf, 0o600); err != nil {
			return err
		}
		return m.reload(ctx)
	}
	if err := apply(); err != nil {
		m.rollbackLocked(context.WithoutCancel(ctx), "applying failed")
		return Change{}, fmt.Errorf("applying access point settings (rolled back): %w", err)
	}
	id := j.Change.ID
	m.mu.Lock()
	m.timer = time.AfterFunc(m.cfg.RollbackTimeout, func() {
		m.op.Lock()
		defer m.op.Unlock()
		m.mu.Lock()
		still := m.pending != nil && m.pending.Change.ID == id
		m.mu.Unlock()
		if still {
			m.rollbackLocked(context.Background(), "not confirmed in time")
		}
	})
	m.mu.Unlock()
	return j.Change, nil
}

// Confirm keeps a pending change.
func (m *Manager) Confirm(id string) (Change, error) {
	m.op.Lock()
	defer m.op.Unlock()
	m.mu.Lock()
	defer m.mu.Unlock()
	ch, ok := m.changes[id]
	if !ok {
		return Change{}, fmt.Errorf("change %q: %w", id, ErrUnknownChange)
	}
	if m.pending == nil || m.pending.Change.ID != id {
		return ch, fmt.Errorf("change %s is %s: %w", id, ch.Status, ErrNotPending)
	}
	if m.timer != nil {
		m.timer.Stop()
		m.timer = nil
	}
	if err := os.Remove(m.data(journalFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return ch, fmt.Errorf("removing journal: %w", err)
	}
	now := m.cfg.Now()
	ch.Status, ch.FinishedAt = StatusConfirmed, &now
	m.pending = nil
	m.recordLocked(ch)
	m.log.Info("access point change confirmed", "id", id, "fields", ch.Fields)
	return ch, nil
}

// rollbackLocked restores what the pending journal recorded and reloads
// hostapd. The caller holds m.op.
func (m *Manager) rollbackLocked(ctx context.Context, why string) {
	m.mu.Lock()
	j := m.pending
	if m.timer != nil {
		m.timer.Stop()
		m.timer = nil
	}
	m.mu.Unlock()
	if j == nil {
		return
	}
	ch := j.Change
	m.log.Warn("rolling back access point change", "id", ch.ID, "reason", why)
	var errs []error
	prev, loadErr := fromAP(m.cfg.Cfg.AP), error(nil)
	if j.PrevSettings != nil {
		prev = *j.PrevSettings
	}
	if err := m.install(ctx, prev, j.PrevSettings != nil); err != nil {
		errs = append(errs, err)
		loadErr = err
	}
	restored := len(errs) == 0
	if err := m.reload(ctx); err != nil {
		errs = append(errs, err)
	}
	ch.Status = StatusRolledBack
	now := m.cfg.Now()
	ch.FinishedAt = &now
	if err := errors.Join(errs...); err != nil {
		m.log.Error("rolling back access point change", "id", ch.ID, "err", err)
		ch.Error = err.Error()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if loadErr == nil {
		m.settings = prev
	}
	m.pending = nil
	// A journal whose files could not be restored stays for the next Recover.
	if restored {
		if err := os.Remove(m.data(journalFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
			m.log.Error("removing access point journal", "err", err)
		}
	}
	m.recordLocked(ch)
}

// install writes the settings file (or removes it, when the config
// file's values are to be in effect) and hostapd's config rendered from s,
// once hostapd's parser accepts it.
func (m *Manager) install(ctx context.Context, s saved, keepFile bool) error {
	m.mu.Lock()
	deny := append([]string(nil), m.deny...)
	m.mu.Unlock()
	conf, err := hostapd.Render(s.apply(m.cfg.Cfg.AP), m.renderOptions())
	if err != nil {
		return err
	}
	denyList, err := hostapd.RenderDenyList(deny)
	if err != nil {
		return err
	}
	if err := m.cfg.Check(ctx, conf, denyList); err != nil {
		return fmt.Errorf("checking the hostapd config of the previous settings: %w", err)
	}
	if keepFile {
		b, err := json.MarshalIndent(s, "", "  ")
		if err != nil {
			return fmt.Errorf("encoding settings: %w", err)
		}
		if err := writeFile(m.data(settingsFile), append(b, '\n'), 0o600); err != nil {
			return err
		}
	} else if err := os.Remove(m.data(settingsFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing %s: %w", m.data(settingsFile), err)
	}
	return writeFile(m.sys(m.cfg.HostapdConf), conf, 0o600)
}

// Recover rolls back a change that a crash left pending and makes the
// installed deny file match the saved deny list. Call it once at start.
// A journal that fails validation is set aside, reported through
// OnRejected and returned as an error; nothing of it is applied.
func (m *Manager) Recover(ctx context.Context) error {
	m.op.Lock()
	defer m.op.Unlock()
	var errs []error
	var j journal
	ok, err := m.readJSON(journalFile, &j)
	if err == nil && ok {
		err = j.valid()
	}
	if errors.Is(err, errInvalid) {
		m.reject(journalFile, err)
		errs = append(errs, fmt.Errorf("access point journal set aside: %w", err))
	} else if err != nil {
		errs = append(errs, err)
	} else if ok {
		m.mu.Lock()
		m.pending = &j
		m.changes[j.Change.ID] = j.Change
		m.mu.Unlock()
		m.rollbackLocked(ctx, "agent restarted with the change pending")
		if ch, _ := m.Change(j.Change.ID); ch.Error != "" {
			errs = append(errs, fmt.Errorf("recovering access point change %s: %s", ch.ID, ch.Error))
		}
	}
	if err := m.syncDenyFile(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Sync makes the installed hostapd config match the settings saved from
// the console, when there are any, and reloads hostapd: after a
// re-provision from the config file (which does not know them), the
// confirmed settings are in effect again. Call it at start, after Recover.
// It reports whether it changed the file; with no saved settings, or a
// change pending, it does nothing.
func (m *Manager) Sync(ctx context.Context) (bool, error) {
	m.op.Lock()
	defer m.op.Unlock()
	m.mu.Lock()
	cur, pending := m.settings, m.pending
	deny := append([]string(nil), m.deny...)
	m.mu.Unlock()
	if pending != nil {
		return false, nil
	}
	if _, ok, err := readFile(m.data(settingsFile)); err != nil || !ok {
		return false, err
	}
	// m.settings passed validation when New read it.
	conf, err := hostapd.Render(cur.apply(m.cfg.Cfg.AP), m.renderOptions())
	if err != nil {
		return false, err
	}
	confPath := m.sys(m.cfg.HostapdConf)
	installed, _, err := readFile(confPath)
	if err != nil {
		return false, err
	}
	if bytes.Equal(installed, conf) {
		return false, nil
	}
	denyList, err := hostapd.RenderDenyList(deny)
	if err != nil {
		return false, err
	}
	if err := m.cfg.Check(ctx, conf, denyList); err != nil {
		return false, fmt.Errorf("checking the hostapd config of the saved settings: %w", err)
	}
	if err := writeFile(confPath, conf, 0o600); err != nil {
		return false, err
	}
	m.log.Info("installed the access point settings saved from the console", "path", confPath)
	if err := m.reload(ctx); err != nil {
		return true, err
	}
	return true, nil
}
