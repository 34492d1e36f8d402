package web

import (
	"io/fs"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/devmgr/devmgr/internal/agent/api"
	agentclient "github.com/devmgr/devmgr/internal/agent/client"
	"github.com/devmgr/devmgr/internal/auth"
	"github.com/devmgr/devmgr/internal/hostapd"
	"github.com/devmgr/devmgr/internal/store"
	"github.com/devmgr/devmgr/internal/testing/agentproc"
	"github.com/devmgr/devmgr/internal/testing/lab"
	"github.com/devmgr/devmgr/internal/testing/testutil"
)

// backupConsole is a console and devmgr agent (in a lab's device
// namespace) on one device, as provisioned: the agent's data_dir is the
// console's, whose account (web.user, here nobody) takes the console's
// part of a backup in a child process the agent starts.
type backupConsole struct {
	*labConsole
	nobody   [2]int // uid, gid
	dataDir  string
	backups  string
	rollback time.Duration
}

func startBackupConsole(t *testing.T, rollback time.Duration) *backupConsole {
	t.Helper()
	testutil.RequireRoot(t)
	testutil.RequireBinary(t, "ip", "hostapd")
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	l := lab.NewT(t, lab.Options{NoServers: true})
	dir, err := os.MkdirTemp("", "devmgr-web-") // short: a socket's name has 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bc := &backupConsole{nobody: [2]int{uid, gid}, dataDir: filepath.Join(dir, "data"), backups: filepath.Join(dir, "backups"), rollback: rollback}
	cfg := l.Config(bc.dataDir)
	cfg.Agent.Socket = filepath.Join(dir, "run", "agent.sock")
	cfg.Agent.StateDir = filepath.Join(dir, "state")
	cfg.Backup.Dir = bc.backups
	cfg.Network.RollbackTimeout = rollback
	cfg.Web.User = "nobody"
	if err := os.Mkdir(bc.dataDir, 0o750); err != nil {
		t.Fatal(err)
	}
	// The console first, so that its database exists, then everything in
	// data_dir its account's.
	wcfg := cfg
	wcfg.Web.Listen = "127.0.0.1:0"
	h := newAgentHarness(t, wcfg, agentclient.New(cfg.Agent.Socket))
	bc.giveToConsole(t)
	// hostapd's config as provision installs it, so that the AP's settings
	// restored as they are change nothing.
	o := agentproc.Options{Config: cfg, NS: l.NS(lab.Device), HostapdCtrl: filepath.Join(dir, "hostapd"),
		HostapdConf: filepath.Join(dir, "hostapd.conf"), HostapdDeny: filepath.Join(dir, "hostapd.deny")}
	conf, err := hostapd.Render(cfg.AP, hostapd.Options{CtrlInterface: o.HostapdCtrl, DenyFile: o.HostapdDeny})
	if err != nil {
		t.Fatal(err)
	}
	deny, _ := hostapd.RenderDenyList(nil)
	os.WriteFile(o.HostapdConf, conf, 0o600)
	os.WriteFile(o.HostapdDeny, deny, 0o644)
	agentproc.Start(t, o)
	ac := agentclient.New(cfg.Agent.Socket)
	t.Cleanup(ac.Close)
	bc.labConsole = &labConsole{harness: h, lab: l, socket: cfg.Agent.Socket, client: ac}
	return bc
}

// giveToConsole makes everything in data_dir the console's account's, as
// on a device (this test's console runs as root).
func (bc *backupConsole) giveToConsole(t *testing.T) {
	t.Helper()
	err := filepath.WalkDir(bc.dataDir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, bc.nobody[0], bc.nobody[1])
	})
	if err != nil {
		t.Fatal(err)
	}
}

// setLAN gives eth1 a static address and confirms it, through the API.
func setLAN(t *testing.T, c *client, addr string) {
	t.Helper()
	r := c.api(http.MethodPut, "/api/v1/interfaces/eth1/config", api.LinkConfig{Mode: "static", Addresses: []string{addr}})
	if r.status != http.StatusAccepted {
		t.Fatalf("setting eth1 to %s: %d %s", addr, r.status, r.body)
	}
	ch := decode[api.Change](t, r)
	if r := c.api(http.MethodPost, "/api/v1/changes/"+ch.ID+"/confirm", nil); r.status != http.StatusOK {
		t.Fatalf("confirming: %d %s", r.status, r.body)
	}
}

// accounts are the console's users and live tokens, as a restore must
// leave them: by name, role, password hash and the rest.
func accountsOf(t *testing.T, db *store.DB) ([]store.User, []string) {
	t.Helper()
	users, err := db.ListUsers(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := db.ListTokens(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var live []string
	for _, tk := range tokens {
		if !tk.Revoked {
			live = append(live, tk.Name+" "+string(tk.Role))
		}
	}
	return users, live
}

// The round trip through the console's API, on the real agent: users, a
// token and eth1's static address are backed up; everything changes; the
// backup downloads, uploads again, shows what restoring it changes, and
// is restored with the password typed again and confirmed. Then the
// accounts are as they were, field by field, eth1 has its address again,
// and the sessions of the user the restore removed, and everybody's, are
// gone.
func TestBackupRoundTripThroughTheAPI(t *testing.T) {
	testutil.SkipShort(t, "runs devmgr agent in a lab")
	bc := startBackupConsole(t, time.Minute)
	h := bc.harness
	h.addUser("alice", auth.Admin, userPassword)
	h.addUser("bob", auth.Viewer, userPassword)
	h.addToken("ci", auth.Operator, "dmt_ci_token_round_trip")
	alice := h.newClient()
	alice.mustLogin("alice", userPassword)
	setLAN(t, alice, lab.LANDeviceAddr)
	wantUsers, wantTokens := accountsOf(t, h.db)

	r := alice.api(http.MethodPost, "/api/v1/backups", api.BackupCreate{})
	if r.status != http.StatusCreated {
		t.Fatalf("making a backup: %d %s", r.status, r.body)
	}
	made := decode[api.BackupInfo](t, r)

	// Everything changes: carol comes and signs in, bob goes, so does the
	// token, and eth1 gets another address.
	h.addUser("carol", auth.Admin, userPassword)
	carol := h.newClient()
	carol.mustLogin("carol", userPassword)
	bob, _ := h.db.UserByName(t.Context(), "bob")
	h.db.DeleteUser(t.Context(), bob.ID)
	h.revokeToken("ci")
	setLAN(t, alice, "203.0.113.9/24")

	// Downloaded, deleted, uploaded again: the same bytes, checked.
	r = alice.get("/api/v1/backups/" + made.Name)
	if r.status != http.StatusOK || int64(len(r.body)) != made.Size {
		t.Fatalf("download: %d, %d bytes of %d", r.status, len(r.body), made.Size)
	}
	if r := alice.api(http.MethodDelete, "/api/v1/backups/"+made.Name, nil); r.status != http.StatusOK {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	r = alice.request(http.MethodPost, "/api/v1/backups/upload", strings.NewReader(r.body),
		map[string]string{"Content-Type": "application/octet-stream", "X-CSRF-Token": alice.csrf})
	if r.status != http.StatusCreated {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	up := decode[api.BackupInfo](t, r)

	r = alice.api(http.MethodPost, "/api/v1/backups/"+up.Name+"/preview", api.RestoreRequest{})
	if r.status != http.StatusOK {
		t.Fatalf("preview: %d %s", r.status, r.body)
	}
	plan := decode[api.RestorePlan](t, r)
	if !slices.ContainsFunc(plan.Users, func(c api.AccountChange) bool { return c.Name == "carol" && c.Change == "removed" }) ||
		len(plan.LAN) != 1 || plan.Blocked != "" || len(plan.AP) != 0 {
		t.Errorf("plan: %+v", plan)
	}
	if r := alice.api(http.MethodPost, "/api/v1/backups/"+up.Name+"/restore", api.RestoreRequest{Password: "not it"}); r.status != http.StatusUnprocessableEntity {
		t.Errorf("a wrong password: %d %s", r.status, r.body)
	}
	r = alice.api(http.MethodPost, "/api/v1/backups/"+up.Name+"/restore", api.RestoreRequest{Password: userPassword})
	if r.status != http.StatusAccepted {
		t.Fatalf("restore: %d %s", r.status, r.body)
	}
	res := decode[api.RestoreResult](t, r)
	if got := decode[api.BackupChange](t, alice.get("/api/v1/backups/restores/"+res.Change.ID)); got.Status != api.StatusPending || got.Backup != up.Name {
		t.Errorf("the restore's change: %+v", got)
	}
	if r := alice.api(http.MethodPost, "/api/v1/backups/restores/"+res.Change.ID+"/confirm", nil); r.status != http.StatusOK {
		t.Fatalf("confirm: %d %s", r.status, r.body)
	}

	gotUsers, gotTokens := accountsOf(t, h.db)
	if diff := cmp.Diff(wantUsers, gotUsers, cmpopts.IgnoreFields(store.User{}, "SessionEpoch")); diff != "" {
		t.Errorf("users after the restore (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantTokens, gotTokens); diff != "" {
		t.Errorf("tokens after the restore (-want +got):\n%s", diff)
	}
	eth1, err := bc.client.Interface(t.Context(), api.Actor{User: "test", Role: auth.Viewer}, "eth1")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(eth1.Addresses, lab.LANDeviceAddr) || slices.Contains(eth1.Addresses, "203.0.113.9/24") || eth1.Mode != "static" {
		t.Errorf("eth1 after the restore: %s %v", eth1.Mode, eth1.Addresses)
	}
	for name, c := range map[string]*client{"carol (removed)": carol, "alice": alice} {
		if r := c.get("/api/v1/me"); r.status != http.StatusUnauthorized {
			t.Errorf("%s's session after the restore: %d", name, r.status)
		}
	}
	for _, a := range []string{"backup.create", "backup.download", "backup.upload", "backup.restore", "backup.restore.confirm"} {
		if !bc.audited("alice", a, "ok") {
			t.Errorf("no %s by alice in the agent's audit log", a)
		}
	}
}
