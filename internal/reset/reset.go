package reset

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/devmgr/devmgr/internal/agent/api"
	"github.com/devmgr/devmgr/internal/change"
	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/device"
	"github.com/devmgr/devmgr/internal/mountinfo"
	"github.com/devmgr/devmgr/internal/provision"
	"github.com/devmgr/devmgr/internal/service"
)

// Services stops, starts and reads services by name; service.Manager
// (systemd on a device) implements it.
type Services interface {
	Stop(ctx context.Context, name string) error
	Start(ctx context.Context, name string) error
	Status(ctx context.Context, name string) (service.Status, error)
}

// Config configures a Resetter.
type Config struct {
	// Reset is the config's reset section (a validated config's).
	Reset config.Reset
	// Dir holds the journal, the kept settings and the lock:
	// config.Config.ResetDir.
	// It is made root:root 0700.
	Dir string
	// ChangesDir is the agent's change engine's directory: while a change
	// waits there for its confirmation, a reset is refused. "": no check.
	ChangesDir string
	// Settings keeps devmgr's settings across a reset, or clears them.
	Settings Settings
	// Services stops and starts ServiceNames (ServiceNames(cfg), in the
	// order they start); required when there are any.
	Services     Services
	ServiceNames []string
	// NoServices says why ServiceNames is empty, where the phases that
	// stop and start them are skipped; "" says there are none.
	NoServices string
	// ServiceWait bounds the wait for a started service to run; 0 is 30s.
	ServiceWait time.Duration
	// Reboot reboots the device: the root mode's last step before the
	// early-boot wipe. Required for the root mode.
	Reboot func(ctx context.Context) error
	// Hostname is what a request must confirm; nil is os.Hostname.
	Hostname func() (string, error)
	// Root is where the root mode looks for the installed early-boot step
	// (device.InitramfsScript); "" is "/".
	Root string
	// Proc is procfs: the mount tables and the processes that hold the
	// overlay; "" is /proc. BootIDFile tells one boot from the next;
	// "" is /proc/sys/kernel/random/boot_id (the early-boot step reads
	// the same).
	Proc       string
	BootIDFile string
	Now        func() time.Time
	Log        *slog.Logger
	// Interrupt is for tests: when it returns true after a phase, the run
	// stops there as if its process were killed: nothing more is done or
	// recorded, and the lock is let go.
	Interrupt func(phase string) bool
}

// ServiceNames are the services a reset stops, in the order it starts
// them again: reset.services, then devmgr's own: the agent when agent is
// set (a reset run outside the agent's process: devmgr-reset.service, whose
// settings phase writes the agent's files) and the console (whose
// database it clears or restores). The command line runs a reset only
// while the agent is stopped, and leaves it so.
func ServiceNames(cfg config.Config, agent bool) []string {
	names := slices.Clone(cfg.Reset.Services)
	if agent {
		names = append(names, device.UnitAgent)
	}
	return append(names, device.UnitWeb)
}

// Request asks for a reset.
type Request struct {
	// Confirm must be the device's host name.
	Confirm string
	// KeepSettings keeps devmgr's settings (Settings) across the reset.
	KeepSettings bool
	// User names who asks: the console's user, or "root" on the shell.
	User string
}

// Errors that refuse a request; nothing is touched.
var (
	ErrNotConfigured = errors.New("this device has no reset: reset.mode is none")
	ErrConfirm       = errors.New("the confirmation is not this device's host name")
	ErrRunning       = errors.New("a reset is running")
	ErrUnfinished    = errors.New("an interrupted reset waits to be finished")
	// ErrRefused wraps a check that failed (the overlay, a pending change,
	// the services, the early-boot step).
	ErrRefused = errors.New("reset refused, nothing was touched")
)

// Resetter runs a device's factory resets, one at a time, and keeps the
// last one's journal.
type Resetter struct {
	cfg Config
	log *slog.Logger

	mu     sync.Mutex
	last   *journal      // the running or last run; nil: none
	active bool          // a run of this process goes on
	more   chan struct{} // closed, and replaced, at every event
	done   chan struct{} // closed when the active run ends
}

// New makes a Resetter and reads the last run's journal (one that fails
// validation is set aside, never acted on).
func New(cfg Config) (*Resetter, error) {
	if cfg.Reset.Mode == "" {
		cfg.Reset.Mode = config.ResetNone
	}
	if !slices.Contains(config.ResetModes, cfg.Reset.Mode) {
		return nil, fmt.Errorf("reset.New: mode %q", cfg.Reset.Mode)
	}
	if cfg.Dir == "" || cfg.Settings == nil {
		return nil, errors.New("reset.New: Dir and Settings are required")
	}
	if len(cfg.ServiceNames) > 0 && cfg.Services == nil {
		return nil, errors.New("reset.New: Services is required with ServiceNames")
	}
	if cfg.Reset.Mode == config.ResetRoot && cfg.Reboot == nil {
		return nil, errors.New("reset.New: Reboot is required for the root mode")
	}
	if cfg.Proc == "" {
		cfg.Proc = "/proc"
	}
	if cfg.BootIDFile == "" {
		cfg.BootIDFile = "/proc/sys/kernel/random/boot_id"
	}
	if cfg.Root == "" {
		cfg.Root = "/"
	}
	if cfg.ServiceWait == 0 {
		cfg.ServiceWait = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Hostname == nil {
		cfg.Hostname = os.Hostname
	}
	r := &Resetter{cfg: cfg, log: cfg.Log, more: make(chan struct{})}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if cfg.Reset.Mode != config.ResetNone {
		if err := r.reload(); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// reload reads the journal into r.last.
func (r *Resetter) reload() error {
	j, ok, err := readJournal(r.cfg.Dir)
	switch {
	case errors.Is(err, change.ErrInvalid):
		change.Rejecter{Dir: r.cfg.Dir, Prefix: "reset/", Now: r.cfg.Now, Log: r.log}.Reject(journalFile, err)
		r.last = nil
		return nil
	case err != nil:
		return err
	case ok:
		r.last = &j
	default:
		r.last = nil
	}
	return nil
}

// Current returns the running or last run; ok is false when there has
// been none.
func (r *Resetter) Current() (api.ResetRun, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.last == nil {
		return api.ResetRun{}, false
	}
	return r.last.copyRun(), true
}

// KeepSettings is reset.keep_settings: whether a request keeps the
// settings unless it says otherwise.
func (r *Resetter) KeepSettings() bool { return r.cfg.Reset.KeepSettings }

// Refresh reads the journal again: for a process that shows a run that
// another one runs (the agent, while devmgr-reset.service or its child
// devmgr reset --resume runs the reset it queued). Readers of Events are
// woken when the run moved on. A run of this process is left as it is.
func (r *Resetter) Refresh() error {
	if r.cfg.Reset.Mode == config.ResetNone {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.active {
		return nil
	}
	before := progressOf(r.last)
	if err := r.reload(); err != nil {
		return err
	}
	if progressOf(r.last) != before {
		close(r.more)
		r.more = make(chan struct{})
	}
	return nil
}

// progressOf tells one state of a journal from the next.
func progressOf(j *journal) string {
	if j == nil {
		return ""
	}
	seq := 0
	if n := len(j.Events); n > 0 {
		seq = j.Events[n-1].Seq
	}
	return fmt.Sprintf("%s %s %d", j.ID, j.Status, seq)
}

// Events returns the current run's events after seq, the run, and a
// channel that is closed when there are more (or the run ends): a stream
// reads until the run's status is no longer running.
func (r *Resetter) Events(after int) ([]api.ResetEvent, api.ResetRun, <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.last == nil {
		return nil, api.ResetRun{}, r.more
	}
	var out []api.ResetEvent
	for _, e := range r.last.Events {
		if e.Seq > after {
			out = append(out, e)
		}
	}
	return out, r.last.copyRun(), r.more
}

// Start checks the request and the device and, when all is well, starts
// the reset and returns its run: the phases go on in the background
// (Wait, Events). A refused request (ErrConfirm, ErrRunning,
// ErrUnfinished, ErrNotConfigured, ErrRefused) touches nothing.
func (r *Resetter) Start(ctx context.Context, req Request) (api.ResetRun, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	lk, j, err := r.begin(ctx, req, api.ResetRunning, "checked: ")
	if err != nil {
		return api.ResetRun{}, err
	}
	r.active = true
	r.done = make(chan struct{})
	go r.execute(lk, j, nil)
	return j.copyRun(), nil
}

// Queue checks the request and the device as Start does and journals the
// run as queued, for another process to run with Resume. The agent's
// sandbox (a mount namespace of its own, a read-only system) can neither
// unmount nor wipe the overlay: it queues the reset and starts
// devmgr-reset.service (devmgr reset --resume).
func (r *Resetter) Queue(ctx context.Context, req Request) (api.ResetRun, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	lk, j, err := r.begin(ctx, req, api.ResetQueued, "queued for devmgr-reset.service; checked: ")
	if err != nil {
		return api.ResetRun{}, err
	}
	lk.Close()
	return j.copyRun(), nil
}

// begin checks req and the device and journals a new run in status, its
// checking phase done; it returns the run and the lock, which the caller
// lets go. r.mu is held.
func (r *Resetter) begin(ctx context.Context, req Request, status, checked string) (*os.File, *journal, error) {
	if r.cfg.Reset.Mode == config.ResetNone {
		return nil, nil, ErrNotConfigured
	}
	host, err := r.cfg.Hostname()
	if err != nil {
		return nil, nil, fmt.Errorf("reading the host name: %w", err)
	}
	if got := strings.TrimSpace(req.Confirm); !strings.EqualFold(got, host) {
		return nil, nil, fmt.Errorf("%w: %q was typed; type %s to reset it", ErrConfirm, change.Clip(got), host)
	}
	if err := checkText(req.User, maxUserLen); err != nil {
		return nil, nil, fmt.Errorf("the user's name: %w", err)
	}
	if r.active {
		return nil, nil, r.runningErr()
	}
	if err := provision.MakeRootDir(r.cfg.Dir, "the reset's directory"); err != nil {
		return nil, nil, err
	}
	lk, err := lockDir(r.cfg.Dir)
	if err != nil {
		return nil, nil, err
	}
	fail := func(err error) (*os.File, *journal, error) {
		lk.Close()
		return nil, nil, err
	}
	if err := r.reload(); err != nil {
		return fail(err)
	}
	if l := r.last; l != nil && l.Status == api.ResetQueued {
		return fail(fmt.Errorf("%w: reset %s, asked for by %s, is queued for devmgr-reset.service (devmgr reset --resume runs it)",
			ErrUnfinished, l.ID, l.User))
	}
	if l := r.last; l != nil && needsResume(l) {
		return fail(fmt.Errorf("%w: reset %s stopped in phase %s (%s); devmgr reset --resume finishes it", ErrUnfinished, l.ID, l.Phase, l.Status))
	}
	ov, err := r.check(ctx, req)
	if err != nil {
		return fail(err)
	}
	j := r.newJournal(req, ov)
	j.Status = status
	if err := r.record(j, api.PhaseChecking, api.PhaseDone, checked+r.checkedText(ov)); err != nil {
		return fail(fmt.Errorf("%w: %v", ErrRefused, err))
	}
	return lk, j, nil
}

func (r *Resetter) runningErr() error {
	if r.last == nil {
		return ErrRunning
	}
	return fmt.Errorf("%w: reset %s, started at %s by %s, is in phase %s", ErrRunning, r.last.ID,
		r.last.StartedAt.UTC().Format(time.RFC3339), r.last.User, r.last.Phase)
}

// Wait waits for the run this process is running to end (or ctx) and
// returns the run as it ended.
func (r *Resetter) Wait(ctx context.Context) (api.ResetRun, error) {
	r.mu.Lock()
	done := r.done
	r.mu.Unlock()
	if done != nil {
		select {
		case <-done:
		case <-ctx.Done():
			return api.ResetRun{}, ctx.Err()
		}
	}
	run, _ := r.Current()
	return run, nil
}

// Run is Start, then Wait: it returns the run as it ended; a run that
// failed is an error too, naming the phase.
func (r *Resetter) Run(ctx context.Context, req Request) (api.ResetRun, error) {
	if _, err := r.Start(ctx, req); err != nil {
		return api.ResetRun{}, err
	}
	return r.waitResult(ctx)
}

func (r *Resetter) waitResult(ctx context.Context) (api.ResetRun, error) {
	run, err := r.Wait(ctx)
	if err != nil {
		return run, err
	}
	if run.Status == api.ResetFailed {
		return run, fmt.Errorf("the reset failed in phase %s: %s", run.Phase, run.Error)
	}
	return run, nil
}

// Resume runs a queued run (Queue), and finishes a run that its process
// left unfinished: killed (or the device losing power) in a phase, or
// the root mode's run after its reboot. devmgr reset --resume calls it
// (devmgr-reset.service: at boot, and when the agent has queued a
// reset); with nothing to do it returns ok false. A run interrupted
// before the wipe began is not carried on: the overlay is put back as it
// was and the run recorded as failed. A root mode's run whose reboot has
// not happened yet is left waiting.
func (r *Resetter) Resume(ctx context.Context) (run api.ResetRun, ok bool, err error) {
	if r.cfg.Reset.Mode == config.ResetNone {
		return api.ResetRun{}, false, nil
	}
	r.mu.Lock()
	if r.active {
		defer r.mu.Unlock()
		return api.ResetRun{}, false, r.runningErr()
	}
	if _, err := os.Lstat(r.cfg.Dir); errors.Is(err, os.ErrNotExist) {
		r.mu.Unlock()
		return api.ResetRun{}, false, nil
	}
	lk, err := lockDir(r.cfg.Dir)
	if err != nil {
		r.mu.Unlock()
		return api.ResetRun{}, false, err
	}
	if err := r.reload(); err != nil {
		r.mu.Unlock()
		lk.Close()
		return api.ResetRun{}, false, err
	}
	j := r.last
	if j == nil || !needsResume(j) {
		r.mu.Unlock()
		lk.Close()
		return api.ResetRun{}, false, nil
	}
	var from []string // nil: every phase after checking
	if j.Status == api.ResetQueued {
		if err := r.dequeue(ctx, j); err != nil {
			run := j.copyRun()
			r.mu.Unlock()
			lk.Close()
			return run, true, err
		}
	} else if from, err = r.resumePoint(j); err != nil || from == nil {
		run := j.copyRun()
		r.mu.Unlock()
		lk.Close()
		return run, err == nil && run.Status != api.ResetRebooting, err
	}
	r.active = true
	r.done = make(chan struct{})
	r.mu.Unlock()
	go r.execute(lk, j, from)
	run, err = r.waitResult(ctx)
	return run, true, err
}

// dequeue checks the device again for a queued run (it may have changed
// since) and marks the run running; a check that fails ends the run, with
// nothing touched. r.mu is held.
func (r *Resetter) dequeue(ctx context.Context, j *journal) error {
	ov, err := r.check(ctx, Request{KeepSettings: j.KeepSettings})
	if err != nil {
		now := r.cfg.Now().UTC()
		j.Status, j.FinishedAt, j.Error = api.ResetFailed, &now, text(err.Error())
		return errors.Join(err, r.record(j, api.PhaseChecking, api.PhaseFailed, j.Error))
	}
	j.Status, j.WasMounted, j.Flags = api.ResetRunning, ov.mounted, nil
	if ov.mounted {
		j.Flags = keptFlags(ov.mount)
	}
	return r.record(j, api.PhaseChecking, api.PhaseDone, "the queued reset runs; checked again: "+r.checkedText(ov))
}

// Unfinished reports whether a run waits for Resume: queued, left
// unfinished, or failed half way. The agent, at its start, has
// devmgr-reset.service run Resume when one does.
func (r *Resetter) Unfinished() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last != nil && needsResume(r.last)
}

// needsResume reports whether j is a run its process did not finish, or
// one that failed after its wipe began and before it was verified:
// Resume carries both on (the layers must not stay half reset).
func needsResume(j *journal) bool {
	switch j.Status {
	case api.ResetQueued, api.ResetRunning, api.ResetRebooting:
		return true
	case api.ResetFailed:
		v := j.phase(api.PhaseVerifying)
		return afterWipe(j) && v != nil && v.State == api.PhasePending
	}
	return false
}

// afterWipe reports whether j's wipe began: the mount mode's, even if it
// failed half way or a resume runs it again; the root mode's early-boot
// step did it.
func afterWipe(j *journal) bool {
	if j.Mode == config.ResetRoot {
		p := j.phase(api.PhaseWiping)
		return p != nil && p.State == api.PhaseDone
	}
	return j.WipeBegan
}

// newJournal starts a run's journal: every phase of its mode pending.
func (r *Resetter) newJournal(req Request, ov overlay) *journal {
	var id [8]byte
	_, _ = rand.Read(id[:])
	now := r.cfg.Now().UTC()
	j := &journal{ResetRun: api.ResetRun{
		ID: hex.EncodeToString(id[:]), Mode: r.cfg.Reset.Mode, KeepSettings: req.KeepSettings, User: req.User,
		Status: api.ResetRunning, Phase: api.PhaseChecking, StartedAt: now, Events: []api.ResetEvent{},
	}}
	for _, name := range phasesOf(r.cfg.Reset.Mode) {
		j.Phases = append(j.Phases, api.ResetPhase{Name: name, State: api.PhasePending})
	}
	j.phase(api.PhaseChecking).StartedAt = timePtr(now)
	if ov.mounted {
		j.Flags, j.WasMounted = keptFlags(ov.mount), true
	}
	if r.cfg.Reset.Mode == config.ResetRoot {
		j.BootID, _ = r.bootID()
	}
	r.last = j
	return j
}

// phasesOf lists a mode's phases in the order they run.
func phasesOf(mode string) []string {
	if mode == config.ResetRoot {
		return []string{api.PhaseChecking, api.PhaseSaving, api.PhaseRebooting, api.PhaseWiping, api.PhaseStopping,
			api.PhaseSettings, api.PhaseVerifying, api.PhaseStarting}
	}
	return []string{api.PhaseChecking, api.PhaseStopping, api.PhaseSaving, api.PhaseUnmount, api.PhaseWiping,
		api.PhaseRemount, api.PhaseSettings, api.PhaseVerifying, api.PhaseStarting}
}

// record notes an event of the run: the phase's new state, the message,
// the progress; the journal is written (atomically) before the caller
// goes on, and readers of Events are woken.
func (r *Resetter) record(j *journal, phase, state, msg string) error {
	now := r.cfg.Now().UTC()
	if p := j.phase(phase); p != nil {
		switch {
		case state == api.PhaseActive:
			p.StartedAt, p.FinishedAt, p.Detail = timePtr(now), nil, ""
		case state == p.State && p.FinishedAt != nil:
			// An event about the run (its end) keeps what the phase
			// that ended said.
		case state == api.PhaseDone || state == api.PhaseFailed || state == api.PhaseSkipped:
			p.FinishedAt = timePtr(now)
			p.Detail = text(msg)
		}
		p.State = state
	}
	j.Phase = phase
	j.Percent = j.percent()
	seq := 1
	if n := len(j.Events); n > 0 {
		seq = j.Events[n-1].Seq + 1
	}
	j.Events = append(j.Events, api.ResetEvent{Seq: seq, Time: now, Phase: phase, State: state, Message: text(msg), Percent: j.Percent})
	if n := len(j.Events); n > api.MaxResetEvents {
		j.Events = slices.Clone(j.Events[n-api.MaxResetEvents:])
	}
	r.log.Info("reset", "id", j.ID, "phase", phase, "state", state, "message", msg)
	err := change.WriteJSON(filepath.Join(r.cfg.Dir, journalFile), j)
	close(r.more)
	r.more = make(chan struct{})
	if err != nil {
		return fmt.Errorf("writing the reset's journal: %w", err)
	}
	return nil
}

// bootID reads this boot's ID.
func (r *Resetter) bootID() (string, error) {
	b, err := os.ReadFile(r.cfg.BootIDFile)
	if err != nil {
		return "", fmt.Errorf("reading the boot ID: %w", err)
	}
	id := strings.TrimSpace(string(b))
	if !bootIDRE.MatchString(id) {
		return "", fmt.Errorf("the boot ID %q in %s is not one", change.Clip(id), r.cfg.BootIDFile)
	}
	return id, nil
}

// Info is GET /v1/system/reset: the overlay now and the running or last
// run.
func (r *Resetter) Info(ctx context.Context) api.SystemReset {
	host, _ := r.cfg.Hostname()
	info := api.SystemReset{Mode: r.cfg.Reset.Mode, Hostname: host, KeepSettings: r.cfg.Reset.KeepSettings,
		Kept: KeptSettings, Lost: LostSettings, Overlay: r.Overlay(ctx)}
	if run, ok := r.Current(); ok {
		info.Run = &run
	}
	return info
}

// Overlay says what the overlay is now: mounted or not, its layers and
// options, what the upper layer holds and how it differs from the lower.
func (r *Resetter) Overlay(ctx context.Context) api.OverlayState {
	rc := r.cfg.Reset
	st := api.OverlayState{Mode: rc.Mode, Lower: rc.Lower, Upper: rc.Upper, Work: rc.Work, Merged: rc.Merged,
		Options: []string{}, Changes: api.OverlayChanges{Groups: []api.ChangeGroup{}}}
	if rc.Mode == config.ResetNone {
		return st
	}
	var problems []string
	if ov, err := r.findOverlay(); err != nil {
		problems = append(problems, err.Error())
	} else if ov.mounted {
		st.Mounted = true
		st.Options = slices.Clone(ov.mount.Options)
		for _, o := range ov.mount.Super {
			if o = mountinfo.Unescape(o); !slices.Contains(st.Options, o) {
				st.Options = append(st.Options, o)
			}
		}
	} else if rc.Mode == config.ResetMount {
		st.Options = strings.Split(rc.MountOptions(), ",")
	}
	var err error
	st.Usage, st.Changes, err = ScanUpper(ctx, rc.Upper, []string{rc.Lower})
	if err != nil {
		problems = append(problems, err.Error())
	}
	st.Problem = strings.Join(problems, "; ")
	return st
}

// WriteChanges writes the upper layer to w as a .tar.gz (see the
// package's WriteChanges): the download of what differs from the factory
// layer, before a reset.
func (r *Resetter) WriteChanges(ctx context.Context, w io.Writer) error {
	if r.cfg.Reset.Mode == config.ResetNone {
		return ErrNotConfigured
	}
	return WriteChanges(ctx, w, r.cfg.Reset.Upper)
}
