package provision

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/devmgr/devmgr/internal/device"
	"github.com/devmgr/devmgr/internal/service"
)

// fakeSystemd records calls; every service reports running unless listed
// in stopped. It fails the test on a call for an unknown service.
type fakeSystemd struct {
	t       *testing.T
	calls   []string
	stopped map[string]bool
}

func (f *fakeSystemd) known(name string) {
	f.t.Helper()
	switch name {
	case device.UnitHostapd, device.UnitDnsmasq, device.UnitAgent, device.UnitWeb, device.UnitFirewall, device.UnitBackupTimer:
	default:
		f.t.Fatalf("unexpected service %q", name)
	}
}

func (f *fakeSystemd) rec(verb, name string) error {
	f.known(name)
	f.calls = append(f.calls, verb+" "+name)
	if verb == "start" || verb == "restart" {
		delete(f.stopped, name)
	}
	return nil
}

func (f *fakeSystemd) Start(_ context.Context, n string) error   { return f.rec("start", n) }
func (f *fakeSystemd) Stop(_ context.Context, n string) error    { return f.rec("stop", n) }
func (f *fakeSystemd) Restart(_ context.Context, n string) error { return f.rec("restart", n) }
func (f *fakeSystemd) Enable(_ context.Context, n string) error  { return f.rec("enable", n) }
func (f *fakeSystemd) Reload(context.Context) error {
	f.calls = append(f.calls, "daemon-reload")
	return nil
}

func (f *fakeSystemd) Status(_ context.Context, n string) (service.Status, error) {
	f.known(n)
	if f.stopped[n] {
		return service.Status{Name: n, State: service.StateStopped}, nil
	}
	return service.Status{Name: n, State: service.StateRunning, PID: 7}, nil
}

func TestStartServicesRestartsOnlyChanged(t *testing.T) {
	t.Parallel()
	f := &fakeSystemd{t: t, stopped: map[string]bool{device.UnitWeb: true}}
	var out strings.Builder
	o := Options{Services: f, Stdout: &out, Settle: time.Millisecond}.withDefaults()
	if err := startServices(context.Background(), o, map[string]bool{device.UnitHostapd: true}, true); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"enable " + device.UnitFirewall,
		"enable " + device.UnitHostapd, "restart " + device.UnitHostapd,
		"enable " + device.UnitDnsmasq,
		"enable " + device.UnitAgent,
		"enable " + device.UnitWeb, "start " + device.UnitWeb,
		"enable " + device.UnitBackupTimer,
	}
	if diff := cmp.Diff(want, f.calls); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	if !strings.Contains(out.String(), device.UnitHostapd+": running") || !strings.Contains(out.String(), device.UnitDnsmasq+": running") {
		t.Errorf("output = %q", out.String())
	}
}
