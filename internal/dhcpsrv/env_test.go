package dhcpsrv

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/devmgr/devmgr/internal/change"
	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/device"
	"github.com/devmgr/devmgr/internal/dnsmasq"
	"github.com/devmgr/devmgr/internal/testing/dnsmasqtest"
	"github.com/devmgr/devmgr/internal/testing/testutil"
)

// env is a device in temporary directories: root holds what devmgr
// provision installs (dnsmasq's config reading the DHCP files), data is
// agent.state_dir. dnsmasq itself is a recording fake: restarts and
// SIGHUPs are counted; the check is the real dnsmasq --test.
type env struct {
	t      *testing.T
	eng    *change.Engine // the last one e.new made
	timers testutil.Timers
	root   string
	data   string
	cfg    config.Config

	mu       sync.Mutex
	restarts int
	hups     int
	rejected []string
	// noServices leaves Config.Services nil (no systemd).
	noServices bool
}

const pidFile = "/run/test/dnsmasq.pid"

func newEnv(t *testing.T) *env {
	t.Helper()
	testutil.RequireBinary(t, "dnsmasq")
	e := &env{t: t, root: t.TempDir(), data: t.TempDir(), cfg: config.Default()}
	e.cfg.Agent.StateDir = e.data
	dnsmasqtest.Install(t, e.root, device.DnsmasqConf, e.cfg, dnsmasq.Options{LeaseFile: dnsmasq.DefaultLeaseFile, PIDFile: dnsmasq.DefaultPIDFile})
	return e
}

func (e *env) write(p string, b []byte) {
	e.t.Helper()
	p = filepath.Join(e.root, p)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) read(p string) string {
	e.t.Helper()
	b, err := os.ReadFile(filepath.Join(e.root, p))
	if err != nil {
		e.t.Fatal(err)
	}
	return string(b)
}

func (e *env) Restart(_ context.Context, name string) error {
	if name != device.UnitDnsmasq {
		e.t.Errorf("restart of %q, want %q", name, device.UnitDnsmasq)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.restarts++
	return nil
}

func (e *env) reload(p string) error {
	if p != pidFile {
		e.t.Errorf("SIGHUP to the dnsmasq of %q, want %q", p, pidFile)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.hups++
	return nil
}

// signals returns the restarts and SIGHUPs so far.
func (e *env) signals() [2]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return [2]int{e.restarts, e.hups}
}

// new starts the module on a new engine, as an agent's start does.
func (e *env) new(mod ...func(*Config)) *Manager {
	e.t.Helper()
	eng, err := change.New(change.Config{Dir: filepath.Join(e.data, "changes"), Timeout: time.Minute, AfterFunc: e.timers.After,
		OnRejected: e.reject, Log: slog.New(slog.NewTextHandler(e.t.Output(), nil))})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(eng.Close)
	e.eng = eng
	cfg := Config{Cfg: e.cfg, Changes: eng, Root: e.root, PIDFile: pidFile, Services: e, Reload: e.reload,
		OnRejected: e.reject, Log: slog.New(slog.NewTextHandler(e.t.Output(), nil))}
	if e.noServices {
		cfg.Services = nil
	}
	for _, f := range mod {
		f(&cfg)
	}
	m, err := New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	return m
}

func (e *env) reject(file, reason string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.rejected = append(e.rejected, file+": "+reason)
}

// snapshot is every file a change may touch, but the change log.
func (e *env) snapshot() map[string]string { return testutil.Files(e.t, e.root, e.data) }

func lease(mac, ip, name string) dnsmasq.StaticLease {
	return dnsmasq.StaticLease{MAC: mac, IP: ip, Hostname: name}
}

func withLeases(s Settings, ls ...dnsmasq.StaticLease) Settings {
	s.StaticLeases = slices.Clone(ls)
	return s
}

func isUnavailable(err error) bool {
	var ue *UnavailableError
	return errors.As(err, &ue)
}
