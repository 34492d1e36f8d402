package agent

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/devmgr/devmgr/internal/agent/api"
	"github.com/devmgr/devmgr/internal/apmgr"
	"github.com/devmgr/devmgr/internal/auditlog"
	"github.com/devmgr/devmgr/internal/auth"
	"github.com/devmgr/devmgr/internal/backup"
	"github.com/devmgr/devmgr/internal/change"
	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/netif"
	"github.com/devmgr/devmgr/internal/store"
	"github.com/devmgr/devmgr/internal/testing/apmgrtest"
	"github.com/devmgr/devmgr/internal/testing/lab"
	"github.com/devmgr/devmgr/internal/testing/testutil"
)

// backupAgent is an agent with backups of a device in temporary
// directories: its config file, the console's database (taken in this
// process: LocalConsole), the AP module on apmgrtest's device (fake
// hostapd), and with a lab the network module on its device namespace.
type backupAgent struct {
	*testAgent
	cfg     config.Config
	cfgPath string
	dev     *apmgrtest.Device
	h       *netif.Handle
	nc      *netif.Changer // with a lab
	log     AuditLog       // the agent's audit log, read back
	b       *Backups
}

func newBackupAgent(t *testing.T, l *lab.Lab) *backupAgent {
	t.Helper()
	ba := &backupAgent{testAgent: &testAgent{t: t, audit: &auditLog{}, logs: &logBuffer{}, diag: &fakeDiag{t: t}, timers: &testutil.Timers{}}}
	root := t.TempDir()
	al, err := auditlog.Open(context.Background(), auditlog.Path(root), auditlog.Retention{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { al.Close() })
	ba.log = NewAuditLog(al)
	var backups *Backups
	ba.changes, err = change.New(change.Config{Dir: filepath.Join(root, "changes"), Timeout: time.Minute, AfterFunc: ba.timers.After,
		OnFinish: func(ch change.Change) {
			AuditChanges(ba.log, discard())(ch)
			if backups != nil {
				backups.ChangeFinished(ch)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ba.changes.Close)
	ba.dev = apmgrtest.New(t, apmgrtest.Options{Changes: ba.changes})
	cfg := ba.dev.Config
	cfg.DataDir = filepath.Join(root, "data")
	cfg.Backup.Dir = filepath.Join(root, "backups")
	cfg.Uplinks, cfg.LAN = []string{"eth0"}, []string{"eth1"}
	ba.cfg, ba.cfgPath = cfg, filepath.Join(root, "devmgr.yaml")
	if err := config.Write(ba.cfgPath, cfg, "# a test device\n"); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	db := ba.db()
	if _, err := db.CreateUser(context.Background(), "alice", auth.Admin, "hash-of-alice", false); err != nil {
		t.Fatal(err)
	}
	db.Close()
	var nc *netif.Changer
	defer func() { ba.nc = nc }()
	if l != nil {
		if ba.h, err = netif.OpenAt(l.NSPath(lab.Device)); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ba.h.Close() })
		if nc, err = netif.NewChanger(netif.Config{Handle: ba.h, AppConfig: cfg, Changes: ba.changes, Dir: netif.DesiredDir(cfg)}); err != nil {
			t.Fatal(err)
		}
	}
	restorer, err := backup.NewAgentRestorer(backup.AgentRestorerConfig{Changes: ba.changes, AP: ba.dev.Manager, Network: nc})
	if err != nil {
		t.Fatal(err)
	}
	tlog := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	src := backup.Sources{Config: cfg, ConfigPath: ba.cfgPath, Console: backup.LocalConsole{Config: cfg, Log: tlog},
		DenyFile: filepath.Join(ba.dev.Root, apmgr.DefaultDenyFile), TempDir: t.TempDir(), Log: tlog}
	backups, err = NewBackups(BackupsConfig{Sources: src, Changes: ba.changes, Restorer: restorer, Audit: ba.log, AuditLog: ba.log,
		Scheduler: "agent", Version: "v9.9.9", WorkFactor: 10, Log: tlog,
		Interfaces: func() ([]string, error) { return []string{"lo", "eth0", "eth1", "wlan0"}, nil }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(backups.Close)
	ba.b = backups
	ba.start(func(c *Config) {
		c.Backups, c.AP, c.Audit, c.AuditLog, c.Network = backups, ba.dev.Manager, ba.log, ba.log, nil
	})
	return ba
}

// db opens the console's database; the caller closes it.
func (ba *backupAgent) db() *store.DB {
	ba.t.Helper()
	db, err := store.Open(context.Background(), ba.cfg.DataDir, discard())
	if err != nil {
		ba.t.Fatal(err)
	}
	return db
}

// state is the device's state as a backup sees it.
func (ba *backupAgent) state() backup.State {
	ba.t.Helper()
	c, err := backup.Collect(context.Background(), ba.b.cfg.Sources)
	if err != nil {
		ba.t.Fatal(err)
	}
	defer c.Close()
	st, err := backup.Verify(context.Background(), c, discard())
	if err != nil {
		ba.t.Fatal(err)
	}
	return st
}

// entries are the agent's audit log's entries of the actions that begin
// with prefix, oldest first.
func (ba *backupAgent) entries(prefix string) []auditlog.Entry {
	ba.t.Helper()
	es, err := ba.log.List(context.Background(), auditlog.Filter{Action: prefix})
	if err != nil {
		ba.t.Fatal(err)
	}
	slices.Reverse(es)
	return es
}

// audited lists the agent's audit log's "action result target" lines of
// the actions that begin with prefix, oldest first.
func (ba *backupAgent) audited(prefix string) []string {
	ba.t.Helper()
	var out []string
	for _, e := range ba.entries(prefix) {
		out = append(out, e.Action+" "+e.Result+" "+e.User)
	}
	return out
}

// send makes a request with a raw body and returns the status and body.
func (ba *backupAgent) send(method, path string, a Actor, body io.Reader, hdr map[string]string) (int, []byte) {
	ba.t.Helper()
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", ba.socket)
	}}}
	defer hc.CloseIdleConnections()
	req, err := http.NewRequest(method, "http://agent"+path, body)
	if err != nil {
		ba.t.Fatal(err)
	}
	req.Header.Set(HeaderUser, a.User)
	req.Header.Set(HeaderRole, string(a.Role))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := hc.Do(req)
	if err != nil {
		ba.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// Only an admin reaches the backups: every route refuses the other roles,
// and the refusals of those that change something are audited.
func TestBackupRoles(t *testing.T) {
	ba := newBackupAgent(t, nil)
	ctx := context.Background()
	c := ba.client
	info, err := c.CreateBackup(ctx, admin, "")
	if err != nil {
		t.Fatal(err)
	}
	name := url.PathEscape(info.Name)
	for _, a := range []Actor{viewer, operator} {
		for _, r := range []struct{ method, path, body string }{
			{"GET", "/v1/backups", ""},
			{"POST", "/v1/backups", "{}"},
			{"POST", "/v1/backups/upload", "x"},
			{"GET", "/v1/backups/" + name, ""},
			{"DELETE", "/v1/backups/" + name, ""},
			{"POST", "/v1/backups/" + name + "/preview", "{}"},
			{"POST", "/v1/backups/" + name + "/restore", "{}"},
			{"GET", "/v1/backups/restores/0123456789abcdef", ""},
			{"POST", "/v1/backups/restores/0123456789abcdef/confirm", ""},
		} {
			if st, _ := ba.send(r.method, r.path, a, strings.NewReader(r.body), nil); st != http.StatusForbidden {
				t.Errorf("%s %s %s: %d, want 403", a.Role, r.method, r.path, st)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(ba.cfg.Backup.Dir, info.Name)); err != nil {
		t.Errorf("a refused delete removed the backup: %v", err)
	}
	got := ba.audited("backup.")
	for _, want := range []string{"backup.create denied victor", "backup.upload denied oscar", "backup.download denied victor",
		"backup.delete denied oscar", "backup.restore denied victor", "backup.restore.confirm denied oscar"} {
		if !slices.Contains(got, want) {
			t.Errorf("audit lacks %q: %q", want, got)
		}
	}
}

// Make, list, download, upload and delete: a backup made now is listed
// with what made it and is the last one; it downloads as it is kept; an
// upload passes every check before it is kept (a refused one leaves
// nothing); only names the list has are taken, never a path.
func TestBackupFiles(t *testing.T) {
	ba := newBackupAgent(t, nil)
	ctx := context.Background()
	c := ba.client
	plain, err := c.CreateBackup(ctx, admin, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateBackup(ctx, admin, "short"); !IsStatus(err, http.StatusBadRequest) {
		t.Errorf("a short passphrase: %v, want 400", err)
	}
	time.Sleep(time.Second) // names are by the second
	enc, err := c.CreateBackup(ctx, admin, "a long enough passphrase")
	if err != nil {
		t.Fatal(err)
	}
	list, err := c.Backups(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Backups) != 2 || list.Backups[0].Name != enc.Name || !list.Backups[0].Encrypted ||
		list.Backups[1].Version != "v9.9.9" || list.Backups[1].Kind != backup.KindManual {
		t.Errorf("list %+v", list.Backups)
	}
	if l := list.Last; l == nil || l.Result != "ok" || l.Name != enc.Name || l.User != admin.User || l.Failed() {
		t.Errorf("last backup %+v", l)
	}
	if list.Schedule != config.ScheduleDaily || list.Scheduler != "agent" || list.MaxUpload != api.MaxBackupUpload {
		t.Errorf("list settings %+v", list)
	}

	st, body := ba.send("GET", "/v1/backups/"+plain.Name, admin, nil, nil)
	kept, _ := os.ReadFile(filepath.Join(ba.cfg.Backup.Dir, plain.Name))
	if st != http.StatusOK || !bytes.Equal(body, kept) {
		t.Fatalf("download: %d, %d bytes of %d", st, len(body), len(kept))
	}

	// Names: only what the list has.
	os.WriteFile(filepath.Join(ba.cfg.Backup.Dir, "notes.txt"), []byte("x"), 0o600)
	os.Symlink("/etc/passwd", filepath.Join(ba.cfg.Backup.Dir, "devmgr-x-20260101T000000Z-manual.tar.gz"))
	for _, name := range []string{"notes.txt", "devmgr-x-20260101T000000Z-manual.tar.gz", "devmgr-x-20270101T000000Z-manual.tar.gz",
		"..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd"} {
		for _, m := range []string{"GET", "DELETE"} {
			if st, _ := ba.send(m, "/v1/backups/"+name, admin, nil, nil); st != http.StatusNotFound {
				t.Errorf("%s %s: %d, want 404", m, name, st)
			}
		}
		if st, _ := ba.send("POST", "/v1/backups/"+name+"/preview", admin, strings.NewReader("{}"), nil); st != http.StatusNotFound {
			t.Errorf("preview %s: %d, want 404", name, st)
		}
	}

	// Delete, then upload what was downloaded: kept as uploaded.
	if _, err := c.DeleteBackup(ctx, admin, plain.Name); err != nil {
		t.Fatal(err)
	}
	up, err := c.UploadBackup(ctx, admin, "", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if up.Kind != backup.KindUploaded || up.Version != "v9.9.9" || up.Size != int64(len(body)) {
		t.Errorf("uploaded %+v", up)
	}
	before := testutil.Files(t, ba.cfg.Backup.Dir)
	encBytes, _ := os.ReadFile(filepath.Join(ba.cfg.Backup.Dir, enc.Name))
	for _, u := range []struct {
		what, pass string
		body       []byte
		status     int
		msg        string
	}{
		{"again", "", body, http.StatusConflict, "there already"},
		{"truncated", "", body[:len(body)/2], http.StatusUnprocessableEntity, "damaged or truncated"},
		{"not a backup", "", []byte("hello"), http.StatusUnprocessableEntity, "not a devmgr backup"},
		{"encrypted, no passphrase", "", encBytes, http.StatusBadRequest, "passphrase is needed"},
		{"encrypted, wrong passphrase", "not the passphrase", encBytes, http.StatusBadRequest, "wrong passphrase"},
		{"too large", "", bytes.Repeat([]byte{0x1f}, api.MaxBackupUpload+1), http.StatusRequestEntityTooLarge, "larger than"},
	} {
		_, err := c.UploadBackup(ctx, admin, u.pass, bytes.NewReader(u.body))
		e, ok := api.AsError(err)
		if !ok || e.Status != u.status || !strings.Contains(e.Message, u.msg) || !strings.Contains(e.Message, "nothing was kept") {
			t.Errorf("upload %s: %v, want %d saying %q", u.what, err, u.status, u.msg)
		}
	}
	if diff := cmp.Diff(before, testutil.Files(t, ba.cfg.Backup.Dir)); diff != "" {
		t.Errorf("refused uploads changed backup.dir (-before +after):\n%s", diff)
	}
	if _, err := c.UploadBackup(ctx, admin, "a long enough passphrase", bytes.NewReader(encBytes)); err != nil {
		t.Errorf("the encrypted backup with its passphrase: %v", err)
	}
	got := ba.audited("backup.")
	for _, want := range []string{"backup.create ok alice", "backup.download ok alice", "backup.delete ok alice", "backup.upload ok alice",
		"backup.upload invalid alice"} {
		if !slices.Contains(got, want) {
			t.Errorf("audit lacks %q: %q", want, got)
		}
	}
}

// fakeClock is a clock whose timers fire when the test says.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
	c   chan time.Time
	d   chan time.Duration
}

func newFakeClock(t time.Time) *fakeClock {
	return &fakeClock{now: t, c: make(chan time.Time), d: make(chan time.Duration, 1)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.d <- d
	return c.c
}

// fire waits for the ticker's timer, moves the clock to it and fires it.
func (c *fakeClock) fire(t *testing.T) time.Time {
	t.Helper()
	select {
	case d := <-c.d:
		c.mu.Lock()
		c.now = c.now.Add(d)
		at := c.now
		c.mu.Unlock()
		c.c <- at
		return at
	case <-time.After(30 * time.Second):
		t.Fatal("the ticker set no timer")
		return time.Time{}
	}
}

// Where systemd does not make them, the agent's ticker does: on the
// schedule, pruned to backup.keep, audited; a failed one is the last
// backup the list shows, with its reason, and the next one goes on.
func TestBackupTicker(t *testing.T) {
	ba := newBackupAgent(t, nil)
	ba.b.cfg.Sources.Config.Backup.Keep = 2
	clock := newFakeClock(time.Date(2026, 5, 1, 15, 0, 0, 0, time.Local))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ba.b.Ticker(clock.Now, clock.After).Loop(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	waitLast := func(n int) *api.BackupResult {
		t.Helper()
		var l api.BackupList
		testutil.Eventually(t, 30*time.Second, func() bool {
			// The audit first: the list's Last is read from it, so a list
			// read before the n-th entry was written shows the one before.
			if len(ba.audited(api.ActBackupCreate)) != n {
				return false
			}
			var err error
			l, err = ba.client.Backups(context.Background(), admin)
			return err == nil && l.Last != nil
		}, "waiting for backup %d", n)
		return l.Last
	}
	for day := 1; day <= 3; day++ {
		at := clock.fire(t)
		if want := time.Date(2026, 5, 1+day, 0, 0, 0, 0, time.Local); !at.Equal(want) {
			t.Errorf("backup %d at %s, want %s", day, at, want)
		}
		if l := waitLast(day); l.Failed() || l.User != "scheduler" {
			t.Errorf("backup %d: %+v", day, l)
		}
	}
	list, _ := backup.List(ba.cfg.Backup.Dir)
	if len(list) != 2 || list[0].CreatedAt.Day() != 4 || list[1].CreatedAt.Day() != 3 {
		t.Errorf("after three days with keep 2: %+v", list)
	}

	os.Rename(ba.cfgPath, ba.cfgPath+".away")
	clock.fire(t)
	l := waitLast(4)
	if !l.Failed() || !strings.Contains(l.Detail, "reading the config") || l.Time.IsZero() {
		t.Errorf("the failed backup shows as %+v", l)
	}
	os.Rename(ba.cfgPath+".away", ba.cfgPath)
	clock.fire(t)
	if l := waitLast(5); l.Failed() {
		t.Errorf("the ticker did not go on: %+v", l)
	}
}

// The round trip on a device whose LAN interface is a lab's: users and
// tokens, AP settings, a deny list and a static LAN address are backed
// up, changed, and restored. The agent's settings change first, rolled
// back unless confirmed; the console's accounts follow the confirmation.
// Then everything is as it was, and the sessions of a user the restore
// removed are gone. An unconfirmed restore that changes the LAN address
// rolls back by itself and leaves the accounts as they were.
func TestBackupRoundTrip(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireBinary(t, "ip")
	l := lab.NewT(t, lab.Options{NoServers: true})
	ba := newBackupAgent(t, l)
	ctx := context.Background()
	c := ba.client

	// The device as backed up.
	db := ba.db()
	db.CreateUser(ctx, "bob", auth.Viewer, "hash-of-bob", false)
	db.CreateToken(ctx, "ci", auth.Operator, []byte("token-hash-ci"), 0)
	db.Close()
	ba.setAgent(t, []string{"02:00:00:00:00:01"}, apmgr.Settings{SSID: "Backed Up", Passphrase: "backed up passphrase",
		Security: "wpa2", Band: "2.4ghz", Channel: 6, Country: "US"},
		netif.LinkConfig{Mode: netif.ModeStatic, Addresses: []string{lab.LANDeviceAddr}})
	want := ba.state()
	info, err := c.CreateBackup(ctx, admin, "")
	if err != nil {
		t.Fatal(err)
	}

	// Everything changes: carol comes (with a session), bob goes, the
	// token too; the AP, the deny list and eth1's address change.
	db = ba.db()
	carol, _ := db.CreateUser(ctx, "carol", auth.Admin, "hash-of-carol", false)
	bob, _ := db.UserByName(ctx, "bob")
	db.DeleteUser(ctx, bob.ID)
	db.RevokeToken(ctx, "ci")
	if err := db.SessionStore().CommitCtx(ctx, "carol-session", []byte("x"), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	db.Close()
	ba.setAgent(t, []string{"02:00:00:00:00:09"}, apmgr.Settings{SSID: "Changed", Passphrase: "changed passphrase",
		Security: "wpa2", Band: "2.4ghz", Channel: 1, Country: "US"},
		netif.LinkConfig{Mode: netif.ModeStatic, Addresses: []string{"203.0.113.7/24"}})
	changed := ba.state()
	if cmp.Equal(want, changed) {
		t.Fatal("the changes changed nothing")
	}

	plan, err := c.PreviewRestore(ctx, admin, info.Name, api.RestoreRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if !plan.ConfigKept || plan.ConfigDiff != "" || plan.Blocked != "" || len(plan.LAN) != 1 || plan.LAN[0].Interface != "eth1" {
		t.Errorf("plan: %+v", plan)
	}
	wantUsers := []api.AccountChange{{Name: "bob", Change: "added", Role: "viewer"}, {Name: "carol", Change: "removed", Role: "admin"}}
	if diff := cmp.Diff(wantUsers, plan.Users); diff != "" {
		t.Errorf("plan's users (-want +got):\n%s", diff)
	}
	if !slices.Contains(plan.AP, api.FieldChange{Field: "ssid", Old: "Changed", New: "Backed Up"}) ||
		!slices.Equal(plan.Denied, []string{"02:00:00:00:00:01"}) || !slices.Equal(plan.Allowed, []string{"02:00:00:00:00:09"}) {
		t.Errorf("plan's AP %+v, denied %v, allowed %v", plan.AP, plan.Denied, plan.Allowed)
	}
	if _, err := c.RestoreBackup(ctx, admin, info.Name, api.RestoreRequest{Password: "x"}); !IsStatus(err, http.StatusBadRequest) {
		t.Errorf("a restore with a password: %v, want 400", err)
	}
	if !cmp.Equal(ba.state(), changed) {
		t.Fatal("a preview or a refused restore changed the device")
	}

	// Unconfirmed: the agent's settings roll back, the accounts stay.
	res, err := c.RestoreBackup(ctx, admin, info.Name, api.RestoreRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Done || res.Change == nil || res.Change.Status != api.StatusPending || res.Change.Backup != info.Name || res.PreRestore == "" {
		t.Fatalf("restore: %+v", res)
	}
	if !ba.hasAddress(t, lab.LANDeviceAddr) {
		t.Error("the restored address is not on eth1 while the change is pending")
	}
	if got := ba.state(); !cmp.Equal(got.Users, changed.Users) {
		t.Error("the accounts were restored before the confirmation")
	}
	if l, _ := c.Backups(ctx, admin); l.Restore == nil || l.Restore.ID != res.Change.ID {
		t.Errorf("the list does not show the pending restore: %+v", l.Restore)
	}
	if _, err := c.RestoreBackup(ctx, admin, info.Name, api.RestoreRequest{}); !IsStatus(err, http.StatusConflict) {
		t.Errorf("a second restore while one is pending: %v, want 409", err)
	}
	ba.timers.Fire(t)
	if got, _ := c.RestoreChange(ctx, admin, res.Change.ID); got.Status != api.StatusRolledBack {
		t.Errorf("after the timeout: %+v", got)
	}
	if diff := cmp.Diff(changed, ba.state()); diff != "" {
		t.Errorf("after the rollback (-before +after):\n%s", diff)
	}
	if !ba.hasAddress(t, "203.0.113.7/24") || ba.hasAddress(t, lab.LANDeviceAddr) {
		t.Error("eth1's address is not as before the restore")
	}
	if _, err := c.ConfirmRestore(ctx, admin, res.Change.ID); !IsStatus(err, http.StatusConflict) {
		t.Errorf("confirming a rolled-back restore: %v, want 409", err)
	}
	testutil.Eventually(t, 10*time.Second, func() bool {
		ba.b.mu.Lock()
		defer ba.b.mu.Unlock()
		return ba.b.pending == nil
	}, "the rolled-back restore's console part was not dropped")

	// Confirmed: as it was.
	time.Sleep(time.Second) // the pre-restore backups' names are by the second
	res, err = c.RestoreBackup(ctx, admin, info.Name, api.RestoreRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ConfirmRestore(ctx, admin, res.Change.ID); err != nil {
		t.Fatal(err)
	}
	// As it was; the users' session epochs move past every one handed
	// out before (store.RestoreAccounts).
	if diff := cmp.Diff(want, ba.state(), cmpopts.IgnoreFields(store.User{}, "SessionEpoch")); diff != "" {
		t.Errorf("after the restore (-want +got):\n%s", diff)
	}
	if !ba.hasAddress(t, lab.LANDeviceAddr) {
		t.Error("eth1 lacks the restored address")
	}
	db = ba.db()
	defer db.Close()
	if _, ok, err := db.SessionStore().FindCtx(ctx, "carol-session"); ok || err != nil {
		t.Errorf("carol's session survived the restore (err %v)", err)
	}
	if _, err := db.UserByID(ctx, carol.ID); err == nil {
		t.Error("carol, whom the restore removed, is still there")
	}
	got := ba.audited("backup.restore")
	for _, w := range []string{"backup.restore ok alice", "backup.restore.rollback ok agent", "backup.restore.confirm ok alice"} {
		if !slices.Contains(got, w) {
			t.Errorf("audit lacks %q: %q", w, got)
		}
	}
	// Two pre-restore backups: the device before each restore.
	if l, _ := backup.List(ba.cfg.Backup.Dir); len(l) != 3 || l[0].Kind != backup.KindPreRestore {
		t.Errorf("backups after the restores: %+v", l)
	}
}

// setAgent gives the device a deny list, AP settings and eth1's config,
// each confirmed.
func (ba *backupAgent) setAgent(t *testing.T, deny []string, s apmgr.Settings, lc netif.LinkConfig) {
	t.Helper()
	ctx := context.Background()
	if err := ba.dev.Manager.SetDenied(ctx, deny); err != nil {
		t.Fatal(err)
	}
	ch, err := ba.dev.Manager.Update(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ba.changes.Confirm(ctx, ch.ID); err != nil {
		t.Fatal(err)
	}
	nch, err := ba.nc.SetConfig(ctx, "eth1", lc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ba.changes.Confirm(ctx, nch.ID); err != nil {
		t.Fatal(err)
	}
}

// hasAddress reports whether eth1 of the lab's device has addr.
func (ba *backupAgent) hasAddress(t *testing.T, addr string) bool {
	t.Helper()
	st, err := ba.h.Snapshot(context.Background(), "eth1")
	if err != nil {
		t.Fatal(err)
	}
	return slices.ContainsFunc(st.Addresses, func(a netif.AddrState) bool { return a.CIDR == addr })
}
