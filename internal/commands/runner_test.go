package commands

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/devmgr/devmgr/internal/auth"
	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/testing/testutil"
	"github.com/devmgr/devmgr/internal/toolrun"
)

func TestRunExitCodes(t *testing.T) {
	t.Parallel()
	r, h := newRunner(t, Config{})
	for _, tt := range []struct {
		body   string
		code   int
		status Status
	}{
		{"echo out; echo err >&2", 0, StatusOK},
		{"echo broken; exit 3", 3, StatusFailed},
		{"kill -KILL $$", -1, StatusFailed},
	} {
		rec := wait(t, start(t, r, command("c", testutil.Script(t, tt.body)), "alice"))
		if rec.ExitCode != tt.code || rec.Status != tt.status {
			t.Errorf("%q: exit %d status %s (%s), want %d %s", tt.body, rec.ExitCode, rec.Status, rec.Error, tt.code, tt.status)
		}
		stored, err := h.Get(context.Background(), rec.ID)
		if err != nil {
			t.Fatal(err)
		}
		if stored.ExitCode != tt.code || stored.Status != tt.status || !cmp.Equal(texts(stored.Output), texts(rec.Output)) {
			t.Errorf("%q: history has exit %d status %s output %q", tt.body, stored.ExitCode, stored.Status, texts(stored.Output))
		}
	}
}

// The output arrives line by line, numbered, with times, for several
// readers, each able to resume after the line it last saw.
func TestRunLinesForSeveralReaders(t *testing.T) {
	t.Parallel()
	r, _ := newRunner(t, Config{})
	run := start(t, r, command("c", testutil.Script(t, "echo one; echo two; sleep 0.2; echo three >&2; echo four")), "alice")
	follow := func(from int64) []Line {
		var got []Line
		for {
			lines, ended, more := run.Lines(from)
			got = append(got, lines...)
			if len(lines) > 0 {
				from = lines[len(lines)-1].Seq
			}
			if ended && len(lines) == 0 {
				return got
			}
			<-more
		}
	}
	results := make(chan []Line, 2)
	go func() { results <- follow(0) }()
	go func() { results <- follow(2) }()
	all, resumed := <-results, <-results
	if len(all) < len(resumed) {
		all, resumed = resumed, all
	}
	if diff := cmp.Diff([]string{"one", "two", "three", "four"}, texts(all)); diff != "" {
		t.Errorf("reader from the start (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"three", "four"}, texts(resumed)); diff != "" {
		t.Errorf("reader resuming after 2 (-want +got):\n%s", diff)
	}
	for i, l := range all {
		if l.Seq != int64(i+1) || l.Time.IsZero() || (i > 0 && l.Time.Before(all[i-1].Time)) {
			t.Errorf("line %d: seq %d time %v", i, l.Seq, l.Time)
		}
	}
	if d := all[2].Time.Sub(all[1].Time); d < 150*time.Millisecond {
		t.Errorf("line three came %v after two: times are not when the lines were written", d)
	}
}

// At the timeout the whole process group goes: the script and the sleep
// it left in the background.
func TestRunTimeoutKillsGrandchildren(t *testing.T) {
	t.Parallel()
	testutil.RequireBinary(t, "sleep")
	r, _ := newRunner(t, Config{})
	cmd := command("slow", testutil.Script(t, "sleep 300 & echo $!; echo $$; sleep 300"))
	cmd.Timeout = 500 * time.Millisecond
	run := start(t, r, cmd, "alice")
	ps := pids(t, run, 2)
	rec := wait(t, run)
	if rec.Status != StatusTimeout || rec.ExitCode != -1 || rec.Error != "timed out after 500ms" {
		t.Errorf("status %s exit %d error %q, want a timeout", rec.Status, rec.ExitCode, rec.Error)
	}
	for _, pid := range ps {
		testutil.Eventually(t, 5*time.Second, func() bool { return testutil.ProcessEnded(pid) }, "pid %d gone", pid)
	}
}

func TestRunCancel(t *testing.T) {
	t.Parallel()
	testutil.RequireBinary(t, "sleep")
	r, h := newRunner(t, Config{})
	run := start(t, r, command("c", testutil.Script(t, "echo $$; trap '' TERM; sleep 300")), "alice")
	pid := pids(t, run, 1)[0]
	if got, ok := r.Get(run.ID()); !ok || got != run {
		t.Errorf("Get(%d) of a running run: %v %v", run.ID(), got, ok)
	}
	run.Cancel("bob")
	rec := wait(t, run)
	if rec.Status != StatusCanceled || rec.Error != "canceled by bob" {
		t.Errorf("status %s error %q", rec.Status, rec.Error)
	}
	testutil.Eventually(t, 5*time.Second, func() bool { return testutil.ProcessEnded(pid) }, "pid %d gone despite ignoring SIGTERM", pid)
	if _, ok := r.Get(run.ID()); ok {
		t.Error("an ended run is still Get's")
	}
	if stored, err := h.Get(context.Background(), run.ID()); err != nil || stored.Status != StatusCanceled {
		t.Errorf("history: %+v %v", stored, err)
	}
}

// Output beyond the limit is dropped; what is kept is the beginning.
func TestRunOutputLimit(t *testing.T) {
	t.Parallel()
	testutil.RequireBinary(t, "seq")
	r, h := newRunner(t, Config{})
	cmd := command("c", testutil.Script(t, "seq 1 10000; echo done"))
	cmd.OutputLimit = 1024
	rec := wait(t, start(t, r, cmd, "alice"))
	if !rec.Truncated || rec.OutputSize > 1024 || rec.Status != StatusOK {
		t.Errorf("truncated %v, %d bytes kept, status %s", rec.Truncated, rec.OutputSize, rec.Status)
	}
	lines := texts(rec.Output)
	if lines[0] != "1" || lines[len(lines)-1] == "done" || strings.Join(lines, "\n")+"\n" != seqOutput(len(lines)) {
		t.Errorf("kept %d lines, not the first ones: %q...%q", len(lines), lines[0], lines[len(lines)-1])
	}
	if stored, _ := h.Get(context.Background(), rec.ID); !stored.Truncated || stored.OutputSize != rec.OutputSize {
		t.Errorf("history: truncated %v size %d", stored.Truncated, stored.OutputSize)
	}

	// A line longer than MaxLineSize loses its end, and says so.
	cmd = command("long", testutil.Script(t, "head -c 20000 /dev/zero | tr '\\0' x; echo; echo end"))
	rec = wait(t, start(t, r, cmd, "alice"))
	if !rec.Truncated || len(rec.Output) != 2 || len(rec.Output[0].Text) != MaxLineSize || rec.Output[1].Text != "end" {
		t.Errorf("long line: truncated %v, %d lines", rec.Truncated, len(rec.Output))
	}
}

func seqOutput(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		b.WriteString(strconv.Itoa(i) + "\n")
	}
	return b.String()
}

// The environment is LC_ALL and PATH, nothing of the agent's; stdin is
// empty.
func TestRunCleanEnvironment(t *testing.T) {
	env := testutil.RequireBinary(t, "env")
	t.Setenv("DEVMGR_SECRET", "leak")
	r, _ := newRunner(t, Config{})
	rec := wait(t, start(t, r, command("env", env), "alice"))
	if diff := cmp.Diff([]string{"LC_ALL=C", "PATH=" + toolrun.Path}, texts(rec.Output)); diff != "" {
		t.Errorf("environment (-want +got):\n%s", diff)
	}
	rec = wait(t, start(t, r, command("cat", testutil.Script(t, "cat; echo stdin ended")), "alice"))
	if rec.Status != StatusOK || !cmp.Equal(texts(rec.Output), []string{"stdin ended"}) {
		t.Errorf("cat: %s %q", rec.Status, texts(rec.Output))
	}
}

// A program removed after the config was checked is reported by path,
// and the attempt is in the history.
func TestRunVanishedProgram(t *testing.T) {
	t.Parallel()
	r, h := newRunner(t, Config{})
	prog := testutil.Script(t, "echo hi")
	if err := os.Remove(prog); err != nil {
		t.Fatal(err)
	}
	_, err := r.Start(context.Background(), Request{Command: command("gone", prog), User: "alice", Role: auth.Operator, Source: "test"})
	var ni *NotInstalledError
	if !errors.As(err, &ni) || err.Error() != prog+" is not installed" {
		t.Fatalf("err = %v, want %q", err, prog+" is not installed")
	}
	page, err := h.List(context.Background(), Filter{})
	if err != nil || len(page.Runs) != 1 || page.Runs[0].Status != StatusFailed || page.Runs[0].Error != prog+" is not installed" {
		t.Errorf("history: %+v %v", page, err)
	}
	// The slot is free again.
	if _, err := r.Start(context.Background(), Request{Command: command("gone", prog), User: "alice", Role: auth.Operator}); !errors.As(err, &ni) {
		t.Errorf("second try: %v", err)
	}
}

func TestRunForbidden(t *testing.T) {
	t.Parallel()
	r, h := newRunner(t, Config{})
	canary := filepath.Join(t.TempDir(), "canary")
	cmd := command("c", testutil.Script(t, "touch "+canary))
	cmd.Roles = []auth.Role{auth.Admin}
	for _, role := range []auth.Role{auth.Viewer, auth.Operator, "root", ""} {
		_, err := r.Start(context.Background(), Request{Command: cmd, User: "mallory", Role: role})
		if !errors.Is(err, ErrForbidden) {
			t.Errorf("role %q: %v, want ErrForbidden", role, err)
		}
	}
	if _, err := os.Stat(canary); err == nil {
		t.Error("the canary exists: a forbidden command ran")
	}
	if page, _ := h.List(context.Background(), Filter{}); page.Total != 0 {
		t.Errorf("%d runs recorded", page.Total)
	}
}

// At most MaxRuns at once, and one run of a command per user.
func TestRunLimits(t *testing.T) {
	t.Parallel()
	testutil.RequireBinary(t, "sleep")
	r, _ := newRunner(t, Config{})
	long := testutil.Script(t, "sleep 300")
	var runs []*Run
	for i, u := range []string{"a", "b", "c", "d"} {
		runs = append(runs, start(t, r, command("c"+u, long), []string{"alice", "bob", "alice", "carol"}[i]))
	}
	_, err := r.Start(context.Background(), Request{Command: command("ce", long), User: "dave", Role: auth.Operator})
	var be *BusyError
	if !errors.Is(err, ErrBusy) || !errors.As(err, &be) ||
		err.Error() != "4 commands are running, the most that may run at once; try again when one has ended" {
		t.Errorf("fifth run: %v, want ErrBusy", err)
	}
	runs[0].Cancel("test")
	wait(t, runs[0])

	// alice runs ca again; cc is hers already.
	again := start(t, r, command("ca", long), "alice")
	_, err = r.Start(context.Background(), Request{Command: command("cc", long), User: "alice", Role: auth.Operator})
	var are *AlreadyRunningError
	if !errors.As(err, &are) || are.RunID != runs[2].ID() || are.Command != "cc" {
		t.Errorf("alice's second cc: %v, want AlreadyRunningError naming run %d", err, runs[2].ID())
	}
	for _, run := range append(runs[1:], again) {
		run.Cancel("test")
		wait(t, run)
	}
	// bob may run cc while alice's has ended.
	wait(t, start(t, r, command("cc", testutil.Script(t, "true")), "bob"))
}

// Starts at the same moment never get more than MaxRuns slots.
func TestRunLimitsConcurrently(t *testing.T) {
	t.Parallel()
	testutil.RequireBinary(t, "sleep")
	r, _ := newRunner(t, Config{})
	long := testutil.Script(t, "sleep 300")
	type result struct {
		run *Run
		err error
	}
	results := make(chan result)
	for i := range 20 {
		go func() {
			run, err := r.Start(context.Background(), Request{Command: command("c"+strconv.Itoa(i), long), User: "u", Role: auth.Operator})
			results <- result{run, err}
		}()
	}
	var started []*Run
	for range 20 {
		res := <-results
		switch {
		case res.err == nil:
			started = append(started, res.run)
		case !errors.Is(res.err, ErrBusy):
			t.Errorf("Start: %v", res.err)
		}
	}
	if len(started) != DefaultMaxRuns {
		t.Errorf("%d runs started at once, want %d", len(started), DefaultMaxRuns)
	}
	for _, run := range started {
		run.Cancel("test")
		wait(t, run)
	}
}

// Close stops what runs and records it as interrupted; an agent that
// stopped without recording has its runs marked on the next open.
func TestRunnerClose(t *testing.T) {
	t.Parallel()
	testutil.RequireBinary(t, "sleep")
	r, h := newRunner(t, Config{})
	run := start(t, r, command("c", testutil.Script(t, "echo $$; sleep 300")), "alice")
	pid := pids(t, run, 1)[0]
	r.Close()
	rec := run.Record()
	if rec.Status != StatusInterrupted {
		t.Errorf("status after Close: %s", rec.Status)
	}
	testutil.Eventually(t, 5*time.Second, func() bool { return testutil.ProcessEnded(pid) }, "pid %d gone", pid)
	if stored, _ := h.Get(context.Background(), rec.ID); stored.Status != StatusInterrupted {
		t.Errorf("history: %s", stored.Status)
	}
	if _, err := r.Start(context.Background(), Request{Command: command("c", "/bin/true"), User: "alice", Role: auth.Operator}); err == nil {
		t.Error("a closed runner started a run")
	}
}

// A command that did not come through config.Catalog gets its defaults:
// no timeout is not an immediate timeout.
func TestRunDefaultsLimits(t *testing.T) {
	t.Parallel()
	r, _ := newRunner(t, Config{})
	cmd := command("c", testutil.Script(t, "sleep 0.1; echo ok"))
	cmd.Timeout, cmd.OutputLimit = 0, 0
	if rec := wait(t, start(t, r, cmd, "alice")); rec.Status != StatusOK || len(rec.Output) != 1 {
		t.Errorf("status %s (%s), output %q", rec.Status, rec.Error, texts(rec.Output))
	}
}

func TestRunnerNeedsItsParts(t *testing.T) {
	t.Parallel()
	if _, err := NewRunner(Config{}); err == nil {
		t.Error("NewRunner without a logger or a history")
	}
}

// The default catalog runs here: uptime, through the runner, as its
// roles allow.
func TestDefaultCatalogRuns(t *testing.T) {
	t.Parallel()
	cat := config.Default().Catalog()
	cmd, err := Find(cat, "uptime")
	if err != nil {
		t.Fatal(err)
	}
	testutil.RequireBinary(t, "uptime")
	r, _ := newRunner(t, Config{})
	run, err := r.Start(context.Background(), Request{Command: cmd, User: "v", Role: auth.Viewer, Source: "test"})
	if err != nil {
		t.Fatal(err)
	}
	rec := wait(t, run)
	if rec.Status != StatusOK || len(rec.Output) != 1 || !strings.Contains(rec.Output[0].Text, "load average") {
		t.Errorf("uptime: %s %q", rec.Status, texts(rec.Output))
	}
	journal, _ := Find(cat, "journal")
	if _, err := r.Start(context.Background(), Request{Command: journal, User: "v", Role: auth.Viewer}); !errors.Is(err, ErrForbidden) {
		t.Errorf("a viewer ran journal: %v", err)
	}
	argv, err := Validate(journal, map[string]string{"unit": "devmgr-agent.service"}, Env{})
	if err != nil || !cmp.Equal(argv, []string{"/usr/bin/journalctl", "--no-pager", "--output=short-iso", "--unit=devmgr-agent.service", "--lines=100"}) {
		t.Errorf("journal argv %q, %v", argv, err)
	}
}

// heldRecorder holds every Finish until release is closed.
type heldRecorder struct {
	Recorder
	finishing chan struct{} // told as a Finish begins
	release   chan struct{}
}

func (h heldRecorder) Finish(ctx context.Context, rec Record) error {
	h.finishing <- struct{}{}
	<-h.release
	return h.Recorder.Finish(ctx, rec)
}

// Once a run's followers are told it ended, its user may start it again,
// even while its end is still being recorded.
func TestRunAgainOnceEnded(t *testing.T) {
	t.Parallel()
	testutil.RequireBinary(t, "true")
	h, _ := newHistory(t, Retention{KeepRuns: 1000, MaxBytes: 1 << 30})
	held := heldRecorder{Recorder: h, finishing: make(chan struct{}, 1), release: make(chan struct{})}
	r, _ := newRunner(t, Config{History: held, MaxRuns: 1})
	cmd := command("c", testutil.Script(t, "echo done"))
	first := start(t, r, cmd, "alice")
	for {
		_, ended, more := first.Lines(0)
		if ended {
			break
		}
		<-more
	}
	<-held.finishing
	// The end is not recorded yet, and the run holds the only slot.
	second, err := r.Start(context.Background(), Request{Command: cmd, User: "alice", Role: auth.Operator, Source: "test"})
	if err != nil {
		t.Errorf("starting c again as its first run's end is recorded: %v", err)
	}
	close(held.release)
	wait(t, first)
	if second != nil {
		wait(t, second)
	}
}
