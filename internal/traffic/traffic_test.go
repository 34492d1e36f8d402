package traffic

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"
	"unsafe"

	"github.com/google/go-cmp/cmp"
)

// counters is a hand-set reading the test changes between samples.
type counters struct {
	mu  sync.Mutex
	cs  []Counter
	err error
}

func (c *counters) set(err error, cs ...Counter) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cs, c.err = cs, err
}

func (c *counters) read(context.Context) ([]Counter, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cs, c.err
}

// clock is a clock the test moves.
type clock struct{ t time.Time }

func (c *clock) now() time.Time      { return c.t }
func (c *clock) add(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *clock               { return &clock{t: time.Unix(1_800_000_000, 0)} }

func newHistory(t *testing.T, cfg Config) *History {
	t.Helper()
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestNewNeedsRead(t *testing.T) {
	t.Parallel()
	if _, err := New(Config{}); err == nil {
		t.Error("New without Read succeeded")
	}
	if _, err := New(Config{Read: (&counters{}).read, Interval: -time.Second}); err == nil {
		t.Error("New with a negative interval succeeded")
	}
}

// Rates are bytes per second over the time between readings; a link's
// first reading, counters that went down and a link made again under
// its name give no sample; a link gone from a reading is dropped.
func TestSampleRates(t *testing.T) {
	t.Parallel()
	cs, clk := &counters{}, newClock()
	h := newHistory(t, Config{Read: cs.read, Now: clk.now})
	ctx := context.Background()
	start := clk.t
	step := func(d time.Duration, c ...Counter) {
		t.Helper()
		clk.add(d)
		cs.set(nil, c...)
		if err := h.Sample(ctx); err != nil {
			t.Fatal(err)
		}
	}
	step(0, Counter{Name: "eth0", Index: 2, RxBytes: 1000, TxBytes: 1000}, Counter{Name: "eth1", Index: 3})
	if _, _, ok := h.Rate("eth0"); ok {
		t.Error("a rate after one reading")
	}
	step(10*time.Second, Counter{Name: "eth0", Index: 2, RxBytes: 11000, TxBytes: 6000}, Counter{Name: "eth1", Index: 3, RxBytes: 5})
	if rx, tx, ok := h.Rate("eth0"); !ok || rx != 1000 || tx != 500 {
		t.Errorf("Rate(eth0) = %d, %d, %v; want 1000, 500", rx, tx, ok)
	}
	// A late reading: the rate is over the time that passed.
	step(20*time.Second, Counter{Name: "eth0", Index: 2, RxBytes: 21000, TxBytes: 6000}, Counter{Name: "eth1", Index: 3, RxBytes: 5})
	// eth0's counters went down (reset): no sample, and the next counts from there.
	step(10*time.Second, Counter{Name: "eth0", Index: 2, RxBytes: 100, TxBytes: 100}, Counter{Name: "eth1", Index: 3, RxBytes: 5})
	step(10*time.Second, Counter{Name: "eth0", Index: 2, RxBytes: 200, TxBytes: 100}, Counter{Name: "eth1", Index: 9, RxBytes: 1 << 40})
	// eth1 was made again (index 9): it starts over; then it is gone.
	want := []Series{
		{Name: "eth0", Samples: []Sample{
			{T: start.Add(10 * time.Second), RxRate: 1000, TxRate: 500},
			{T: start.Add(30 * time.Second), RxRate: 500, TxRate: 0},
			{T: start.Add(50 * time.Second), RxRate: 10, TxRate: 0},
		}},
		{Name: "eth1", Samples: []Sample{}},
	}
	if diff := cmp.Diff(want, h.All(time.Time{})); diff != "" {
		t.Errorf("All (-want +got):\n%s", diff)
	}
	if got := h.All(start.Add(30 * time.Second)); len(got) != 2 || len(got[0].Samples) != 1 || got[0].Samples[0].RxRate != 10 {
		t.Errorf("All(since the second sample) = %+v, want the last", got)
	}
	step(10*time.Second, Counter{Name: "eth0", Index: 2, RxBytes: 300, TxBytes: 100})
	if got := h.All(time.Time{}); len(got) != 1 || got[0].Name != "eth0" {
		t.Errorf("after eth1 went: %+v", got)
	}
	if _, _, ok := h.Rate("eth1"); ok {
		t.Error("a rate of a link that is gone")
	}
}

// A ring holds the last Samples intervals, oldest first.
func TestRingKeepsTheLastHour(t *testing.T) {
	t.Parallel()
	cs, clk := &counters{}, newClock()
	h := newHistory(t, Config{Read: cs.read, Now: clk.now})
	start := clk.t
	const readings = Samples + 41
	for k := range readings {
		cs.set(nil, Counter{Name: "eth0", Index: 1, RxBytes: uint64(k * k * 10), TxBytes: uint64(k * 10)})
		if err := h.Sample(context.Background()); err != nil {
			t.Fatal(err)
		}
		clk.add(10 * time.Second)
	}
	got := h.All(time.Time{})[0].Samples
	if len(got) != Samples {
		t.Fatalf("%d samples, want %d", len(got), Samples)
	}
	for i, s := range got {
		k := readings - Samples + i // the reading that ended the interval
		want := Sample{T: start.Add(time.Duration(k) * 10 * time.Second), RxRate: uint64(k*k - (k-1)*(k-1)), TxRate: 1}
		if s != want {
			t.Fatalf("sample %d = %+v, want %+v", i, s, want)
		}
	}
	if rx, _, _ := h.Rate("eth0"); rx != got[len(got)-1].RxRate {
		t.Errorf("Rate = %d, want the last sample's %d", rx, got[len(got)-1].RxRate)
	}
}

// At most MaxLinks interfaces are kept; one that goes makes room.
func TestMaxLinks(t *testing.T) {
	t.Parallel()
	cs := &counters{}
	h := newHistory(t, Config{Read: cs.read, MaxLinks: 2})
	names := func() []string {
		var n []string
		for _, s := range h.All(time.Time{}) {
			n = append(n, s.Name)
		}
		return n
	}
	cs.set(nil, Counter{Name: "a", Index: 1}, Counter{Name: "b", Index: 2}, Counter{Name: "c", Index: 3})
	if err := h.Sample(context.Background()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a", "b"}, names()); diff != "" {
		t.Errorf("kept (-want +got):\n%s", diff)
	}
	cs.set(nil, Counter{Name: "b", Index: 2}, Counter{Name: "c", Index: 3})
	if err := h.Sample(context.Background()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"b", "c"}, names()); diff != "" {
		t.Errorf("after a went (-want +got):\n%s", diff)
	}
}

// Memory stays small: a ring is a fixed array, and a reading allocates
// nothing once the links are known.
func TestFixedMemory(t *testing.T) {
	if s := unsafe.Sizeof(link{}); s > 9*1024 {
		t.Errorf("a link's history takes %d bytes", s)
	}
	cs := &counters{}
	reading := []Counter{{Name: "eth0", Index: 1}, {Name: "eth1", Index: 2}, {Name: "wlan0", Index: 3}}
	cs.set(nil, reading...)
	h := newHistory(t, Config{Read: cs.read})
	n := 0
	allocs := testing.AllocsPerRun(100, func() {
		n++
		for i := range reading {
			reading[i].RxBytes = uint64(n)
		}
		if err := h.Sample(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("a reading allocates %v times", allocs)
	}
}

// Run reads at once and then every interval, skips a failed reading, and
// returns when its context ends, leaving no goroutine (synctest.Test
// would fail on one).
func TestRunEveryInterval(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		var mu sync.Mutex
		reads := 0
		fail := false
		read := func(context.Context) ([]Counter, error) {
			mu.Lock()
			defer mu.Unlock()
			reads++
			if fail {
				return nil, errors.New("netlink: no buffer space")
			}
			elapsed := uint64(time.Since(start) / time.Second)
			return []Counter{{Name: "eth0", Index: 1, RxBytes: 800 * elapsed, TxBytes: 80 * elapsed}}, nil
		}
		count := func() int {
			mu.Lock()
			defer mu.Unlock()
			return reads
		}
		h := newHistory(t, Config{Read: read})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { h.Run(ctx); close(done) }()

		synctest.Wait()
		if _, _, ok := h.Rate("eth0"); ok || count() != 1 {
			t.Fatalf("at start: %d reads, a rate %v", count(), ok)
		}
		time.Sleep(DefaultInterval * 6)
		synctest.Wait()
		got := h.All(time.Time{})[0].Samples
		if len(got) != 6 || got[5] != (Sample{T: start.Add(60 * time.Second), RxRate: 800, TxRate: 80}) {
			t.Fatalf("after a minute: %+v", got)
		}
		mu.Lock()
		fail = true
		mu.Unlock()
		time.Sleep(DefaultInterval * 2)
		synctest.Wait()
		mu.Lock()
		fail = false
		mu.Unlock()
		time.Sleep(DefaultInterval)
		synctest.Wait()
		got = h.All(time.Time{})[0].Samples
		// The interval after the failures spans them: the rate is the same.
		if len(got) != 7 || got[6] != (Sample{T: start.Add(90 * time.Second), RxRate: 800, TxRate: 80}) || count() != 10 {
			t.Errorf("after two failed readings: %d reads, %+v", count(), got)
		}
		cancel()
		<-done
	})
}
