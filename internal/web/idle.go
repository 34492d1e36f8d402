package web

import (
	"context"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"time"
)

// idleRelease is how long the console serves nothing before it gives the
// memory its last requests left free back to the system: the runtime would
// keep it until a collection (two minutes, when nothing allocates) and its
// scavenger's slow return, and a device idles most of the time.
const idleRelease = 10 * time.Second

// idleMemory notes when the last request came and releases memory once
// the console has been idle for idleRelease after serving.
type idleMemory struct {
	last     atomic.Int64 // Unix nanoseconds of the last request
	released int64        // the last request before the last release
	free     func()       // debug.FreeOSMemory; tests count calls
}

// seen records a request.
func (m *idleMemory) seen(now time.Time) { m.last.Store(now.UnixNano()) }

// check releases the memory when requests came since the last release and
// none for idleRelease; it reports whether it did.
func (m *idleMemory) check(now time.Time) bool {
	last := m.last.Load()
	if last == m.released || now.Sub(time.Unix(0, last)) < idleRelease {
		return false
	}
	m.released = last
	m.free()
	return true
}

// run checks every idleRelease/2 until ctx is done.
func (m *idleMemory) run(ctx context.Context) {
	t := time.NewTicker(idleRelease / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			m.check(now)
		}
	}
}

func newIdleMemory() *idleMemory { return &idleMemory{free: freeMemory} }

// freeMemory collects twice, so that what sync.Pools held (buffers of the
// pages, the proxy, net/http's connections: a pool's items survive one
// collection) is garbage too, and returns the free memory to the system.
func freeMemory() {
	runtime.GC()
	debug.FreeOSMemory()
}
