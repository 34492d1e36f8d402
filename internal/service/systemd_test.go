package service

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fakeRunner answers each expected argv in order and fails on anything else.
type fakeRunner struct {
	t     *testing.T
	calls []fakeCall
}

type fakeCall struct {
	argv string
	out  string
	err  error
}

func (f *fakeRunner) run(_ context.Context, argv []string) ([]byte, error) {
	f.t.Helper()
	got := strings.Join(argv, " ")
	if len(f.calls) == 0 {
		f.t.Fatalf("unexpected command %q", got)
	}
	c := f.calls[0]
	f.calls = f.calls[1:]
	if c.argv != got {
		f.t.Fatalf("command = %q, want %q", got, c.argv)
	}
	return []byte(c.out), c.err
}

func TestSystemdVerbs(t *testing.T) {
	f := &fakeRunner{t: t, calls: []fakeCall{
		{argv: "systemctl daemon-reload"},
		{argv: "systemctl enable --no-reload devmgr-hostapd.service"},
		{argv: "systemctl start devmgr-hostapd.service"},
		{argv: "systemctl restart devmgr-dnsmasq.service"},
		{argv: "systemctl stop devmgr-web.service", err: fmt.Errorf("running systemctl stop: %w", &exec.ExitError{})},
	}}
	s := &Systemd{Run: f.run}
	ctx := context.Background()
	if err := s.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Enable(ctx, "devmgr-hostapd.service"); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx, "devmgr-hostapd.service"); err != nil {
		t.Fatal(err)
	}
	if err := s.Restart(ctx, "devmgr-dnsmasq.service"); err != nil {
		t.Fatal(err)
	}
	err := s.Stop(ctx, "devmgr-web.service")
	var ee *exec.ExitError
	if !errors.As(err, &ee) || !strings.Contains(err.Error(), "stop devmgr-web.service") {
		t.Errorf("Stop error = %v, want it to name the unit and wrap the exit error", err)
	}
	if len(f.calls) != 0 {
		t.Errorf("commands not run: %v", f.calls)
	}
}

const showArgs = "--property=LoadState,ActiveState,SubState,MainPID,UnitFileState,NRestarts,ExecMainStatus,ExecMainCode,Result,ActiveEnterTimestampMonotonic"

func TestSystemdStatus(t *testing.T) {
	tests := []struct {
		name    string
		show    string
		journal string
		want    Status
		wantErr bool
	}{
		{
			name:    "running",
			show:    "LoadState=loaded\nActiveState=active\nSubState=running\nMainPID=412\nUnitFileState=enabled\nNRestarts=0\nExecMainStatus=0\nResult=success\n",
			journal: "wlan0: AP-ENABLED\n",
			want:    Status{Name: "u", State: StateRunning, PID: 412, Enabled: true, Output: []string{"wlan0: AP-ENABLED"}},
		},
		{
			name: "crash looping",
			show: "LoadState=loaded\nActiveState=activating\nSubState=auto-restart\nMainPID=0\nUnitFileState=enabled\nNRestarts=7\nExecMainStatus=1\nResult=exit-code\n",
			journal: "Could not set channel for kernel driver\n" +
				"wlan0: interface state UNINITIALIZED->DISABLED\n",
			want: Status{Name: "u", State: StateStarting, Enabled: true, Restarts: 7, LastExit: "exit-code (status 1)",
				Output: []string{"Could not set channel for kernel driver", "wlan0: interface state UNINITIALIZED->DISABLED"}},
		},
		{
			name: "failed, disabled",
			show: "LoadState=loaded\nActiveState=failed\nSubState=failed\nMainPID=0\nUnitFileState=disabled\nNRestarts=5\nExecMainStatus=2\nResult=exit-code\n",
			want: Status{Name: "u", State: StateFailed, Restarts: 5, LastExit: "exit-code (status 2)"},
		},
		{
			name:    "not found",
			show:    "LoadState=not-found\nActiveState=inactive\n",
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := []fakeCall{{argv: "systemctl show u " + showArgs, out: tt.show}}
			if !tt.wantErr {
				calls = append(calls, fakeCall{argv: "journalctl --unit u --lines 30 --output cat --no-pager --quiet", out: tt.journal})
			}
			f := &fakeRunner{t: t, calls: calls}
			got, err := (&Systemd{Run: f.run}).Status(context.Background(), "u")
			if tt.wantErr {
				var eu *ErrUnknown
				if !errors.As(err, &eu) {
					t.Fatalf("err = %v, want ErrUnknown", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestRing(t *testing.T) {
	r := newRing(3, nil)
	for _, s := range []string{"a\nb", "\nc\n", "d\ne"} {
		r.Write([]byte(s))
	}
	if diff := cmp.Diff([]string{"b", "c", "d", "e"}, r.Lines()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	long := strings.Repeat("x", 3*maxLine) + "\n"
	r.Write([]byte(long))
	if got := r.Lines(); len(got[len(got)-1]) != maxLine {
		t.Errorf("long line kept %d bytes, want %d", len(got[len(got)-1]), maxLine)
	}
}
