package main

import (
	"context"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/devmgr/devmgr/internal/auditlog"
	"github.com/devmgr/devmgr/internal/backup"
	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/testing/testutil"
)

// backupEnv is a device for the backup commands: as root its console runs
// as nobody (newCLIEnv), its state_dir and backup.dir are root's. Its only
// interface is lo, which every host has (a restore checks that the
// interfaces the backup names exist).
type backupEnv struct {
	*cliEnv
	dir, stateDir, backups, deny string
}

func newBackupEnv(t *testing.T) *backupEnv {
	t.Helper()
	e := &backupEnv{cliEnv: newCLIEnv(t)}
	e.dir = filepath.Dir(e.config)
	e.stateDir = filepath.Join(e.dir, "state")
	e.backups = filepath.Join(e.dir, "backups")
	e.deny = filepath.Join(e.dir, "devmgr.deny")
	if err := os.Mkdir(e.stateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(e.config)
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, []byte("agent: {state_dir: "+e.stateDir+", socket: "+filepath.Join(e.dir, "agent.sock")+"}\n"+
		"backup: {dir: "+e.backups+"}\nap: {passphrase: correct horse battery, interface: lo}\nuplinks: []\nlan: []\n")...)
	if err := os.WriteFile(e.config, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *backupEnv) backup(stdin string, args ...string) string {
	e.t.Helper()
	return e.must(stdin, append(append([]string{"backup"}, args...), "--hostapd-deny", e.deny)...)
}

func (e *backupEnv) backupFails(want string, args ...string) {
	e.t.Helper()
	e.fails(want, "", append(append([]string{"backup"}, args...), "--hostapd-deny", e.deny)...)
}

// The commands end to end; as root the console's part runs as web.user
// (nobody), in a child process, as on a device.
func TestBackupCLI(t *testing.T) {
	e := newBackupEnv(t)
	e.must(goodPassword+"\n", "user", "add", "alice", "--role", "admin", "--password-stdin")
	e.must("", "token", "create", "--name", "ci", "--role", "operator")

	out := e.backup("", "create")
	if !strings.HasPrefix(out, "wrote "+e.backups+"/devmgr-") {
		t.Fatalf("create printed %q", out)
	}
	plain := strings.Fields(out)[1]
	if st, err := os.Stat(e.backups); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("backup.dir: %v, mode %v", err, st.Mode().Perm())
	}
	pass := filepath.Join(e.dir, "pass")
	os.WriteFile(pass, []byte("a long enough passphrase\n"), 0o600)
	time.Sleep(time.Second) // a name per second
	out = e.backup("", "create", "--encrypt", "--passphrase-file", pass, "--work-factor", "10")
	encrypted := strings.Fields(out)[1]
	if !strings.HasSuffix(encrypted, ".devmgr-backup") {
		t.Errorf("encrypted backup %s", encrypted)
	}

	out = e.backup("", "list")
	for _, s := range []string{filepath.Base(plain), filepath.Base(encrypted), "(encrypted)", "manual"} {
		if !strings.Contains(out, s) {
			t.Errorf("list does not show %q:\n%s", s, out)
		}
	}
	out = e.backup("", "verify", plain)
	if !strings.Contains(out, ": ok: made by devmgr") || !strings.Contains(out, "1 users (1 admins), 1 tokens") {
		t.Errorf("verify printed %q", out)
	}
	e.backup("", "verify", encrypted, "--passphrase-file", pass)
	wrong := filepath.Join(e.dir, "wrong")
	os.WriteFile(wrong, []byte("not the passphrase\n"), 0o600)
	e.backupFails("wrong passphrase", "verify", encrypted, "--passphrase-file", wrong)

	// bob comes after the backup; the restore removes him.
	e.must(goodPassword+"\n", "user", "add", "bob", "--role", "admin", "--password-stdin")
	out = e.backup("", "restore", plain, "--dry-run")
	if !strings.Contains(out, "bob: removed (admin)") || !strings.Contains(out, "dry run: nothing changed") {
		t.Errorf("dry run printed:\n%s", out)
	}
	if got := e.must("", "user", "list"); !strings.Contains(got, "bob") {
		t.Errorf("a dry run removed bob:\n%s", got)
	}
	out = e.backup("", "restore", encrypted, "--passphrase-file", pass)
	if !strings.Contains(out, "restored 1 users and 1 tokens") {
		t.Errorf("restore printed:\n%s", out)
	}
	if got := e.must("", "user", "list"); strings.Contains(got, "bob") || !strings.Contains(got, "alice") {
		t.Errorf("users after the restore:\n%s", got)
	}
	list, err := backup.List(e.backups)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 || list[0].Kind != backup.KindPreRestore {
		t.Errorf("backups after the restore: %+v", list)
	}
	e.backupFails("--map \"eth1\" is not OLD=NEW", "restore", plain, "--map", "eth1")
	e.backupFails("--passphrase-file goes with --encrypt", "create", "--passphrase-file", pass)

	// The scheduled backup is audited in the agent's log.
	e.backup("", "create", "--scheduled")
	l, err := auditlog.Open(context.Background(), auditlog.Path(e.stateDir), auditlog.Retention{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	entries, err := l.List(context.Background(), auditlog.Filter{Action: "backup."})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range entries {
		got = append(got, a.Action+" "+a.Result)
	}
	if strings.Join(got, ",") != "backup.create ok,backup.restore ok" {
		t.Errorf("agent audit: %v", got)
	}
}

// A restore whose config differs provisions the device from it, so that
// it takes effect (here into a staging root: the rendered files, the
// config's digest that restarts the agent and the console); with
// --no-provision it says what to run instead. A dry run provisions
// nothing.
func TestBackupRestoreProvisions(t *testing.T) {
	testutil.RequireBinary(t, "hostapd", "dnsmasq", "nft", "systemd-analyze", "nginx")
	testutil.RequireRoot(t)
	e := newBackupEnv(t)
	// systemd's check refuses units of the user nobody: the console's
	// account is daemon here.
	d, err := user.Lookup("daemon")
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(d.Uid)
	gid, _ := strconv.Atoi(d.Gid)
	os.Chown(e.dir, uid, gid)
	b, _ := os.ReadFile(e.config)
	os.WriteFile(e.config, []byte(strings.Replace(string(b), "web: {user: nobody}", "web: {user: daemon}", 1)), 0o600)
	e.must(goodPassword+"\n", "user", "add", "alice", "--role", "admin", "--password-stdin")
	setSSID := func(ssid string) {
		t.Helper()
		b, _ := os.ReadFile(e.config)
		b = []byte(strings.Replace(string(b), "interface: lo", "interface: lo, ssid: "+ssid, 1))
		if err := os.WriteFile(e.config, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	setSSID("Backed-Up")
	plain := strings.Fields(e.backup("", "create"))[1]
	b, _ = os.ReadFile(e.config)
	os.WriteFile(e.config, []byte(strings.Replace(string(b), "ssid: Backed-Up", "ssid: Changed", 1)), 0o600)

	stage := t.TempDir()
	if out := e.backup("", "restore", plain, "--dry-run", "--provision-root", stage); strings.Contains(out, "provisioning") {
		t.Errorf("a dry run provisioned:\n%s", out)
	}
	out := e.backup("", "restore", plain, "--provision-root", stage)
	if !strings.Contains(out, "restored the config") || !strings.Contains(out, "provisioning the device from the restored config") {
		t.Errorf("restore printed:\n%s", out)
	}
	conf, err := os.ReadFile(filepath.Join(stage, "etc/hostapd/devmgr.conf"))
	if err != nil || !strings.Contains(string(conf), "ssid=Backed-Up") {
		t.Errorf("hostapd's config provisioned from the restored config: %v\n%s", err, conf)
	}
	if _, err := os.Stat(filepath.Join(stage, "etc/devmgr/provisioned.sha256")); err != nil {
		t.Errorf("no config digest provisioned: %v", err)
	}

	time.Sleep(time.Second) // the pre-restore backups' names are by the second
	c, err := config.Load(e.config)
	if err != nil {
		t.Fatal(err)
	}
	c.AP.SSID = "Again"
	if err := config.Write(e.config, c, ""); err != nil {
		t.Fatal(err)
	}
	out = e.backup("", "restore", plain, "--no-provision", "--provision-root", t.TempDir())
	if !strings.Contains(out, "run devmgr provision") || strings.Contains(out, "provisioning the device") {
		t.Errorf("restore --no-provision printed:\n%s", out)
	}
}
