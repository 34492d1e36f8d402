package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/devmgr/devmgr/internal/agent/api"
	"github.com/devmgr/devmgr/internal/auditlog"
	"github.com/devmgr/devmgr/internal/device"
	"github.com/devmgr/devmgr/internal/reset"
	"github.com/devmgr/devmgr/internal/toolrun"
)

// The factory reset's routes. The agent's own sandbox (a mount namespace
// of its own, a read-only system) can neither unmount nor wipe the
// overlay for the host: POST queues the checked run in the reset's
// journal and has another process run it (ResetLauncher); GET and the
// event stream read that process's progress from the journal.

// Reset is the factory reset as the agent serves it: *reset.Resetter.
type Reset interface {
	Info(ctx context.Context) api.SystemReset
	WriteChanges(ctx context.Context, w io.Writer) error
	Queue(ctx context.Context, req reset.Request) (api.ResetRun, error)
	KeepSettings() bool
	// Refresh reads the journal that another process writes again.
	Refresh() error
	Current() (api.ResetRun, bool)
	Events(after int) ([]api.ResetEvent, api.ResetRun, <-chan struct{})
}

var _ Reset = (*reset.Resetter)(nil)

var errNoReset = errorf(http.StatusServiceUnavailable, "", "the factory reset is not available in this agent")

// resetPoll is how often a reset's event stream reads the journal that
// another process writes.
const resetPoll = 250 * time.Millisecond

func (s *Server) reset() (Reset, error) {
	if s.cfg.Reset == nil || s.cfg.LaunchReset == nil {
		return nil, errNoReset
	}
	return s.cfg.Reset, nil
}

// refreshed is the reset after reading its journal again; a journal that
// cannot be read is logged and the last one read is shown.
func (s *Server) refreshed() (Reset, error) {
	res, err := s.reset()
	if err != nil {
		return nil, err
	}
	if err := res.Refresh(); err != nil {
		s.log.Warn("reading the reset's journal", "err", err)
	}
	return res, nil
}

func (s *Server) getReset(w http.ResponseWriter, r *http.Request, _ Actor) error {
	res, err := s.refreshed()
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res.Info(r.Context()))
	return nil
}

// resetChanges sends the upper layer as a .tar.gz. A failure once the
// archive has begun cuts the connection, so that no client keeps a
// truncated archive as a whole one.
func (s *Server) resetChanges(w http.ResponseWriter, r *http.Request, _ Actor) error {
	res, err := s.reset()
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	name := fmt.Sprintf("%s-changes-%s.tar.gz", fileSafe(host), time.Now().UTC().Format("20060102-150405"))
	cw := &startedWriter{w: w, start: func() {
		h := w.Header()
		h.Set("Content-Type", "application/gzip")
		h.Set("Content-Disposition", `attachment; filename="`+name+`"`)
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
	}}
	if err := res.WriteChanges(r.Context(), cw); err != nil {
		if !cw.started {
			return err
		}
		s.log.Error("sending the overlay's changes", "err", err)
		panic(http.ErrAbortHandler)
	}
	return nil
}

// startedWriter calls start before the first byte goes out.
type startedWriter struct {
	w       io.Writer
	start   func()
	started bool
}

func (s *startedWriter) Write(p []byte) (int, error) {
	if !s.started {
		s.started = true
		s.start()
	}
	return s.w.Write(p)
}

// fileSafe keeps a host name fit for a file name.
func fileSafe(s string) string {
	s = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' {
			return r
		}
		return -1
	}, s)
	if s == "" || s[0] == '.' {
		return "device"
	}
	return s
}

// startReset queues the reset that the console asked for (the admin's
// password already checked there) and has it run.
func (s *Server) startReset(w http.ResponseWriter, r *http.Request, a Actor) error {
	res, err := s.reset()
	if err == nil {
		err = s.queueReset(w, r, a, res)
	}
	if err != nil {
		s.auditErr(r, a, api.ActReset, "", err)
	}
	return err
}

func (s *Server) queueReset(w http.ResponseWriter, r *http.Request, a Actor, res Reset) error {
	var in api.ResetRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Password != "" {
		return errorf(http.StatusBadRequest, "password", "the agent takes no password: the console checks it and leaves it out")
	}
	if strings.TrimSpace(in.Confirm) == "" {
		return errorf(http.StatusBadRequest, "confirm", "type the device's host name to confirm the reset")
	}
	keep := res.KeepSettings()
	if in.KeepSettings != nil {
		keep = *in.KeepSettings
	}
	run, err := res.Queue(r.Context(), reset.Request{Confirm: in.Confirm, KeepSettings: keep, User: a.User})
	if errors.Is(err, reset.ErrRunning) || errors.Is(err, reset.ErrUnfinished) {
		return s.resetBusy(res, err)
	}
	if err != nil {
		return err
	}
	if err := s.cfg.LaunchReset(context.WithoutCancel(r.Context())); err != nil {
		s.log.Error("starting the queued reset", "id", run.ID, "err", err)
		return errorf(http.StatusServiceUnavailable, "",
			"reset %s is queued, but it could not be started (see the agent's log): the agent's next start starts it, "+
				"or run devmgr reset --resume on the device", run.ID)
	}
	s.audit(r.Context(), a, api.ActReset, run.Mode, auditlog.ResultOK,
		fmt.Sprintf("reset %s queued (keep settings: %s)", run.ID, yesNo(run.KeepSettings)))
	writeJSON(w, http.StatusAccepted, run)
	return nil
}

// resetBusy is the 409 of a request while another reset is queued or
// runs, or waits to be finished.
func (s *Server) resetBusy(res Reset, err error) error {
	if err := res.Refresh(); err != nil {
		s.log.Warn("reading the reset's journal", "err", err)
	}
	run, ok := res.Current()
	if ok && (run.Status == api.ResetQueued || run.Status == api.ResetRunning || run.Status == api.ResetRebooting) {
		return errorf(http.StatusConflict, "",
			"a factory reset is already running: reset %s, asked for by %s at %s, is %s (phase %s, %d%%); wait for it to end",
			run.ID, run.User, run.StartedAt.UTC().Format(time.RFC3339), run.Status, strings.ReplaceAll(run.Phase, "_", " "), run.Percent)
	}
	return errorf(http.StatusConflict, "", "%s", err.Error())
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// resetEvents streams the current run's events after ?after=SEQ as NDJSON
// lines, until the run is no longer queued or running (or the client
// goes): a client that reconnects passes the last sequence number it saw.
func (s *Server) resetEvents(w http.ResponseWriter, r *http.Request, _ Actor) error {
	res, err := s.reset()
	if err != nil {
		return err
	}
	after := 0
	if v := r.URL.Query().Get("after"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return errorf(http.StatusBadRequest, "after", "%q is not an event's sequence number", clip(v))
		}
		after = n
	}
	h := w.Header()
	h.Set("Content-Type", "application/x-ndjson")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	enc := json.NewEncoder(w)
	tick := time.NewTicker(resetPoll)
	defer tick.Stop()
	for {
		if err := res.Refresh(); err != nil {
			s.log.Warn("reading the reset's journal", "err", err)
		}
		evs, run, more := res.Events(after)
		for _, e := range evs {
			if err := enc.Encode(e); err != nil {
				return nil // the client has gone
			}
			after = e.Seq
		}
		if err := rc.Flush(); err != nil {
			return nil
		}
		if run.Status != api.ResetQueued && run.Status != api.ResetRunning {
			return nil
		}
		select {
		case <-more:
		case <-tick.C:
		case <-r.Context().Done():
			return nil
		}
	}
}

// ResetLauncher starts the queued reset in a process that can unmount
// and wipe the overlay for the host: devmgr-reset.service where systemd
// is PID 1 (outside the agent's sandbox, and not stopped with the agent,
// which the reset stops too), else `devmgr reset --resume` as a child
// in a process group of its own (toolrun.Start), which outlives the
// agent.
type ResetLauncher struct {
	// Systemd: systemd is PID 1 (service.SystemdRunning).
	Systemd bool
	// Binary is devmgr (the agent's own executable), ConfigPath the
	// config file it runs with.
	Binary, ConfigPath string
	Log                *slog.Logger
}

// launchTimeout bounds systemctl's answer (it does not wait for the run).
const launchTimeout = 30 * time.Second

// Launch starts the run and returns; the run's progress is its journal.
func (l ResetLauncher) Launch(ctx context.Context) error {
	if l.Systemd {
		_, err := toolrun.Run(ctx, toolrun.Options{Timeout: launchTimeout}, "systemctl", "start", "--no-block", device.UnitReset)
		return err
	}
	argv := []string{l.Binary, "reset", "--resume", "--config", l.ConfigPath}
	p, err := toolrun.Start(context.WithoutCancel(ctx), toolrun.StreamOptions{}, argv, func(text string, _ bool) {
		l.Log.Info("devmgr reset --resume", "line", text)
	})
	if err != nil {
		return err
	}
	l.Log.Info("started devmgr reset --resume", "pid", p.Pid())
	go func() {
		code, err := p.Wait()
		if code != 0 || err != nil {
			l.Log.Error("devmgr reset --resume ended", "exit", code, "err", err)
			return
		}
		l.Log.Info("devmgr reset --resume ended", "exit", code)
	}()
	return nil
}
