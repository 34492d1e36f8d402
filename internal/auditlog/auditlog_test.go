package auditlog

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

func open(t *testing.T, r Retention) (*Log, string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), FileName)
	l, err := Open(context.Background(), p, r)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, p
}

func TestAppendListFilter(t *testing.T) {
	t.Parallel()
	l, _ := open(t, Retention{})
	ctx := context.Background()
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i, e := range []Entry{
		{User: "alice", Action: "network.config", Target: "eth1", Result: "ok"},
		{User: "bob", Action: "ap.update", Target: "ap", Result: "denied"},
		{User: "alice", Action: "network.rollback", Target: "eth1", Result: "ok"},
	} {
		e.Time = base.Add(time.Duration(i) * time.Minute)
		if err := l.Append(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	got, err := l.List(ctx, Filter{User: "alice", Action: "network."})
	if err != nil {
		t.Fatal(err)
	}
	var acts []string
	for _, e := range got {
		acts = append(acts, e.Action)
	}
	if diff := cmp.Diff([]string{"network.rollback", "network.config"}, acts); diff != "" {
		t.Errorf("newest first (-want +got):\n%s", diff)
	}
	got, _ = l.List(ctx, Filter{Since: base.Add(time.Minute), Until: base.Add(2 * time.Minute)})
	if len(got) != 1 || got[0].User != "bob" || !got[0].Time.Equal(base.Add(time.Minute)) {
		t.Errorf("since/until: %+v", got)
	}
}

func TestClip(t *testing.T) {
	t.Parallel()
	l, _ := open(t, Retention{})
	ctx := context.Background()
	long := strings.Repeat("é", 40_000)
	if err := l.Append(ctx, Entry{User: long, Source: long, Action: "login", Target: long, Result: "failed", Detail: long}); err != nil {
		t.Fatal(err)
	}
	got, _ := l.List(ctx, Filter{})
	e := got[0]
	for name, v := range map[string]string{"user": e.User, "source": e.Source, "target": e.Target} {
		if len(v) > MaxField || !utf8.ValidString(v) || !strings.HasSuffix(v, "…") {
			t.Errorf("%s: %d bytes, valid %v", name, len(v), utf8.ValidString(v))
		}
	}
	if len(e.Detail) > MaxDetail || !utf8.ValidString(e.Detail) {
		t.Errorf("detail: %d bytes", len(e.Detail))
	}
}

func TestPrune(t *testing.T) {
	t.Parallel()
	l, _ := open(t, Retention{})
	ctx := context.Background()
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	for i := range 50 {
		if err := l.Append(ctx, Entry{Time: now.Add(-time.Duration(50-i) * 24 * time.Hour), Action: "a", Result: "ok"}); err != nil {
			t.Fatal(err)
		}
	}
	n, err := Prune(ctx, l.db, Retention{Keep: 30 * 24 * time.Hour, MaxRows: 10}, now)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := l.List(ctx, Filter{Limit: MaxLimit})
	if n != 40 || len(got) != 10 {
		t.Fatalf("pruned %d, left %d; want 40 and 10", n, len(got))
	}
	if oldest := got[len(got)-1].Time; !oldest.Equal(now.Add(-10 * 24 * time.Hour)) {
		t.Errorf("oldest left %v: the newest must stay", oldest)
	}
}

// A log appended to faster than hourly still stays near MaxRows.
func TestAppendCapsRows(t *testing.T) {
	t.Parallel()
	l, _ := open(t, Retention{MaxRows: 100})
	ctx := context.Background()
	for range 3 * pruneEvery {
		if err := l.Append(ctx, Entry{Action: "diag.ping", Result: "ok"}); err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := l.db.QueryRow(`SELECT count(*) FROM audit`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n > 100+pruneEvery {
		t.Errorf("%d rows; at most %d expected", n, 100+pruneEvery)
	}
}

func TestOpenRefusesSymlink(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	target := filepath.Join(dir, "ld.so.preload")
	if err := os.WriteFile(target, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, FileName)
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
	if l, err := Open(context.Background(), p, Retention{}); err == nil {
		l.Close()
		t.Fatal("a symlinked audit log was opened")
	}
	if b, _ := os.ReadFile(target); string(b) != "keep" {
		t.Errorf("target changed: %q", b)
	}
}

func TestOpenMode(t *testing.T) {
	t.Parallel()
	_, p := open(t, Retention{})
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %04o, want 0600", st.Mode().Perm())
	}
}
