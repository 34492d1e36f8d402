package reset

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/devmgr/devmgr/internal/apmgr"
	"github.com/devmgr/devmgr/internal/auth"
	"github.com/devmgr/devmgr/internal/backup"
	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/mountinfo"
	"github.com/devmgr/devmgr/internal/service"
	"github.com/devmgr/devmgr/internal/store"
	"github.com/devmgr/devmgr/internal/testing/mountns"
	"github.com/devmgr/devmgr/internal/tlsutil"
)

// hostname is the test device's; requests confirm it.
const hostname = "testdevice"

// fakeServices is a service manager of known services that records what
// it is asked; an unknown name is service.ErrUnknown. block, when set,
// holds every Stop until it is closed.
type fakeServices struct {
	mu    sync.Mutex
	known []string
	state map[string]service.State
	calls []string
	block chan struct{}
}

func newFakeServices(names ...string) *fakeServices {
	f := &fakeServices{known: names, state: map[string]service.State{}}
	for _, n := range names {
		f.state[n] = service.StateRunning
	}
	return f
}

func (f *fakeServices) set(name string, st service.State) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !slices.Contains(f.known, name) {
		return &service.ErrUnknown{Name: name}
	}
	f.calls = append(f.calls, fmt.Sprintf("%s %s", st, name))
	f.state[name] = st
	return nil
}

func (f *fakeServices) Stop(_ context.Context, name string) error {
	if f.block != nil {
		<-f.block
	}
	return f.set(name, service.StateStopped)
}

func (f *fakeServices) Start(_ context.Context, name string) error {
	return f.set(name, service.StateRunning)
}

func (f *fakeServices) Status(_ context.Context, name string) (service.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !slices.Contains(f.known, name) {
		return service.Status{}, &service.ErrUnknown{Name: name}
	}
	return service.Status{Name: name, State: f.state[name]}, nil
}

func (f *fakeServices) log() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// lab is a device in a test's private tmpfs (dir): an overlay whose lower
// layer is the factory, and devmgr's files as a device has them.
type lab struct {
	t       *testing.T
	dir     string
	cfg     config.Config
	cfgPath string
	svc     *fakeServices
	bootID  string // the file the root mode reads a boot's ID from
	root    string // where the root mode's early-boot step is installed
}

// factory is the lower layer's content: path → content ("/" ends a
// directory).
var factory = map[string]string{
	"etc/app.conf":            "factory setting\n",
	"bin/tool":                "#!/bin/sh\necho tool\n",
	"share/doc/README":        "read me\n",
	"share/doc/old/notes":     "old notes\n",
	"var/lib/devmgr/":         "",
	"var/lib/devmgr-agent/":   "",
	"etc/devmgr/":             "",
	"share/empty-from-start/": "",
}

// newLab makes the layers and devmgr's config in dir; mode is the
// reset's. The mount mode's layers are dir/lower, dir/layers/{upper,work}
// and dir/merged; the root mode's overlay is dir/root over dir/root-ro,
// its persistent layer mounted at dir/root-rw. The config file lies in
// the overlay, its factory version in the lower layer.
func newLab(t *testing.T, dir, mode string) *lab {
	t.Helper()
	l := &lab{t: t, dir: dir, svc: newFakeServices("app.service", "devmgr-web.service"),
		bootID: filepath.Join(dir, "boot_id"), root: filepath.Join(dir, "sysroot")}
	c := config.Default()
	c.AP.Passphrase = "correct horse battery"
	c.Agent.Socket = filepath.Join(dir, "run", "agent.sock")
	c.Backup.Dir = filepath.Join(dir, "backups")
	r := config.Reset{Mode: mode, Services: []string{"app.service"}, KeepSettings: true}
	if mode == config.ResetRoot {
		r.Lower, r.Persist, r.Merged = filepath.Join(dir, "root-ro"), filepath.Join(dir, "root-rw"), filepath.Join(dir, "root")
		r.Upper, r.Work = filepath.Join(r.Persist, "overlay"), filepath.Join(r.Persist, "overlay-workdir")
		r.Device, r.FSType = "LABEL=devmgr-test", "ext4" // the config file's; the lab's is an image (below)
		c.Agent.StateDir = filepath.Join(r.Merged, "var/lib/devmgr-agent")
		c.Backup.Dir = filepath.Join(r.Persist, "backups")
	} else {
		r.Lower, r.Merged = filepath.Join(dir, "lower"), filepath.Join(dir, "merged")
		r.Upper, r.Work = filepath.Join(dir, "layers", "upper"), filepath.Join(dir, "layers", "work")
		r.Options = []string{"index=off"}
		c.Agent.StateDir = filepath.Join(dir, "state")
	}
	c.Reset = r
	c.DataDir = filepath.Join(r.Merged, "var/lib/devmgr")
	l.cfg, l.cfgPath = c, filepath.Join(r.Merged, "etc/devmgr/devmgr.yaml")
	for p, content := range factory {
		if strings.HasSuffix(p, "/") {
			must(t, os.MkdirAll(filepath.Join(r.Lower, p), 0o755))
			continue
		}
		write(t, filepath.Join(r.Lower, p), content, 0o644)
	}
	must(t, os.Chmod(filepath.Join(r.Lower, "bin/tool"), 0o755))
	must(t, os.Symlink("../etc/app.conf", filepath.Join(r.Lower, "bin/app.conf")))
	b, err := config.Marshal(c, "# the factory config\n")
	must(t, err)
	write(t, filepath.Join(r.Lower, "etc/devmgr/devmgr.yaml"), string(b), 0o640)
	if mode == config.ResetRoot {
		l.cfg.Reset.Device = filepath.Join(dir, "persist.img")
	}
	for _, d := range []string{r.Merged, filepath.Join(dir, "tmp")} {
		must(t, os.MkdirAll(d, 0o755))
	}
	if mode == config.ResetMount {
		must(t, os.MkdirAll(r.Upper, 0o755))
		must(t, os.MkdirAll(r.Work, 0o755))
		must(t, os.MkdirAll(c.Agent.StateDir, 0o700))
	}
	l.setBoot("11111111-1111-4111-8111-111111111111")
	return l
}

// changedLab runs the test in a mount namespace of its own
// (mountns.Private) and returns a lab of mode there, its overlay mounted
// and changed (lab.change); nil in the parent, whose test then ends.
func changedLab(t *testing.T, mode string) *lab {
	t.Helper()
	dir, child := mountns.Private(t)
	if !child {
		return nil
	}
	var l *lab
	if mode == config.ResetRoot {
		l = newRootLab(t, dir)
	} else {
		l = newLab(t, dir, mode)
		l.mountOverlay()
	}
	l.change()
	return l
}

// mountOverlay mounts the lab's overlay.
func (l *lab) mountOverlay() {
	l.t.Helper()
	r := l.cfg.Reset
	if err := unix.Mount("overlay", r.Merged, "overlay", unix.MS_NOSUID, r.MountOptions()); err != nil {
		l.t.Fatalf("mounting the lab's overlay: %v", err)
	}
}

func (l *lab) unmountOverlay() {
	l.t.Helper()
	must(l.t, unix.Unmount(l.cfg.Reset.Merged, 0))
}

func (l *lab) setBoot(id string) { write(l.t, l.bootID, id+"\n", 0o644) }

func (l *lab) sources() backup.Sources {
	return backup.Sources{Config: l.cfg, ConfigPath: l.cfgPath, Console: backup.LocalConsole{Config: l.cfg, Log: testLog(l.t)},
		DenyFile: filepath.Join(l.dir, "deny"), TempDir: filepath.Join(l.dir, "tmp"), Log: testLog(l.t)}
}

// resetter makes the lab's Resetter (a new one is what a restarted agent
// or a boot has); change adjusts its config.
func (l *lab) resetter(change func(*Config)) *Resetter {
	l.t.Helper()
	c := Config{
		Reset: l.cfg.Reset, Dir: l.cfg.ResetDir(), ChangesDir: filepath.Join(l.cfg.Agent.StateDir, "changes"),
		Settings: BackupSettings{Sources: l.sources(), Version: "test", Hostname: hostname},
		Services: l.svc, ServiceNames: ServiceNames(l.cfg, false), ServiceWait: time.Second,
		Hostname: func() (string, error) { return hostname, nil },
		Root:     l.root, BootIDFile: l.bootID, Log: testLog(l.t),
		Reboot: func(context.Context) error { return fmt.Errorf("no reboot in this test") },
	}
	if change != nil {
		change(&c)
	}
	r, err := New(c)
	if err != nil {
		l.t.Fatal(err)
	}
	return r
}

// change makes changes through the merged view: files added, changed
// (content and mode), deleted (a whiteout) and a directory replaced (an
// opaque one); and devmgr's settings: the config edited, an admin and a
// token in the console's database, its TLS pair, the agent's AP settings
// and deny list.
func (l *lab) change() {
	l.t.Helper()
	m := l.cfg.Reset.Merged
	write(l.t, filepath.Join(m, "data/new.txt"), "added\n", 0o644)
	write(l.t, filepath.Join(m, "etc/extra.conf"), "extra\n", 0o644)
	write(l.t, filepath.Join(m, "etc/app.conf"), "changed setting\n", 0o644)
	must(l.t, os.Chmod(filepath.Join(m, "bin/tool"), 0o700))
	must(l.t, os.Remove(filepath.Join(m, "share/doc/README")))
	must(l.t, os.RemoveAll(filepath.Join(m, "share/doc/old")))
	write(l.t, filepath.Join(m, "share/doc/old/fresh"), "fresh\n", 0o644)
	l.editConfig()
	ctx := context.Background()
	db, err := store.Open(ctx, l.cfg.DataDir, testLog(l.t))
	must(l.t, err)
	_, err = db.CreateUser(ctx, "alice", auth.Admin, "hash-of-alice", false)
	must(l.t, err)
	_, err = db.CreateToken(ctx, "ci", auth.Operator, []byte("token-hash-ci"), time.Hour)
	must(l.t, err)
	must(l.t, db.Close())
	_, _, _, err = tlsutil.EnsureSelfSigned(backup.TLSDir(l.cfg), tlsutil.NewNames("device.local"), time.Now())
	must(l.t, err)
	must(l.t, apmgr.WriteState(l.cfg.Agent.StateDir, apmgr.State{
		Settings: &apmgr.Settings{SSID: "Kept", Passphrase: "kept passphrase!", PassphraseSet: true,
			Security: "wpa2-wpa3", Band: "2.4ghz", Channel: 11, Country: "DE"},
		Deny: []string{"02:00:00:00:00:01"},
	}))
}

// editConfig changes the config file as an admin would.
func (l *lab) editConfig() {
	l.t.Helper()
	c := l.cfg
	c.AP.SSID = "Edited"
	if c.Reset.Mode == config.ResetRoot {
		c.Reset.Device = "LABEL=devmgr-test"
	}
	b, err := config.Marshal(c, "# edited on the device\n")
	must(l.t, err)
	must(l.t, config.WriteFileKeeping(l.cfgPath, b))
}

// tree is what a reader sees below dir: every entry's type, mode, owner
// and content (devices by number), by path.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		v := fmt.Sprintf("%s %d:%d", fi.Mode(), st.Uid, st.Gid)
		switch {
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			v += fmt.Sprintf(" %x", sha256.Sum256(b))
		case fi.Mode().Type() == fs.ModeSymlink:
			target, _ := os.Readlink(p)
			v += " -> " + target
		case fi.Mode()&fs.ModeDevice != 0:
			v += fmt.Sprintf(" dev %d", st.Rdev)
		}
		if IsOpaque(p) {
			v += " opaque"
		}
		out[rel] = v
		return nil
	})
	must(t, err)
	return out
}

// mounted reports whether an overlay is mounted at dir.
func mounted(t *testing.T, dir string) bool {
	t.Helper()
	ms, err := mountinfo.Read("/proc/self/mountinfo")
	must(t, err)
	m, ok := mountinfo.Top(ms, dir)
	return ok && m.FSType == "overlay"
}

func write(t *testing.T, p, content string, mode os.FileMode) {
	t.Helper()
	must(t, os.MkdirAll(filepath.Dir(p), 0o755))
	must(t, os.WriteFile(p, []byte(content), mode))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// run runs argv and fails the test with its output when it fails.
func run(t *testing.T, argv ...string) string {
	t.Helper()
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	return string(bytes.TrimSpace(out))
}
