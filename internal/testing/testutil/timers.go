package testutil

import (
	"sync"
	"testing"
	"time"
)

// Timers is a hand-fired AfterFunc (change.Config.AfterFunc and the
// like): the timers code arms are kept, and the test fires the last one
// when it wants its time to have come, instead of sleeping through it.
type Timers struct {
	mu    sync.Mutex
	armed []func()
}

// After arms f; the returned stop does nothing (a fired or superseded
// timer's f must cope, as with time.AfterFunc).
func (ts *Timers) After(_ time.Duration, f func()) func() bool {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.armed = append(ts.armed, f)
	return func() bool { return true }
}

// Fire runs the timer armed last, as if its time had come.
func (ts *Timers) Fire(t testing.TB) {
	t.Helper()
	ts.mu.Lock()
	var f func()
	if n := len(ts.armed); n > 0 {
		f = ts.armed[n-1]
	}
	ts.mu.Unlock()
	if f == nil {
		t.Fatal("no timer armed")
	}
	f()
}
