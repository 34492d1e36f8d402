package dhcpsrv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/devmgr/devmgr/internal/change"
	"github.com/devmgr/devmgr/internal/device"
	"github.com/devmgr/devmgr/internal/dnsmasq"
	"github.com/devmgr/devmgr/internal/fielderr"
)

// A new range restarts dnsmasq; unconfirmed, it is rolled back: the files
// as they were, dnsmasq restarted again, the settings the config file's.
func TestUpdateRangeRollsBackUnlessConfirmed(t *testing.T) {
	e := newEnv(t)
	m := e.new()
	before := m.Settings()
	snap := e.snapshot()
	s := before
	s.Start, s.End, s.LeaseTime = "192.168.4.100", "192.168.4.150", 5400
	ch, err := m.Update(change.WithUser(context.Background(), "alice"), s)
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	wantChanges := []change.FieldChange{{Field: "start", Old: "192.168.4.2", New: "192.168.4.100"},
		{Field: "end", Old: "192.168.4.20", New: "192.168.4.150"}, {Field: "lease_time", Old: "24h", New: "90m"}}
	if diff := cmp.Diff(wantChanges, ch.Changes); diff != "" || ch.User != "alice" || ch.Kind != Kind || ch.Status != change.StatusPending {
		t.Errorf("change %+v; changes (-want +got):\n%s", ch, diff)
	}
	if got := e.read(device.DnsmasqRange); !strings.Contains(got, "dhcp-range=192.168.4.100,192.168.4.150,255.255.255.0,90m\n") {
		t.Errorf("range file:\n%s", got)
	}
	if got := e.signals(); got != [2]int{1, 0} {
		t.Errorf("restarts, SIGHUPs = %v, want one restart", got)
	}
	if p, ok := m.Pending(); !ok || p.ID != ch.ID {
		t.Errorf("Pending = %+v %v", p, ok)
	}
	if got := m.Settings(); got.Start != "192.168.4.100" {
		t.Errorf("Settings during the change: %+v", got)
	}

	e.timers.Fire(t)
	got, err := m.Change(ch.ID)
	if err != nil || got.Status != change.StatusRolledBack || got.Error != "" {
		t.Errorf("after its time: %+v %v", got, err)
	}
	if diff := cmp.Diff(snap, e.snapshot()); diff != "" {
		t.Errorf("files after rollback (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(before, m.Settings()); diff != "" {
		t.Errorf("settings after rollback (-want +got):\n%s", diff)
	}
	if got := e.signals(); got != [2]int{2, 0} {
		t.Errorf("restarts, SIGHUPs = %v, want a second restart", got)
	}
	if _, err := m.Confirm(context.Background(), ch.ID); !errors.Is(err, change.ErrNotPending) {
		t.Errorf("Confirm after rollback = %v", err)
	}
}

// Static leases alone are a SIGHUP, not a restart; confirmed, they stay
// across a restart of the agent and are what provision renders.
func TestStaticLeasesConfirmedAcrossRestart(t *testing.T) {
	e := newEnv(t)
	m := e.new()
	s := withLeases(m.Settings(), lease("02:00:00:00:00:01", "192.168.4.50", "printer"), lease("0A:00:00:00:00:02", "192.168.4.10", ""))
	ch, err := m.Update(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"static_leases"}, ch.Fields); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
	wantHosts := "02:00:00:00:00:01,192.168.4.50,printer\n0a:00:00:00:00:02,192.168.4.10\n"
	if got := e.read(device.DnsmasqHosts); !strings.HasSuffix(got, wantHosts) {
		t.Errorf("hosts file:\n%s", got)
	}
	if fi, err := os.Stat(filepath.Join(e.root, device.DnsmasqHosts)); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("hosts file mode: %v %v (dnsmasq's own user reads it)", fi.Mode(), err)
	}
	if got := e.signals(); got != [2]int{0, 1} {
		t.Errorf("restarts, SIGHUPs = %v, want one SIGHUP", got)
	}
	if _, err := m.Confirm(context.Background(), ch.ID); err != nil {
		t.Fatal(err)
	}
	e.timers.Fire(t) // past its time: nothing happens
	if got := e.read(device.DnsmasqHosts); !strings.HasSuffix(got, wantHosts) {
		t.Errorf("hosts file after confirm and timer:\n%s", got)
	}
	e.eng.Close()

	m2 := e.new() // the agent restarts
	if err := e.eng.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	if changed, err := m2.Sync(context.Background()); err != nil || changed {
		t.Errorf("Sync with the files installed: %v %v, want nothing to do", changed, err)
	}
	want, _ := validate(s, e.cfg)
	if diff := cmp.Diff(want, m2.Settings()); diff != "" {
		t.Errorf("settings after restart (-want +got):\n%s", diff)
	}
	d, leases, err := Effective(e.cfg, "")
	if err != nil || d != e.cfg.AP.DHCP || !cmp.Equal(leases, want.StaticLeases) {
		t.Errorf("Effective = %+v %+v %v", d, leases, err)
	}
	if got := e.signals(); got != [2]int{0, 1} {
		t.Errorf("restarts, SIGHUPs = %v after the restart, want the change's SIGHUP only", got)
	}
}

// A re-provision that installed other files (an older state) is undone by
// Sync at the agent's start: the console's settings come back.
func TestSyncReinstallsSavedSettings(t *testing.T) {
	e := newEnv(t)
	m := e.new()
	s := withLeases(m.Settings(), lease("02:00:00:00:00:01", "192.168.4.50", "printer"))
	s.End = "192.168.4.30"
	ch, err := m.Update(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Confirm(context.Background(), ch.ID); err != nil {
		t.Fatal(err)
	}
	rng, hosts := e.read(device.DnsmasqRange), e.read(device.DnsmasqHosts)
	old, _ := dnsmasq.RenderRange(e.cfg)
	e.write(device.DnsmasqRange, old)
	e.write(device.DnsmasqHosts, []byte("# nothing\n"))
	e.eng.Close()

	m2 := e.new()
	changed, err := m2.Sync(context.Background())
	if err != nil || !changed {
		t.Fatalf("Sync = %v %v", changed, err)
	}
	if e.read(device.DnsmasqRange) != rng || e.read(device.DnsmasqHosts) != hosts {
		t.Error("Sync did not install the saved settings' files")
	}
	if got := e.signals(); got != [2]int{2, 0} {
		t.Errorf("restarts, SIGHUPs = %v, want the change's restart and Sync's", got)
	}
}

// A crash with a change pending: the next start rolls it back.
func TestRecoverRollsBackJournal(t *testing.T) {
	e := newEnv(t)
	m := e.new()
	snap := e.snapshot()
	s := withLeases(m.Settings(), lease("02:00:00:00:00:01", "192.168.4.50", ""))
	s.LeaseTime = 600
	ch, err := m.Update(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	e.eng.Close() // the agent dies; the journal stays
	m2 := e.new()
	if err := e.eng.Recover(context.Background()); err != nil {
		t.Fatalf("Recover: %v", err)
	}
	if diff := cmp.Diff(snap, e.snapshot()); diff != "" {
		t.Errorf("files after Recover (-before +after):\n%s", diff)
	}
	if c, err := m2.Change(ch.ID); err != nil || c.Status != change.StatusRolledBack || c.Reason != change.ReasonRestart {
		t.Errorf("change after Recover: %+v %v", c, err)
	}
	if got := e.signals(); got != [2]int{2, 0} {
		t.Errorf("restarts, SIGHUPs = %v, want the change's restart and the recovery's", got)
	}
}

// Refused changes write nothing and say why: bad fields (all of them),
// nothing to change, another change pending.
func TestUpdateRefuses(t *testing.T) {
	e := newEnv(t)
	m := e.new()
	snap := e.snapshot()
	cur := m.Settings()

	bad := withLeases(cur, lease("zz", "192.168.4.1", "a b"))
	bad.Start = "10.0.0.1"
	_, err := m.Update(context.Background(), bad)
	var l fielderr.List
	var fields []string
	if errors.As(err, &l) {
		for _, x := range l {
			fields = append(fields, x.Field)
		}
	}
	if diff := cmp.Diff([]string{"start", "static_leases[0].mac", "static_leases[0].ip", "static_leases[0].hostname"}, fields); diff != "" {
		t.Errorf("bad fields (-want +got):\n%s\n%v", diff, err)
	}
	if _, err := m.Update(context.Background(), cur); !errors.Is(err, ErrNoChange) {
		t.Errorf("same settings: %v, want ErrNoChange", err)
	}

	if diff := cmp.Diff(snap, e.snapshot()); diff != "" {
		t.Errorf("refused changes wrote (-before +after):\n%s", diff)
	}

	// Another module's change is pending.
	if err := e.eng.Register("network", otherModule{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.eng.Begin(context.Background(), func(context.Context) (change.Plan, error) {
		return change.Plan{Kind: "network", Apply: func(context.Context) error { return nil }}, nil
	}); err != nil {
		t.Fatal(err)
	}
	snap = e.snapshot() // with the other change's journal
	if _, err := m.Update(context.Background(), withLeases(cur, lease("02:00:00:00:00:01", "192.168.4.50", ""))); !errors.Is(err, change.ErrPending) {
		t.Errorf("while another change is pending: %v, want ErrPending", err)
	}
	if _, ok := m.Pending(); ok {
		t.Error("another module's pending change is the DHCP module's")
	}
	if diff := cmp.Diff(snap, e.snapshot()); diff != "" {
		t.Errorf("refused changes wrote (-before +after):\n%s", diff)
	}
	if got := e.signals(); got != [2]int{} {
		t.Errorf("refused changes signalled dnsmasq: %v", got)
	}
}

type otherModule struct{}

func (otherModule) Check(change.Change, json.RawMessage, json.RawMessage) error { return nil }

func (otherModule) Undo(context.Context, change.Change, json.RawMessage) error { return nil }

func (otherModule) Keep(context.Context, change.Change, json.RawMessage) error { return nil }

// Where the agent cannot apply a change, it says so in a sentence (no
// path, no error chain) and writes nothing.
func TestUpdateUnavailable(t *testing.T) {
	leases := func(m *Manager) Settings {
		return withLeases(m.Settings(), lease("02:00:00:00:00:01", "192.168.4.50", ""))
	}
	wider := func(m *Manager) Settings {
		s := m.Settings()
		s.End = "192.168.4.99"
		return s
	}
	for name, tc := range map[string]struct {
		setup  func(e *env)
		mod    func(*Config)
		update func(*Manager) Settings
		want   string
	}{
		"no dnsmasq config": {setup: func(e *env) { os.Remove(filepath.Join(e.root, device.DnsmasqConf)) },
			update: leases, want: "run devmgr provision"},
		"an older devmgr's config": {setup: func(e *env) {
			conf, _ := dnsmasq.Render(e.cfg, dnsmasq.Options{LeaseFile: dnsmasq.DefaultLeaseFile})
			e.write(device.DnsmasqConf, conf)
		}, update: leases, want: "run devmgr provision"},
		"no dnsmasq": {mod: func(c *Config) {
			c.Check = func(context.Context, []byte, []byte, []byte) error {
				return fmt.Errorf("checking dnsmasq config: program dnsmasq not found on PATH or in /usr/sbin, /sbin: %w", exec.ErrNotFound)
			}
		}, update: leases, want: "dnsmasq is not installed"},
		"no systemd, new range": {setup: func(e *env) { e.noServices = true }, update: wider, want: "only through systemd"},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			if tc.setup != nil {
				tc.setup(e)
			}
			m := e.new(func(c *Config) {
				if tc.mod != nil {
					tc.mod(c)
				}
			})
			snap := e.snapshot()
			_, err := m.Update(context.Background(), tc.update(m))
			var ue *UnavailableError
			if !errors.As(err, &ue) || !strings.Contains(ue.Why, tc.want) || strings.Contains(ue.Why, "/") {
				t.Errorf("Update = %v, want an *UnavailableError saying %q without a path", err, tc.want)
			}
			if diff := cmp.Diff(snap, e.snapshot()); diff != "" {
				t.Errorf("files written (-before +after):\n%s", diff)
			}
			if name != "no systemd, new range" && name != "no dnsmasq" && !strings.Contains(m.Problem(), tc.want) {
				t.Errorf("Problem() = %q", m.Problem())
			}
		})
	}
	// Without systemd, static leases alone still change (SIGHUP).
	e := newEnv(t)
	e.noServices = true
	m := e.new()
	if m.Problem() != "" {
		t.Errorf("Problem() = %q on a provisioned device", m.Problem())
	}
	if _, err := m.Update(context.Background(), leases(m)); err != nil {
		t.Errorf("static leases without systemd: %v", err)
	}
	if got := e.signals(); got != [2]int{0, 1} {
		t.Errorf("restarts, SIGHUPs = %v, want one SIGHUP", got)
	}
}

// dnsmasq's own check refusing the rendered files stops the change before
// anything is written.
func TestUpdateCheckFails(t *testing.T) {
	e := newEnv(t)
	m := e.new(func(c *Config) {
		c.Check = func(context.Context, []byte, []byte, []byte) error {
			return errors.New("dnsmasq: bad option at line 3")
		}
	})
	snap := e.snapshot()
	if _, err := m.Update(context.Background(), withLeases(m.Settings(), lease("02:00:00:00:00:01", "192.168.4.50", ""))); err == nil || isUnavailable(err) {
		t.Errorf("Update = %v, want the check's error", err)
	}
	if diff := cmp.Diff(snap, e.snapshot()); diff != "" {
		t.Errorf("files written (-before +after):\n%s", diff)
	}
}
