package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"os/user"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Spec says how the supervisor runs one service.
type Spec struct {
	Name string
	// Argv is the program and its arguments; the program is an absolute path.
	Argv []string
	// Env is added to a minimal environment (LC_ALL=C and PATH).
	Env []string
	// User, if set, is the account the service runs as (with that
	// account's primary group). Needs the supervisor to run as root.
	User string
	// AmbientCaps are capabilities (e.g. CAP_NET_BIND_SERVICE = 10) kept
	// across the switch to User.
	AmbientCaps []uintptr
	// Once runs the service a single time, as systemd's Restart=no: a
	// child that exits is not restarted, and the channel of Exited is
	// closed.
	Once bool
	// Output, if set, also receives every line the service writes to
	// stdout and stderr, each with its newline.
	Output io.Writer
}

// CapNetBindService is CAP_NET_BIND_SERVICE.
const CapNetBindService = 10

// SupervisorConfig tunes a Supervisor; zero values take the defaults.
type SupervisorConfig struct {
	Log *slog.Logger
	// Lines of output kept per service (default 50).
	Lines int
	// MinBackoff and MaxBackoff bound the wait before restarting a child
	// that exited (default 200ms and 10s); the wait doubles per crash.
	MinBackoff, MaxBackoff time.Duration
	// StableAfter is how long a run must last to reset the backoff
	// (default 10s).
	StableAfter time.Duration
	// StopTimeout is how long Stop waits after SIGTERM before SIGKILL
	// (default 5s).
	StopTimeout time.Duration
}

// Supervisor is a Manager that runs services as its child processes and
// restarts a child that exits with exponential backoff. Children get
// SIGKILL if the supervisor's process dies.
type Supervisor struct {
	cfg   SupervisorConfig
	mu    sync.Mutex
	procs map[string]*proc
	order []string
}

type proc struct {
	spec Spec
	out  *ring

	// guarded by Supervisor.mu
	run      *run // nil when not started
	restarts int
	lastExit string
	pid      int
	since    time.Time
	waiting  bool // in backoff between runs
}

// run is one Start..Stop lifetime of a service (many child processes).
type run struct {
	stop chan struct{} // closed by Stop
	done chan struct{} // closed when the loop has ended
	cmd  *exec.Cmd     // current child, guarded by Supervisor.mu
}

// NewSupervisor returns a supervisor that knows specs; it starts nothing.
func NewSupervisor(cfg SupervisorConfig, specs ...Spec) (*Supervisor, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Lines == 0 {
		cfg.Lines = 50
	}
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff = 200 * time.Millisecond
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 10 * time.Second
	}
	if cfg.StableAfter == 0 {
		cfg.StableAfter = 10 * time.Second
	}
	if cfg.StopTimeout == 0 {
		cfg.StopTimeout = 5 * time.Second
	}
	s := &Supervisor{cfg: cfg, procs: map[string]*proc{}}
	for _, sp := range specs {
		if err := s.Add(sp); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Add registers a service, or replaces the spec of a stopped one; a
// running service keeps its old spec until it is restarted.
func (s *Supervisor) Add(sp Spec) error {
	if sp.Name == "" || len(sp.Argv) == 0 {
		return fmt.Errorf("adding service %q: a name and argv are required", sp.Name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.procs[sp.Name]; ok {
		p.spec = sp
		return nil
	}
	name := sp.Name
	log := s.cfg.Log
	p := &proc{spec: sp}
	p.out = newRing(s.cfg.Lines, func(l string) {
		log.Debug("service output", "service", name, "line", l)
		s.mu.Lock()
		w := p.spec.Output
		s.mu.Unlock()
		if w != nil {
			_, _ = io.WriteString(w, l+"\n")
		}
	})
	s.procs[name] = p
	s.order = append(s.order, name)
	return nil
}

// Names returns the registered services in the order they were added.
func (s *Supervisor) Names() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.order...)
}

func (s *Supervisor) get(name string) (*proc, error) {
	p, ok := s.procs[name]
	if !ok {
		return nil, &ErrUnknown{Name: name}
	}
	return p, nil
}

// Start starts the service unless it is already started. It returns once
// the first child has been started (or failed to start: the supervisor
// then keeps retrying, as after a crash).
func (s *Supervisor) Start(ctx context.Context, name string) error {
	s.mu.Lock()
	p, err := s.get(name)
	if err != nil {
		s.mu.Unlock()
		return fmt.Errorf("starting service: %w", err)
	}
	if p.run != nil {
		s.mu.Unlock()
		return nil
	}
	r := &run{stop: make(chan struct{}), done: make(chan struct{})}
	p.run = r
	p.restarts = 0
	first := make(chan error, 1)
	s.mu.Unlock()
	go s.loop(p, r, first)
	select {
	case err := <-first:
		if err != nil {
			return fmt.Errorf("starting service %s: %w", name, err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// loop runs the children of one run until Stop.
func (s *Supervisor) loop(p *proc, r *run, first chan<- error) {
	defer close(r.done)
	backoff := s.cfg.MinBackoff
	log := s.cfg.Log.With("service", p.spec.Name)
	for n := 0; ; n++ {
		cmd, err := s.command(p)
		if err == nil {
			err = cmd.Start()
		}
		started := time.Now()
		s.mu.Lock()
		if err == nil {
			r.cmd = cmd
			p.pid, p.since, p.waiting = cmd.Process.Pid, started, false
			select {
			case <-r.stop: // Stop came while the child was starting
				signalGroup(cmd, syscall.SIGTERM)
			default:
			}
		}
		s.mu.Unlock()
		if n == 0 {
			first <- err
		}
		var exit string
		if err != nil {
			exit = err.Error()
			log.Warn("service did not start", "err", err)
		} else {
			log.Info("service started", "pid", cmd.Process.Pid)
			werr := cmd.Wait()
			exit = exitString(werr)
			p.out.endLine()
		}
		s.mu.Lock()
		r.cmd = nil
		p.pid, p.since, p.lastExit = 0, time.Time{}, exit
		select {
		case <-r.stop:
			s.mu.Unlock()
			log.Info("service stopped", "exit", exit)
			return
		default:
		}
		if p.spec.Once {
			if p.run == r {
				p.run = nil
			}
			s.mu.Unlock()
			log.Warn("service exited", "exit", exit)
			return
		}
		if err == nil && time.Since(started) >= s.cfg.StableAfter {
			backoff = s.cfg.MinBackoff
		}
		p.restarts++
		p.waiting = true
		s.mu.Unlock()
		log.Warn("service exited; restarting", "exit", exit, "in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-r.stop:
			t.Stop()
			s.mu.Lock()
			p.waiting = false
			s.mu.Unlock()
			return
		}
		backoff = min(backoff*2, s.cfg.MaxBackoff)
	}
}

func (s *Supervisor) command(p *proc) (*exec.Cmd, error) {
	sp := p.spec
	cmd := exec.Command(sp.Argv[0], sp.Argv[1:]...)
	cmd.Env = append([]string{"LC_ALL=C", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}, sp.Env...)
	cmd.Stdout, cmd.Stderr = p.out, p.out
	// A grandchild that keeps the output pipe open must not keep Wait
	// from returning once the child itself has exited.
	cmd.WaitDelay = time.Second
	// Own process group: a terminal's Ctrl-C reaches the supervisor only,
	// which stops the children in order.
	attr := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if sp.User != "" {
		cred, err := UserCredential(sp.User)
		if err != nil {
			return nil, err
		}
		attr.Credential = cred
		attr.AmbientCaps = sp.AmbientCaps
	}
	cmd.SysProcAttr = attr
	return cmd, nil
}

// UserCredential is the account called name with its primary group and
// its supplementary groups, as systemd's User= (and setpriv
// --init-groups) gives them.
func UserCredential(name string) (*syscall.Credential, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("looking up user %s: %w", name, err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("user %s: %w", name, err)
	}
	c := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{uint32(gid)}}
	gids, err := u.GroupIds()
	if err != nil {
		return nil, fmt.Errorf("listing groups of %s: %w", name, err)
	}
	for _, g := range gids {
		if n, err := strconv.ParseUint(g, 10, 32); err == nil && !slices.Contains(c.Groups, uint32(n)) {
			c.Groups = append(c.Groups, uint32(n))
		}
	}
	return c, nil
}

// signalGroup signals the child's process group (the child leads it), so
// that whatever it started goes too.
func signalGroup(cmd *exec.Cmd, sig syscall.Signal) {
	if err := syscall.Kill(-cmd.Process.Pid, sig); err != nil {
		_ = cmd.Process.Signal(sig)
	}
}

func exitString(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// Stop stops the service: SIGTERM, then SIGKILL after StopTimeout. A
// stopped service is not restarted.
func (s *Supervisor) Stop(ctx context.Context, name string) error {
	s.mu.Lock()
	p, err := s.get(name)
	if err != nil {
		s.mu.Unlock()
		return fmt.Errorf("stopping service: %w", err)
	}
	r := p.run
	if r == nil {
		s.mu.Unlock()
		return nil
	}
	close(r.stop)
	if r.cmd != nil {
		signalGroup(r.cmd, syscall.SIGTERM)
	}
	s.mu.Unlock()

	t := time.NewTimer(s.cfg.StopTimeout)
	defer t.Stop()
	select {
	case <-r.done:
	case <-t.C:
		s.mu.Lock()
		if r.cmd != nil {
			s.cfg.Log.Warn("service ignored SIGTERM; killing it", "service", name, "pid", r.cmd.Process.Pid)
			signalGroup(r.cmd, syscall.SIGKILL)
		}
		s.mu.Unlock()
		select {
		case <-r.done:
		case <-ctx.Done():
			return fmt.Errorf("stopping service %s: %w", name, ctx.Err())
		}
	case <-ctx.Done():
		return fmt.Errorf("stopping service %s: %w", name, ctx.Err())
	}
	s.mu.Lock()
	if p.run == r {
		p.run = nil
	}
	s.mu.Unlock()
	return nil
}

// Exited returns a channel that is closed when the service's current run
// has ended: after Stop, or, for a Once service, when its child exited
// (Status then tells how). It is nil when the service is not started.
func (s *Supervisor) Exited(name string) (<-chan struct{}, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.get(name)
	if err != nil {
		return nil, fmt.Errorf("watching service: %w", err)
	}
	if p.run == nil {
		return nil, nil
	}
	return p.run.done, nil
}

// Restart stops the service if it runs and starts it again.
func (s *Supervisor) Restart(ctx context.Context, name string) error {
	if err := s.Stop(ctx, name); err != nil {
		return err
	}
	return s.Start(ctx, name)
}

// Enable only checks the name: the supervisor has no boot to enable for.
func (s *Supervisor) Enable(_ context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.get(name); err != nil {
		return fmt.Errorf("enabling service: %w", err)
	}
	return nil
}

// Status reports the service's state, pid, restarts since Start, how the
// last child ended and its latest output.
func (s *Supervisor) Status(_ context.Context, name string) (Status, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.get(name)
	if err != nil {
		return Status{}, fmt.Errorf("reading service status: %w", err)
	}
	st := Status{Name: name, Enabled: true, Restarts: p.restarts, LastExit: p.lastExit, Output: p.out.Lines()}
	switch {
	case p.run == nil:
		st.State = StateStopped
	case p.pid != 0:
		st.State, st.PID, st.Since = StateRunning, p.pid, p.since
	default:
		st.State = StateStarting
	}
	return st, nil
}

// StopAll stops every started service, the last added first.
func (s *Supervisor) StopAll(ctx context.Context) error {
	var errs []error
	names := s.Names()
	for i := len(names) - 1; i >= 0; i-- {
		errs = append(errs, s.Stop(ctx, names[i]))
	}
	return errors.Join(errs...)
}

var _ Manager = (*Supervisor)(nil)
var _ Manager = (*Systemd)(nil)

// New returns the manager of kind k; specs are what a supervisor runs.
func New(k Kind, cfg SupervisorConfig, specs ...Spec) (Manager, error) {
	switch k {
	case KindSystemd:
		return &Systemd{}, nil
	case KindSupervisor:
		return NewSupervisor(cfg, specs...)
	}
	return nil, fmt.Errorf("unknown service manager %q (systemd or supervisor)", k)
}
