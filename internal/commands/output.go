package commands

import (
	"sync"
	"time"
)

// Line is one line of a run's output (stdout and stderr merged).
type Line struct {
	Seq  int64 // 1, 2, 3... in the run; an SSE event id
	Time time.Time
	Text string
}

// lineCost is what a kept line costs beyond its text: the limit on lines
// is the output limit over this, so that a flood of empty lines cannot
// hold more memory than a few times the limit.
const lineCost = 16

// output is a run's kept output and the broadcast of it: readers share the
// one slice (append-only, so a prefix handed out never changes) and wait
// on a channel that is closed and replaced whenever a line arrives or the
// run ends. A slow reader costs nothing; memory is bounded by the limit.
type output struct {
	limit, maxLines int

	mu        sync.Mutex
	lines     []Line
	size      int
	full      bool // a line did not fit: the rest is dropped
	truncated bool // something was dropped or cut
	ended     bool
	changed   chan struct{}
}

func newOutput(limit int) *output {
	return &output{limit: limit, maxLines: max(limit/lineCost, 1), changed: make(chan struct{})}
}

// add keeps a line if it fits in the limit; once one does not, the rest of
// the output is dropped and it is marked truncated. cut is a line that was
// too long and lost its end.
func (o *output) add(t time.Time, text string, cut bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.ended {
		return
	}
	if o.full || o.size+len(text)+1 > o.limit || len(o.lines) >= o.maxLines {
		o.full, o.truncated = true, true
		return
	}
	o.size += len(text) + 1
	o.truncated = o.truncated || cut
	o.lines = append(o.lines, Line{Seq: int64(len(o.lines)) + 1, Time: t, Text: text})
	o.notify()
}

// end marks the output complete and wakes every reader; the channel stays
// closed, so a reader never waits on an ended run.
func (o *output) end() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.ended {
		o.ended = true
		close(o.changed)
	}
}

func (o *output) notify() {
	close(o.changed)
	o.changed = make(chan struct{})
}

// since returns the lines after seq, whether the output is complete with
// them, and a channel closed when there is more (closed at once when the
// output is complete).
func (o *output) since(seq int64) (lines []Line, ended bool, more <-chan struct{}) {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := int64(len(o.lines))
	seq = min(max(seq, 0), n)
	return o.lines[seq:n:n], o.ended, o.changed
}

func (o *output) snapshot() (lines []Line, size int, truncated bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := len(o.lines)
	return o.lines[:n:n], o.size, o.truncated
}
