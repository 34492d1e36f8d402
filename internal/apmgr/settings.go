package apmgr

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/devmgr/devmgr/internal/change"
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

// PassphraseChanged is the new value a change shows for the passphrase,
// which it never shows.
const PassphraseChanged = "changed"

// fieldChanges says which settings differ between a and b, old → new, in
// words a page shows as they are; never the passphrase: its entry is
// {passphrase, "", "changed"}.
func fieldChanges(a, b saved) []change.FieldChange {
	var out []change.FieldChange
	add := func(field, o, n string) {
		if o != n {
			out = append(out, change.FieldChange{Field: field, Old: o, New: n})
		}
	}
	channel := func(c int) string {
		if c == 0 {
			return "auto"
		}
		return strconv.Itoa(c)
	}
	add("ssid", a.SSID, b.SSID)
	if a.Passphrase != b.Passphrase {
		out = append(out, change.FieldChange{Field: "passphrase", New: PassphraseChanged})
	}
	add("security", a.Security, b.Security)
	add("band", a.Band, b.Band)
	add("channel", channel(a.Channel), channel(b.Channel))
	add("country", a.Country, b.Country)
	add("isolate", onOff(a.Isolate), onOff(b.Isolate))
	add("hidden", onOff(a.Hidden), onOff(b.Hidden))
	return out
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// changedFields names the settings that differ between a and b.
func changedFields(a, b saved) []string {
	var f []string
	for _, c := range fieldChanges(a, b) {
		f = append(f, c.Field)
	}
	return f
}

// loadSettings reads stateDir/ap-settings.json, the config file's values
// when there is none. What it reads passes the API's validation again, or
// is errInvalid.
func loadSettings(stateDir string, ap config.AP) (saved, error) {
	p := filepath.Join(stateDir, settingsFile)
	var s saved
	ok, err := change.ReadJSON(p, &s)
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

// undoState is what an AP change journals to undo it: the settings it
// replaced, never file contents. A rollback renders hostapd's config from
// them again, after validating them as the API does.
type undoState struct {
	// PrevSettings is nil when the config file's values were in effect
	// (no ap-settings.json).
	PrevSettings *saved `json:"prev_settings"`
}

// Update validates s, renders hostapd's config from it and has hostapd's
// parser check it (plan); the engine journals the settings in effect and
// applies: the new settings and config are written and hostapd reloaded.
// The change is pending: unless Confirm(id) comes within the rollback
// timeout, it is undone. Errors: *fielderr.Error, ErrPending, ErrNoChange;
// nothing is written when Update fails.
func (m *Manager) Update(ctx context.Context, s Settings) (Change, error) {
	ch, err := m.cfg.Changes.Begin(ctx, func(ctx context.Context) (change.Plan, error) { return m.plan(ctx, s) })
	return fromChange(ch), err
}

// plan is an AP change as the engine takes it. It writes nothing: it
// validates, renders and checks, and its Apply does the writing.
func (m *Manager) plan(ctx context.Context, s Settings) (change.Plan, error) {
	m.mu.Lock()
	cur, deny := m.settings, slices.Clone(m.deny)
	m.mu.Unlock()
	next, err := validate(s, cur)
	if err != nil {
		return change.Plan{}, err
	}
	conf, denyList, err := m.render(ctx, next, deny)
	if err != nil {
		return change.Plan{}, fmt.Errorf("checking the new hostapd config: %w", err)
	}
	if err := m.changes(conf, next, cur); err != nil {
		return change.Plan{}, err
	}
	var u undoState
	if _, ok, err := readFile(m.data(settingsFile)); err != nil {
		return change.Plan{}, err
	} else if ok {
		u.PrevSettings = &cur
	}
	return change.Plan{Kind: Kind, Fields: changedFields(cur, next), Changes: fieldChanges(cur, next), Undo: u,
		Apply: func(ctx context.Context) error { return m.apply(ctx, next, conf, denyList) }}, nil
}

// render renders hostapd's config of s and the deny list, and has
// hostapd's parser check them.
func (m *Manager) render(ctx context.Context, s saved, deny []string) (conf, denyList []byte, err error) {
	conf, err = hostapd.Render(s.apply(m.cfg.Cfg.AP), m.renderOptions())
	if err != nil {
		return nil, nil, err
	}
	denyList, err = hostapd.RenderDenyList(deny)
	if err != nil {
		return nil, nil, err
	}
	if err := m.cfg.Check(ctx, conf, denyList); err != nil {
		return nil, nil, err
	}
	return conf, denyList, nil
}

// changes refuses a change that changes nothing: the same settings, and
// their config installed.
func (m *Manager) changes(conf []byte, next, cur saved) error {
	installed, ok, err := readFile(m.sys(m.cfg.HostapdConf))
	if err != nil {
		return err
	}
	if ok && bytes.Equal(installed, conf) && next == cur {
		return ErrNoChange
	}
	return nil
}

// apply installs next (settings file, then hostapd's config) and
// reloads hostapd.
func (m *Manager) apply(ctx context.Context, next saved, conf, denyList []byte) error {
	// hostapd refuses to start without the deny file the config names.
	if _, ok, err := readFile(m.sys(m.cfg.DenyFile)); err != nil {
		return err
	} else if !ok {
		if err := writeFile(m.sys(m.cfg.DenyFile), denyList, 0o644); err != nil {
			return err
		}
	}
	if err := m.writeJSON(settingsFile, next); err != nil {
		return err
	}
	m.mu.Lock()
	m.settings = next
	m.mu.Unlock()
	if err := writeFile(m.sys(m.cfg.HostapdConf), conf, 0o600); err != nil {
		return err
	}
	return m.reload(ctx)
}

// Check implements change.Module: a journal read back from disk names
// settings only and holds previous settings that pass the API's
// validation.
func (m *Manager) Check(ch change.Change, undo, keep json.RawMessage) error {
	if ch.Target != "" {
		return invalidf("change %s names target %q", ch.ID, change.Clip(ch.Target))
	}
	for _, f := range ch.Fields {
		if !slices.Contains(settingNames, f) {
			return invalidf("change %s: field %q is not a setting", ch.ID, change.Clip(f))
		}
	}
	if len(keep) > 0 && string(keep) != "null" {
		return invalidf("change %s keeps something; AP changes keep nothing", ch.ID)
	}
	var u undoState
	if err := change.DecodeStrict(undo, &u); err != nil {
		return invalidf("undo of change %s: %v", ch.ID, err)
	}
	if u.PrevSettings != nil {
		if err := u.PrevSettings.valid(); err != nil {
			return invalidf("previous settings of change %s: %v", ch.ID, err)
		}
	}
	return nil
}

// Undo implements change.Module: it installs the previous settings (or
// the config file's values) again, rendered and checked as a change is,
// and reloads hostapd. When nothing could be installed the journal stays
// for the next start.
func (m *Manager) Undo(ctx context.Context, ch change.Change, undo json.RawMessage) error {
	var u undoState
	if err := change.DecodeStrict(undo, &u); err != nil {
		return fmt.Errorf("decoding the undo of change %s: %w", ch.ID, err)
	}
	prev := fromAP(m.cfg.Cfg.AP)
	if u.PrevSettings != nil {
		prev = *u.PrevSettings
	}
	if err := m.install(ctx, prev, u.PrevSettings != nil); err != nil {
		return fmt.Errorf("%w: %w", change.ErrKeepJournal, err)
	}
	m.mu.Lock()
	m.settings = prev
	m.mu.Unlock()
	err := m.reload(ctx)
	if errors.Is(err, ErrNotRunning) {
		// The previous settings are installed, and a hostapd that is not
		// running reads them when it starts: the rollback is complete.
		m.log.Warn("rolled back the access point settings; hostapd is not running and reads them when it starts",
			"change", ch.ID, "err", err)
		return nil
	}
	return err
}

// Keep implements change.Module: the settings file written when the
// change was applied stays; nothing more to do.
func (m *Manager) Keep(context.Context, change.Change, json.RawMessage) error { return nil }

// install writes the settings file (or removes it, when the config
// file's values are to be in effect) and hostapd's config rendered from s,
// once hostapd's parser accepts it.
func (m *Manager) install(ctx context.Context, s saved, keepFile bool) error {
	m.mu.Lock()
	deny := slices.Clone(m.deny)
	m.mu.Unlock()
	conf, _, err := m.render(ctx, s, deny)
	if err != nil {
		return fmt.Errorf("checking the hostapd config of the previous settings: %w", err)
	}
	if keepFile {
		if err := m.writeJSON(settingsFile, s); err != nil {
			return err
		}
	} else if err := os.Remove(m.data(settingsFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing %s: %w", m.data(settingsFile), err)
	}
	return writeFile(m.sys(m.cfg.HostapdConf), conf, 0o600)
}

// Sync makes the installed deny file match the saved deny list, and the
// installed hostapd config match the settings saved from the console,
// when there are any, and reloads hostapd: after a re-provision from the
// config file (which does not know them), the confirmed settings are in
// effect again. Call it at start, after the engine's Recover. It reports
// whether it changed hostapd's config; with no saved settings, or an AP
// change pending, that is left alone.
func (m *Manager) Sync(ctx context.Context) (bool, error) {
	m.op.Lock()
	defer m.op.Unlock()
	denyErr := m.syncDenyFile(ctx)
	changed, err := m.syncSettings(ctx)
	return changed, errors.Join(denyErr, err)
}

func (m *Manager) syncSettings(ctx context.Context) (bool, error) {
	if _, pending := m.Pending(); pending {
		return false, nil
	}
	m.mu.Lock()
	cur, deny := m.settings, slices.Clone(m.deny)
	m.mu.Unlock()
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
	if _, _, err := m.render(ctx, cur, deny); err != nil {
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
