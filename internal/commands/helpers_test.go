package commands

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/devmgr/devmgr/internal/auth"
	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/testing/testutil"
)

// newHistory opens a history in a fresh directory.
func newHistory(t *testing.T, ret Retention) (*History, string) {
	t.Helper()
	dir := t.TempDir()
	h, err := OpenHistory(context.Background(), dir, ret)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h, dir
}

// newRunner makes a runner with a real history; cfg's Log and History are
// filled in when unset.
func newRunner(t *testing.T, cfg Config) (*Runner, *History) {
	t.Helper()
	h, _ := newHistory(t, Retention{KeepRuns: 1000, MaxBytes: 1 << 30})
	if cfg.History == nil {
		cfg.History = h
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Grace == 0 {
		cfg.Grace = 200 * time.Millisecond
	}
	r, err := NewRunner(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r, h
}

// command is a catalog entry for operators with the catalog's defaults.
func command(id string, argv ...string) config.Command {
	return config.Command{ID: id, Title: id, Argv: argv, Roles: []auth.Role{auth.Operator, auth.Admin},
		Timeout: config.DefaultCommandTimeout, OutputLimit: config.DefaultOutputLimit}
}

func start(t *testing.T, r *Runner, cmd config.Command, user string) *Run {
	t.Helper()
	run, err := r.Start(context.Background(), Request{Command: cmd, User: user, Role: auth.Operator, Source: "test"})
	if err != nil {
		t.Fatalf("starting %s for %s: %v", cmd.ID, user, err)
	}
	return run
}

func wait(t *testing.T, run *Run) Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rec, err := run.Wait(ctx)
	if err != nil {
		t.Fatalf("run %d did not end: %v", run.ID(), err)
	}
	return rec
}

func texts(lines []Line) []string {
	out := []string{}
	for _, l := range lines {
		out = append(out, l.Text)
	}
	return out
}

// pids waits for a run's first n lines, each a pid.
func pids(t *testing.T, run *Run, n int) []int {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, func() bool { return len(run.Record().Output) >= n }, "%d lines of pids", n)
	var out []int
	for _, l := range run.Record().Output[:n] {
		pid, err := strconv.Atoi(l.Text)
		if err != nil {
			t.Fatalf("line %q is not a pid", l.Text)
		}
		out = append(out, pid)
	}
	return out
}
