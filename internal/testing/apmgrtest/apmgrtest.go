// Package apmgrtest builds an apmgr.Manager on a device in temporary
// directories for the tests of the packages that serve it (agent, web): the
// hostapd config and deny file devmgr provision installs, a fake hostapd on
// the control socket (hostapdtest) and a dnsmasq leases file.
package apmgrtest

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/devmgr/devmgr/internal/apmgr"
	"github.com/devmgr/devmgr/internal/change"
	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/dnsmasq"
	"github.com/devmgr/devmgr/internal/hostapd"
	"github.com/devmgr/devmgr/internal/testing/hostapdtest"
	"github.com/devmgr/devmgr/internal/testing/testutil"
)

// Passphrase is the AP's passphrase in the config.
const Passphrase = "correct horse battery"

// Options change the device.
type Options struct {
	// Stations associate with the fake hostapd; nil: hostapdtest.TwoStations.
	Stations []hostapdtest.Station
	// Leases are dnsmasq leases "MAC IP HOSTNAME", valid for an hour; nil:
	// one for each station, named phone, laptop, ...
	Leases []string
	// NoHostapd leaves the control socket out: hostapd is not running.
	NoHostapd bool
	// RollbackTimeout of the device's change engine; 0: a minute.
	RollbackTimeout time.Duration
	// Changes is the change engine the manager registers with; nil: one of
	// its own in the state directory (Device.Changes).
	Changes *change.Engine
	// OnFinish is the own engine's (the agent's AuditChanges, say).
	OnFinish func(change.Change)
	// Log; nil: the test's output.
	Log *slog.Logger
}

// Device is a manager with its files and fake hostapd.
type Device struct {
	Root     string // prefixes /etc/hostapd, /run/hostapd, /var/lib/misc
	StateDir string
	Config   config.Config
	Hostapd  *hostapdtest.Server // nil with NoHostapd
	Manager  *apmgr.Manager
	Changes  *change.Engine
}

var names = []string{"phone", "laptop", "tablet", "printer"}

// New makes the device. It needs hostapd, whose parser checks every
// settings change.
func New(t testing.TB, o Options) *Device {
	t.Helper()
	testutil.RequireBinary(t, "hostapd")
	d := &Device{Root: t.TempDir(), StateDir: t.TempDir()}
	d.Config = config.Default()
	d.Config.AP.Passphrase = Passphrase
	d.Config.Agent.StateDir = d.StateDir
	conf, err := hostapd.Render(d.Config.AP, hostapd.Options{CtrlInterface: hostapd.DefaultCtrlInterface, DenyFile: apmgr.DefaultDenyFile})
	if err != nil {
		t.Fatal(err)
	}
	deny, err := hostapd.RenderDenyList(nil)
	if err != nil {
		t.Fatal(err)
	}
	d.write(t, apmgr.DefaultHostapdConf, conf, 0o600)
	d.write(t, apmgr.DefaultDenyFile, deny, 0o644)
	stations := o.Stations
	if stations == nil {
		stations = hostapdtest.TwoStations()
	}
	leases := o.Leases
	if leases == nil {
		for i, s := range stations {
			leases = append(leases, fmt.Sprintf("%s 192.168.4.%d %s", s.MAC, 10+i, names[i%len(names)]))
		}
	}
	exp := time.Now().Add(time.Hour).Unix()
	var lb strings.Builder
	for _, l := range leases {
		f := strings.Fields(l)
		fmt.Fprintf(&lb, "%d %s %s %s *\n", exp, f[0], f[1], f[2])
	}
	d.write(t, dnsmasq.DefaultLeaseFile, []byte(lb.String()), 0o644)
	if !o.NoHostapd {
		d.Hostapd = hostapdtest.Start(t, filepath.Join(d.Root, hostapd.DefaultCtrlInterface), d.Config.AP.Interface,
			filepath.Join(d.Root, apmgr.DefaultHostapdConf), d.Root, stations)
	}
	timeout := o.RollbackTimeout
	if timeout == 0 {
		timeout = time.Minute
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(t.Output(), nil))
	}
	d.Changes = o.Changes
	if d.Changes == nil {
		d.Changes, err = change.New(change.Config{Dir: filepath.Join(d.StateDir, "changes"), Timeout: timeout,
			OnFinish: o.OnFinish, Log: log})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(d.Changes.Close)
	}
	d.Manager, err = apmgr.New(apmgr.Config{Cfg: d.Config, Root: d.Root, Changes: d.Changes, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func (d *Device) write(t testing.TB, p string, b []byte, mode os.FileMode) {
	t.Helper()
	p = filepath.Join(d.Root, p)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, mode); err != nil {
		t.Fatal(err)
	}
}

// Read returns a system file under Root.
func (d *Device) Read(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(d.Root, p))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
