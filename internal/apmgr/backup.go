package apmgr

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/devmgr/devmgr/internal/change"
	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/hostapd"
)

// State is the access point's share of the device's settings as
// agent.state_dir keeps them: what a backup holds and a restore puts
// back. Pending changes are not part of it.
type State struct {
	// Settings are the settings saved from the console, passphrase
	// included; nil while the config file's ap section is in effect.
	Settings *Settings `json:"settings,omitempty"`
	// Deny is the deny list: MAC addresses as NormalizeMAC writes them,
	// sorted.
	Deny []string `json:"deny"`
}

// ReadState reads the AP's state from stateDir, and the deny list from
// the installed deny file (installedDeny; "" is DefaultDenyFile) while
// stateDir has none, as New does. Files of stateDir that fail the API's
// checks are an error (change.ErrInvalid), never set aside here.
func ReadState(stateDir, installedDeny string) (State, error) {
	if installedDeny == "" {
		installedDeny = DefaultDenyFile
	}
	var st State
	var s saved
	ok, err := change.ReadJSON(filepath.Join(stateDir, settingsFile), &s)
	if err != nil {
		return State{}, err
	}
	if ok {
		if err := s.valid(); err != nil {
			return State{}, invalidf("%s: %v", filepath.Join(stateDir, settingsFile), err)
		}
		st.Settings = s.full()
	}
	if st.Deny, err = loadDenyList(stateDir, installedDeny); err != nil {
		return State{}, err
	}
	return st, nil
}

// full is s as Settings, passphrase included.
func (s saved) full() *Settings {
	p := s.public()
	p.Passphrase = s.Passphrase
	return &p
}

// savedOf is the saved form of settings that carry their passphrase.
func savedOf(s Settings) saved {
	return saved{SSID: s.SSID, Passphrase: s.Passphrase, Security: s.Security, Band: s.Band,
		Channel: s.Channel, Country: s.Country, Isolate: s.Isolate, Hidden: s.Hidden}
}

// Validate checks s as the API checks a request: the settings as Update
// does (and they must carry their passphrase), each address of the deny
// list as Deny does. The error is the first problem: a *fielderr.Error
// naming the setting, or the deny list's address.
func (s State) Validate() error {
	if s.Settings != nil {
		if s.Settings.Passphrase == "" {
			return fieldErr("passphrase", "must be set: the access point runs only protected networks")
		}
		next, err := validate(*s.Settings, saved{})
		if err != nil {
			return err
		}
		if next != savedOf(*s.Settings) {
			return errors.New("the access point settings do not survive validation unchanged")
		}
	}
	_, err := CheckDenyList(s.Deny)
	return err
}

// CheckDenyList checks a deny list as Deny checks each address and
// returns it normalized, sorted and without repeats. Errors:
// *fielderr.Error (mac).
func CheckDenyList(list []string) ([]string, error) {
	if len(list) > maxDenied {
		return nil, fieldErr("mac", "%d addresses on the deny list, at most %d", len(list), maxDenied)
	}
	out := make([]string, 0, len(list))
	for _, mac := range list {
		n, err := hostapd.NormalizeMAC(mac)
		if err != nil {
			return nil, fieldErr("mac", "%v", err)
		}
		out = append(out, n)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// Effective is the settings s puts in effect with the config file's ap
// section: s.Settings, or ap's values when there are none.
func (s State) Effective(ap config.AP) Settings {
	if s.Settings != nil {
		return *s.Settings
	}
	return *fromAP(ap).full()
}

// WriteState writes s into stateDir for an agent that is not running:
// its next start reads it back, validates it as ReadState does and
// installs it (Sync: hostapd's config and deny file). s must pass
// Validate. A nil Settings removes the saved settings, so that the config
// file's are in effect.
func WriteState(stateDir string, s State) error {
	if err := s.Validate(); err != nil {
		return fmt.Errorf("writing the access point state: %w", err)
	}
	deny, _ := CheckDenyList(s.Deny)
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return fmt.Errorf("creating state directory: %w", err)
	}
	p := filepath.Join(stateDir, settingsFile)
	if s.Settings == nil {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("removing %s: %w", p, err)
		}
	} else if err := change.WriteJSON(p, savedOf(*s.Settings)); err != nil {
		return err
	}
	return change.WriteJSON(filepath.Join(stateDir, denyFile), deny)
}

// PlanSettings is the plan Update hands the engine, for a change made of
// several modules' plans (a restore): it validates s, renders and checks
// hostapd's config, and writes nothing; its Apply installs s. Call it from
// within the engine's Begin. Errors: Update's.
func (m *Manager) PlanSettings(ctx context.Context, s Settings) (change.Plan, error) {
	return m.plan(ctx, s)
}

// SetDenied makes list the deny list with one reload of hostapd, and
// disconnects the stations it adds; when hostapd cannot be reloaded the
// previous list stays. Errors: *fielderr.Error (mac).
func (m *Manager) SetDenied(ctx context.Context, list []string) error {
	next, err := CheckDenyList(list)
	if err != nil {
		return err
	}
	m.op.Lock()
	defer m.op.Unlock()
	prev := m.Denied()
	if slices.Equal(prev, next) {
		return nil
	}
	if err := m.setDeny(ctx, next); err != nil {
		return fmt.Errorf("setting the deny list (unchanged): %w", err)
	}
	m.log.Info("deny list set", "denied", len(next))
	for _, mac := range next {
		if slices.Contains(prev, mac) {
			continue
		}
		if err := m.control(func(c Control) error { return c.Deauth(ctx, mac) }); err != nil {
			m.log.Warn("disconnecting a denied station", "mac", mac, "err", err)
		}
	}
	return nil
}

// SettingsChanges says which settings differ between a and b, old → new,
// as a change shows them (the passphrase only as "changed").
func SettingsChanges(a, b Settings) []change.FieldChange {
	return fieldChanges(savedOf(a), savedOf(b))
}
