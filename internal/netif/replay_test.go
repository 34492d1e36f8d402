package netif

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

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
	for name, j := range map[string]journal{
		"uplink":  {Change: Change{ID: "0123456789abcdef", Interface: uplink, Status: StatusPending}, Prev: down},
		"ap":      {Change: Change{ID: "0123456789abcdef", Interface: e.cfg.AP.Interface, Status: StatusPending}, Prev: State{Name: e.cfg.AP.Interface}},
		"renamed": {Change: Change{ID: "0123456789abcdef", Interface: "eth1", Status: StatusPending}, Prev: down},
		"bad route": {Change: Change{ID: "0123456789abcdef", Interface: "eth1", Status: StatusPending},
			Prev: State{Name: "eth1", AdminUp: true, Routes: []Route{{Dst: "0.0.0.0/0", Gateway: "10.0.0.1", Type: 7}}}},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			b, _ := json.Marshal(j)
			if err := os.WriteFile(filepath.Join(dir, "pending.json"), b, 0o600); err != nil {
				t.Fatal(err)
			}
			var rejected []string
			c, err := NewChanger(Config{Handle: e.h, AppConfig: e.cfg, JournalDir: dir, Timeout: time.Minute, DHCP: &fakeDHCP{},
				OnRejected: func(file, reason string) { rejected = append(rejected, file+": "+reason) }})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
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
			if _, err := os.Stat(filepath.Join(dir, "pending.json")); err == nil {
				t.Error("the journal is still in place")
			}
			if m, _ := filepath.Glob(filepath.Join(dir, "pending.json.rejected-*")); len(m) != 1 {
				t.Errorf("set-aside copies: %q", m)
			}
			if len(rejected) != 1 || !strings.HasPrefix(rejected[0], "network/pending.json") {
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
	forged := `{"` + uplink + `": {"mode":"static","addresses":["10.99.0.2/24"],"up":false}}`
	if err := os.WriteFile(filepath.Join(dir, "desired.json"), []byte(forged), 0o600); err != nil {
		t.Fatal(err)
	}
	var rejected []string
	c, err := NewChanger(Config{Handle: e.h, AppConfig: e.cfg, JournalDir: dir, Timeout: time.Minute, DHCP: &fakeDHCP{},
		OnRejected: func(file, reason string) { rejected = append(rejected, file) }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
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
func TestValidJournalAcceptsSnapshot(t *testing.T) {
	e := newChangerEnv(t)
	c := e.changer(t, time.Minute, never)
	st := e.snapshot(t)
	lc := newStatic
	j := &journal{Change: Change{ID: "0123456789abcdef", Interface: "eth1", Status: StatusPending}, Prev: st, NewConfig: &lc}
	if err := c.validJournal(j); err != nil {
		t.Errorf("validJournal(snapshot of eth1) = %v", err)
	}
}
