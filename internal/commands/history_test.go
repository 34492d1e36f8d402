package commands

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/devmgr/devmgr/internal/auth"
)

var t0 = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// record adds a finished run to h.
func record(t *testing.T, h *History, r Record) Record {
	t.Helper()
	ctx := context.Background()
	end := r
	r.Status, r.ExitCode, r.Output, r.OutputSize = StatusRunning, -1, nil, 0
	id, err := h.Begin(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	end.ID = id
	if err := h.Finish(ctx, end); err != nil {
		t.Fatal(err)
	}
	return end
}

func TestHistoryGetKeepsEverything(t *testing.T) {
	t.Parallel()
	h, _ := newHistory(t, Retention{KeepRuns: 100, MaxBytes: 1 << 20})
	want := Record{
		Command: "journal", User: "alice", Role: auth.Operator, Source: "192.0.2.7",
		Params: map[string]string{"unit": "devmgr-agent.service", "lines": "100"},
		Argv:   []string{"/usr/bin/journalctl", "--unit=devmgr-agent.service", "--lines=100"},
		Status: StatusFailed, ExitCode: 1, Started: t0, Duration: 1500 * time.Millisecond, Truncated: true, OutputSize: 13,
		Output: []Line{{Seq: 1, Time: t0.Add(10 * time.Millisecond), Text: "first"}, {Seq: 2, Time: t0.Add(1200 * time.Millisecond), Text: "second"}},
	}
	want = record(t, h, want)
	got, err := h.Get(context.Background(), want.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Get (-want +got):\n%s", diff)
	}
	if _, err := h.Get(context.Background(), want.ID+1); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get of no run: %v", err)
	}
}

func TestHistoryListFiltersAndPages(t *testing.T) {
	t.Parallel()
	h, _ := newHistory(t, Retention{KeepRuns: 100, MaxBytes: 1 << 20})
	for i, r := range []Record{
		{Command: "uptime", User: "alice", Status: StatusOK},
		{Command: "journal", User: "bob", Status: StatusFailed},
		{Command: "uptime", User: "bob", Status: StatusOK},
		{Command: "uptime", User: "alice", Status: StatusTimeout},
		{Command: "journal", User: "alice", Status: StatusOK},
	} {
		r.Started, r.Role, r.Output = t0.Add(time.Duration(i)*time.Minute), auth.Operator, []Line{{Seq: 1, Time: t0, Text: "x"}}
		record(t, h, r)
	}
	ids := func(f Filter) ([]int64, int) {
		t.Helper()
		p, err := h.List(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		var out []int64
		for _, r := range p.Runs {
			if r.Output != nil {
				t.Errorf("List returned the output of run %d", r.ID)
			}
			out = append(out, r.ID)
		}
		return out, p.Total
	}
	for _, tt := range []struct {
		f     Filter
		want  []int64
		total int
	}{
		{Filter{}, []int64{5, 4, 3, 2, 1}, 5},
		{Filter{Command: "uptime"}, []int64{4, 3, 1}, 3},
		{Filter{User: "alice", Status: StatusOK}, []int64{5, 1}, 2},
		{Filter{Status: StatusTimeout}, []int64{4}, 1},
		{Filter{Limit: 2}, []int64{5, 4}, 5},
		{Filter{Limit: 2, Offset: 4}, []int64{1}, 5},
		{Filter{User: "carol"}, nil, 0},
	} {
		got, total := ids(tt.f)
		if !cmp.Equal(tt.want, got) || total != tt.total {
			t.Errorf("%+v: ids %v of %d, want %v of %d", tt.f, got, total, tt.want, tt.total)
		}
	}
}

// The history keeps the newest KeepRuns runs, and no more output than
// MaxBytes; ids are never reused.
func TestHistoryRetention(t *testing.T) {
	t.Parallel()
	h, _ := newHistory(t, Retention{KeepRuns: 3, MaxBytes: 250})
	line := []Line{{Seq: 1, Time: t0, Text: strings.Repeat("x", 99)}}
	for range 5 {
		record(t, h, Record{Command: "c", Started: t0, Output: line, OutputSize: 100})
	}
	p, _ := h.List(context.Background(), Filter{})
	var got []int64
	for _, r := range p.Runs {
		got = append(got, r.ID)
	}
	// 3 runs by count, 2 of them by size: 300 bytes are over 250.
	if !cmp.Equal([]int64{5, 4}, got) {
		t.Errorf("kept %v, want [5 4]", got)
	}
	if r := record(t, h, Record{Command: "c", Started: t0}); r.ID != 6 {
		t.Errorf("next id %d, want 6", r.ID)
	}
}

// A run that was running when the agent stopped is interrupted on the
// next open.
func TestHistoryReopenMarksInterrupted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ret := Retention{KeepRuns: 10, MaxBytes: 1 << 20}
	h, err := OpenHistory(context.Background(), dir, ret)
	if err != nil {
		t.Fatal(err)
	}
	id, err := h.Begin(context.Background(), Record{Command: "c", User: "alice", Status: StatusRunning, ExitCode: -1, Started: t0})
	if err != nil {
		t.Fatal(err)
	}
	h.Close()
	h, err = OpenHistory(context.Background(), dir, ret)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	r, err := h.Get(context.Background(), id)
	if err != nil || r.Status != StatusInterrupted || r.Error != "the agent stopped while it ran" {
		t.Errorf("after reopening: %s %q %v", r.Status, r.Error, err)
	}
	st, err := os.Stat(filepath.Join(dir, HistoryFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("database mode %v, %v; want 0600", st.Mode(), err)
	}
}

func TestHistoryRefusesSymlink(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.Symlink(filepath.Join(dir, "elsewhere"), filepath.Join(dir, HistoryFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenHistory(context.Background(), dir, Retention{KeepRuns: 10, MaxBytes: 1 << 20}); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("a symlinked history: %v", err)
	}
}
