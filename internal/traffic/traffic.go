// Package traffic keeps the last hour of every network interface's
// traffic in memory: one reading of all links' byte counters per interval
// (the agent's: one netlink dump every 10 s), turned into rates, in a
// fixed ring of Samples per interface. Reading the history never samples
// and never starts a process.
//
//	h, err := traffic.New(traffic.Config{Read: counters})
//	go h.Run(ctx)              // samples now, then every Interval, until ctx is done
//	h.Rate("eth1")             // the last interval's rates
//	h.All(since)               // every interface's samples after since
//
// Memory is bounded: Samples per interface in fixed arrays, at most
// MaxLinks interfaces; an interface that is gone from a reading is
// dropped, and one made again under the same name starts over.
package traffic

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"math"
	"slices"
	"sync"
	"time"
)

// Defaults.
const (
	DefaultInterval = 10 * time.Second
	DefaultMaxLinks = 64
	// Samples is how many intervals an interface keeps: an hour of 10 s.
	Samples = 360
)

// Counter is one link's byte counters in one reading.
type Counter struct {
	Name string
	// Index is the kernel's interface index: a link made again under the
	// same name has another, and its history starts over.
	Index            int
	RxBytes, TxBytes uint64
}

// Sample is the traffic of one interval.
type Sample struct {
	T              time.Time // the interval's end
	RxRate, TxRate uint64    // bytes per second
}

// Series is one interface's samples, oldest first.
type Series struct {
	Name    string
	Samples []Sample
}

// Config configures a History.
type Config struct {
	// Read reads every link's counters at once (required).
	Read     func(ctx context.Context) ([]Counter, error)
	Interval time.Duration // between readings; 0: DefaultInterval
	MaxLinks int           // interfaces kept; 0: DefaultMaxLinks
	// Now is the clock; nil: time.Now (which testing/synctest fakes, as
	// it does Run's ticker).
	Now func() time.Time
	Log *slog.Logger // nil: discard
}

// History is the traffic history. It is safe for concurrent use.
type History struct {
	cfg Config
	log *slog.Logger

	mu    sync.Mutex // guards the fields below
	links map[string]*link
	gen   uint64 // counts readings: a link not seen in the latest is gone
	full  bool   // MaxLinks was reached (logged once)
}

// link is one interface's last reading and its ring of samples.
type link struct {
	index  int
	gen    uint64
	at     time.Time // of the last reading
	rx, tx uint64
	ring   [Samples]sample
	n      int // samples held
	next   int // where the next sample goes
}

// sample is a Sample in 24 bytes.
type sample struct {
	t      int64 // Unix nanoseconds
	rx, tx uint64
}

// New checks cfg.
func New(cfg Config) (*History, error) {
	if cfg.Read == nil {
		return nil, errors.New("traffic.New: Read is required")
	}
	cfg.Interval = cmp.Or(cfg.Interval, DefaultInterval)
	cfg.MaxLinks = cmp.Or(cfg.MaxLinks, DefaultMaxLinks)
	if cfg.Interval < 0 || cfg.MaxLinks < 0 {
		return nil, errors.New("traffic.New: Interval and MaxLinks must not be negative")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &History{cfg: cfg, log: log, links: map[string]*link{}}, nil
}

// Interval is the time between readings.
func (h *History) Interval() time.Duration { return h.cfg.Interval }

// Run reads the counters now and then every Interval until ctx is done.
// A reading that fails is skipped; the first of a run of failures is
// logged.
func (h *History) Run(ctx context.Context) {
	tick := time.NewTicker(h.cfg.Interval)
	defer tick.Stop()
	failing := false
	for {
		err := h.Sample(ctx)
		if err != nil && !failing && ctx.Err() == nil {
			h.log.Warn("reading interface counters for the traffic history", "err", err)
		}
		failing = err != nil
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Sample takes one reading: each interface seen before gets a sample of
// the rates since its last reading; new ones start with this reading.
func (h *History) Sample(ctx context.Context) error {
	cs, err := h.cfg.Read(ctx)
	if err != nil {
		return err
	}
	now := h.cfg.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	// Links gone from the reading go first, making room for new ones.
	h.gen++
	for _, c := range cs {
		if l := h.links[c.Name]; l != nil {
			l.gen = h.gen
		}
	}
	for name, l := range h.links {
		if l.gen != h.gen {
			delete(h.links, name)
		}
	}
	for _, c := range cs {
		h.add(c, now)
	}
	return nil
}

// add records reading c of one link. The caller holds h.mu.
func (h *History) add(c Counter, now time.Time) {
	l := h.links[c.Name]
	switch {
	case l == nil && len(h.links) >= h.cfg.MaxLinks:
		if !h.full {
			h.log.Warn("too many interfaces for the traffic history; the rest are not sampled", "max", h.cfg.MaxLinks, "left_out", c.Name)
			h.full = true
		}
		return
	case l == nil:
		l = &link{}
		h.links[c.Name] = l
	case l.index != c.Index:
		*l = link{} // another link under the same name
	default:
		if dt := now.Sub(l.at); dt > 0 && c.RxBytes >= l.rx && c.TxBytes >= l.tx {
			l.push(sample{t: now.UnixNano(), rx: rate(c.RxBytes-l.rx, dt), tx: rate(c.TxBytes-l.tx, dt)})
		}
		// Counters that went down were reset: this reading starts over.
	}
	l.index, l.gen, l.at, l.rx, l.tx = c.Index, h.gen, now, c.RxBytes, c.TxBytes
}

func rate(bytes uint64, dt time.Duration) uint64 {
	return uint64(math.Round(float64(bytes) / dt.Seconds()))
}

func (l *link) push(s sample) {
	l.ring[l.next] = s
	l.next = (l.next + 1) % Samples
	l.n = min(l.n+1, Samples)
}

// last returns the newest sample.
func (l *link) last() (sample, bool) {
	if l.n == 0 {
		return sample{}, false
	}
	return l.ring[(l.next+Samples-1)%Samples], true
}

// samples returns the samples after since, oldest first.
func (l *link) samples(since time.Time) []Sample {
	out := make([]Sample, 0, l.n)
	for k := range l.n {
		s := l.ring[(l.next-l.n+k+Samples)%Samples]
		if t := time.Unix(0, s.t); t.After(since) {
			out = append(out, Sample{T: t, RxRate: s.rx, TxRate: s.tx})
		}
	}
	return out
}

// Rate returns the last interval's rates of name (bytes per second);
// ok is false until it has a sample.
func (h *History) Rate(name string) (rx, tx uint64, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	l := h.links[name]
	if l == nil {
		return 0, 0, false
	}
	s, ok := l.last()
	return s.rx, s.tx, ok
}

// All returns every interface's samples after since (the zero time: all
// of them), by name.
func (h *History) All(since time.Time) []Series {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]Series, 0, len(h.links))
	for name, l := range h.links {
		out = append(out, Series{Name: name, Samples: l.samples(since)})
	}
	slices.SortFunc(out, func(a, b Series) int { return cmp.Compare(a.Name, b.Name) })
	return out
}
