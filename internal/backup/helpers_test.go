package backup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/devmgr/devmgr/internal/apmgr"
	"github.com/devmgr/devmgr/internal/auth"
	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/netif"
	"github.com/devmgr/devmgr/internal/store"
	"github.com/devmgr/devmgr/internal/tlsutil"
)

// interfaces are the device's interfaces in these tests.
var interfaces = []string{"lo", "eth0", "eth1", "wlan0"}

// device is a devmgr device in a temporary directory: its config file,
// data_dir (the console's database and TLS pair), agent.state_dir, the
// installed deny file and backup.dir. Everything is real files; the
// console's part runs in this process (LocalConsole).
type device struct {
	t       *testing.T
	root    string
	cfg     config.Config
	cfgPath string
	tmp     string // staging, outside root
}

func newDevice(t *testing.T) *device {
	t.Helper()
	d := &device{t: t, root: t.TempDir(), tmp: t.TempDir()}
	c := config.Default()
	c.DataDir = filepath.Join(d.root, "data")
	c.Agent.StateDir = filepath.Join(d.root, "state")
	c.Agent.Socket = filepath.Join(d.root, "run", "agent.sock")
	c.Backup.Dir = filepath.Join(d.root, "backups")
	c.AP.Passphrase = "correct horse battery"
	d.cfg = c
	d.cfgPath = filepath.Join(d.root, "devmgr.yaml")
	d.writeConfig(c)
	for _, dir := range []string{c.DataDir, c.Agent.StateDir} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, _, err := tlsutil.EnsureSelfSigned(TLSDir(c), tlsutil.NewNames("device.local"), time.Now()); err != nil {
		t.Fatal(err)
	}
	return d
}

func (d *device) writeConfig(c config.Config) {
	d.t.Helper()
	if err := config.Write(d.cfgPath, c, "# a test device\n"); err != nil {
		d.t.Fatal(err)
	}
	d.cfg = c
}

func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func (d *device) sources() Sources {
	return Sources{Config: d.cfg, ConfigPath: d.cfgPath, Console: LocalConsole{Config: d.cfg, Log: testLog(d.t)},
		DenyFile: filepath.Join(d.root, "deny"), TempDir: d.tmp, Log: testLog(d.t)}
}

func (d *device) db() *store.DB {
	d.t.Helper()
	db, err := store.Open(context.Background(), d.cfg.DataDir, testLog(d.t))
	if err != nil {
		d.t.Fatal(err)
	}
	d.t.Cleanup(func() { db.Close() })
	return db
}

// populate gives the device users, tokens, AP settings, a deny list and a
// static LAN config.
func (d *device) populate() {
	d.t.Helper()
	ctx := context.Background()
	db := d.db()
	for _, u := range []struct {
		name string
		role auth.Role
	}{{"alice", auth.Admin}, {"bob", auth.Viewer}, {"olga", auth.Operator}} {
		if _, err := db.CreateUser(ctx, u.name, u.role, "hash-of-"+u.name, false); err != nil {
			d.t.Fatal(err)
		}
	}
	if _, err := db.CreateToken(ctx, "ci", auth.Operator, []byte("token-hash-ci"), 24*time.Hour); err != nil {
		d.t.Fatal(err)
	}
	if _, err := db.CreateToken(ctx, "old", auth.Viewer, []byte("token-hash-old"), 0); err != nil {
		d.t.Fatal(err)
	}
	db.RevokeToken(ctx, "old")
	db.Close()
	d.setAgent(AgentState{
		AP: apmgr.State{
			Settings: &apmgr.Settings{SSID: "Backed Up", Passphrase: "backed up passphrase", PassphraseSet: true,
				Security: "wpa2-wpa3", Band: "2.4ghz", Channel: 11, Country: "DE", Hidden: true},
			Deny: []string{"02:00:00:00:00:01", "02:00:00:00:00:02"},
		},
		LAN: map[string]netif.LinkConfig{"eth1": {Mode: netif.ModeStatic, Addresses: []string{"10.20.0.2/24"},
			Gateway: "10.20.0.1", DNS: []string{"10.20.0.1"}}},
	})
}

func (d *device) setAgent(s AgentState) {
	d.t.Helper()
	if err := apmgr.WriteState(d.cfg.Agent.StateDir, s.AP); err != nil {
		d.t.Fatal(err)
	}
	if err := netif.WriteDesired(d.cfg, netif.DesiredDir(d.cfg), s.LAN); err != nil {
		d.t.Fatal(err)
	}
}

// state is the device's state as a backup collects it.
func (d *device) state() State {
	d.t.Helper()
	c, err := Collect(context.Background(), d.sources())
	if err != nil {
		d.t.Fatal(err)
	}
	defer c.Close()
	st, err := Verify(context.Background(), c, testLog(d.t))
	if err != nil {
		d.t.Fatal(err)
	}
	return st
}

// create makes a backup in backup.dir.
func (d *device) create(kind, passphrase string) Info {
	d.t.Helper()
	info, err := Create(context.Background(), CreateOptions{Sources: d.sources(), Dir: d.cfg.Backup.Dir, Kind: kind,
		Passphrase: passphrase, WorkFactor: 10, Version: "v1.2.3", Hostname: "dev-1"})
	if err != nil {
		d.t.Fatal(err)
	}
	return info
}

func (d *device) restoreOptions() RestoreOptions {
	return RestoreOptions{
		Sources:    d.sources(),
		Interfaces: func() ([]string, error) { return interfaces, nil },
		Agent:      OfflineAgent{Socket: d.cfg.Agent.Socket, StateDir: d.cfg.Agent.StateDir},
		Dir:        d.cfg.Backup.Dir, Version: "v1.2.4", Hostname: "dev-1",
		Out: &bytes.Buffer{},
		// A minute on for each restore: their backups' names are by the second.
		Now: func() time.Time { return time.Now().Add(time.Duration(restores.Add(1)) * time.Minute) },
	}
}

var restores atomic.Int64

// tree is every file and directory under dir: mode and, for files, the
// SHA-256 of the contents.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		v := info.Mode().String()
		if info.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			v += fmt.Sprintf(" %x", sha256.Sum256(b))
		}
		out[p] = v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func listenUnix(path string) (net.Listener, error) { return net.Listen("unix", path) }
