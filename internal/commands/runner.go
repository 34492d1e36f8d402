package commands

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/devmgr/devmgr/internal/auth"
	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/toolrun"
)

// Status is how a run stands or ended.
type Status string

// Statuses of a run.
const (
	StatusRunning     Status = "running"
	StatusOK          Status = "ok"          // exit code 0
	StatusFailed      Status = "failed"      // another exit code, a signal, or it could not start
	StatusTimeout     Status = "timeout"     // killed at the command's timeout
	StatusCanceled    Status = "canceled"    // killed on request
	StatusInterrupted Status = "interrupted" // the agent stopped while it ran
)

// Statuses lists them in the order a filter offers them.
var Statuses = []Status{StatusRunning, StatusOK, StatusFailed, StatusTimeout, StatusCanceled, StatusInterrupted}

// Record is a run: who ran what, how it went, and its output.
type Record struct {
	ID      int64
	Command string
	User    string
	Role    auth.Role
	Source  string // where the request came from: a client address, "cli"
	// Params are the values passed, defaults filled in.
	Params map[string]string
	Argv   []string
	Status Status
	// ExitCode is the program's; -1 while it runs, when a signal ended it
	// or when it never started.
	ExitCode int
	// Error says why a run did not end by itself ("timed out after 30s",
	// "canceled by alice") or could not start.
	Error      string
	Started    time.Time
	Duration   time.Duration
	Truncated  bool
	OutputSize int    // bytes of Output, newlines counted
	Output     []Line // History.List leaves it out
}

// Recorder keeps the runs: History, in production.
type Recorder interface {
	// Begin records a run that starts and returns its id.
	Begin(ctx context.Context, r Record) (int64, error)
	// Finish records how the run r.ID ended, with its output.
	Finish(ctx context.Context, r Record) error
}

// Limits of the runner.
const (
	DefaultMaxRuns        = 4
	DefaultScopeMemoryMax = 256 << 20
	// MaxLineSize cuts a longer line (the run is marked truncated).
	MaxLineSize = 16 << 10
)

// Config is what a Runner needs.
type Config struct {
	Log     *slog.Logger // required
	History Recorder     // required
	Env     Env          // for the interface parameters
	// MaxRuns is how many runs may run at once (0: DefaultMaxRuns).
	MaxRuns int
	// Grace is the time between SIGTERM and SIGKILL to a run's process
	// group at its timeout or cancel (0: toolrun.DefaultGrace).
	Grace time.Duration
	// Scope runs every command in a transient systemd scope limited to
	// ScopeMemoryMax (0: DefaultScopeMemoryMax), where systemd is PID 1;
	// elsewhere it is ignored.
	Scope          bool
	ScopeMemoryMax int64
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Request asks to run a command of the catalog.
type Request struct {
	Command config.Command // from config.Catalog, defaults filled in
	Params  map[string]string
	User    string
	Role    auth.Role
	Source  string
}

// Runner starts commands and keeps the runs that are running.
type Runner struct {
	cfg   Config
	scope bool
	base  context.Context
	stop  context.CancelCauseFunc
	wg    sync.WaitGroup

	mu     sync.Mutex
	closed bool
	runs   map[int64]*Run   // running, by id
	claims map[userCmd]*Run // every run from its claim until its process ended
}

type userCmd struct{ user, command string }

// NewRunner makes a Runner.
func NewRunner(cfg Config) (*Runner, error) {
	if cfg.Log == nil {
		return nil, errors.New("commands: a logger is required")
	}
	if cfg.History == nil {
		return nil, errors.New("commands: a history is required")
	}
	if cfg.MaxRuns <= 0 {
		cfg.MaxRuns = DefaultMaxRuns
	}
	if cfg.ScopeMemoryMax <= 0 {
		cfg.ScopeMemoryMax = DefaultScopeMemoryMax
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	r := &Runner{cfg: cfg, runs: map[int64]*Run{}, claims: map[userCmd]*Run{}}
	r.scope = cfg.Scope && toolrun.SystemdBooted()
	if cfg.Scope && !r.scope {
		cfg.Log.Info("commands run without a systemd scope: systemd is not PID 1")
	}
	r.base, r.stop = context.WithCancelCause(context.Background())
	return r, nil
}

// stopError is why a run was stopped: the cause of its context.
type stopError struct {
	status Status
	msg    string
}

func (e *stopError) Error() string { return e.msg }

// errClosed is the cause of the runs Close ends.
var errClosed = &stopError{StatusInterrupted, "the agent stopped while it ran"}

// Start checks that req.Role may run the command (ErrForbidden) and its
// parameters (a fielderr.List), claims one of MaxRuns slots (*BusyError)
// and the user's only run of this command (*AlreadyRunningError), records
// the run and starts it. A program that is not there is a
// *NotInstalledError, recorded as a failed run. ctx bounds the start only;
// the run goes on until it ends, times out or is cancelled.
func (r *Runner) Start(ctx context.Context, req Request) (*Run, error) {
	cmd := req.Command
	// A command not from config.Catalog still gets the catalog's limits.
	switch {
	case cmd.Timeout <= 0:
		cmd.Timeout = config.DefaultCommandTimeout
	case cmd.Timeout > config.MaxCommandTimeout:
		cmd.Timeout = config.MaxCommandTimeout
	}
	switch {
	case cmd.OutputLimit <= 0:
		cmd.OutputLimit = config.DefaultOutputLimit
	case cmd.OutputLimit > config.MaxOutputLimit:
		cmd.OutputLimit = config.MaxOutputLimit
	}
	if !Allowed(cmd, req.Role) {
		return nil, fmt.Errorf("%w: role %q may not run %s", ErrForbidden, req.Role, cmd.ID)
	}
	argv, values, err := resolve(cmd, req.Params, r.cfg.Env)
	if err != nil {
		return nil, err
	}
	run := &Run{
		out:  newOutput(int(cmd.OutputLimit)),
		done: make(chan struct{}),
		key:  userCmd{req.User, cmd.ID},
		rec: Record{
			Command: cmd.ID, User: req.User, Role: req.Role, Source: req.Source,
			Params: values, Argv: argv, Status: StatusRunning, ExitCode: -1, Started: r.cfg.Now(),
		},
	}
	if err := r.claim(run); err != nil {
		return nil, err
	}
	id, err := r.cfg.History.Begin(ctx, run.rec)
	if err != nil {
		r.release(run)
		return nil, fmt.Errorf("recording a run of %s: %w", cmd.ID, err)
	}
	run.mu.Lock() // claim made the run visible to other Starts
	run.rec.ID = id
	run.mu.Unlock()

	runCtx, cancel := context.WithCancelCause(r.base)
	runCtx, cancelTimeout := context.WithTimeoutCause(runCtx, cmd.Timeout,
		&stopError{StatusTimeout, fmt.Sprintf("timed out after %s", cmd.Timeout)})
	run.cancel = cancel
	opts := toolrun.StreamOptions{Grace: r.cfg.Grace, MaxLineSize: MaxLineSize}
	if r.scope {
		opts.Scope = &toolrun.Scope{Unit: fmt.Sprintf("devmgr-command-%d", id), MemoryMax: r.cfg.ScopeMemoryMax}
	}
	p, err := toolrun.Start(runCtx, opts, argv, func(text string, cut bool) { run.out.add(r.cfg.Now(), text, cut) })
	if err != nil {
		cancelTimeout()
		cancel(nil)
		r.unclaim(run)
		run.finish(-1, StatusFailed, err.Error(), r.cfg.Now())
		r.record(run)
		r.release(run)
		return nil, err
	}
	r.mu.Lock()
	r.runs[id] = run
	r.mu.Unlock()
	r.cfg.Log.Info("command started", "run", id, "command", cmd.ID, "user", req.User, "role", req.Role, "source", req.Source, "pid", p.Pid())
	go func() {
		defer cancelTimeout()
		code, err := p.Wait()
		status, msg := StatusOK, ""
		var se *stopError
		switch {
		case errors.As(err, &se):
			status, msg = se.status, se.msg
		case err != nil:
			status, msg = StatusFailed, err.Error()
		case code != 0:
			status = StatusFailed
		}
		// Its followers are told it ended (finish): the user may start
		// it again from then on.
		r.unclaim(run)
		run.finish(code, status, msg, r.cfg.Now())
		r.record(run)
		r.release(run)
	}()
	return run, nil
}

func (r *Runner) claim(run *Run) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.closed:
		return errors.New("the agent is stopping; no command starts now")
	case r.claims[run.key] != nil: // the more useful answer: it names the run to follow
		return &AlreadyRunningError{Command: run.key.command, RunID: r.claims[run.key].ID()}
	case len(r.claims) >= r.cfg.MaxRuns:
		return &BusyError{Max: r.cfg.MaxRuns}
	}
	r.claims[run.key] = run
	r.wg.Add(1) // Close waits for every claimed run, also one still starting
	return nil
}

// unclaim frees the run's slot and the user's claim on its command: its
// process has ended, or never started.
func (r *Runner) unclaim(run *Run) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.claims[run.key] == run {
		delete(r.claims, run.key)
	}
}

// release forgets the run once its record is final, so a reader that
// misses it here finds it in the history (and frees its claim, if still
// held).
func (r *Runner) release(run *Run) {
	r.unclaim(run)
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.runs, run.ID())
	close(run.done)
	r.wg.Done()
}

func (r *Runner) record(run *Run) {
	rec := run.Record()
	// The run has ended whatever the caller's context: its record must
	// be written.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.cfg.History.Finish(ctx, rec); err != nil {
		r.cfg.Log.Error("recording the end of a command", "run", rec.ID, "command", rec.Command, "err", err)
	}
	r.cfg.Log.Info("command ended", "run", rec.ID, "command", rec.Command, "user", rec.User, "status", rec.Status,
		"exit_code", rec.ExitCode, "duration", rec.Duration, "truncated", rec.Truncated, "error", rec.Error)
}

// Get returns the run id while it runs; a run that has ended is in the
// history.
func (r *Runner) Get(id int64) (*Run, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	run, ok := r.runs[id]
	return run, ok
}

// Close stops every run (recorded as interrupted), waits for their
// records and refuses new runs.
func (r *Runner) Close() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.stop(errClosed)
	r.wg.Wait()
}

// Run is a run of a command. Its methods are safe for concurrent use.
type Run struct {
	out    *output
	done   chan struct{}
	key    userCmd
	cancel context.CancelCauseFunc

	mu  sync.Mutex
	rec Record
}

// ID is the run's id in the history.
func (r *Run) ID() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rec.ID
}

// Record is the run as it stands, with the output so far.
func (r *Run) Record() Record {
	r.mu.Lock()
	rec := r.rec
	r.mu.Unlock()
	lines, size, truncated := r.out.snapshot()
	rec.Output, rec.OutputSize, rec.Truncated = lines, size, truncated
	return rec
}

// Lines returns the lines after seq (0: from the first), whether the run
// has ended and those are all, and a channel closed when there is more to
// read (at once when the run has ended).
// Many readers may follow one run, each from where it is: an SSE stream
// resumes from Last-Event-ID.
func (r *Run) Lines(after int64) (lines []Line, ended bool, more <-chan struct{}) {
	return r.out.since(after)
}

// Cancel stops the run: its process group gets SIGTERM, then SIGKILL
// after the grace. by names who cancelled it, for the record.
func (r *Run) Cancel(by string) {
	r.cancel(&stopError{StatusCanceled, "canceled by " + by})
}

// Done is closed once the run has ended and its record is final.
func (r *Run) Done() <-chan struct{} { return r.done }

// Wait waits for the run to end (or ctx) and returns its record.
func (r *Run) Wait(ctx context.Context) (Record, error) {
	select {
	case <-r.done:
		return r.Record(), nil
	case <-ctx.Done():
		return Record{}, context.Cause(ctx)
	}
}

// finish sets how the run ended and wakes its readers.
func (r *Run) finish(code int, status Status, msg string, now time.Time) {
	r.mu.Lock()
	r.rec.ExitCode, r.rec.Status, r.rec.Error = code, status, msg
	r.rec.Duration = now.Sub(r.rec.Started)
	r.mu.Unlock()
	r.out.end()
}
