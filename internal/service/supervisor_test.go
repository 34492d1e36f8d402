package service

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/devmgr/devmgr/internal/testing/testutil"
)

func newTestSupervisor(t *testing.T, specs ...Spec) *Supervisor {
	t.Helper()
	s, err := NewSupervisor(SupervisorConfig{MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, StableAfter: time.Hour, StopTimeout: time.Second}, specs...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.StopAll(ctx); err != nil {
			t.Errorf("StopAll: %v", err)
		}
	})
	return s
}

// waitFor polls Status until ok accepts it or 10s pass.
func waitFor(t *testing.T, s Manager, name, what string, ok func(Status) bool) Status {
	t.Helper()
	var st Status
	testutil.Eventually(t, 10*time.Second, func() bool {
		var err error
		if st, err = s.Status(context.Background(), name); err != nil {
			t.Fatal(err)
		}
		return ok(st)
	}, func() string { return fmt.Sprintf("%s: waiting for %s; last status %+v", name, what, st) })
	return st
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

func TestSupervisorStartStop(t *testing.T) {
	sh := testutil.RequireBinary(t, "sh")
	s := newTestSupervisor(t, Spec{Name: "sleeper", Argv: []string{sh, "-c", "echo hello; echo oops >&2; exec sleep 60"}})
	ctx := context.Background()
	if err := s.Start(ctx, "sleeper"); err != nil {
		t.Fatal(err)
	}
	st := waitFor(t, s, "sleeper", "both output lines", func(st Status) bool { return len(st.Output) == 2 })
	if !st.Running() || st.PID == 0 || st.Restarts != 0 {
		t.Errorf("status = %+v, want running with a pid and no restarts", st)
	}
	if got := strings.Join(st.Output, "|"); got != "hello|oops" && got != "oops|hello" {
		t.Errorf("output = %q", got)
	}
	// Starting again is a no-op.
	if err := s.Start(ctx, "sleeper"); err != nil {
		t.Fatal(err)
	}
	if st2, _ := s.Status(ctx, "sleeper"); st2.PID != st.PID {
		t.Errorf("second Start replaced pid %d with %d", st.PID, st2.PID)
	}
	if err := s.Stop(ctx, "sleeper"); err != nil {
		t.Fatal(err)
	}
	st3, _ := s.Status(ctx, "sleeper")
	if st3.State != StateStopped || st3.LastExit != "signal: terminated" {
		t.Errorf("after Stop status = %+v, want stopped by SIGTERM", st3)
	}
	if alive(st.PID) {
		t.Errorf("pid %d still alive after Stop", st.PID)
	}
}

func TestSupervisorRestartsCrashingChildWithBackoff(t *testing.T) {
	sh := testutil.RequireBinary(t, "sh")
	s := newTestSupervisor(t, Spec{Name: "crasher", Argv: []string{sh, "-c", "echo 'Could not set channel for kernel driver'; exit 1"}})
	start := time.Now()
	if err := s.Start(context.Background(), "crasher"); err != nil {
		t.Fatal(err)
	}
	st := waitFor(t, s, "crasher", "4 restarts", func(st Status) bool { return st.Restarts >= 4 })
	// Waits of 20+40+80ms at least come before the 4th restart.
	if d := time.Since(start); d < 140*time.Millisecond {
		t.Errorf("4 restarts took %v: no backoff", d)
	}
	if st.LastExit != "exit status 1" {
		t.Errorf("last exit = %q", st.LastExit)
	}
	if len(st.Output) == 0 || st.Output[len(st.Output)-1] != "Could not set channel for kernel driver" {
		t.Errorf("output = %q", st.Output)
	}
}

func TestSupervisorBackoffIsCapped(t *testing.T) {
	sh := testutil.RequireBinary(t, "sh")
	s := newTestSupervisor(t, Spec{Name: "crasher", Argv: []string{sh, "-c", "exit 3"}})
	if err := s.Start(context.Background(), "crasher"); err != nil {
		t.Fatal(err)
	}
	// 20, 40, 80, 160, then 200ms each: 10 restarts in well under 3s.
	waitFor(t, s, "crasher", "10 restarts", func(st Status) bool { return st.Restarts >= 10 })
}

func TestSupervisorRestartsKilledChild(t *testing.T) {
	sleep := testutil.RequireBinary(t, "sleep")
	s := newTestSupervisor(t, Spec{Name: "victim", Argv: []string{sleep, "60"}})
	if err := s.Start(context.Background(), "victim"); err != nil {
		t.Fatal(err)
	}
	first := waitFor(t, s, "victim", "running", Status.Running)
	if err := syscall.Kill(first.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	st := waitFor(t, s, "victim", "a new child", func(st Status) bool { return st.Running() && st.PID != first.PID })
	if st.Restarts != 1 || st.LastExit != "signal: killed" {
		t.Errorf("status = %+v, want 1 restart after signal: killed", st)
	}
}

func TestSupervisorStopKillsChildIgnoringTERM(t *testing.T) {
	sh := testutil.RequireBinary(t, "sh")
	s := newTestSupervisor(t, Spec{Name: "stubborn", Argv: []string{sh, "-c", "trap '' TERM; echo ready; while :; do sleep 0.05; done"}})
	if err := s.Start(context.Background(), "stubborn"); err != nil {
		t.Fatal(err)
	}
	st := waitFor(t, s, "stubborn", "ready", func(st Status) bool { return len(st.Output) > 0 })
	start := time.Now()
	if err := s.Stop(context.Background(), "stubborn"); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Errorf("Stop returned after %v, before the 1s SIGTERM timeout", d)
	}
	after, _ := s.Status(context.Background(), "stubborn")
	if after.LastExit != "signal: killed" || alive(st.PID) {
		t.Errorf("status after Stop = %+v (pid alive: %v), want killed", after, alive(st.PID))
	}
}

func TestSupervisorRestartAndUnknown(t *testing.T) {
	sleep := testutil.RequireBinary(t, "sleep")
	s := newTestSupervisor(t, Spec{Name: "a", Argv: []string{sleep, "60"}})
	ctx := context.Background()
	if err := s.Start(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	before := waitFor(t, s, "a", "running", Status.Running)
	if err := s.Restart(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	after := waitFor(t, s, "a", "running", Status.Running)
	if after.PID == before.PID {
		t.Errorf("Restart kept pid %d", before.PID)
	}
	var eu *ErrUnknown
	if err := s.Start(ctx, "nope"); !errors.As(err, &eu) {
		t.Errorf("Start(nope) = %v, want ErrUnknown", err)
	}
	if _, err := s.Status(ctx, "nope"); !errors.As(err, &eu) {
		t.Errorf("Status(nope) = %v, want ErrUnknown", err)
	}
}

func TestSupervisorMissingProgramKeepsRetrying(t *testing.T) {
	s := newTestSupervisor(t, Spec{Name: "ghost", Argv: []string{"/nonexistent/hostapd"}})
	err := s.Start(context.Background(), "ghost")
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Start = %v, want a not-exist error", err)
	}
	waitFor(t, s, "ghost", "retries", func(st Status) bool { return st.Restarts >= 2 && st.State == StateStarting })
}

func TestSupervisorRunsAsUser(t *testing.T) {
	testutil.RequireRoot(t)
	id := testutil.RequireBinary(t, "id")
	s := newTestSupervisor(t, Spec{Name: "nobody", Argv: []string{id, "-un"}, User: "nobody", AmbientCaps: []uintptr{CapNetBindService}})
	if err := s.Start(context.Background(), "nobody"); err != nil {
		t.Fatal(err)
	}
	st := waitFor(t, s, "nobody", "output", func(st Status) bool { return len(st.Output) > 0 })
	if st.Output[0] != "nobody" {
		t.Errorf("ran as %q, want nobody", st.Output[0])
	}
}

// Stop ends the child's own children too (its process group).
func TestSupervisorStopEndsGrandchildren(t *testing.T) {
	sh := testutil.RequireBinary(t, "sh")
	s := newTestSupervisor(t, Spec{Name: "parent", Argv: []string{sh, "-c", "sleep 60 & echo $!; wait"}})
	if err := s.Start(context.Background(), "parent"); err != nil {
		t.Fatal(err)
	}
	st := waitFor(t, s, "parent", "grandchild pid", func(st Status) bool { return len(st.Output) > 0 })
	var grandchild int
	if _, err := fmt.Sscan(st.Output[0], &grandchild); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := s.Stop(context.Background(), "parent"); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 900*time.Millisecond {
		t.Errorf("Stop took %v", d)
	}
	testutil.Eventually(t, 2*time.Second, func() bool { return !alive(grandchild) }, "grandchild %d to end after Stop", grandchild)
}

// A Once service is not restarted: Exited is closed, Status tells how it
// ended, and Output got every line, the unfinished last one too.
func TestSupervisorOnce(t *testing.T) {
	sh := testutil.RequireBinary(t, "sh")
	var out lockedBuffer
	s := newTestSupervisor(t, Spec{Name: "once", Argv: []string{sh, "-c", "echo one; printf two; exit 3"}, Once: true, Output: &out})
	ctx := context.Background()
	if err := s.Start(ctx, "once"); err != nil {
		t.Fatal(err)
	}
	// A nil channel: the run has already ended (a fast child).
	exited, err := s.Exited("once")
	if err != nil {
		t.Fatalf("Exited: %v", err)
	}
	if exited != nil {
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			t.Fatal("the child did not exit")
		}
	}
	st, err := s.Status(ctx, "once")
	if err != nil {
		t.Fatal(err)
	}
	if st.State != StateStopped || st.Restarts != 0 || st.LastExit != "exit status 3" {
		t.Errorf("status = %+v, want stopped after exit status 3, no restarts", st)
	}
	if got, want := out.String(), "one\ntwo\n"; got != want {
		t.Errorf("output = %q, want %q", got, want)
	}
	if ch, err := s.Exited("once"); ch != nil || err != nil {
		t.Errorf("Exited after the run = %v, %v; want nil, nil", ch, err)
	}
	if err := s.Stop(ctx, "once"); err != nil {
		t.Errorf("Stop after the run: %v", err)
	}
	if _, err := s.Exited("nope"); err == nil {
		t.Error("Exited of an unknown service: no error")
	}
}

func TestUserCredential(t *testing.T) {
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	c, err := UserCredential(u.Username)
	if err != nil {
		t.Fatal(err)
	}
	if strconv.Itoa(int(c.Uid)) != u.Uid || strconv.Itoa(int(c.Gid)) != u.Gid {
		t.Errorf("credential %d:%d, want %s:%s", c.Uid, c.Gid, u.Uid, u.Gid)
	}
	if len(c.Groups) == 0 || strconv.Itoa(int(c.Groups[0])) != u.Gid {
		t.Errorf("groups %v, want the primary group %s first", c.Groups, u.Gid)
	}
	if _, err := UserCredential("devmgr-no-such-user"); err == nil {
		t.Error("no error for an unknown user")
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
