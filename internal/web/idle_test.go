package web

import (
	"testing"
	"time"
)

// TestIdleMemory: memory is given back once, when the console has served
// and then idled for idleRelease; not while it serves, not again while it
// stays idle.
func TestIdleMemory(t *testing.T) {
	t.Parallel()
	frees := 0
	m := &idleMemory{free: func() { frees++ }}
	t0 := time.Unix(1_800_000_000, 0)
	steps := []struct {
		seen  bool
		at    time.Duration
		frees int
	}{
		{false, time.Hour, 0}, // never served: nothing to give back
		{true, 0, 0},
		{false, idleRelease - time.Millisecond, 0},
		{false, idleRelease, 1},
		{false, 2 * idleRelease, 1}, // still idle: once only
		{true, 3 * idleRelease, 1},
		{false, 3*idleRelease + time.Second, 1},
		{false, 4 * idleRelease, 2},
	}
	for i, st := range steps {
		now := t0.Add(st.at)
		if st.seen {
			m.seen(now)
		} else {
			m.check(now)
		}
		if frees != st.frees {
			t.Errorf("step %d (at %s): %d releases, want %d", i, st.at, frees, st.frees)
		}
	}
}
