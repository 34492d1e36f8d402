// Package service starts, stops and watches devmgr's services (hostapd,
// dnsmasq, the agent and the web console) behind one small interface: on a
// device through systemd, and on hosts without systemd (and in the lab)
// through a supervisor that runs them as child processes.
package service

import (
	"context"
	"fmt"
	"os"
	"time"
)

// Manager controls services by name (a systemd unit name such as
// "devmgr-hostapd.service", or a supervisor spec's name).
type Manager interface {
	Start(ctx context.Context, name string) error
	Stop(ctx context.Context, name string) error
	Restart(ctx context.Context, name string) error
	// Enable makes the service start at boot (a no-op for the supervisor,
	// which starts everything it was given).
	Enable(ctx context.Context, name string) error
	Status(ctx context.Context, name string) (Status, error)
}

// Reloader is implemented by managers that must re-read service
// definitions after they changed on disk (systemctl daemon-reload).
type Reloader interface {
	Reload(ctx context.Context) error
}

// State is a service's coarse state.
type State string

// States a service can be in.
const (
	StateRunning  State = "running"
	StateStarting State = "starting" // exited, waiting to be restarted
	StateStopped  State = "stopped"
	StateFailed   State = "failed"
	StateUnknown  State = "unknown"
)

// Status describes one service.
type Status struct {
	Name     string
	State    State
	PID      int
	Enabled  bool
	Restarts int
	// LastExit describes how the last run ended ("exit status 1",
	// "signal: killed"); "" if it has not ended.
	LastExit string
	// Since is when the current run started (zero when not running).
	Since time.Time
	// Output is the service's latest output lines, oldest first: what a
	// person (or ExplainHostapd) needs to say why it failed.
	Output []string
}

// Running reports whether the service is up.
func (s Status) Running() bool { return s.State == StateRunning }

// SystemdRunning reports whether systemd is PID 1 (as sd_booted(3) checks).
func SystemdRunning() bool {
	st, err := os.Stat("/run/systemd/system")
	return err == nil && st.IsDir()
}

// Kind names a Manager implementation.
type Kind string

// Kinds of managers.
const (
	KindSystemd    Kind = "systemd"
	KindSupervisor Kind = "supervisor"
)

// Detect returns KindSystemd when systemd is PID 1, else KindSupervisor.
func Detect() Kind {
	if SystemdRunning() {
		return KindSystemd
	}
	return KindSupervisor
}

// ErrUnknown is returned for a service name the manager does not know.
type ErrUnknown struct{ Name string }

func (e *ErrUnknown) Error() string { return fmt.Sprintf("unknown service %q", e.Name) }
