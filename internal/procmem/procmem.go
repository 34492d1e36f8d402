// Package procmem gives memory a long-running devmgr process holds but
// does not use back to the system: the free heap, and the pages of its own
// binary that the kernel mapped around the ones it ran. Idle does it once
// a server has stopped serving for a while.
package procmem

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Release collects twice, so that what sync.Pools held (buffers of pages
// and answers, net/http's connections: a pool's items survive one
// collection) is garbage too, returns the free heap to the system, and
// drops the binary's pages (DropBinaryPages). It takes a few milliseconds.
func Release() error {
	runtime.GC()
	debug.FreeOSMemory()
	_, err := DropBinaryPages()
	return err
}

// DropBinaryPages unmaps from this process the pages of its executable
// that are mapped without write access (code and read-only data) and
// reports how many bytes of address space that covered. Those pages are
// clean copies of the file: what the process runs next is mapped again
// from the page cache at its first touch, and nothing else is. The kernel
// maps a 64 KiB window around every page a process touches, and the
// initialisers of the binary's ~300 packages touch nearly every window,
// so without this the whole binary stays mapped, and counted as each
// process's memory (and kept from reclaim as mapped code), although little
// of it runs once the process serves. The writable data is not touched.
func DropBinaryPages() (int, error) {
	return adviseBinary(unix.MADV_DONTNEED, "dropping")
}

// adviseBinary gives the kernel advice (madvise) on every mapping of this
// process's executable without write access, and reports how many bytes
// of address space they cover; doing names it in errors.
func adviseBinary(advice int, doing string) (int, error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return 0, fmt.Errorf("finding the executable: %w", err)
	}
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return 0, fmt.Errorf("reading the mappings: %w", err)
	}
	advised := 0
	sc := bufio.NewScanner(bytes.NewReader(maps))
	for sc.Scan() {
		lo, hi, ok := readOnlyMapping(sc.Text(), exe)
		if !ok {
			continue
		}
		if _, _, e := unix.Syscall(unix.SYS_MADVISE, lo, hi-lo, uintptr(advice)); e != 0 {
			return advised, fmt.Errorf("%s %x-%x of %s: %w", doing, lo, hi, exe, e)
		}
		advised += int(hi - lo)
	}
	return advised, sc.Err()
}

// readOnlyMapping parses a line of /proc/self/maps ("start-end perms
// offset dev inode path") and reports the range of a private mapping of
// path without write access.
func readOnlyMapping(line, path string) (lo, hi uintptr, ok bool) {
	f := bytes.Fields([]byte(line))
	if len(f) != 6 || string(f[5]) != path {
		return 0, 0, false
	}
	if p := string(f[1]); p != "r-xp" && p != "r--p" {
		return 0, 0, false
	}
	start, end, found := bytes.Cut(f[0], []byte("-"))
	if !found {
		return 0, 0, false
	}
	l, err1 := strconv.ParseUint(string(start), 16, 64)
	h, err2 := strconv.ParseUint(string(end), 16, 64)
	if err1 != nil || err2 != nil || h <= l {
		return 0, 0, false
	}
	return uintptr(l), uintptr(h), true
}

// IdleAfter is how long a server serves nothing before Idle gives its
// memory back: the runtime would keep the free heap until a collection
// (two minutes when nothing allocates) and its scavenger's slow return,
// and a device idles most of the time.
const IdleAfter = 10 * time.Second

// IdleRepeat is how often Idle gives memory back again while the server
// stays idle: its own timers (the agent's traffic samples, the runtime's
// collections) map code and grow the heap again, a little each time.
const IdleRepeat = time.Minute

// Idle notes when a server last served a request and calls Release once
// it has been idle for IdleAfter after serving, every IdleRepeat while it
// stays idle, and once as it starts (what starting touched is not what
// serving needs).
type Idle struct {
	last       atomic.Int64 // Unix nanoseconds of the last request
	released   int64        // the last request before the last release
	releasedAt time.Time    // when
	release    func() error
	log        *slog.Logger
}

// NewIdle returns an Idle that calls Release (at most once per IdleAfter
// in the process: see releaseShared) and logs its failures to log.
func NewIdle(log *slog.Logger) *Idle { return &Idle{release: releaseShared, log: log} }

// lastRelease is when the process last gave memory back (Unix
// nanoseconds).
var lastRelease atomic.Int64

// releaseShared calls Release unless the process did within IdleAfter.
// Release acts for the whole process, and a process may run several
// servers (the console and the agent in one test, tests by the dozen):
// each one's Idle would collect twice a minute and more, for nothing.
func releaseShared() error {
	now, last := time.Now().UnixNano(), lastRelease.Load()
	if now-last < int64(IdleAfter) || !lastRelease.CompareAndSwap(last, now) {
		return nil
	}
	return Release()
}

// Seen records a request at now.
func (m *Idle) Seen(now time.Time) { m.last.Store(now.UnixNano()) }

// check releases the memory when requests came since the last release and
// none for IdleAfter, or when none came and the last release is
// IdleRepeat old; it reports whether it did.
func (m *Idle) check(now time.Time) bool {
	last := m.last.Load()
	switch {
	case now.Sub(time.Unix(0, last)) < IdleAfter: // serving
		return false
	case last == m.released && now.Sub(m.releasedAt) < IdleRepeat:
		return false
	}
	m.released, m.releasedAt = last, now
	m.releaseNow()
	return true
}

// Run releases the memory once, then checks every IdleAfter/2 until ctx
// is done.
func (m *Idle) Run(ctx context.Context) {
	m.releasedAt = time.Now()
	m.releaseNow()
	t := time.NewTicker(IdleAfter / 2)
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

func (m *Idle) releaseNow() {
	if err := m.release(); err != nil {
		m.log.Warn("giving unused memory back", "err", err)
	}
}
