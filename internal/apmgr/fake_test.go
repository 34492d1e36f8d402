package apmgr

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/devmgr/devmgr/internal/change"
	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/hostapd"
	"github.com/devmgr/devmgr/internal/service"
	"github.com/devmgr/devmgr/internal/testing/testutil"
)

// fakeHostapd is a unixgram server speaking hostapd's control protocol
// (the pattern of internal/hostapd's tests): no radio on this kernel.
// It fails the test on a command it has no reply for.
type fakeHostapd struct {
	t    *testing.T
	conn *net.UnixConn
	mu   sync.Mutex
	// reply answers a command; ok false is an unexpected command.
	reply func(cmd string) (string, bool)
	got   []string
}

// statusReply is hostapd 2.10's STATUS, shortened.
const statusReply = `state=ENABLED
phy=phy0
freq=2437
channel=6
ieee80211n=1
ieee80211ac=0
bss[0]=wlan0
bssid[0]=02:00:00:00:00:00
ssid[0]=DeviceManager
num_sta[0]=2
`

const sta1 = `02:00:00:00:01:00
flags=[AUTH][ASSOC][AUTHORIZED][WMM][MFP][HT]
aid=1
hostapd_WPA_key_mgmt=SAE
rx_bytes=6311
tx_bytes=3457
inactive_msec=1316
signal=-30
connected_time=42
`

const sta2 = `02:00:00:00:02:00
flags=[AUTH][ASSOC]
aid=2
rx_bytes=9876543210
tx_bytes=0
inactive_msec=20
signal=-71
connected_time=1
`

// defaultReply answers like a healthy hostapd with two stations.
func defaultReply(cmd string) (string, bool) {
	switch {
	case cmd == "RELOAD":
		return "OK\n", true
	case cmd == "STATUS":
		return statusReply, true
	case cmd == "STA-FIRST":
		return sta1, true
	case cmd == "STA-NEXT 02:00:00:00:01:00":
		return sta2, true
	case cmd == "STA-NEXT 02:00:00:00:02:00":
		return "", true
	case strings.HasPrefix(cmd, "DEAUTHENTICATE "):
		return "OK\n", true
	}
	return "", false
}

func startFake(t *testing.T, ctrlDir string) *fakeHostapd {
	t.Helper()
	if err := os.MkdirAll(ctrlDir, 0o755); err != nil {
		t.Fatal(err)
	}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: filepath.Join(ctrlDir, "wlan0"), Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeHostapd{t: t, conn: conn, reply: defaultReply}
	done := make(chan struct{})
	go f.serve(done)
	t.Cleanup(func() { conn.Close(); <-done; os.Remove(filepath.Join(ctrlDir, "wlan0")) })
	return f
}

func (f *fakeHostapd) serve(done chan struct{}) {
	defer close(done)
	buf := make([]byte, 4096)
	for {
		n, from, err := f.conn.ReadFromUnix(buf)
		if err != nil {
			return
		}
		cmd := string(buf[:n])
		f.mu.Lock()
		f.got = append(f.got, cmd)
		r, ok := f.reply(cmd)
		f.mu.Unlock()
		if !ok {
			f.t.Errorf("fake hostapd: unexpected command %q", cmd)
			r = "UNKNOWN COMMAND\n"
		}
		if _, err := f.conn.WriteToUnix([]byte(r), from); err != nil {
			f.t.Errorf("fake hostapd: reply: %v", err)
		}
	}
}

func (f *fakeHostapd) setReply(r func(string) (string, bool)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reply = r
}

func (f *fakeHostapd) commands() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.got...)
}

func (f *fakeHostapd) count(cmd string) int {
	n := 0
	for _, c := range f.commands() {
		if c == cmd {
			n++
		}
	}
	return n
}

// fakeServices is a service manager that records restarts. With t set, a
// call about any service but hostapd's fails the test.
type fakeServices struct {
	t          testing.TB
	mu         sync.Mutex
	restarts   []string
	restartErr error
	status     service.Status
}

func (s *fakeServices) known(verb, name string) {
	if s.t != nil && name != DefaultService {
		s.t.Errorf("unexpected %s of service %q, want %q", verb, name, DefaultService)
	}
}

func (s *fakeServices) Restart(_ context.Context, name string) error {
	s.known("restart", name)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.restarts = append(s.restarts, name)
	return s.restartErr
}

func (s *fakeServices) Status(_ context.Context, name string) (service.Status, error) {
	s.known("status", name)
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.status
	st.Name = name
	return st, nil
}

func (s *fakeServices) restarted() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.restarts...)
}

// env is a device in temporary directories: root holds /etc/hostapd and
// /run/hostapd, data is the agent's data_dir.
type env struct {
	t        *testing.T
	eng      *change.Engine // the last one e.new made
	timers   testutil.Timers
	root     string
	data     string
	cfg      config.Config
	fake     *fakeHostapd
	services *fakeServices
	origConf []byte
	timeout  time.Duration
	check    func(ctx context.Context, conf, deny []byte) error
}

const testPassphrase = "correct horse battery"

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, root: t.TempDir(), data: t.TempDir(), services: &fakeServices{t: t}, timeout: time.Minute}
	e.cfg = config.Default()
	e.cfg.AP.Passphrase = testPassphrase
	e.cfg.Agent.StateDir = e.data
	// What devmgr provision installs.
	conf, err := hostapd.Render(e.cfg.AP, hostapd.Options{CtrlInterface: hostapd.DefaultCtrlInterface, DenyFile: DefaultDenyFile})
	if err != nil {
		t.Fatal(err)
	}
	deny, err := hostapd.RenderDenyList(nil)
	if err != nil {
		t.Fatal(err)
	}
	e.write(DefaultHostapdConf, conf)
	e.write(DefaultDenyFile, deny)
	e.origConf = conf
	e.fake = startFake(t, filepath.Join(e.root, "run/hostapd"))
	return e
}

// realCheck needs hostapd for its parser.
func (e *env) realCheck() {
	testutil.RequireBinary(e.t, "hostapd")
	e.check = hostapd.CheckWithDenyList
}

// noCheck fails the test if Update gets as far as hostapd's parser.
func (e *env) noCheck() {
	e.check = func(context.Context, []byte, []byte) error {
		e.t.Error("Update reached hostapd's parser")
		return errors.New("unexpected check")
	}
}

func (e *env) write(p string, b []byte) {
	e.t.Helper()
	p = filepath.Join(e.root, p)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o600); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) read(p string) []byte {
	e.t.Helper()
	b, err := os.ReadFile(filepath.Join(e.root, p))
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

// newEngine is the agent's change engine in the state directory; its
// rollback timers fire when the test says (e.timers.Fire).
func (e *env) newEngine(mod ...func(*change.Config)) *change.Engine {
	e.t.Helper()
	cfg := change.Config{Dir: filepath.Join(e.data, "changes"), Timeout: e.timeout, AfterFunc: e.timers.After,
		Log: slog.New(slog.NewTextHandler(e.t.Output(), nil))}
	for _, f := range mod {
		f(&cfg)
	}
	eng, err := change.New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(eng.Close)
	e.eng = eng
	return eng
}

// new starts the module on a new engine, as an agent's start does.
func (e *env) new(mod ...func(*change.Config, *Config)) *Manager {
	e.t.Helper()
	if e.check == nil {
		e.realCheck()
	}
	cfg := Config{Cfg: e.cfg, Root: e.root, Services: e.services, Check: e.check,
		Log: slog.New(slog.NewTextHandler(e.t.Output(), nil))}
	eng := e.newEngine(func(c *change.Config) {
		for _, f := range mod {
			f(c, &cfg)
		}
	})
	cfg.Changes = eng
	m, err := New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	return m
}

// snapshot is every file a change may touch, but the change log.
func (e *env) snapshot() map[string]string { return testutil.Files(e.t, e.root, e.data) }
