package toolrun_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/devmgr/devmgr/internal/testing/testutil"
	"github.com/devmgr/devmgr/internal/toolrun"
)

// collect gathers the lines Stream passes on.
type collect struct {
	mu    sync.Mutex
	lines []string
	cut   []bool
}

func (c *collect) line(s string, cut bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lines = append(c.lines, s)
	c.cut = append(c.cut, cut)
}

func (c *collect) get() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.lines...)
}

func TestStreamLinesAndExitCode(t *testing.T) {
	t.Parallel()
	sh := testutil.RequireBinary(t, "sh")
	var c collect
	code, err := toolrun.Stream(context.Background(), toolrun.StreamOptions{}, []string{sh, "-c", `echo one; echo two >&2; echo; printf 'last'; exit 7`}, c.line)
	if err != nil || code != 7 {
		t.Fatalf("Stream = %d, %v; want 7, nil", code, err)
	}
	if diff := cmp.Diff([]string{"one", "two", "", "last"}, c.get()); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
}

func TestStreamCleanEnvironment(t *testing.T) {
	t.Parallel()
	env := testutil.RequireBinary(t, "env")
	var c collect
	if _, err := toolrun.Stream(context.Background(), toolrun.StreamOptions{}, []string{env}, c.line); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"LC_ALL=C", "PATH=" + toolrun.Path}, c.get()); diff != "" {
		t.Errorf("environment (-want +got):\n%s", diff)
	}
}

func TestStreamStdinIsEmpty(t *testing.T) {
	t.Parallel()
	sh := testutil.RequireBinary(t, "sh")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var c collect
	if _, err := toolrun.Stream(ctx, toolrun.StreamOptions{}, []string{sh, "-c", "cat; echo read to the end"}, c.line); err != nil {
		t.Fatalf("cat on stdin: %v", err)
	}
}

func TestStreamCutsLongLines(t *testing.T) {
	t.Parallel()
	sh := testutil.RequireBinary(t, "sh")
	var c collect
	script := `i=0; while [ $i -lt 300 ]; do printf 0123456789; i=$((i+1)); done; echo; echo short`
	if _, err := toolrun.Stream(context.Background(), toolrun.StreamOptions{MaxLineSize: 1000}, []string{sh, "-c", script}, c.line); err != nil {
		t.Fatal(err)
	}
	got := c.get()
	if len(got) != 2 || len(got[0]) != 1000 || got[1] != "short" || !c.cut[0] || c.cut[1] {
		t.Errorf("long line: %d lines, first %d bytes, cut %v", len(got), len(got[0]), c.cut)
	}
}

func TestStreamNotInstalled(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "vanished")
	_, err := toolrun.Stream(context.Background(), toolrun.StreamOptions{}, []string{missing}, func(string, bool) {})
	var ni *toolrun.NotInstalledError
	if !errors.As(err, &ni) || !errors.Is(err, exec.ErrNotFound) || err.Error() != missing+" is not installed" {
		t.Errorf("err = %v, want %q", err, missing+" is not installed")
	}
	notExec := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := toolrun.Stream(context.Background(), toolrun.StreamOptions{}, []string{notExec}, func(string, bool) {}); err == nil || !strings.Contains(err.Error(), "not an executable file") {
		t.Errorf("a file without x bit: %v", err)
	}
}

// pidLines runs a script that prints pids as its first lines and waits
// for n of them.
func pidLines(t *testing.T, c *collect, n int) []int {
	t.Helper()
	testutil.Eventually(t, 5*time.Second, func() bool { return len(c.get()) >= n }, "the script's first %d lines", n)
	var pids []int
	for _, s := range c.get()[:n] {
		pid, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("line %q is not a pid", s)
		}
		pids = append(pids, pid)
	}
	return pids
}

// A cancelled run ends the whole group: the shell and the sleep it left
// in the background, even one that ignores SIGTERM.
func TestStreamCancelKillsGroup(t *testing.T) {
	t.Parallel()
	sh := testutil.RequireBinary(t, "sh", "sleep")
	ctx, cancel := context.WithCancelCause(context.Background())
	var c collect
	script := `trap '' TERM; sleep 300 & echo $!; echo $$; sleep 300`
	p, err := toolrun.Start(ctx, toolrun.StreamOptions{Grace: 200 * time.Millisecond}, []string{sh, "-c", script}, c.line)
	if err != nil {
		t.Fatal(err)
	}
	pids := pidLines(t, &c, 2)
	if pids[1] != p.Pid() {
		t.Errorf("shell pid %d, Process.Pid %d", pids[1], p.Pid())
	}
	stop := errors.New("stopped by the test")
	start := time.Now()
	cancel(stop)
	code, err := p.Wait()
	if !errors.Is(err, stop) || code != -1 {
		t.Errorf("Wait = %d, %v; want -1 and the cause", code, err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("the group took %v to end", d)
	}
	for _, pid := range pids {
		testutil.Eventually(t, 5*time.Second, func() bool { return testutil.ProcessEnded(pid) }, "pid %d gone", pid)
	}
}

// When the program exits, what it left running in its group is killed,
// and Wait does not wait for it.
func TestStreamKillsLeftovers(t *testing.T) {
	t.Parallel()
	sh := testutil.RequireBinary(t, "sh", "sleep")
	var c collect
	start := time.Now()
	code, err := toolrun.Stream(context.Background(), toolrun.StreamOptions{}, []string{sh, "-c", "sleep 300 & echo $!"}, c.line)
	if err != nil || code != 0 {
		t.Fatalf("Stream = %d, %v", code, err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Stream waited %v for the background sleep", d)
	}
	pid := pidLines(t, &c, 1)[0]
	testutil.Eventually(t, 5*time.Second, func() bool { return testutil.ProcessEnded(pid) }, "background pid %d gone", pid)
}

// A process that left the group (setsid) and holds the output open does
// not keep Wait waiting past the grace.
func TestStreamEscapedProcess(t *testing.T) {
	t.Parallel()
	sh := testutil.RequireBinary(t, "sh", "setsid", "sleep")
	var c collect
	start := time.Now()
	_, err := toolrun.Stream(context.Background(), toolrun.StreamOptions{Grace: 200 * time.Millisecond}, []string{sh, "-c", "setsid sh -c 'echo $$; exec sleep 300' & sleep 0.5"}, c.line)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Stream took %v", d)
	}
	if pids := c.get(); len(pids) == 1 {
		if pid, err := strconv.Atoi(pids[0]); err == nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	} else {
		t.Errorf("lines %q, want the escaped pid", pids)
	}
}
