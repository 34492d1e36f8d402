package toolrun

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Path is the PATH of every program run here.
const Path = "/usr/sbin:/usr/bin:/sbin:/bin"

// env is the whole environment of a program run here: the C locale, a
// fixed PATH and extra, nothing inherited from devmgr.
func env(extra ...string) []string {
	return append([]string{"LC_ALL=C", "PATH=" + Path}, extra...)
}

// Defaults of StreamOptions.
const (
	DefaultGrace       = 2 * time.Second
	DefaultMaxLineSize = 16 << 10
)

// SystemdRun is the program that puts a run in a transient scope.
const SystemdRun = "/usr/bin/systemd-run"

// StreamOptions says how Start runs a program whose output is read line by
// line.
type StreamOptions struct {
	// Grace is how long the program's process group has between SIGTERM
	// and SIGKILL once ctx ends (0: DefaultGrace).
	Grace time.Duration
	// MaxLineSize cuts longer lines: the rest of such a line is dropped
	// and the line is passed on with cut set (0: DefaultMaxLineSize).
	MaxLineSize int
	// Scope, when set, runs the program in a transient systemd scope
	// (systemd-run --scope) with a memory limit. Only where systemd is
	// PID 1 (SystemdBooted); elsewhere systemd-run fails.
	Scope *Scope
}

// Scope is a transient systemd scope for one run.
type Scope struct {
	Unit      string // unit name without .scope, e.g. devmgr-run-42
	MemoryMax int64  // bytes; 0 is no limit
}

// argv is the systemd-run command line that runs argv in s.
func (s Scope) argv(argv []string) []string {
	out := []string{SystemdRun, "--scope", "--quiet", "--collect", "--unit=" + s.Unit}
	if s.MemoryMax > 0 {
		out = append(out, "--property=MemoryMax="+strconv.FormatInt(s.MemoryMax, 10))
	}
	return append(append(out, "--"), argv...)
}

// SystemdBooted reports whether systemd is PID 1 here (sd_booted(3)).
func SystemdBooted() bool {
	st, err := os.Lstat("/run/systemd/system")
	return err == nil && st.IsDir()
}

// NotInstalledError is a program that is not there (or no longer).
type NotInstalledError struct{ Path string }

func (e *NotInstalledError) Error() string { return e.Path + " is not installed" }

// Unwrap makes errors.Is(err, exec.ErrNotFound) true.
func (e *NotInstalledError) Unwrap() error { return exec.ErrNotFound }

// Process is a program started by Start.
type Process struct {
	argv     []string
	cmd      *exec.Cmd
	out      *os.File // read end of the output pipe
	grace    time.Duration
	ctx      context.Context
	exited   chan struct{} // the program has exited (not yet reaped)
	stopped  bool          // ctx ended the run
	readDone chan struct{}
	waited   chan struct{}
	code     int
	err      error
}

// Start runs argv (argv[0] an absolute path; never a shell) in a process
// group of its own, with stdin /dev/null, LC_ALL=C and PATH=Path as its
// whole environment, and
// stdout and stderr merged into one pipe. line is called for every line
// of output, in order, from one goroutine, as the program writes it; a
// last line without a newline is passed on too.
//
// When ctx ends, the whole group gets SIGTERM and, after the grace,
// SIGKILL. When the program exits, whatever is left of its group is
// killed as well, so nothing it started in the background outlives the
// run or holds its output open. A program that is not there is a
// *NotInstalledError.
func Start(ctx context.Context, opts StreamOptions, argv []string, line func(text string, cut bool)) (*Process, error) {
	if len(argv) == 0 || argv[0] == "" {
		return nil, errors.New("running: empty argv")
	}
	st, err := os.Stat(argv[0])
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, &NotInstalledError{Path: argv[0]}
	case err != nil:
		return nil, fmt.Errorf("running %s: %w", argv[0], err)
	case !st.Mode().IsRegular() || st.Mode()&0o111 == 0:
		return nil, fmt.Errorf("running %s: it is not an executable file (%s)", argv[0], st.Mode())
	}
	run := argv
	if opts.Scope != nil {
		run = opts.Scope.argv(argv)
	}
	p := &Process{
		argv:     argv,
		grace:    opts.Grace,
		ctx:      ctx,
		exited:   make(chan struct{}),
		readDone: make(chan struct{}),
		waited:   make(chan struct{}),
		code:     -1,
	}
	if p.grace <= 0 {
		p.grace = DefaultGrace
	}
	maxLine := opts.MaxLineSize
	if maxLine <= 0 {
		maxLine = DefaultMaxLineSize
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("running %s: %w", argv[0], err)
	}
	p.out = pr
	p.cmd = &exec.Cmd{
		Path:        run[0],
		Args:        run,
		Env:         env(),
		Stdout:      pw,
		Stderr:      pw,
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true},
	}
	if err := p.cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &NotInstalledError{Path: run[0]}
		}
		return nil, fmt.Errorf("running %s: %w", argv[0], err)
	}
	pw.Close()
	go func() {
		defer close(p.readDone)
		readLines(pr, maxLine, line)
	}()
	go p.awaitExit()
	go p.supervise()
	return p, nil
}

// Pid is the program's process id, which is also its process group's.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Wait waits for the program and its output to end. exitCode is the
// program's status (-1 when a signal ended it); a non-zero status is a
// result, not an error. err is set when ctx ended the run (it wraps
// context.Cause) or a signal did.
func (p *Process) Wait() (exitCode int, err error) {
	<-p.waited
	<-p.readDone
	return p.code, p.err
}

// awaitExit closes p.exited once the program has exited, leaving it
// unreaped: while it is a zombie its pid, which is the group's id, cannot
// be taken by another process, so killing the group stays safe.
func (p *Process) awaitExit() {
	defer close(p.exited)
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, p.Pid(), &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err != unix.EINTR {
			return
		}
	}
}

func (p *Process) supervise() {
	defer close(p.waited)
	pgid := p.Pid()
	select {
	case <-p.exited:
	case <-p.ctx.Done():
		p.stopped = true
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		t := time.NewTimer(p.grace)
		select {
		case <-p.exited:
		case <-t.C:
		}
		t.Stop()
	}
	// Whatever is left of the group: background children, or everything
	// once the grace is over.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	<-p.exited
	werr := p.cmd.Wait()
	// A process that left the group (setsid) may still hold the pipe.
	t := time.NewTimer(p.grace)
	select {
	case <-p.readDone:
	case <-t.C:
		p.out.Close()
	}
	t.Stop()
	<-p.readDone
	p.out.Close()

	p.code = p.cmd.ProcessState.ExitCode()
	var ee *exec.ExitError
	switch {
	case p.stopped:
		p.err = fmt.Errorf("running %s: %w", p.argv[0], context.Cause(p.ctx))
	case errors.As(werr, &ee) && p.code == -1:
		p.err = fmt.Errorf("running %s: %s", p.argv[0], p.cmd.ProcessState)
	case werr != nil && !errors.As(werr, &ee):
		p.err = fmt.Errorf("running %s: %w", p.argv[0], werr)
	}
}

// Stream is Start and Wait in one: it runs argv and returns once the
// program and its output have ended.
func Stream(ctx context.Context, opts StreamOptions, argv []string, line func(text string, cut bool)) (exitCode int, err error) {
	p, err := Start(ctx, opts, argv, line)
	if err != nil {
		return -1, err
	}
	return p.Wait()
}

// readLines passes each line of r to line, cutting lines longer than max
// and dropping their rest.
func readLines(r io.Reader, max int, line func(string, bool)) {
	br := bufio.NewReaderSize(r, max)
	for {
		b, isPrefix, err := br.ReadLine()
		if len(b) > 0 || err == nil {
			s := string(b)
			cut := isPrefix
			for isPrefix {
				_, isPrefix, err = br.ReadLine()
				if err != nil {
					break
				}
			}
			line(s, cut)
		}
		if err != nil {
			return
		}
	}
}
