package netif

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/devmgr/devmgr/internal/nsrun"
)

// ErrNotFound is returned for an interface that does not exist.
var ErrNotFound = errors.New("no such interface")

// Handle is a netlink connection bound to one network namespace. Every
// method works in that namespace whatever thread calls it, so timers and
// goroutines can never touch another namespace by accident.
type Handle struct {
	nl *netlink.Handle
	ns netns.NsHandle
}

// Open returns a Handle on the calling thread's network namespace (the
// agent's).
func Open() (*Handle, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ns, err := netns.Get()
	if err != nil {
		return nil, fmt.Errorf("getting current network namespace: %w", err)
	}
	return newHandle(ns)
}

// OpenAt returns a Handle on the network namespace mounted at path
// (for example /run/netns/NAME).
func OpenAt(path string) (*Handle, error) {
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return nil, fmt.Errorf("opening network namespace %s: %w", path, err)
	}
	return newHandle(ns)
}

func newHandle(ns netns.NsHandle) (*Handle, error) {
	nl, err := netlink.NewHandleAt(ns)
	if err != nil {
		ns.Close()
		return nil, fmt.Errorf("opening netlink socket: %w", err)
	}
	return &Handle{nl: nl, ns: ns}, nil
}

// Close releases the netlink socket and the namespace reference.
func (h *Handle) Close() error {
	h.nl.Close()
	return h.ns.Close()
}

// Netlink returns the underlying netlink handle (for packages such as dhcp
// that apply leases).
func (h *Handle) Netlink() *netlink.Handle { return h.nl }

// Do runs fn on a locked OS thread that is inside h's namespace; sockets fn
// opens belong to that namespace. The thread is discarded if it cannot be
// moved back.
func (h *Handle) Do(fn func() error) error {
	return nsrun.Do(h.ns, fn)
}

func (h *Handle) link(name string) (netlink.Link, error) {
	l, err := h.nl.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil, fmt.Errorf("interface %q: %w", name, ErrNotFound)
		}
		return nil, fmt.Errorf("looking up interface %q: %w", name, err)
	}
	return l, nil
}
