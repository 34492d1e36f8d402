package backup

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/devmgr/devmgr/internal/apmgr"
	"github.com/devmgr/devmgr/internal/auth"
	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/netif"
	"github.com/devmgr/devmgr/internal/store"
	"github.com/devmgr/devmgr/internal/tlsutil"
)

func openArchive(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// Back up users, tokens, AP settings, a deny list and a static LAN
// config; change all of it; restore: everything is as it was, field by
// field, and the sessions of a user the restore removed are gone. The
// same archive restored on a fresh device gives it the same state.
func TestRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := newDevice(t)
	d.populate()
	want := d.state()
	for _, encrypted := range []bool{false, true} {
		pass := ""
		if encrypted {
			pass = "a long enough passphrase"
		}
		info := d.create(KindManual, pass)

		// Change everything.
		db := d.db()
		bob, _ := db.UserByName(ctx, "bob")
		if err := db.DeleteUser(ctx, bob.ID); err != nil {
			t.Fatal(err)
		}
		carol, err := db.CreateUser(ctx, "carol", auth.Admin, "hash-of-carol", false)
		if err != nil {
			t.Fatal(err)
		}
		alice, _ := db.UserByName(ctx, "alice")
		db.SetPassword(ctx, alice.ID, "new-hash", true)
		db.SetRole(ctx, alice.ID, auth.Viewer)
		db.RevokeToken(ctx, "ci")
		db.CreateToken(ctx, "later", auth.Admin, []byte("token-hash-later"), 0)
		sessions := db.SessionStore()
		for _, tok := range []string{"carol-session", "alice-session"} {
			if err := sessions.CommitCtx(ctx, tok, []byte("x"), time.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
		db.Close()
		d.setAgent(AgentState{
			AP: apmgr.State{Settings: &apmgr.Settings{SSID: "Changed", Passphrase: "changed passphrase", PassphraseSet: true,
				Security: "wpa2", Band: "5ghz", Channel: 36, Country: "US"}, Deny: []string{"02:00:00:00:00:09"}},
			LAN: map[string]netif.LinkConfig{"eth1": {Mode: netif.ModeDHCP}},
		})
		cfg := d.cfg
		cfg.AP.SSID = "ChangedInFile"
		cfg.Network.RollbackTimeout = 2 * time.Minute
		d.writeConfig(cfg)
		if err := os.Chmod(d.cfgPath, 0o640); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, d.state()); diff == "" {
			t.Fatal("the changes changed nothing")
		}

		o := d.restoreOptions()
		o.Passphrase = func() (string, error) { return pass, nil }
		res, err := Restore(ctx, openArchive(t, info.Path), o)
		if err != nil {
			t.Fatalf("Restore: %v\n%s", err, o.Out)
		}
		d.cfg = want.Config
		// As it was; the users' session epochs are past every one handed
		// out before (store.RestoreAccounts).
		if diff := cmp.Diff(want, d.state(), cmpopts.IgnoreFields(store.User{}, "SessionEpoch")); diff != "" {
			t.Errorf("encrypted %v: state after the restore (-want +got):\n%s", encrypted, diff)
		}
		db = d.db()
		for _, tok := range []string{"carol-session", "alice-session"} {
			if _, ok, err := db.SessionStore().FindCtx(ctx, tok); ok || err != nil {
				t.Errorf("session %s survived the restore (err %v)", tok, err)
			}
		}
		if _, err := db.UserByID(ctx, carol.ID); err == nil {
			t.Error("carol, whom the restore removed, is still there")
		}
		db.Close()
		if st, _ := os.Stat(d.cfgPath); st.Mode().Perm() != 0o640 {
			t.Errorf("restored config mode %#o, want the replaced file's 0640", st.Mode().Perm())
		}
		// The state before the restore is kept, and restores.
		pre, err := os.Open(res.PreRestore)
		if err != nil {
			t.Fatalf("pre-restore backup: %v", err)
		}
		_, preState, err := CheckArchive(ctx, pre, ReadOptions{TempDir: d.tmp}, testLog(t))
		pre.Close()
		if err != nil {
			t.Fatalf("pre-restore backup: %v", err)
		}
		if got := preState.Agent.AP.Settings.SSID; got != "Changed" {
			t.Errorf("pre-restore backup has SSID %q, want the changed one", got)
		}
		out := o.Out.(*bytes.Buffer).String()
		for _, s := range []string{"carol: removed (admin)", "bob: added (viewer)", "alice: changed: role viewer → admin, password",
			`ssid: "Changed" → "Backed Up"`, "passphrase: changed", "denied 02:00:00:00:00:01, 02:00:00:00:00:02; allowed 02:00:00:00:00:09",
			`addresses: "" → "10.20.0.2/24"`, "-  ssid: ChangedInFile", "every session ends"} {
			if !strings.Contains(out, s) {
				t.Errorf("the plan does not say %q:\n%s", s, out)
			}
		}
		if strings.Contains(out, "changed passphrase") || strings.Contains(out, "backed up passphrase") {
			t.Errorf("the plan shows a passphrase:\n%s", out)
		}
	}

	// A fresh device (its own first admin, nothing else) takes the same
	// archive and ends up with the same state.
	fresh := newDevice(t)
	db := fresh.db()
	db.CreateUser(ctx, "admin", auth.Admin, "generated", true)
	db.Close()
	info := d.create(KindManual, "")
	o := fresh.restoreOptions()
	if _, err := Restore(ctx, openArchive(t, info.Path), o); err != nil {
		t.Fatalf("Restore on a fresh device: %v\n%s", err, o.Out)
	}
	fresh.cfg = want.Config
	got := fresh.state()
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(store.User{}, "SessionEpoch")); diff != "" {
		t.Errorf("fresh device after the restore (-want +got):\n%s", diff)
	}
	certA, _ := os.ReadFile(filepath.Join(TLSDir(d.cfg), tlsutil.CertFile))
	certB, _ := os.ReadFile(filepath.Join(TLSDir(want.Config), tlsutil.CertFile))
	if !bytes.Equal(certA, certB) || len(certA) == 0 {
		t.Error("the fresh device does not serve the backup's certificate")
	}
}

// A backup taken while ten goroutines write the database restores to a
// consistent state: every user a transaction added comes with the token
// the same transaction added, and SQLite's integrity check passes.
func TestBackupWhileWriting(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d := newDevice(t)
	d.populate()
	db := d.db()
	done := make(chan struct{})
	errs := make(chan error, 10)
	var started [10]chan struct{}
	for w := range 10 {
		started[w] = make(chan struct{})
		go func() {
			defer func() { done <- struct{}{} }()
			for i := 0; ctx.Err() == nil; i++ {
				name := "w" + string(rune('a'+w)) + "-" + time.Now().Format("150405.000000000")
				tx, err := db.SQL().BeginTx(ctx, nil)
				if err != nil {
					if ctx.Err() == nil {
						errs <- fmt.Errorf("begin: %w", err)
					}
					return
				}
				_, err1 := tx.ExecContext(ctx, `INSERT INTO users (name, role, password_hash, created_at, updated_at) VALUES (?, 'viewer', 'h', 0, 0)`, name)
				_, err2 := tx.ExecContext(ctx, `INSERT INTO api_tokens (name, role, hash, created_at) VALUES (?, 'viewer', ?, 0)`, name, []byte(name))
				if err1 != nil || err2 != nil {
					tx.Rollback()
					if ctx.Err() == nil {
						errs <- fmt.Errorf("insert: %v %v", err1, err2)
					}
					return
				}
				if err := tx.Commit(); err != nil && ctx.Err() == nil {
					errs <- fmt.Errorf("commit: %w", err)
					return
				}
				if i == 3 {
					close(started[w])
				}
				// Ten writers as fast as they can go starve one another
				// past SQLite's busy timeout on a loaded machine.
				time.Sleep(time.Millisecond)
			}
		}()
	}
	for _, s := range started {
		<-s
	}
	info := d.create(KindManual, "")
	cancel()
	for range 10 {
		<-done
	}
	select {
	case err := <-errs:
		t.Fatalf("writer: %v", err)
	default:
	}

	fresh := newDevice(t)
	o := fresh.restoreOptions()
	if _, err := Restore(context.Background(), openArchive(t, info.Path), o); err != nil {
		t.Fatalf("Restore: %v\n%s", err, o.Out)
	}
	rdb := fresh.db()
	if err := rdb.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	users, _ := rdb.ListUsers(context.Background())
	tokens, _ := rdb.ListTokens(context.Background())
	live := map[string]bool{}
	for _, tk := range tokens {
		live[tk.Name] = true
	}
	written := 0
	for _, u := range users {
		if strings.HasPrefix(u.Name, "w") {
			written++
			if !live[u.Name] {
				t.Errorf("user %s restored without the token of its transaction", u.Name)
			}
		}
	}
	if written < 30 || len(tokens) != written+2 {
		t.Errorf("restored %d writers' users and %d tokens, want at least 30 and the same plus 2", written, len(tokens))
	}
}

// Interfaces the backup names that this device lacks block the restore,
// with nothing changed, and say which --map to give; with the map it
// goes through and renames them in the config and the LAN configs.
func TestRestoreMapsInterfaces(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := newDevice(t)
	d.populate()
	info := d.create(KindManual, "")
	other := []string{"lo", "enp1s0", "enp2s0", "wlp3s0"}
	o := d.restoreOptions()
	o.Interfaces = func() ([]string, error) { return other, nil }
	before := tree(t, d.cfg.Agent.StateDir)
	cfgBefore, _ := os.ReadFile(d.cfgPath)
	_, err := Restore(ctx, openArchive(t, info.Path), o)
	if err == nil {
		t.Fatal("a restore naming missing interfaces went through")
	}
	for _, s := range []string{"eth0 (uplinks[0]): --map eth0=enp1s0", "eth1 (lan[0]): --map eth1=enp2s0", "wlan0 (ap.interface): --map wlan0=wlp3s0"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error does not say %q: %v", s, err)
		}
	}
	if diff := cmp.Diff(before, tree(t, d.cfg.Agent.StateDir)); diff != "" {
		t.Errorf("a blocked restore changed the agent's files:\n%s", diff)
	}
	if b, _ := os.ReadFile(d.cfgPath); !bytes.Equal(b, cfgBefore) {
		t.Error("a blocked restore changed the config")
	}
	if l, _ := List(d.cfg.Backup.Dir); len(l) != 1 {
		t.Errorf("a blocked restore wrote a backup: %v", l)
	}

	o.Maps = map[string]string{"eth0": "enp1s0", "eth1": "enp2s0", "wlan0": "wlp3s0"}
	if _, err := Restore(ctx, openArchive(t, info.Path), o); err != nil {
		t.Fatalf("Restore with the map: %v", err)
	}
	cfg, err := config.Load(d.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	d.cfg = cfg
	st := d.state()
	if st.Config.AP.Interface != "wlp3s0" || !cmp.Equal(st.Config.Uplinks, []string{"enp1s0"}) || !cmp.Equal(st.Config.LAN, []string{"enp2s0"}) {
		t.Errorf("restored config interfaces: ap %s, uplinks %v, lan %v", st.Config.AP.Interface, st.Config.Uplinks, st.Config.LAN)
	}
	if _, ok := st.Agent.LAN["enp2s0"]; !ok || len(st.Agent.LAN) != 1 {
		t.Errorf("restored LAN configs %v, want enp2s0's", st.Agent.LAN)
	}

	for _, bad := range []map[string]string{{"eth9": "enp1s0"}, {"eth0": "nope0"}, {"eth0": "bad name"}, {"eth0": "wlp3s0", "wlan0": "wlp3s0"}} {
		o.Maps = bad
		o.Interfaces = func() ([]string, error) { return append(other, "nope"), nil }
		if _, err := Restore(ctx, openArchive(t, info.Path), o); err == nil {
			t.Errorf("--map %v was taken", bad)
		}
	}
}

// A dry run shows the plan and changes nothing; a running agent (its
// socket answers) stops a restore before anything changes.
func TestRestoreDryRunAndRunningAgent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := newDevice(t)
	d.populate()
	info := d.create(KindManual, "")
	d.setAgent(AgentState{AP: apmgr.State{Deny: []string{}}, LAN: map[string]netif.LinkConfig{}})
	before := tree(t, d.cfg.Agent.StateDir)
	o := d.restoreOptions()
	o.DryRun = true
	if _, err := Restore(ctx, openArchive(t, info.Path), o); err != nil {
		t.Fatal(err)
	}
	if out := o.Out.(*bytes.Buffer).String(); !strings.Contains(out, "dry run: nothing changed") || !strings.Contains(out, "LAN eth1:") {
		t.Errorf("dry run output:\n%s", out)
	}
	if diff := cmp.Diff(before, tree(t, d.cfg.Agent.StateDir)); diff != "" {
		t.Errorf("a dry run changed the agent's files:\n%s", diff)
	}

	os.MkdirAll(filepath.Dir(d.cfg.Agent.Socket), 0o700)
	ln, err := listenUnix(d.cfg.Agent.Socket)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	o.DryRun = false
	_, err = Restore(ctx, openArchive(t, info.Path), o)
	if err == nil || !strings.Contains(err.Error(), "nothing changed: the agent is running") {
		t.Errorf("Restore with the agent running = %v", err)
	}
	if diff := cmp.Diff(before, tree(t, d.cfg.Agent.StateDir)); diff != "" {
		t.Errorf("a refused restore changed the agent's files:\n%s", diff)
	}
	if l, _ := List(d.cfg.Backup.Dir); len(l) != 1 {
		t.Errorf("a refused restore wrote a backup: %v", l)
	}
	var users []store.User
	db := d.db()
	users, _ = db.ListUsers(ctx)
	if len(users) != 3 {
		t.Errorf("users: %v", users)
	}
}
