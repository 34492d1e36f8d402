package procmem

import (
	"bufio"
	"bytes"
	"errors"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// kept is in the binary's writable data: DropBinaryPages must keep it.
var kept = 1

// TestDropBinaryPages: the test binary's read-only pages, all mapped
// first, are unmapped, so that far fewer are resident after; the code goes
// on running (it is mapped again as it runs), and the writable data keeps
// what was written to it.
func TestDropBinaryPages(t *testing.T) {
	kept = 42
	// All of them, so that what was mapped before does not depend on the
	// tests that ran before this one (a shuffled order; another's drop).
	populate(t)
	before := binaryRss(t)
	dropped, err := DropBinaryPages()
	if err != nil {
		t.Fatal(err)
	}
	after := binaryRss(t)
	t.Logf("read-only mappings of the binary: %d KiB of address space; resident %d KiB before, %d KiB after", dropped>>10, before, after)
	if dropped <= 0 {
		t.Fatalf("dropped %d bytes: no read-only mapping of the executable found", dropped)
	}
	// What runs to measure maps some again, 64 KiB at a time.
	if before == 0 || after > before*3/4 {
		t.Errorf("resident read-only pages of the binary: %d KiB before, %d KiB after; want at most three quarters", before, after)
	}
	if kept != 42 {
		t.Errorf("a global variable holds %d after the drop, want 42", kept)
	}
	if got := strings.Repeat(strconv.Itoa(kept), 2); got != "4242" {
		t.Errorf("code run after the drop: %q", got)
	}
}

// populate maps every page of the executable's read-only mappings
// (MADV_POPULATE_READ, Linux 5.14).
func populate(t *testing.T) {
	t.Helper()
	if _, err := adviseBinary(unix.MADV_POPULATE_READ, "mapping"); err != nil {
		t.Fatal(err)
	}
}

// binaryRss is the resident KiB of the executable's read-only mappings.
func binaryRss(t *testing.T) int {
	t.Helper()
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	total, in := 0, false
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if f := strings.Fields(line); len(f) > 0 && strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":") {
			_, _, in = readOnlyMapping(line, exe)
			continue
		}
		if v, ok := strings.CutPrefix(line, "Rss:"); ok && in {
			n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				t.Fatalf("smaps: %q", line)
			}
			total += n
		}
	}
	return total
}

func TestReadOnlyMapping(t *testing.T) {
	const exe = "/usr/bin/devmgr"
	for _, c := range []struct {
		line   string
		lo, hi uintptr
		ok     bool
	}{
		{"00400000-00e4d000 r-xp 00000000 fe:00 10363683                           /usr/bin/devmgr", 0x400000, 0xe4d000, true},
		{"00e4d000-0188a000 r--p 00a4d000 fe:00 10363683                           /usr/bin/devmgr", 0xe4d000, 0x188a000, true},
		{"0188a000-0190d000 rw-p 0148a000 fe:00 10363683                           /usr/bin/devmgr", 0, 0, false}, // writable data
		{"7f6a06626000-7f6a0662e000 rw-s 00000000 fe:00 9994306 /var/lib/devmgr/devmgr.db-shm", 0, 0, false},
		{"00400000-00e4d000 r-xp 00000000 fe:00 10363683 /usr/bin/devmgr (deleted)", 0, 0, false}, // not this path
		{"00400000-00e4d000 r-xs 00000000 fe:00 10363683 /usr/bin/devmgr", 0, 0, false},           // shared
		{"c000000000-c000400000 rw-p 00000000 00:00 0", 0, 0, false},
		{"00e4d000-00e4d000 r--p 00a4d000 fe:00 10363683 /usr/bin/devmgr", 0, 0, false}, // empty
		{"zz-00e4d000 r--p 00a4d000 fe:00 10363683 /usr/bin/devmgr", 0, 0, false},
	} {
		lo, hi, ok := readOnlyMapping(c.line, exe)
		if lo != c.lo || hi != c.hi || ok != c.ok {
			t.Errorf("%q: %x-%x %v, want %x-%x %v", c.line, lo, hi, ok, c.lo, c.hi, c.ok)
		}
	}
}

// TestIdle: memory is given back when the server has served and then
// idled for IdleAfter, and every IdleRepeat while it stays idle; not while
// it serves.
func TestIdle(t *testing.T) {
	t.Parallel()
	releases := 0
	t0 := time.Unix(1_800_000_000, 0)
	m := &Idle{release: func() error { releases++; return errors.New("refused") }, log: slog.New(slog.DiscardHandler), releasedAt: t0}
	steps := []struct {
		seen     bool
		at       time.Duration
		releases int
	}{
		{false, IdleRepeat - time.Millisecond, 0}, // started, never served
		{false, IdleRepeat, 1},                    // idle a minute since the start's release
		{true, IdleRepeat + time.Second, 1},
		{false, IdleRepeat + time.Second + IdleAfter - time.Millisecond, 1},
		{false, IdleRepeat + time.Second + IdleAfter, 2},
		{false, IdleRepeat + time.Second + 2*IdleAfter, 2}, // still idle: not again at once
		{true, 2 * IdleRepeat, 2},
		{false, 2*IdleRepeat + IdleAfter/2, 2}, // serving
		{true, 2*IdleRepeat + IdleAfter, 2},
		{false, 2*IdleRepeat + 2*IdleAfter, 3},
		{false, 3*IdleRepeat + 2*IdleAfter - time.Millisecond, 3},
		{false, 3*IdleRepeat + 2*IdleAfter, 4}, // a minute idle since
	}
	for i, st := range steps {
		now := t0.Add(st.at)
		if st.seen {
			m.Seen(now)
		} else {
			m.check(now)
		}
		if releases != st.releases {
			t.Errorf("step %d (at %s): %d releases, want %d", i, st.at, releases, st.releases)
		}
	}
}

// TestReleaseShared: the servers of one process give memory back once
// per IdleAfter between them.
func TestReleaseShared(t *testing.T) {
	lastRelease.Store(0)
	if err := releaseShared(); err != nil {
		t.Fatal(err)
	}
	first := lastRelease.Load()
	if first == 0 {
		t.Fatal("the first release did not happen")
	}
	for range 3 {
		if err := releaseShared(); err != nil {
			t.Fatal(err)
		}
	}
	if got := lastRelease.Load(); got != first {
		t.Errorf("released again %v after the first, within IdleAfter", time.Duration(got-first))
	}
	lastRelease.Store(first - int64(IdleAfter))
	releaseShared()
	if lastRelease.Load() == first-int64(IdleAfter) {
		t.Error("no release IdleAfter after the last")
	}
}
