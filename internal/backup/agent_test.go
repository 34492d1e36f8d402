package backup

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/devmgr/devmgr/internal/apmgr"
	"github.com/devmgr/devmgr/internal/change"
	"github.com/devmgr/devmgr/internal/netif"
	"github.com/devmgr/devmgr/internal/testing/apmgrtest"
	"github.com/devmgr/devmgr/internal/testing/testutil"
)

// agentDevice is an agent's change engine (its timers fired by the test)
// with the AP module on a stand-in hostapd, and the restorer.
type agentDevice struct {
	eng    *change.Engine
	timers *testutil.Timers
	ap     *apmgrtest.Device
	r      *AgentRestorer
}

func newAgentDevice(t *testing.T) *agentDevice {
	t.Helper()
	a := &agentDevice{timers: &testutil.Timers{}}
	var err error
	a.eng, err = change.New(change.Config{Dir: filepath.Join(t.TempDir(), "changes"), Timeout: time.Minute,
		AfterFunc: a.timers.After, Log: slog.New(slog.NewTextHandler(t.Output(), nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.eng.Close)
	a.ap = apmgrtest.New(t, apmgrtest.Options{Changes: a.eng})
	if a.r, err = NewAgentRestorer(AgentRestorerConfig{Changes: a.eng, AP: a.ap.Manager}); err != nil {
		t.Fatal(err)
	}
	return a
}

// The AP settings and the deny list of a backup go back as one change of
// the agent's engine: in force at once, undone together unless
// confirmed, kept when confirmed.
func TestAgentRestorerOneChange(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := newAgentDevice(t)
	m := a.ap.Manager
	before, beforeDeny := m.Settings(), m.Denied()
	s := AgentState{AP: apmgr.State{
		Settings: &apmgr.Settings{SSID: "Restored", Passphrase: "restored passphrase", Security: "wpa2", Band: "2.4ghz", Channel: 1, Country: "US"},
		Deny:     []string{"02:00:00:00:00:77"},
	}}
	ch, err := a.r.Restore(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if ch.Kind != KindRestore || ch.Status != change.StatusPending {
		t.Fatalf("change %+v", ch)
	}
	wantChanges := []change.FieldChange{
		{Field: "ap_ssid", Old: "DeviceManager", New: "Restored"},
		{Field: "ap_passphrase", New: apmgr.PassphraseChanged},
		{Field: "ap_security", Old: "wpa2-wpa3", New: "wpa2"},
		{Field: "ap_channel", Old: "6", New: "1"},
		{Field: "deny_list", Old: "", New: "02:00:00:00:00:77"},
	}
	if diff := cmp.Diff(wantChanges, ch.Changes); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
	if got := m.Settings().SSID; got != "Restored" {
		t.Errorf("SSID while pending = %q", got)
	}
	if got := m.Denied(); !cmp.Equal(got, s.AP.Deny) {
		t.Errorf("deny list while pending = %v", got)
	}
	// Not confirmed in time: all of it is undone.
	a.timers.Fire(t)
	if got, _ := a.eng.Get(ch.ID); got.Status != change.StatusRolledBack || got.Error != "" {
		t.Fatalf("after the timeout: %+v", got)
	}
	if diff := cmp.Diff(before, m.Settings()); diff != "" {
		t.Errorf("settings after the rollback (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(beforeDeny, m.Denied()); diff != "" {
		t.Errorf("deny list after the rollback (-want +got):\n%s", diff)
	}

	// Confirmed: kept.
	ch, err = a.r.Restore(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.eng.Confirm(ctx, ch.ID); err != nil {
		t.Fatal(err)
	}
	st, err := apmgr.ReadState(a.ap.StateDir, filepath.Join(a.ap.Root, apmgr.DefaultDenyFile))
	if err != nil {
		t.Fatal(err)
	}
	s.AP.Settings.PassphraseSet = true
	if diff := cmp.Diff(s.AP, st); diff != "" {
		t.Errorf("saved state after confirming (-want +got):\n%s", diff)
	}
	if _, err := a.r.Restore(ctx, s); !errors.Is(err, ErrNoChange) {
		t.Errorf("restoring the same again = %v, want ErrNoChange", err)
	}
}

// A restore a module refuses changes nothing; one that needs a module the
// agent does not run is refused.
func TestAgentRestorerRefuses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := newAgentDevice(t)
	m := a.ap.Manager
	before := m.Settings()
	for name, s := range map[string]AgentState{
		"bad channel": {AP: apmgr.State{Settings: &apmgr.Settings{SSID: "x", Passphrase: "restored passphrase", Security: "wpa2", Band: "2.4ghz", Channel: 36, Country: "US"}}},
		"no network":  {LAN: map[string]netif.LinkConfig{"eth1": {Mode: netif.ModeDHCP}}},
		"bad mac":     {AP: apmgr.State{Deny: []string{"zz"}}},
	} {
		if _, err := a.r.Restore(ctx, s); err == nil {
			t.Errorf("%s: restored", name)
		}
		if _, ok := a.eng.Pending(); ok {
			t.Fatalf("%s: a change is pending", name)
		}
		if diff := cmp.Diff(before, m.Settings()); diff != "" {
			t.Errorf("%s: settings changed (-want +got):\n%s", name, diff)
		}
	}
}

// A restore's journal read back is checked part by part by the modules'
// own checks: a forged part is refused before any undo runs.
func TestAgentRestorerChecksJournal(t *testing.T) {
	t.Parallel()
	a := newAgentDevice(t)
	ch := change.Change{ID: "0123456789abcdef", Kind: KindRestore, Status: change.StatusPending}
	raw := func(v any) json.RawMessage { b, _ := json.Marshal(v); return b }
	good := []journalPart{{Kind: kindDeny, Data: raw([]string{"02:00:00:00:00:01"})}}
	goodKeep := []journalPart{{Kind: kindDeny, Data: json.RawMessage("null")}}
	if err := a.r.Check(ch, raw(good), raw(goodKeep)); err != nil {
		t.Fatalf("a good journal: %v", err)
	}
	for name, j := range map[string][2]any{
		"unknown kind":  {[]journalPart{{Kind: "shell", Data: raw("rm -rf /")}}, []journalPart{{Kind: "shell", Data: raw(nil)}}},
		"bad mac":       {[]journalPart{{Kind: kindDeny, Data: raw([]string{"nope"})}}, goodKeep},
		"network part":  {[]journalPart{{Kind: netif.Kind, Target: "eth1", Data: raw(nil)}}, []journalPart{{Kind: netif.Kind, Target: "eth1", Data: raw(nil)}}},
		"ap field":      {[]journalPart{{Kind: apmgr.Kind, Fields: []string{"interface"}, Data: raw(map[string]any{"prev_settings": nil})}}, []journalPart{{Kind: apmgr.Kind, Fields: []string{"interface"}, Data: raw(nil)}}},
		"parts differ":  {good, []journalPart{{Kind: apmgr.Kind, Data: raw(nil)}}},
		"no parts":      {[]journalPart{}, []journalPart{}},
		"unknown field": {json.RawMessage(`[{"kind":"ap-deny","data":[],"extra":1}]`), goodKeep},
	} {
		if err := a.r.Check(ch, raw(j[0]), raw(j[1])); !errors.Is(err, change.ErrInvalid) {
			t.Errorf("%s: Check = %v, want ErrInvalid", name, err)
		}
	}
}
