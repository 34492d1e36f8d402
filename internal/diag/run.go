package diag

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/devmgr/devmgr/internal/toolrun"
)

// Runner runs argv and calls line for every line of its combined output as
// it comes. It returns the exit code; err is for a program that could not
// run or was stopped (timeout, cancel).
type Runner interface {
	Run(ctx context.Context, argv []string, line func(string)) (exitCode int, err error)
}

// Output limits of one run: a diagnostic never holds the agent's memory.
const (
	MaxLines    = 2000
	MaxLineSize = 4096
)

// ExecRunner runs programs through toolrun.Stream (their own process
// group, LC_ALL=C, no stdin, stdout and stderr merged), passing on at most
// MaxLines lines of MaxLineSize bytes.
type ExecRunner struct{}

// ErrTruncated is returned (wrapped) when output went beyond MaxLines.
var ErrTruncated = errors.New("output truncated")

// Run implements Runner.
func (ExecRunner) Run(ctx context.Context, argv []string, line func(string)) (int, error) {
	if len(argv) == 0 {
		return -1, errors.New("running: empty argv")
	}
	path, err := toolrun.LookPath(argv[0])
	if err != nil {
		return -1, fmt.Errorf("running %q: %s is not installed: %w", argv, argv[0], err)
	}
	n := 0
	code, err := toolrun.Stream(ctx, toolrun.StreamOptions{MaxLineSize: MaxLineSize}, append([]string{path}, argv[1:]...),
		func(s string, _ bool) {
			if n < MaxLines {
				line(s)
			}
			n++
		})
	switch {
	case ctx.Err() != nil:
		return -1, fmt.Errorf("running %q: %w", argv, context.Cause(ctx))
	case err != nil:
		return -1, fmt.Errorf("running %q: %w", argv, err)
	case n > MaxLines:
		// A non-zero exit is a result (host unreachable), not an error.
		return code, fmt.Errorf("running %q: %w after %d lines", argv, ErrTruncated, MaxLines)
	}
	return code, nil
}

// Result is how a streamed diagnostic ended.
type Result struct {
	ExitCode   int   `json:"exit_code"`
	DurationMS int64 `json:"duration_ms"`
}

// PingRequest is POST /v1/diag/ping.
type PingRequest struct {
	Host  string `json:"host"`
	Count int    `json:"count,omitempty"` // 1..10; 0: DefaultCount
}

// Validate checks the request and fills in the default count.
func (r *PingRequest) Validate() error {
	if err := ValidateHost("host", r.Host); err != nil {
		return err
	}
	if r.Count == 0 {
		r.Count = DefaultCount
	}
	return CheckCount(r.Count)
}

// CheckCount refuses a ping count outside MinCount..MaxCount.
func CheckCount(n int) error {
	if n < MinCount || n > MaxCount {
		return fieldErr("count", "must be from %d to %d.", MinCount, MaxCount)
	}
	return nil
}

// Argv is the ping command line: numeric output, 2 s reply wait, and "--"
// before the validated host.
func (r PingRequest) Argv() []string {
	return []string{"ping", "-n", "-c", strconv.Itoa(r.Count), "-W", "2", "--", r.Host}
}

// Timeout bounds a ping run: one second per packet, the last reply's wait,
// and name resolution.
func (r PingRequest) Timeout() time.Duration {
	return time.Duration(r.Count)*time.Second + 10*time.Second
}

// TracerouteRequest is POST /v1/diag/traceroute.
type TracerouteRequest struct {
	Host    string `json:"host"`
	MaxHops int    `json:"max_hops,omitempty"` // 1..30; 0: DefaultMaxHops
}

// Validate checks the request and fills in the default hop limit.
func (r *TracerouteRequest) Validate() error {
	if err := ValidateHost("host", r.Host); err != nil {
		return err
	}
	if r.MaxHops == 0 {
		r.MaxHops = DefaultMaxHops
	}
	return CheckMaxHops(r.MaxHops)
}

// CheckMaxHops refuses a traceroute's hop limit outside MinHops..MaxHops.
func CheckMaxHops(n int) error {
	if n < MinHops || n > MaxHops {
		return fieldErr("max_hops", "must be from %d to %d.", MinHops, MaxHops)
	}
	return nil
}

// Argv is the traceroute command line: numeric, one probe per hop, 2 s wait.
func (r TracerouteRequest) Argv() []string {
	return []string{"traceroute", "-n", "-q", "1", "-w", "2", "-m", strconv.Itoa(r.MaxHops), "--", r.Host}
}

// Timeout bounds a traceroute run.
func (r TracerouteRequest) Timeout() time.Duration {
	return time.Duration(r.MaxHops)*2*time.Second + 10*time.Second
}

// Ping validates r and runs ping, passing each output line to line.
func Ping(ctx context.Context, run Runner, r PingRequest, line func(string)) (Result, error) {
	if err := r.Validate(); err != nil {
		return Result{}, err
	}
	return runTimed(ctx, run, r.Argv(), r.Timeout(), line)
}

// Traceroute validates r and runs traceroute, passing each output line to line.
func Traceroute(ctx context.Context, run Runner, r TracerouteRequest, line func(string)) (Result, error) {
	if err := r.Validate(); err != nil {
		return Result{}, err
	}
	return runTimed(ctx, run, r.Argv(), r.Timeout(), line)
}

func runTimed(ctx context.Context, run Runner, argv []string, d time.Duration, line func(string)) (Result, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, d, fmt.Errorf("%s took longer than %s", argv[0], d))
	defer cancel()
	start := time.Now()
	code, err := run.Run(ctx, argv, line)
	return Result{ExitCode: code, DurationMS: time.Since(start).Milliseconds()}, err
}
