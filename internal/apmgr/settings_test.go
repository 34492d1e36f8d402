package apmgr

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"github.com/devmgr/devmgr/internal/fielderr"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/devmgr/devmgr/internal/change"
	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/hostapd"
	"github.com/google/go-cmp/cmp"
)

func withSSID(m *Manager, ssid string) Settings {
	s := m.Settings()
	s.SSID = ssid
	return s
}

func TestUpdateRollsBackUnlessConfirmed(t *testing.T) {
	e := newEnv(t)
	// Settings saved by an earlier, confirmed change, installed: the
	// rollback renders the same files from them again.
	prev := saved{SSID: "Earlier", Passphrase: testPassphrase, Security: "wpa2", Band: "2.4ghz", Channel: 11, Country: "DE", Isolate: true}
	prevSettings, _ := json.MarshalIndent(prev, "", "  ")
	if err := os.WriteFile(filepath.Join(e.data, settingsFile), append(prevSettings, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	m := e.new()
	before := m.Settings()
	if before.SSID != "Earlier" || before.Channel != 11 || before.Country != "DE" || !before.Isolate {
		t.Fatalf("Settings() = %+v, want the saved settings", before)
	}
	prevConf, err := hostapd.Render(prev.apply(e.cfg.AP), m.renderOptions())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.root, DefaultHostapdConf), prevConf, 0o600); err != nil {
		t.Fatal(err)
	}
	snap := e.snapshot()

	s := before
	s.SSID, s.Channel, s.Security = "Renamed", 1, config.SecurityWPA2WPA3
	ch, err := m.Update(change.WithUser(context.Background(), "alice"), s)
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	wantChanges := []change.FieldChange{{Field: "ssid", Old: "Earlier", New: "Renamed"},
		{Field: "security", Old: "wpa2", New: "wpa2-wpa3"}, {Field: "channel", Old: "11", New: "1"}}
	if diff := cmp.Diff(wantChanges, ch.Changes); diff != "" || ch.User != "alice" {
		t.Errorf("Changes (-want +got):\n%s; user %q", diff, ch.User)
	}
	if ch.Status != StatusPending || ch.ID == "" || !ch.RollbackAt.After(ch.CreatedAt) {
		t.Errorf("Update = %+v, want a pending change with a rollback time", ch)
	}
	if diff := cmp.Diff([]string{"ssid", "security", "channel"}, ch.Fields); diff != "" {
		t.Errorf("Fields (-want +got):\n%s", diff)
	}
	conf := e.read(DefaultHostapdConf)
	for _, l := range []string{"ssid=Renamed\n", "channel=1\n", "wpa_key_mgmt=WPA-PSK SAE\n", "country_code=DE\n", "ap_isolate=1\n", "deny_mac_file=/etc/hostapd/devmgr.deny\n"} {
		if !bytes.Contains(conf, []byte(l)) {
			t.Errorf("new config lacks %q:\n%s", l, conf)
		}
	}
	if err := hostapd.Check(context.Background(), conf); err != nil {
		t.Errorf("hostapd rejects the written config: %v", err)
	}
	if e.fake.count("RELOAD") != 1 {
		t.Errorf("commands = %q, want one RELOAD", e.fake.commands())
	}
	if got := m.Settings().SSID; got != "Renamed" {
		t.Errorf("Settings().SSID during the change = %q", got)
	}
	if p, ok := m.Pending(); !ok || p.ID != ch.ID {
		t.Errorf("Pending() = %+v, %v", p, ok)
	}

	e.timers.Fire(t)
	got, err := m.Change(ch.ID)
	if err != nil || got.Status != StatusRolledBack || got.FinishedAt == nil || got.Error != "" {
		t.Errorf("rolled back change = %+v", got)
	}
	if diff := cmp.Diff(snap, e.snapshot()); diff != "" {
		t.Errorf("files after rollback (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(before, m.Settings()); diff != "" {
		t.Errorf("Settings() after rollback (-want +got):\n%s", diff)
	}
	if e.fake.count("RELOAD") != 2 {
		t.Errorf("commands = %q, want a second RELOAD for the rollback", e.fake.commands())
	}
	if _, ok := m.Pending(); ok {
		t.Error("a change is still pending")
	}
	if _, err := m.Confirm(context.Background(), ch.ID); !errors.Is(err, ErrNotPending) {
		t.Errorf("Confirm after rollback = %v, want ErrNotPending", err)
	}
}

// Without a settings file, the config file's values were in effect: a
// rollback removes the file again.
func TestRollbackRemovesNewSettingsFile(t *testing.T) {
	e := newEnv(t)
	m := e.new()
	snap := e.snapshot()
	ch, err := m.Update(context.Background(), withSSID(m, "Other"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(e.data, settingsFile)); err != nil {
		t.Errorf("no settings file during the change: %v", err)
	}
	e.timers.Fire(t)
	if got, err := m.Change(ch.ID); err != nil || got.Status != StatusRolledBack {
		t.Errorf("after the timer: %+v %v", got, err)
	}
	if diff := cmp.Diff(snap, e.snapshot()); diff != "" {
		t.Errorf("files after rollback (-before +after):\n%s", diff)
	}
	if !bytes.Equal(e.read(DefaultHostapdConf), e.origConf) {
		t.Error("config differs from the installed one")
	}
}

func TestConfirmKeepsChangeAcrossRestart(t *testing.T) {
	e := newEnv(t)
	m := e.new()
	s := withSSID(m, "Kept")
	s.Passphrase = "a new passphrase!"
	s.Hidden = true
	ch, err := m.Update(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	conf := e.read(DefaultHostapdConf)
	got, err := m.Confirm(context.Background(), ch.ID)
	if err != nil {
		t.Fatalf("Confirm: %v", err)
	}
	if got.Status != StatusConfirmed || got.FinishedAt == nil {
		t.Errorf("Confirm = %+v", got)
	}
	e.timers.Fire(t) // past the rollback time: nothing happens
	if !bytes.Equal(conf, e.read(DefaultHostapdConf)) {
		t.Error("the config changed after Confirm")
	}
	if _, err := os.Stat(filepath.Join(e.data, journalFile)); !os.IsNotExist(err) {
		t.Errorf("journal after Confirm: %v", err)
	}
	if _, err := m.Confirm(context.Background(), ch.ID); !errors.Is(err, ErrNotPending) {
		t.Errorf("second Confirm = %v, want ErrNotPending", err)
	}
	e.eng.Close()

	// The agent restarts.
	m2 := e.new()
	if err := e.eng.Recover(context.Background()); err != nil {
		t.Fatalf("Recover: %v", err)
	}
	want := s
	want.Passphrase, want.PassphraseSet = "", true
	if diff := cmp.Diff(want, m2.Settings()); diff != "" {
		t.Errorf("Settings() after restart (-want +got):\n%s", diff)
	}
	if ap := m2.EffectiveAP(); ap.Passphrase != s.Passphrase || ap.SSID != "Kept" || ap.Interface != "wlan0" {
		t.Errorf("EffectiveAP() = %+v", ap)
	}
	if ap, err := Effective(e.cfg, ""); err != nil || ap != m2.EffectiveAP() {
		t.Errorf("Effective = %+v, %v; want EffectiveAP()", ap, err)
	}
	if !bytes.Equal(conf, e.read(DefaultHostapdConf)) {
		t.Error("the config changed at restart")
	}
	if c, err := m2.Change(ch.ID); err != nil || c.Status != StatusConfirmed {
		t.Errorf("Change(%s) after restart = %+v, %v", ch.ID, c, err)
	}
	if e.fake.count("RELOAD") != 1 {
		t.Errorf("commands = %q, want the one RELOAD of the change", e.fake.commands())
	}
}

func TestRecoverRollsBackJournal(t *testing.T) {
	e := newEnv(t)
	m := e.new() // rollback timeout one minute: the "crash" comes first
	snap := e.snapshot()
	ch, err := m.Update(context.Background(), withSSID(m, "Crashed"))
	if err != nil {
		t.Fatal(err)
	}
	e.eng.Close() // the agent dies; the journal stays

	m2 := e.new()
	if got := m2.Settings().SSID; got != "Crashed" {
		t.Errorf("Settings().SSID before Recover = %q", got)
	}
	if err := e.eng.Recover(context.Background()); err != nil {
		t.Fatalf("Recover: %v", err)
	}
	if diff := cmp.Diff(snap, e.snapshot()); diff != "" {
		t.Errorf("files after Recover (-before +after):\n%s", diff)
	}
	if got := m2.Settings().SSID; got != config.Default().AP.SSID {
		t.Errorf("Settings().SSID after Recover = %q", got)
	}
	if c, err := m2.Change(ch.ID); err != nil || c.Status != StatusRolledBack {
		t.Errorf("Change after Recover = %+v, %v", c, err)
	}
	if e.fake.count("RELOAD") != 2 {
		t.Errorf("commands = %q, want RELOAD for the change and for the recovery", e.fake.commands())
	}
	// Recovering again finds nothing to do.
	if err := e.eng.Recover(context.Background()); err != nil || e.fake.count("RELOAD") != 2 {
		t.Errorf("second Recover = %v, commands %q", err, e.fake.commands())
	}
}

func TestUpdateWhilePending(t *testing.T) {
	e := newEnv(t)
	m := e.new()
	ch, err := m.Update(context.Background(), withSSID(m, "First"))
	if err != nil {
		t.Fatal(err)
	}
	snap := e.snapshot()
	if _, err := m.Update(context.Background(), withSSID(m, "Second")); !errors.Is(err, ErrPending) {
		t.Fatalf("second Update = %v, want ErrPending", err)
	}
	if diff := cmp.Diff(snap, e.snapshot()); diff != "" {
		t.Errorf("second Update wrote (-before +after):\n%s", diff)
	}
	if _, err := m.Confirm(context.Background(), ch.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Update(context.Background(), withSSID(m, "Second")); err != nil {
		t.Errorf("Update after Confirm: %v", err)
	}
}

func TestUpdateRejects(t *testing.T) {
	hex64 := strings.Repeat("0123456789abcdef", 4)
	tests := []struct {
		name  string
		edit  func(*Settings)
		field string
	}{
		{"empty ssid", func(s *Settings) { s.SSID = "" }, "ssid"},
		{"33-byte ssid", func(s *Settings) { s.SSID = strings.Repeat("a", 33) }, "ssid"},
		{"newline in ssid", func(s *Settings) { s.SSID = "net\nwpa=0" }, "ssid"},
		{"carriage return in ssid", func(s *Settings) { s.SSID = "net\rx" }, "ssid"},
		{"NUL in ssid", func(s *Settings) { s.SSID = "net\x00" }, "ssid"},
		{"invalid UTF-8 ssid", func(s *Settings) { s.SSID = "caf\xc3" }, "ssid"},
		{"over-long UTF-8 ssid", func(s *Settings) { s.SSID = strings.Repeat("é", 17) }, "ssid"},
		{"C1 control in ssid", func(s *Settings) { s.SSID = "a\u0085b" }, "ssid"},
		{"short passphrase", func(s *Settings) { s.Passphrase = "seven77" }, "passphrase"},
		{"64-char non-hex passphrase", func(s *Settings) { s.Passphrase = strings.Repeat("g", 64) }, "passphrase"},
		{"65-char passphrase", func(s *Settings) { s.Passphrase = strings.Repeat("a", 65) }, "passphrase"},
		{"newline in passphrase", func(s *Settings) { s.Passphrase = "password\nwpa=0" }, "passphrase"},
		{"non-ASCII passphrase", func(s *Settings) { s.Passphrase = "pässwörter" }, "passphrase"},
		{"hex key with SAE", func(s *Settings) { s.Passphrase = hex64; s.Security = config.SecurityWPA3 }, "passphrase"},
		{"unknown security", func(s *Settings) { s.Security = "wep" }, "security"},
		{"security with newline", func(s *Settings) { s.Security = "wpa2\nwpa=0" }, "security"},
		{"empty security", func(s *Settings) { s.Security = "" }, "security"},
		{"unknown band", func(s *Settings) { s.Band = "6ghz" }, "band"},
		{"channel 14 on 5ghz", func(s *Settings) { s.Band = config.Band5; s.Channel = 14 }, "channel"},
		{"channel 36 on 2.4ghz", func(s *Settings) { s.Channel = 36 }, "channel"},
		{"channel 15", func(s *Settings) { s.Channel = 15 }, "channel"},
		{"negative channel", func(s *Settings) { s.Channel = -1 }, "channel"},
		{"country XX", func(s *Settings) { s.Country = "XX" }, "country"},
		{"lower-case country", func(s *Settings) { s.Country = "us" }, "country"},
		{"country with newline", func(s *Settings) { s.Country = "U\n" }, "country"},
		{"three-letter country", func(s *Settings) { s.Country = "USA" }, "country"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.noCheck()
			m := e.new()
			snap := e.snapshot()
			s := m.Settings()
			tt.edit(&s)
			_, err := m.Update(context.Background(), s)
			var fe *fielderr.Error
			if !errors.As(err, &fe) || fe.Field != tt.field || fe.Message == "" {
				t.Fatalf("Update = %v, want a fielderr.Error for %s", err, tt.field)
			}
			if diff := cmp.Diff(snap, e.snapshot()); diff != "" {
				t.Errorf("rejected Update wrote (-before +after):\n%s", diff)
			}
			if c := e.fake.commands(); len(c) != 0 {
				t.Errorf("rejected Update sent %q", c)
			}
			if _, ok := m.Pending(); ok {
				t.Error("rejected Update left a pending change")
			}
		})
	}
}

// A current raw key cannot be kept when the security moves to SAE.
func TestUpdateKeepsHexKeyOnlyForWPA2(t *testing.T) {
	e := newEnv(t)
	e.noCheck()
	e.cfg.AP.Security = config.SecurityWPA2
	e.cfg.AP.Passphrase = strings.Repeat("0123456789abcdef", 4)
	m := e.new()
	s := m.Settings()
	s.Security = config.SecurityWPA3
	var fe *fielderr.Error
	if _, err := m.Update(context.Background(), s); !errors.As(err, &fe) || fe.Field != "passphrase" {
		t.Errorf("Update = %v, want a passphrase fielderr.Error", err)
	}
}

// Values that look like injections but are valid SSIDs and passphrases
// reach hostapd exactly: its parser accepts the file and reports the SSID.
func TestUpdateTrickyValues(t *testing.T) {
	e := newEnv(t)
	m := e.new()
	for _, v := range []struct{ ssid, pass string }{
		{`a"b#c=d`, `pass#word=1"'`},
		{" leading and trailing ", "    spaces    "},
		{"Café ☕", "back\\slash\\n"},
		{`\n\x00`, "pipe|id=x|mac=y"},
		{strings.Repeat("é", 16), strings.Repeat("~", 63)},
	} {
		s := withSSID(m, v.ssid)
		s.Passphrase = v.pass
		ch, err := m.Update(context.Background(), s)
		if err != nil {
			t.Fatalf("Update(%q, %q): %v", v.ssid, v.pass, err)
		}
		conf := e.read(DefaultHostapdConf)
		if extra := unknownKeys(e.origConf, conf); len(extra) > 0 {
			t.Errorf("config for %q, %q has lines the original has no key for: %q", v.ssid, v.pass, extra)
		}
		if _, err := m.Confirm(context.Background(), ch.ID); err != nil {
			t.Fatal(err)
		}
		if got := m.Settings().SSID; got != v.ssid {
			t.Errorf("Settings().SSID = %q, want %q", got, v.ssid)
		}
	}
}

func TestPassphraseIsWriteOnly(t *testing.T) {
	e := newEnv(t)
	m := e.new()
	s := withSSID(m, "Changed")
	s.Passphrase = "" // keep
	ch, err := m.Update(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Confirm(context.Background(), ch.ID); err != nil {
		t.Fatal(err)
	}
	if m.EffectiveAP().Passphrase != testPassphrase {
		t.Errorf("passphrase = %q, want the kept one", m.EffectiveAP().Passphrase)
	}
	if !bytes.Contains(e.read(DefaultHostapdConf), []byte("wpa_passphrase="+testPassphrase+"\n")) {
		t.Error("the config lost the passphrase")
	}
	b, err := json.Marshal(m.Settings())
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("passphrase\":\"")) || bytes.Contains(b, []byte(testPassphrase)) {
		t.Errorf("Settings JSON shows the passphrase: %s", b)
	}
	if !bytes.Contains(b, []byte(`"passphrase_set":true`)) {
		t.Errorf("Settings JSON = %s, want passphrase_set", b)
	}
}

func TestUpdateSameSettings(t *testing.T) {
	e := newEnv(t)
	m := e.new()
	snap := e.snapshot()
	if _, err := m.Update(context.Background(), m.Settings()); !errors.Is(err, ErrNoChange) {
		t.Errorf("Update with the current settings = %v, want ErrNoChange", err)
	}
	if diff := cmp.Diff(snap, e.snapshot()); diff != "" {
		t.Errorf("Update wrote (-before +after):\n%s", diff)
	}
}

func TestUpdateCheckFails(t *testing.T) {
	e := newEnv(t)
	pe := &hostapd.ParseError{Lines: []string{"Line 9: invalid"}}
	e.check = func(context.Context, []byte, []byte) error { return pe }
	m := e.new()
	snap := e.snapshot()
	_, err := m.Update(context.Background(), withSSID(m, "Refused"))
	var got *hostapd.ParseError
	if !errors.As(err, &got) {
		t.Fatalf("Update = %v, want the ParseError", err)
	}
	if diff := cmp.Diff(snap, e.snapshot()); diff != "" {
		t.Errorf("Update wrote (-before +after):\n%s", diff)
	}
	if len(e.fake.commands()) != 0 {
		t.Errorf("commands = %q", e.fake.commands())
	}
}

func TestUpdateRestartsWhenReloadFails(t *testing.T) {
	e := newEnv(t)
	m := e.new()
	e.fake.setReply(func(cmd string) (string, bool) {
		if cmd == "RELOAD" {
			return "FAIL\n", true
		}
		return defaultReply(cmd)
	})
	ch, err := m.Update(context.Background(), withSSID(m, "Restarted"))
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if diff := cmp.Diff([]string{DefaultService}, e.services.restarted()); diff != "" {
		t.Errorf("restarts (-want +got):\n%s", diff)
	}
	if ch.Status != StatusPending {
		t.Errorf("Update = %+v", ch)
	}
}

// When hostapd can be neither reloaded nor restarted, the change is undone
// at once and the error says so.
func TestUpdateRollsBackWhenHostapdCannotReload(t *testing.T) {
	e := newEnv(t)
	m := e.new()
	e.fake.setReply(func(cmd string) (string, bool) {
		if cmd == "RELOAD" {
			return "FAIL\n", true
		}
		return defaultReply(cmd)
	})
	e.services.restartErr = errors.New("unit not found")
	snap := e.snapshot()
	_, err := m.Update(context.Background(), withSSID(m, "Broken"))
	if err == nil || !strings.Contains(err.Error(), "rolled back") || !strings.Contains(err.Error(), "unit not found") {
		t.Fatalf("Update = %v, want a rolled-back error naming the restart failure", err)
	}
	if diff := cmp.Diff(snap, e.snapshot()); diff != "" {
		t.Errorf("files (-before +after):\n%s", diff)
	}
	if _, ok := m.Pending(); ok {
		t.Error("change still pending")
	}
	if m.Settings().SSID != config.Default().AP.SSID {
		t.Errorf("Settings().SSID = %q", m.Settings().SSID)
	}
}

func TestNewRequires(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Error("New without data dir succeeded")
	}
	c := config.Default()
	c.Agent.StateDir = t.TempDir()
	if _, err := New(Config{Cfg: c}); err == nil {
		t.Error("New without a change engine succeeded")
	}
}

// unknownKeys returns the lines of conf whose key neither orig nor the
// SSID's alternative spellings have.
func unknownKeys(orig, conf []byte) []string {
	keys := map[string]bool{"ssid2": true, "utf8_ssid": true}
	for _, l := range strings.Split(string(orig), "\n") {
		k, _, _ := strings.Cut(l, "=")
		keys[k] = true
	}
	var out []string
	for _, l := range strings.Split(string(conf), "\n") {
		if k, _, _ := strings.Cut(l, "="); !keys[k] {
			out = append(out, l)
		}
	}
	return out
}

func TestSyncReinstallsSavedSettings(t *testing.T) {
	e := newEnv(t)
	m := e.new()
	ctx := context.Background()
	// No settings saved from the console: nothing to do.
	if changed, err := m.Sync(ctx); err != nil || changed {
		t.Fatalf("Sync without saved settings = %v, %v", changed, err)
	}
	ch, err := m.Update(ctx, withSSID(m, "Console"))
	if err != nil {
		t.Fatal(err)
	}
	if changed, err := m.Sync(ctx); err != nil || changed {
		t.Errorf("Sync with a change pending = %v, %v", changed, err)
	}
	if _, err := m.Confirm(context.Background(), ch.ID); err != nil {
		t.Fatal(err)
	}
	ours := e.read(DefaultHostapdConf)
	e.eng.Close()

	e.write(DefaultHostapdConf, e.origConf) // devmgr provision ran from the config file
	m = e.new()
	if err := e.eng.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	reloads := e.fake.count("RELOAD")
	if changed, err := m.Sync(ctx); err != nil || !changed {
		t.Fatalf("Sync = %v, %v; want a change", changed, err)
	}
	if !bytes.Equal(ours, e.read(DefaultHostapdConf)) {
		t.Errorf("config after Sync:\n%s", e.read(DefaultHostapdConf))
	}
	if e.fake.count("RELOAD") != reloads+1 {
		t.Errorf("commands = %q, want a RELOAD", e.fake.commands())
	}
	if changed, err := m.Sync(ctx); err != nil || changed {
		t.Errorf("second Sync = %v, %v", changed, err)
	}
}

// The plan of an update validates, renders and checks, and writes
// nothing: the engine journals its Undo before Apply writes.
func TestPlanWritesNothing(t *testing.T) {
	e := newEnv(t)
	m := e.new()
	snap := e.snapshot()
	s := withSSID(m, "Planned")
	s.Channel = 11
	p, err := m.plan(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if p.Kind != Kind || p.Target != "" || !cmp.Equal(p.Fields, []string{"ssid", "channel"}) || p.Apply == nil {
		t.Errorf("plan = %+v", p)
	}
	// No settings file yet: the undo goes back to the config file's values.
	if u, ok := p.Undo.(undoState); !ok || u.PrevSettings != nil {
		t.Errorf("undo = %#v", p.Undo)
	}
	if diff := cmp.Diff(snap, e.snapshot()); diff != "" {
		t.Errorf("plan wrote (-before +after):\n%s", diff)
	}
	if c := e.fake.commands(); len(c) != 0 {
		t.Errorf("plan sent %q", c)
	}
	if _, err := m.plan(context.Background(), m.Settings()); !errors.Is(err, ErrNoChange) {
		t.Errorf("plan of the current settings = %v, want ErrNoChange", err)
	}
}

// An AP change says old → new per setting, and never the passphrase.
func TestFieldChanges(t *testing.T) {
	t.Parallel()
	base := saved{SSID: "Home", Passphrase: testPassphrase, Security: "wpa2", Band: "2.4ghz", Channel: 6, Country: "US"}
	tests := []struct {
		name string
		mod  func(*saved)
		want []change.FieldChange
	}{
		{"nothing", func(*saved) {}, nil},
		{"ssid", func(s *saved) { s.SSID = "Office" }, []change.FieldChange{{Field: "ssid", Old: "Home", New: "Office"}}},
		{"passphrase", func(s *saved) { s.Passphrase = "another passphrase" },
			[]change.FieldChange{{Field: "passphrase", Old: "", New: "changed"}}},
		{"automatic channel", func(s *saved) { s.Channel = 0 }, []change.FieldChange{{Field: "channel", Old: "6", New: "auto"}}},
		{"every other setting", func(s *saved) {
			s.Security, s.Band, s.Channel, s.Country, s.Isolate, s.Hidden = "wpa3", "5ghz", 36, "DE", true, true
		}, []change.FieldChange{
			{Field: "security", Old: "wpa2", New: "wpa3"}, {Field: "band", Old: "2.4ghz", New: "5ghz"},
			{Field: "channel", Old: "6", New: "36"}, {Field: "country", Old: "US", New: "DE"},
			{Field: "isolate", Old: "off", New: "on"}, {Field: "hidden", Old: "off", New: "on"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			next := base
			tt.mod(&next)
			got := fieldChanges(base, next)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("fieldChanges (-want +got):\n%s", diff)
			}
			for _, c := range got {
				if v := c.Old + c.New; strings.Contains(v, testPassphrase) || strings.Contains(v, next.Passphrase) {
					t.Errorf("a passphrase shows in %+v", c)
				}
			}
		})
	}
}
