package change

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeModule records its calls and fails the test on any call it was not
// told to expect.
type fakeModule struct {
	t       *testing.T
	mu      sync.Mutex
	expect  map[string]bool // "check", "undo", "keep"
	calls   []string
	undoErr error
	checkOK bool
}

func newFake(t *testing.T, expect ...string) *fakeModule {
	f := &fakeModule{t: t, expect: map[string]bool{}, checkOK: true}
	for _, e := range expect {
		f.expect[e] = true
	}
	return f
}

func (f *fakeModule) record(call string, ch Change, raw json.RawMessage) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.expect[call] {
		f.t.Errorf("unexpected %s of change %s (%s)", call, ch.ID, raw)
	}
	f.calls = append(f.calls, call+" "+ch.Target+" "+string(raw))
}

func (f *fakeModule) got() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeModule) Check(ch Change, undo, keep json.RawMessage) error {
	f.record("check", ch, undo)
	if !f.checkOK {
		return errors.New("the module refuses it")
	}
	var u struct{ Prev string }
	return DecodeStrict(undo, &u)
}

func (f *fakeModule) Undo(_ context.Context, ch Change, undo json.RawMessage) error {
	f.record("undo", ch, undo)
	return f.undoErr
}

func (f *fakeModule) Keep(_ context.Context, ch Change, keep json.RawMessage) error {
	f.record("keep", ch, keep)
	return nil
}

// env is an engine in a temporary directory with the changes it finished.
type env struct {
	t        *testing.T
	dir      string
	finished []Change
	rejected []string
}

func newEnv(t *testing.T) *env { return &env{t: t, dir: t.TempDir()} }

func (v *env) engine(mods map[string]Module) *Engine {
	v.t.Helper()
	e, err := New(Config{Dir: v.dir, Timeout: time.Minute, MaxChanges: 3,
		OnFinish:   func(ch Change) { v.finished = append(v.finished, ch) },
		OnRejected: func(file, reason string) { v.rejected = append(v.rejected, file) }})
	if err != nil {
		v.t.Fatal(err)
	}
	for k, m := range mods {
		if err := e.Register(k, m); err != nil {
			v.t.Fatal(err)
		}
	}
	v.t.Cleanup(e.Close)
	return e
}

func (v *env) exists(name string) bool {
	_, err := os.Stat(filepath.Join(v.dir, name))
	return err == nil
}

type state struct{ Prev string }

// plan is a planner of a change to target whose Apply records that it ran.
func plan(kind, target string, applied *int, applyErr error) func(context.Context) (Plan, error) {
	return func(context.Context) (Plan, error) {
		return Plan{Kind: kind, Target: target, Fields: []string{"ssid"}, Undo: state{Prev: "old"}, Keep: state{Prev: "new"},
			Apply: func(context.Context) error { *applied++; return applyErr }}, nil
	}
}

func TestUnconfirmedChangeRollsBackAtTimeout(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		v := newEnv(t)
		m := newFake(t, "undo")
		e := v.engine(map[string]Module{"net": m})
		start := time.Now()
		applied := 0
		ch, err := e.Begin(t.Context(), plan("net", "eth1", &applied, nil))
		if err != nil {
			t.Fatal(err)
		}
		if applied != 1 || ch.Status != StatusPending || !ch.RollbackAt.Equal(start.Add(time.Minute)) || ch.Kind != "net" {
			t.Fatalf("Begin = %+v, applied %d", ch, applied)
		}
		if !v.exists(pendingFile) {
			t.Fatal("no journal while pending")
		}
		time.Sleep(time.Minute - time.Second)
		synctest.Wait()
		if p, ok := e.Pending(); !ok || p.ID != ch.ID || len(m.got()) != 0 {
			t.Fatalf("before the timeout: pending %v %v, calls %q", p, ok, m.got())
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if diff := cmp.Diff([]string{`undo eth1 {"Prev":"old"}`}, m.got()); diff != "" {
			t.Errorf("module calls (-want +got):\n%s", diff)
		}
		got, err := e.Get(ch.ID)
		if err != nil || got.Status != StatusRolledBack || got.Reason != ReasonTimeout || got.FinishedAt == nil || !got.FinishedAt.Equal(start.Add(time.Minute)) {
			t.Errorf("Get = %+v, %v", got, err)
		}
		if len(v.finished) != 1 || v.finished[0].Status != StatusRolledBack {
			t.Errorf("OnFinish got %+v", v.finished)
		}
		if _, ok := e.Pending(); ok || v.exists(pendingFile) {
			t.Error("still pending, or the journal is left")
		}
		if _, err := e.Confirm(t.Context(), ch.ID); !errors.Is(err, ErrNotPending) {
			t.Errorf("Confirm after the rollback = %v, want ErrNotPending", err)
		}
	})
}

func TestConfirmKeeps(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		v := newEnv(t)
		m := newFake(t, "keep")
		e := v.engine(map[string]Module{"net": m})
		applied := 0
		ch, err := e.Begin(t.Context(), plan("net", "eth1", &applied, nil))
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(30 * time.Second)
		got, err := e.Confirm(t.Context(), ch.ID)
		if err != nil || got.Status != StatusConfirmed || got.Reason != ReasonConfirmed {
			t.Fatalf("Confirm = %+v, %v", got, err)
		}
		time.Sleep(time.Hour) // past the rollback time: nothing happens
		synctest.Wait()
		if diff := cmp.Diff([]string{`keep eth1 {"Prev":"new"}`}, m.got()); diff != "" {
			t.Errorf("module calls (-want +got):\n%s", diff)
		}
		if v.exists(pendingFile) || len(v.finished) != 1 || v.finished[0].Status != StatusConfirmed {
			t.Errorf("journal left %v, finished %+v", v.exists(pendingFile), v.finished)
		}
		if _, err := e.Confirm(t.Context(), ch.ID); !errors.Is(err, ErrNotPending) {
			t.Errorf("second Confirm = %v, want ErrNotPending", err)
		}
		if _, err := e.Confirm(t.Context(), "0123456789abcdef"); !errors.Is(err, ErrUnknownChange) {
			t.Errorf("Confirm of an unknown change = %v, want ErrUnknownChange", err)
		}
		// The log survives a restart.
		e.Close()
		e2 := v.engine(map[string]Module{"net": newFake(t)})
		if got, err := e2.Get(ch.ID); err != nil || got.Status != StatusConfirmed {
			t.Errorf("after a restart Get = %+v, %v", got, err)
		}
	})
}

// The device has one pending change, whatever module makes it; the
// second planner never runs.
func TestOnePendingAcrossModules(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	e := v.engine(map[string]Module{"net": newFake(t), "ap": newFake(t)})
	applied := 0
	ch, err := e.Begin(t.Context(), plan("net", "eth1", &applied, nil))
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.Begin(t.Context(), func(context.Context) (Plan, error) {
		t.Error("the planner ran with a change pending")
		return Plan{}, nil
	})
	var pe *PendingError
	if !errors.Is(err, ErrPending) || !errors.As(err, &pe) || pe.Change.ID != ch.ID || !strings.Contains(err.Error(), "net change "+ch.ID) {
		t.Errorf("second Begin = %v, want a PendingError naming %s", err, ch.ID)
	}
}

func TestFailedApplyUndoneAtOnce(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	m := newFake(t, "undo")
	e := v.engine(map[string]Module{"ap": m})
	applied := 0
	boom := errors.New("hostapd refused")
	_, err := e.Begin(t.Context(), plan("ap", "", &applied, boom))
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "rolled back") {
		t.Errorf("Begin = %v, want the apply error, rolled back", err)
	}
	if len(m.got()) != 1 || len(v.finished) != 1 || v.finished[0].Reason != ReasonApplyFailed {
		t.Errorf("calls %q, finished %+v", m.got(), v.finished)
	}
	if _, ok := e.Pending(); ok || v.exists(pendingFile) {
		t.Error("a failed change is pending")
	}
	// An undo that fails too is in the error.
	m.undoErr = errors.New("link gone")
	if _, err := e.Begin(t.Context(), plan("ap", "", &applied, boom)); err == nil || !strings.Contains(err.Error(), "incompletely: link gone") {
		t.Errorf("Begin = %v, want the undo's error too", err)
	}
}

func TestPlanErrorChangesNothing(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	e := v.engine(map[string]Module{"net": newFake(t)})
	bad := errors.New("addresses[0]: not an address")
	if _, err := e.Begin(t.Context(), func(context.Context) (Plan, error) { return Plan{}, bad }); err != bad {
		t.Errorf("Begin = %v, want the planner's error as it is", err)
	}
	if _, err := e.Begin(t.Context(), func(context.Context) (Plan, error) {
		return Plan{Kind: "nope", Apply: func(context.Context) error { return nil }}, nil
	}); err == nil {
		t.Error("a change of an unregistered module began")
	}
	if v.exists(pendingFile) || len(e.Changes()) != 0 {
		t.Error("a refused change left a journal or a log entry")
	}
}

// A crash leaves the journal; the next engine undoes it once.
func TestRecoverUndoesCrashedChange(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	e := v.engine(map[string]Module{"net": newFake(t)})
	applied := 0
	ch, err := e.Begin(t.Context(), plan("net", "eth1", &applied, nil))
	if err != nil {
		t.Fatal(err)
	}
	// No Close: a crashed agent leaves only its journal.
	m := newFake(t, "check", "undo")
	e2 := v.engine(map[string]Module{"net": m})
	if err := e2.Recover(t.Context()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{`check eth1 {"Prev":"old"}`, `undo eth1 {"Prev":"old"}`}, m.got()); diff != "" {
		t.Errorf("module calls (-want +got):\n%s", diff)
	}
	if got, err := e2.Get(ch.ID); err != nil || got.Status != StatusRolledBack || got.Reason != ReasonRestart {
		t.Errorf("after Recover Get = %+v, %v", got, err)
	}
	if err := e2.Recover(t.Context()); err != nil || len(m.got()) != 2 {
		t.Errorf("second Recover = %v, calls %q", err, m.got())
	}
}

// An undo that did nothing keeps the journal for the next start.
func TestUndoKeepsJournal(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	m := newFake(t, "undo")
	m.undoErr = errors.Join(ErrKeepJournal, errors.New("render refused"))
	e := v.engine(map[string]Module{"ap": m})
	applied := 0
	if _, err := e.Begin(t.Context(), plan("ap", "", &applied, errors.New("reload"))); err == nil {
		t.Fatal("Begin succeeded")
	}
	if !v.exists(pendingFile) {
		t.Error("the journal went")
	}
	m2 := newFake(t, "check", "undo")
	if err := v.engine(map[string]Module{"ap": m2}).Recover(t.Context()); err != nil || len(m2.got()) != 2 {
		t.Errorf("Recover = %v, calls %q", err, m2.got())
	}
}

// Journals that fail validation are set aside unread by the module's
// Undo, and reported.
func TestRecoverRefusesForgedJournal(t *testing.T) {
	t.Parallel()
	const good = `"change_id":"0123456789abcdef","kind":"net","target":"eth1","status":"pending"`
	for name, c := range map[string]struct {
		journal string
		check   bool // the module's Check is asked
	}{
		"not json":       {`{"change":`, false},
		"unknown field":  {`{"change":{` + good + `},"undo":{"Prev":"x"},"prev_conf":"aW50ZXJmYWNl"}`, false},
		"bad id":         {`{"change":{"change_id":"../../etc","kind":"net","status":"pending"},"undo":{}}`, false},
		"confirmed":      {`{"change":{"change_id":"0123456789abcdef","kind":"net","status":"confirmed"},"undo":{}}`, false},
		"newline target": {`{"change":{"change_id":"0123456789abcdef","kind":"net","target":"eth1\nx","status":"pending"},"undo":{}}`, false},
		"newline user":   {`{"change":{` + good + `,"user":"alice\nbob"},"undo":{}}`, false},
		"bad field":      {`{"change":{` + good + `,"changes":[{"field":"MTU;x","old":"1","new":"2"}]},"undo":{}}`, false},
		"escape value":   {`{"change":{` + good + `,"changes":[{"field":"mtu","old":"\u001b[2J","new":"2"}]},"undo":{}}`, false},
		"long value":     {`{"change":{` + good + `,"changes":[{"field":"mtu","old":"` + strings.Repeat("1", 1025) + `","new":"2"}]},"undo":{}}`, false},
		"module refuses": {`{"change":{` + good + `},"undo":{"Prev":"x"}}`, true},
		"undo unknown":   {`{"change":{` + good + `},"undo":{"Prev":"x","Cmd":"rm"}}`, true},
	} {
		t.Run(name, func(t *testing.T) {
			v := newEnv(t)
			if err := os.WriteFile(filepath.Join(v.dir, pendingFile), []byte(c.journal), 0o600); err != nil {
				t.Fatal(err)
			}
			var m *fakeModule
			if c.check {
				m = newFake(t, "check")
				m.checkOK = name != "module refuses"
			} else {
				m = newFake(t)
			}
			e := v.engine(map[string]Module{"net": m})
			if err := e.Recover(t.Context()); err == nil || !strings.Contains(err.Error(), "set aside") {
				t.Errorf("Recover = %v, want the journal set aside", err)
			}
			if v.exists(pendingFile) {
				t.Error("the journal is still in place")
			}
			if got, _ := filepath.Glob(filepath.Join(v.dir, pendingFile+".rejected-*")); len(got) != 1 {
				t.Errorf("set-aside copies %q", got)
			}
			if diff := cmp.Diff([]string{filepath.Base(v.dir) + "/" + pendingFile}, v.rejected); diff != "" {
				t.Errorf("rejections (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("symlink", func(t *testing.T) {
		v := newEnv(t)
		if err := os.Symlink("/etc/passwd", filepath.Join(v.dir, pendingFile)); err != nil {
			t.Fatal(err)
		}
		if err := v.engine(map[string]Module{"net": newFake(t)}).Recover(t.Context()); err == nil {
			t.Error("Recover followed a symlink")
		}
	})
}

// A journal of a module that is not there (it failed to start) is kept.
func TestRecoverLeavesUnknownKind(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	applied := 0
	if _, err := v.engine(map[string]Module{"ap": newFake(t)}).Begin(t.Context(), plan("ap", "", &applied, nil)); err != nil {
		t.Fatal(err)
	}
	if err := v.engine(nil).Recover(t.Context()); err == nil || !v.exists(pendingFile) || len(v.rejected) != 0 {
		t.Errorf("Recover = %v; journal kept %v, rejected %q", err, v.exists(pendingFile), v.rejected)
	}
}

func TestChangeLogValidatedAndCapped(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		v := newEnv(t)
		forged := `[{"change_id":"0123456789abcdef","kind":"net","status":"pending","fields":["ssid\nbridge=br0"]}]`
		if err := os.WriteFile(filepath.Join(v.dir, changesFile), []byte(forged), 0o600); err != nil {
			t.Fatal(err)
		}
		e := v.engine(map[string]Module{"net": newFake(t, "keep")})
		if len(e.Changes()) != 0 || len(v.rejected) != 1 {
			t.Fatalf("changes %+v, rejected %q", e.Changes(), v.rejected)
		}
		var ids []string
		for range 5 {
			time.Sleep(time.Second)
			applied := 0
			ch, err := e.Begin(t.Context(), plan("net", "eth1", &applied, nil))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.Confirm(t.Context(), ch.ID); err != nil {
				t.Fatal(err)
			}
			ids = append([]string{ch.ID}, ids...)
		}
		e.Close()
		// Newest first, at most MaxChanges, after a restart too.
		var got []string
		for _, ch := range v.engine(nil).Changes() {
			got = append(got, ch.ID)
		}
		if diff := cmp.Diff(ids[:3], got); diff != "" {
			t.Errorf("logged changes (-want +got):\n%s", diff)
		}
	})
}

// A change records who began it and what it does, field by field, also
// in the log a restart reads back.
func TestChangeRecordsUserAndFieldChanges(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	e := v.engine(map[string]Module{"net": newFake(t, "keep")})
	want := []FieldChange{{Field: "mode", Old: "dhcp", New: "static"}, {Field: "mtu", Old: "1500", New: "1400"}}
	ch, err := e.Begin(WithUser(t.Context(), "alice"), func(context.Context) (Plan, error) {
		return Plan{Kind: "net", Target: "eth1", Changes: want, Apply: func(context.Context) error { return nil }}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if ch.User != "alice" || !cmp.Equal(want, ch.Changes) {
		t.Errorf("Begin = %+v", ch)
	}
	if p, ok := e.Pending(); !ok || p.User != "alice" || !cmp.Equal(want, p.Changes) {
		t.Errorf("Pending = %+v, %v", p, ok)
	}
	if _, err := e.Confirm(t.Context(), ch.ID); err != nil {
		t.Fatal(err)
	}
	e.Close()
	got, err := v.engine(nil).Get(ch.ID)
	if err != nil || got.User != "alice" || got.Status != StatusConfirmed {
		t.Fatalf("after a restart Get = %+v, %v", got, err)
	}
	if diff := cmp.Diff(want, got.Changes); diff != "" {
		t.Errorf("field changes after a restart (-want +got):\n%s", diff)
	}
}

// What the engine would refuse to read back it refuses to record:
// nothing is journaled or applied.
func TestBeginRefusesUnrecordableChange(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]struct {
		user    string
		changes []FieldChange
	}{
		"user with newline":  {user: "alice\nbob"},
		"long user":          {user: strings.Repeat("a", 129)},
		"too many fields":    {changes: make([]FieldChange, 33)},
		"bad field name":     {changes: []FieldChange{{Field: "Mode"}}},
		"control in a value": {changes: []FieldChange{{Field: "ssid", New: "a\x1bb"}}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			v := newEnv(t)
			e := v.engine(map[string]Module{"net": newFake(t)})
			applied := false
			_, err := e.Begin(WithUser(t.Context(), c.user), func(context.Context) (Plan, error) {
				return Plan{Kind: "net", Changes: c.changes, Apply: func(context.Context) error { applied = true; return nil }}, nil
			})
			if err == nil || applied || v.exists(pendingFile) {
				t.Errorf("Begin = %v; applied %v, journal %v", err, applied, v.exists(pendingFile))
			}
		})
	}
}

func TestJournalPending(t *testing.T) {
	dir := t.TempDir()
	if ok, err := JournalPending(dir); ok || err != nil {
		t.Fatalf("JournalPending of an empty dir = %v, %v", ok, err)
	}
	os.WriteFile(filepath.Join(dir, pendingFile), []byte("{}"), 0o600)
	if ok, err := JournalPending(dir); !ok || err != nil {
		t.Fatalf("JournalPending with a journal = %v, %v", ok, err)
	}
}

// A module sees, gets and confirms its own changes only.
func TestModuleViewOfChanges(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	e := v.engine(map[string]Module{"net": newFake(t, "keep"), "ap": newFake(t)})
	applied := 0
	ch, err := e.Begin(t.Context(), plan("net", "eth1", &applied, nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := e.PendingOf("ap"); ok {
		t.Error("PendingOf(ap) has the net change")
	}
	if p, ok := e.PendingOf("net"); !ok || p.ID != ch.ID {
		t.Errorf("PendingOf(net) = %+v %v", p, ok)
	}
	if _, err := e.GetOf("ap", ch.ID); !errors.Is(err, ErrUnknownChange) {
		t.Errorf("GetOf(ap) = %v, want ErrUnknownChange", err)
	}
	if _, err := e.ConfirmOf(t.Context(), "ap", ch.ID); !errors.Is(err, ErrUnknownChange) {
		t.Errorf("ConfirmOf(ap) = %v, want ErrUnknownChange", err)
	}
	if got, err := e.ConfirmOf(t.Context(), "net", ch.ID); err != nil || got.Status != StatusConfirmed {
		t.Errorf("ConfirmOf(net) = %+v %v", got, err)
	}
	if got, err := e.GetOf("net", ch.ID); err != nil || got.Status != StatusConfirmed {
		t.Errorf("GetOf(net) = %+v %v", got, err)
	}
}
