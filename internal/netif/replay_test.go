package netif

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/devmgr/devmgr/internal/change"
	"github.com/google/go-cmp/cmp"
)

// forgedJournal is the engine's pending.json of a network change.
type forgedJournal struct {
	Change change.Change `json:"change"`
	Undo   undoState     `json:"undo"`
	Keep   *keepState    `json:"keep,omitempty"`
}

func pendingChange(target string) change.Change {
	return change.Change{ID: "0123456789abcdef", Kind: Kind, Target: target, Status: change.StatusPending}
}

// A journal naming an uplink (or the AP interface) is never applied:
// whoever wrote it, only a LAN interface may be changed, as through the API.
func TestRecoverRefusesForgedJournal(t *testing.T) {
	e := newChangerEnv(t)
	ctx := context.Background()
	uplink := e.cfg.Uplinks[0]
	before, err := e.h.Snapshot(ctx, uplink)
	if err != nil {
		t.Fatal(err)
	}
	lanBefore := e.snapshot(t)
	down := before
	down.AdminUp, down.Addresses, down.Routes = false, []AddrState{}, []Route{}
	for name, j := range map[string]forgedJournal{
		"uplink":  {Change: pendingChange(uplink), Undo: undoState{Prev: down}},
		"ap":      {Change: pendingChange(e.cfg.AP.Interface), Undo: undoState{Prev: State{Name: e.cfg.AP.Interface}}},
		"renamed": {Change: pendingChange("eth1"), Undo: undoState{Prev: down}},
		"bad route": {Change: pendingChange("eth1"),
			Undo: undoState{Prev: State{Name: "eth1", AdminUp: true, Routes: []Route{{Dst: "0.0.0.0/0", Gateway: "10.0.0.1", Type: 7}}}}},
		"bad kept config": {Change: pendingChange("eth1"), Undo: undoState{Prev: State{Name: "eth1"}},
			Keep: &keepState{Config: LinkConfig{Mode: ModeStatic, Addresses: []string{"192.0.2.9/24"}}}},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			b, _ := json.Marshal(j)
			if err := os.MkdirAll(filepath.Join(dir, "changes"), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "changes", "pending.json"), b, 0o600); err != nil {
				t.Fatal(err)
			}
			var rejected []string
			c := newTestChanger(t, e.h, e.cfg, dir, nil, func(ec *change.Config, _ *Config) {
				ec.OnRejected = func(file, reason string) { rejected = append(rejected, file+": "+reason) }
			})
			if err := c.Recover(ctx); err == nil || !strings.Contains(err.Error(), "set aside") {
				t.Errorf("Recover = %v, want the journal set aside", err)
			}
			after, _ := e.h.Snapshot(ctx, uplink)
			if diff := cmp.Diff(before, after); diff != "" {
				t.Errorf("uplink changed (-before +after):\n%s", diff)
			}
			if diff := cmp.Diff(lanBefore, e.snapshot(t)); diff != "" {
				t.Errorf("eth1 changed (-before +after):\n%s", diff)
			}
			if _, err := os.Stat(filepath.Join(dir, "changes", "pending.json")); err == nil {
				t.Error("the journal is still in place")
			}
			if m, _ := filepath.Glob(filepath.Join(dir, "changes", "pending.json.rejected-*")); len(m) != 1 {
				t.Errorf("set-aside copies: %q", m)
			}
			if len(rejected) != 1 || !strings.HasPrefix(rejected[0], "changes/pending.json") {
				t.Errorf("rejections: %q", rejected)
			}
		})
	}
}

// Confirmed configs naming an uplink are set aside, not applied at start.
func TestApplyDesiredRefusesForgedUplink(t *testing.T) {
	e := newChangerEnv(t)
	ctx := context.Background()
	uplink := e.cfg.Uplinks[0]
	before, err := e.h.Snapshot(ctx, uplink)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "network"), 0o700); err != nil {
		t.Fatal(err)
	}
	forged := `{"` + uplink + `": {"mode":"static","addresses":["10.99.0.2/24"],"up":false}}`
	if err := os.WriteFile(filepath.Join(dir, "network", "desired.json"), []byte(forged), 0o600); err != nil {
		t.Fatal(err)
	}
	var rejected []string
	c := newTestChanger(t, e.h, e.cfg, dir, nil, func(_ *change.Config, n *Config) {
		n.OnRejected = func(file, reason string) { rejected = append(rejected, file) }
	})
	if err := c.ApplyDesired(ctx); err != nil {
		t.Fatal(err)
	}
	after, _ := e.h.Snapshot(ctx, uplink)
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("uplink changed (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"network/desired.json"}, rejected); diff != "" {
		t.Errorf("rejections (-want +got):\n%s", diff)
	}
}

// A genuine journal passes: the crash-recovery test covers the rollback;
// here the checks alone, on what Snapshot records of a configured link.
func TestCheckAcceptsSnapshot(t *testing.T) {
	e := newChangerEnv(t)
	c := e.changer(t, never)
	undo, _ := json.Marshal(undoState{Prev: e.snapshot(t)})
	keep, _ := json.Marshal(keepState{Config: newStatic})
	if err := c.Check(pendingChange("eth1"), undo, keep); err != nil {
		t.Errorf("Check(snapshot of eth1) = %v", err)
	}
	if err := c.Check(pendingChange("eth1"), []byte(`{"prev":{"name":"eth1"},"cmd":"x"}`), keep); err == nil {
		t.Error("Check accepted an unknown field")
	}
}
