package apmgr

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/devmgr/devmgr/internal/change"
	"github.com/devmgr/devmgr/internal/fielderr"
	"github.com/devmgr/devmgr/internal/hostapd"
)

// What WriteState writes for a stopped agent is what ReadState and the
// next start read back: the manager then has those settings and list.
func TestWriteStateReadState(t *testing.T) {
	e := newEnv(t)
	st := State{
		Settings: &Settings{SSID: "Restored", Passphrase: "another passphrase", Security: "wpa2", Band: "5ghz",
			Channel: 36, Country: "DE", Isolate: true, PassphraseSet: true},
		Deny: []string{"02:00:00:00:00:05", "02:00:00:00:01:0a"},
	}
	if err := WriteState(e.data, st); err != nil {
		t.Fatal(err)
	}
	got, err := ReadState(e.data, filepath.Join(e.root, DefaultDenyFile))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(st, got); diff != "" {
		t.Errorf("ReadState (-want +got):\n%s", diff)
	}
	m := e.new()
	if diff := cmp.Diff(st.Deny, m.Denied()); diff != "" {
		t.Errorf("Denied (-want +got):\n%s", diff)
	}
	if got := m.EffectiveAP(); got.SSID != "Restored" || got.Passphrase != "another passphrase" || got.Channel != 36 {
		t.Errorf("EffectiveAP = %+v", got)
	}

	// No settings: the config file's are in effect again.
	if err := WriteState(e.data, State{Deny: []string{}}); err != nil {
		t.Fatal(err)
	}
	got, err = ReadState(e.data, "")
	if err != nil {
		t.Fatal(err)
	}
	if got.Settings != nil || len(got.Deny) != 0 {
		t.Errorf("ReadState after clearing = %+v", got)
	}
	if eff := got.Effective(e.cfg.AP); eff.SSID != e.cfg.AP.SSID || eff.Passphrase != testPassphrase {
		t.Errorf("Effective = %+v, want the config's", eff)
	}
}

// Without ap-deny.json, the deny list is the installed file's, as at a
// first start.
func TestReadStateSeedsFromInstalledDenyFile(t *testing.T) {
	e := newEnv(t)
	b, _ := hostapd.RenderDenyList([]string{"02:00:00:00:00:07"})
	e.write(DefaultDenyFile, b)
	got, err := ReadState(e.data, filepath.Join(e.root, DefaultDenyFile))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(State{Deny: []string{"02:00:00:00:00:07"}}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestReadStateRefusesForgedFiles(t *testing.T) {
	e := newEnv(t)
	os.WriteFile(filepath.Join(e.data, settingsFile), []byte(`{"ssid":"x","passphrase":"short","security":"wpa2","band":"2.4ghz","channel":6,"country":"US","isolate":false,"hidden":false}`), 0o600)
	if _, err := ReadState(e.data, ""); !errors.Is(err, change.ErrInvalid) {
		t.Errorf("ReadState of a forged settings file = %v, want ErrInvalid", err)
	}
	if _, err := os.Stat(filepath.Join(e.data, settingsFile)); err != nil {
		t.Errorf("ReadState set the file aside: %v", err)
	}
}

func TestStateValidate(t *testing.T) {
	t.Parallel()
	good := Settings{SSID: "x", Passphrase: "long enough pass", Security: "wpa2", Band: "2.4ghz", Channel: 6, Country: "US"}
	for _, tc := range []struct {
		name  string
		st    State
		field string
	}{
		{"no passphrase", State{Settings: &Settings{SSID: "x", Security: "wpa2", Band: "2.4ghz", Country: "US"}}, "passphrase"},
		{"bad channel", State{Settings: func() *Settings { s := good; s.Channel = 36; return &s }()}, "channel"},
		{"bad country", State{Settings: func() *Settings { s := good; s.Country = "XX"; return &s }()}, "country"},
		{"bad mac", State{Deny: []string{"02:00:00:00:00:01", "not-a-mac"}}, "mac"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var fe *fielderr.Error
			if err := tc.st.Validate(); !errors.As(err, &fe) || fe.Field != tc.field {
				t.Errorf("Validate = %v, want a problem with %s", err, tc.field)
			}
		})
	}
	if err := (State{Settings: &good, Deny: []string{"02-00-00-00-00-01"}}).Validate(); err != nil {
		t.Errorf("Validate of good state: %v", err)
	}
}

func TestSetDenied(t *testing.T) {
	e := newEnv(t)
	m := e.new()
	ctx := context.Background()
	if err := m.Deny(ctx, "02:00:00:00:00:01"); err != nil {
		t.Fatal(err)
	}
	before := len(e.fake.commands())
	if err := m.SetDenied(ctx, []string{"02:00:00:00:00:03", "02-00-00-00-00-02", "02:00:00:00:00:03"}); err != nil {
		t.Fatal(err)
	}
	want := []string{"02:00:00:00:00:02", "02:00:00:00:00:03"}
	if diff := cmp.Diff(want, m.Denied()); diff != "" {
		t.Errorf("Denied (-want +got):\n%s", diff)
	}
	wantCmds := []string{"RELOAD", "DEAUTHENTICATE 02:00:00:00:00:02", "DEAUTHENTICATE 02:00:00:00:00:03"}
	if diff := cmp.Diff(wantCmds, e.fake.commands()[before:]); diff != "" {
		t.Errorf("commands (-want +got):\n%s", diff)
	}
	wantFile, _ := hostapd.RenderDenyList(want)
	if string(wantFile) != string(e.read(DefaultDenyFile)) {
		t.Errorf("deny file:\n%s", e.read(DefaultDenyFile))
	}
	// The same list again does nothing.
	before = len(e.fake.commands())
	if err := m.SetDenied(ctx, want); err != nil || len(e.fake.commands()) != before {
		t.Errorf("SetDenied of the same list: %v, commands %q", err, e.fake.commands()[before:])
	}
	var fe *fielderr.Error
	if err := m.SetDenied(ctx, []string{"bogus"}); !errors.As(err, &fe) || fe.Field != "mac" {
		t.Errorf("SetDenied of a bad address = %v", err)
	}
}
