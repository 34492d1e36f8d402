package backup

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/devmgr/devmgr/internal/auditlog"
	"github.com/devmgr/devmgr/internal/config"
)

func TestNext(t *testing.T) {
	t.Parallel()
	at := func(s string) time.Time {
		v, err := time.Parse(time.DateTime, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct{ schedule, now, want string }{
		{config.ScheduleHourly, "2026-03-04 10:15:00", "2026-03-04 11:00:00"},
		{config.ScheduleHourly, "2026-03-04 23:00:00", "2026-03-05 00:00:00"},
		{config.ScheduleDaily, "2026-03-04 10:15:00", "2026-03-05 00:00:00"},
		{config.ScheduleDaily, "2026-03-04 00:00:00", "2026-03-05 00:00:00"},
		{config.ScheduleDaily, "2026-12-31 23:59:59", "2027-01-01 00:00:00"},
		{config.ScheduleWeekly, "2026-03-04 10:15:00", "2026-03-09 00:00:00"}, // a Wednesday, to Monday
		{config.ScheduleWeekly, "2026-03-09 00:00:00", "2026-03-16 00:00:00"}, // a Monday, to the next
		{config.ScheduleWeekly, "2026-03-08 23:00:00", "2026-03-09 00:00:00"}, // a Sunday
		{config.ScheduleMonthly, "2026-03-04 10:15:00", "2026-04-01 00:00:00"},
		{config.ScheduleMonthly, "2026-12-01 00:00:00", "2027-01-01 00:00:00"},
	} {
		if got := Next(tc.schedule, at(tc.now)); !got.Equal(at(tc.want)) {
			t.Errorf("Next(%s, %s) = %s, want %s", tc.schedule, tc.now, got.Format(time.DateTime), tc.want)
		}
	}
}

// fakeClock is the ticker's clock: After registers a timer that fires
// when the test advances the time past it.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []fakeTimer
	armed  chan struct{}
}

type fakeTimer struct {
	at time.Time
	c  chan time.Time
}

func newFakeClock(now time.Time) *fakeClock {
	return &fakeClock{now: now, armed: make(chan struct{}, 100)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	c.timers = append(c.timers, fakeTimer{c.now.Add(d), ch})
	c.armed <- struct{}{}
	return ch
}

// fireNext waits for the ticker to arm a timer, moves the time to it and
// fires it; it returns the time.
func (c *fakeClock) fireNext(t *testing.T) time.Time {
	t.Helper()
	select {
	case <-c.armed:
	case <-time.After(30 * time.Second):
		t.Fatal("the ticker armed no timer")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	tm := c.timers[len(c.timers)-1]
	c.timers = c.timers[:len(c.timers)-1]
	c.now = tm.at
	tm.c <- tm.at
	return tm.at
}

// With a fake clock: a daily backup appears at each midnight, made by
// RunScheduled, and only backup.keep scheduled ones remain; a manual
// backup is never pruned; a failed one is audited.
func TestTickerMakesAndPrunes(t *testing.T) {
	t.Parallel()
	d := newDevice(t)
	d.populate()
	manual := d.create(KindManual, "")
	start := time.Date(2026, 3, 4, 10, 15, 0, 0, time.UTC)
	clock := newFakeClock(start)
	var mu sync.Mutex
	var audited []auditlog.Entry
	audit := func(_ context.Context, e auditlog.Entry) error {
		mu.Lock()
		defer mu.Unlock()
		audited = append(audited, e)
		return nil
	}
	ran := make(chan error, 10)
	o := CreateOptions{Sources: d.sources(), Dir: d.cfg.Backup.Dir, Version: "v1.2.3", Hostname: "dev-1", Now: clock.Now}
	const keep = 3
	tk := Ticker{Schedule: config.ScheduleDaily, Now: clock.Now, After: clock.After,
		Last: func() (time.Time, bool) { return time.Time{}, false },
		Run:  func(ctx context.Context) { ran <- RunScheduled(ctx, o, keep, audit) }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- tk.Loop(ctx) }()

	var want []string
	for day := 1; day <= 5; day++ {
		at := clock.fireNext(t)
		if wantAt := time.Date(2026, 3, 4+day, 0, 0, 0, 0, time.UTC); !at.Equal(wantAt) {
			t.Fatalf("timer %d fired at %s, want %s", day, at, wantAt)
		}
		if err := <-ran; err != nil {
			t.Fatalf("scheduled backup %d: %v", day, err)
		}
		want = append([]string{Name("dev-1", at, KindScheduled, false)}, want...)
		list, err := List(d.cfg.Backup.Dir)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, b := range list {
			if b.Kind == KindScheduled {
				got = append(got, b.Name)
				if b.Version != "v1.2.3" || b.Hostname != "dev-1" {
					t.Errorf("listed %+v", b)
				}
			}
		}
		if diff := cmp.Diff(want[:min(len(want), keep)], got); diff != "" {
			t.Errorf("day %d: scheduled backups (-want +got):\n%s", day, diff)
		}
	}
	if _, err := os.Stat(manual.Path); err != nil {
		t.Errorf("the manual backup was pruned: %v", err)
	}
	if last, ok := LastScheduled(d.cfg.Backup.Dir); !ok || !last.Equal(time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("LastScheduled = %s, %v", last, ok)
	}

	// A failure (the config file has gone) is audited and the ticker goes on.
	os.Rename(d.cfgPath, d.cfgPath+".away")
	clock.fireNext(t)
	if err := <-ran; err == nil {
		t.Error("a scheduled backup without its config succeeded")
	}
	os.Rename(d.cfgPath+".away", d.cfgPath)
	clock.fireNext(t)
	if err := <-ran; err != nil {
		t.Errorf("the ticker did not go on: %v", err)
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Errorf("Loop = %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(audited) != 7 {
		t.Fatalf("%d audit entries, want 7", len(audited))
	}
	if e := audited[0]; e.Action != ActCreate || e.Result != auditlog.ResultOK || !strings.HasSuffix(e.Target, "-scheduled.tar.gz") {
		t.Errorf("first audit entry %+v", e)
	}
	if e := audited[3]; !strings.Contains(e.Detail, "removed devmgr-dev-1-20260305T000000Z-scheduled.tar.gz") {
		t.Errorf("the fourth backup's entry does not name the one it pruned: %+v", e)
	}
	if e := audited[5]; e.Result != auditlog.ResultFailed || !strings.Contains(e.Detail, "reading the config") {
		t.Errorf("the failed backup's entry %+v", e)
	}
}

// A boundary passed since the newest scheduled backup (the device was
// off) is made up at once, as Persistent=true does for the timer.
func TestTickerMakesUpMissedBackup(t *testing.T) {
	t.Parallel()
	clock := newFakeClock(time.Date(2026, 3, 4, 10, 15, 0, 0, time.UTC))
	ran := make(chan time.Time, 1)
	tk := Ticker{Schedule: config.ScheduleDaily, Now: clock.Now, After: clock.After,
		Last: func() (time.Time, bool) { return time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), true },
		Run:  func(context.Context) { ran <- clock.Now() }}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go tk.Loop(ctx)
	select {
	case at := <-ran:
		if !at.Equal(clock.Now()) {
			t.Errorf("ran at %s", at)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the missed backup was not made up")
	}
	// Then the next midnight, not before.
	if at := clock.fireNext(t); !at.Equal(time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("next run at %s", at)
	}
}
