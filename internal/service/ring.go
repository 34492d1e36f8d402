package service

import (
	"sync"
)

// ring keeps the last n lines written to it, each cut at maxLine bytes.
// It is the stdout and stderr of a supervised child.
type ring struct {
	mu      sync.Mutex
	lines   []string
	next    int
	full    bool
	partial []byte
	onLine  func(string)
}

const maxLine = 1024

func newRing(n int, onLine func(string)) *ring {
	if n < 1 {
		n = 1
	}
	return &ring{lines: make([]string, n), onLine: onLine}
}

func (r *ring) Write(p []byte) (int, error) {
	r.mu.Lock()
	var done []string
	for _, c := range p {
		if c == '\n' {
			done = append(done, r.push())
			continue
		}
		if len(r.partial) < maxLine {
			r.partial = append(r.partial, c)
		}
	}
	r.mu.Unlock()
	if r.onLine != nil {
		for _, l := range done {
			r.onLine(l)
		}
	}
	return len(p), nil
}

// endLine ends an unfinished line: the writer has exited.
func (r *ring) endLine() {
	r.mu.Lock()
	var done []string
	if len(r.partial) > 0 {
		done = append(done, r.push())
	}
	r.mu.Unlock()
	if r.onLine != nil {
		for _, l := range done {
			r.onLine(l)
		}
	}
}

// push ends the partial line; the caller holds mu.
func (r *ring) push() string {
	l := string(r.partial)
	r.partial = r.partial[:0]
	r.lines[r.next] = l
	r.next = (r.next + 1) % len(r.lines)
	if r.next == 0 {
		r.full = true
	}
	return l
}

// Lines returns the kept lines, oldest first, with any unfinished line last.
func (r *ring) Lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	if r.full {
		out = append(out, r.lines[r.next:]...)
	}
	out = append(out, r.lines[:r.next]...)
	if len(r.partial) > 0 {
		out = append(out, string(r.partial))
	}
	return out
}
