package service

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/devmgr/devmgr/internal/toolrun"
)

// Runner runs argv and returns its combined output; the error of a
// command that ran and failed wraps an *exec.ExitError.
type Runner func(ctx context.Context, argv []string) ([]byte, error)

// Systemd is a Manager that drives units through systemctl.
type Systemd struct {
	// Run executes systemctl and journalctl; nil runs them for real with
	// LC_ALL=C and Timeout.
	Run Runner
	// Timeout bounds one command (default 90s: a restart waits for the
	// unit to stop and start).
	Timeout time.Duration
	// Lines is how many journal lines Status returns (default 30).
	Lines int
}

func (s *Systemd) run(ctx context.Context, argv ...string) ([]byte, error) {
	if s.Run != nil {
		return s.Run(ctx, argv)
	}
	t := s.Timeout
	if t == 0 {
		t = 90 * time.Second
	}
	return toolrun.Run(ctx, toolrun.Options{Timeout: t, Env: []string{"SYSTEMD_PAGER=", "SYSTEMD_COLORS=0"}}, argv...)
}

func (s *Systemd) verb(ctx context.Context, verb, name string) error {
	if _, err := s.run(ctx, "systemctl", verb, name); err != nil {
		return fmt.Errorf("%s %s: %w", verb, name, err)
	}
	return nil
}

// Start runs `systemctl start NAME`.
func (s *Systemd) Start(ctx context.Context, name string) error { return s.verb(ctx, "start", name) }

// Stop runs `systemctl stop NAME`.
func (s *Systemd) Stop(ctx context.Context, name string) error { return s.verb(ctx, "stop", name) }

// Restart runs `systemctl restart NAME`.
func (s *Systemd) Restart(ctx context.Context, name string) error {
	return s.verb(ctx, "restart", name)
}

// Enable runs `systemctl enable --no-reload NAME`: the link for the next
// boot. Without --no-reload every enable reloads the whole manager, which
// costs seconds on a small board (and under emulation); the units' own
// changes are loaded by Reload.
func (s *Systemd) Enable(ctx context.Context, name string) error {
	if _, err := s.run(ctx, "systemctl", "enable", "--no-reload", name); err != nil {
		return fmt.Errorf("enable %s: %w", name, err)
	}
	return nil
}

// Reload runs `systemctl daemon-reload`.
func (s *Systemd) Reload(ctx context.Context) error {
	if _, err := s.run(ctx, "systemctl", "daemon-reload"); err != nil {
		return fmt.Errorf("reloading systemd units: %w", err)
	}
	return nil
}

// Status reads the unit's properties with `systemctl show` and its latest
// journal lines with journalctl (best effort: no journal, no lines).
func (s *Systemd) Status(ctx context.Context, name string) (Status, error) {
	out, err := s.run(ctx, "systemctl", "show", name,
		"--property=LoadState,ActiveState,SubState,MainPID,UnitFileState,NRestarts,ExecMainStatus,ExecMainCode,Result,ActiveEnterTimestampMonotonic")
	if err != nil {
		return Status{}, fmt.Errorf("reading status of %s: %w", name, err)
	}
	p := map[string]string{}
	for _, l := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			p[k] = v
		}
	}
	if p["LoadState"] == "not-found" {
		return Status{}, &ErrUnknown{Name: name}
	}
	st := Status{Name: name, State: StateUnknown}
	switch p["ActiveState"] {
	case "active", "reloading":
		st.State = StateRunning
	case "activating": // includes auto-restart, waiting to be restarted
		st.State = StateStarting
	case "inactive", "deactivating":
		st.State = StateStopped
	case "failed":
		st.State = StateFailed
	}
	st.PID, _ = strconv.Atoi(p["MainPID"])
	st.Restarts, _ = strconv.Atoi(p["NRestarts"])
	st.Enabled = p["UnitFileState"] == "enabled"
	if r := p["Result"]; r != "" && r != "success" {
		st.LastExit = r
		if c := p["ExecMainStatus"]; c != "" && c != "0" {
			st.LastExit = fmt.Sprintf("%s (status %s)", r, c)
		}
	}
	n := s.Lines
	if n == 0 {
		n = 30
	}
	if jout, err := s.run(ctx, "journalctl", "--unit", name, "--lines", strconv.Itoa(n), "--output", "cat", "--no-pager", "--quiet"); err == nil {
		for _, l := range strings.Split(strings.TrimRight(string(jout), "\n"), "\n") {
			if l != "" {
				st.Output = append(st.Output, l)
			}
		}
	} else if ctx.Err() != nil {
		return st, errors.Join(fmt.Errorf("reading journal of %s", name), ctx.Err())
	}
	return st, nil
}
