package netif

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// CounterInterval is how old the byte counters Live answers with may be.
const CounterInterval = time.Second

// maxDrain bounds the events read at once; past it the state is read
// again anyway.
const maxDrain = 1024

// Live is the interfaces of a Handle's namespace kept in memory, for reads
// that come often (the agent's GET /v1/interfaces): what List and Get of
// the Handle would answer, without a netlink dump of links, addresses and
// routes per read.
//
// It subscribes to the kernel's link, address and route events (the
// multicast groups vishvananda/netlink's LinkSubscribe, AddrSubscribe and
// RouteSubscribe join) on a socket of its own, which nobody reads in the
// background: each read first takes every event queued on it, without
// waiting, and when there was any (or the queue overflowed) reads the
// state again. The kernel queues an event before the call that caused it
// returns, so a read made after a change answers with it: exact, with no
// goroutine and nothing done while nobody reads. The byte counters move
// without events; they are read again (one dump of the links) when older
// than CounterInterval.
type Live struct {
	h    *Handle
	sock *nl.NetlinkSocket
	now  func() time.Time

	mu         sync.Mutex // guards the fields below and the socket's reads
	ifs        []Interface
	stale      bool      // events came since ifs was read
	countersAt time.Time // when ifs' counters were read
	buf        []byte
}

// NewLive subscribes to h's namespace's events and reads its interfaces.
func NewLive(ctx context.Context, h *Handle) (*Live, error) {
	var sock *nl.NetlinkSocket
	err := h.Do(func() (err error) {
		sock, err = nl.Subscribe(unix.NETLINK_ROUTE, unix.RTNLGRP_LINK,
			unix.RTNLGRP_IPV4_IFADDR, unix.RTNLGRP_IPV6_IFADDR,
			unix.RTNLGRP_IPV4_ROUTE, unix.RTNLGRP_IPV6_ROUTE)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("subscribing to link, address and route events: %w", err)
	}
	l := &Live{h: h, sock: sock, now: time.Now, stale: true, buf: make([]byte, 64<<10)}
	if _, err := l.List(ctx); err != nil {
		sock.Close()
		return nil, err
	}
	return l, nil
}

// Close ends the subscription; the Handle stays open.
func (l *Live) Close() error {
	l.sock.Close()
	return nil
}

// List is Handle.List from memory: every interface, sorted by name, with
// counters at most CounterInterval old.
func (l *Live) List(ctx context.Context) ([]Interface, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.update(ctx); err != nil {
		return nil, err
	}
	out := make([]Interface, len(l.ifs))
	for i, x := range l.ifs {
		out[i] = x.clone()
	}
	return out, nil
}

// Get is Handle.Get from memory; the error wraps ErrNotFound when the
// interface does not exist.
func (l *Live) Get(ctx context.Context, name string) (Interface, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.update(ctx); err != nil {
		return Interface{}, err
	}
	for _, x := range l.ifs {
		if x.Name == name {
			return x.clone(), nil
		}
	}
	return Interface{}, fmt.Errorf("interface %q: %w", name, ErrNotFound)
}

// clone copies the slices of i, so that a caller never changes the state.
func (i Interface) clone() Interface {
	i.Addresses = append([]string{}, i.Addresses...)
	return i
}

// update takes the queued events, then reads the state again if any came,
// or the counters if they are too old. The caller holds mu.
func (l *Live) update(ctx context.Context) error {
	if l.drain() {
		l.stale = true
	}
	now := l.now()
	switch {
	case l.stale:
		ifs, err := l.h.List(ctx)
		if err != nil {
			return err
		}
		l.ifs, l.stale, l.countersAt = ifs, false, now
	case now.Sub(l.countersAt) >= CounterInterval || now.Before(l.countersAt):
		cs, err := l.h.Counters()
		if err != nil {
			return err
		}
		l.setCounters(cs)
		l.countersAt = now
	}
	return nil
}

// setCounters puts a reading of the counters in the state. A link it does
// not know, or misses, means an event is on its way: the next read reads
// everything again.
func (l *Live) setCounters(cs []Counters) {
	if len(cs) != len(l.ifs) {
		l.stale = true
	}
	for _, c := range cs {
		k := l.index(c.Name)
		if k < 0 {
			l.stale = true
			continue
		}
		l.ifs[k].RxBytes, l.ifs[k].TxBytes = c.RxBytes, c.TxBytes
	}
}

func (l *Live) index(name string) int {
	for k := range l.ifs {
		if l.ifs[k].Name == name {
			return k
		}
	}
	return -1
}

// drain reads every event queued on the socket without waiting and
// reports whether there was any: their content does not matter, the state
// is read again whole. An overflowed queue (ENOBUFS: events were lost)
// counts as events.
func (l *Live) drain() bool {
	fd := l.sock.GetFd()
	got := false
	for range maxDrain {
		_, _, err := unix.Recvfrom(fd, l.buf, unix.MSG_DONTWAIT)
		switch {
		case err == nil, errors.Is(err, unix.ENOBUFS):
			got = true
		case errors.Is(err, unix.EINTR):
		case errors.Is(err, unix.EAGAIN):
			return got // nothing more queued
		default:
			return true // a socket that fails says nothing: read the state
		}
	}
	return true
}
