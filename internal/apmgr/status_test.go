package apmgr

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/devmgr/devmgr/internal/change"
	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/service"
	"github.com/google/go-cmp/cmp"
)

func TestStatusRunning(t *testing.T) {
	e := newEnv(t)
	m := e.new()
	got, err := m.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := Status{
		Running: true, State: "ENABLED", Interface: "wlan0", SSID: "DeviceManager", BSSID: "02:00:00:00:00:00",
		Channel: 6, Frequency: 2437, Band: config.Band24, Security: config.SecurityWPA2WPA3, Country: "US", Clients: 2,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Status (-want +got):\n%s", diff)
	}

	// A pending change shows.
	ch, err := m.Update(context.Background(), withSSID(m, "Pending"))
	if err != nil {
		t.Fatal(err)
	}
	got, err = m.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got.Pending == nil || got.Pending.ID != ch.ID {
		t.Errorf("Status.Pending = %+v, want %s", got.Pending, ch.ID)
	}
}

func TestStatusDisabledExplains(t *testing.T) {
	e := newEnv(t)
	e.fake.setReply(func(cmd string) (string, bool) {
		if cmd == "STATUS" {
			return "state=DISABLED\nphy=phy0\nfreq=0\nchannel=0\nnum_sta[0]=0\n", true
		}
		return defaultReply(cmd)
	})
	e.services.status = service.Status{State: service.StateRunning,
		Output: []string{"wlan0: interface state UNINITIALIZED->COUNTRY_UPDATE", "Frequency 5260 (primary) not allowed for AP mode, flags: 0x1"}}
	m := e.new()
	got, err := m.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !got.Running || got.State != "DISABLED" || got.Channel != 6 {
		t.Errorf("Status = %+v", got)
	}
	if !strings.Contains(got.Problem, "disabled") || !strings.Contains(got.Problem, "regulatory domain does not allow") {
		t.Errorf("Problem = %q", got.Problem)
	}
	if len(got.Output) != 2 {
		t.Errorf("Output = %q", got.Output)
	}
}

func TestStatusNotRunning(t *testing.T) {
	tests := []struct {
		name   string
		svc    *fakeServices
		output string
		want   string
	}{
		{"output explained", nil, "nl80211: Could not configure driver mode\nCould not read interface wlan0 flags: No such device\n",
			"the interface wlan0 does not exist"},
		{"service stopped", &fakeServices{status: service.Status{State: service.StateStopped}}, "", "is stopped"},
		{"service crashed", &fakeServices{status: service.Status{State: service.StateStarting, LastExit: "exit status 1",
			Output: []string{"something unforeseen"}}}, "", "exit status 1"},
		{"nothing known", nil, "", "nothing answers on its control socket for wlan0"},
		// A hostapd of its own (the development lab's stand-in): provision's
		// service is not asked, and provisioning is not advised.
		{"own control directory", &fakeServices{status: service.Status{State: service.StateStopped}}, "",
			"in the directory this agent was given (--hostapd-ctrl)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.AP.Passphrase = testPassphrase
			cfg.Agent.StateDir = t.TempDir()
			eng, err := change.New(change.Config{Dir: t.TempDir(), Timeout: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			c := Config{Cfg: cfg, Root: t.TempDir(), Changes: eng}
			own := strings.HasPrefix(tt.name, "own ")
			if own {
				c.CtrlDir = "/run/lab/hostapd"
			}
			if tt.svc != nil {
				tt.svc.t = t
				c.Services = tt.svc
			}
			if tt.output != "" {
				c.Output = func(context.Context) string { return tt.output }
			}
			m, err := New(c)
			if err != nil {
				t.Fatal(err)
			}
			got, err := m.Status(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if got.Running || got.State != "" || got.SSID != "DeviceManager" || got.Channel != 6 {
				t.Errorf("Status = %+v", got)
			}
			if !strings.Contains(got.Problem, tt.want) {
				t.Errorf("Problem = %q, want it to say %q", got.Problem, tt.want)
			}
			if strings.Contains(got.Problem, "/") {
				t.Errorf("Problem = %q names a path", got.Problem)
			}
			if own {
				if strings.Contains(got.Problem, "provision") || len(got.Output) > 0 {
					t.Errorf("Problem = %q, output %q: advice or output from provision's service for a hostapd of its own", got.Problem, got.Output)
				}
				if err := m.Deny(context.Background(), "02:00:00:00:01:00"); !errors.Is(err, ErrNotRunning) {
					t.Errorf("Deny = %v, want ErrNotRunning", err)
				}
				if r := tt.svc.restarted(); len(r) > 0 {
					t.Errorf("restarted %v: provision's service for a hostapd of its own", r)
				}
			}
		})
	}
}
