// Package dhcp is the in-process DHCPv4 client of LAN interfaces set to
// mode dhcp. It obtains a lease, applies it (address, default route via
// the router, DNS recorded), renews at T1, rebinds at T2, starts over at
// expiry or NAK, and releases the lease when the mode changes.
//
// API (Manager implements netif.DHCPController):
//
//	m, err := dhcp.NewManager(dhcp.Config{Handle: h, Log: log})  // h: netif.Handle of the agent's namespace
//	m.Start(ctx, "eth1")              // runs until Stop; returns at once
//	m.Lease("eth1")                   // (Lease, true) once bound; m.Bound("eth1") says only that
//	m.Renew(ctx, "eth1")              // renew now (a button; tests)
//	m.Stop(ctx, "eth1", true)         // release the lease and remove its address and route
//	m.Close()                         // agent shutdown: stop all, keep addresses
//
// Sockets are opened inside the Handle's namespace, so the client works
// for whatever namespace the link lives in.
package dhcp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/devmgr/devmgr/internal/netif"
	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// RouteMetric is the metric of the default route a lease installs, above
// a static default route's 0 so both can exist.
const RouteMetric = 100

// Lease is a bound lease as the Network page shows it.
type Lease struct {
	Interface  string        `json:"interface"`
	Server     string        `json:"server"`
	Address    string        `json:"address"` // CIDR
	Router     string        `json:"router,omitempty"`
	DNS        []string      `json:"dns,omitempty"`
	LeaseTime  time.Duration `json:"-"` // in JSON: lease_time, whole seconds
	Expiry     time.Time     `json:"expiry"`
	ObtainedAt time.Time     `json:"obtained_at"`
	RenewedAt  time.Time     `json:"renewed_at"` // equals ObtainedAt until a renewal
	T1         time.Time     `json:"renew_at"`
	T2         time.Time     `json:"rebind_at"`
}

// MarshalJSON writes lease_time in seconds, as a page shows it.
func (l Lease) MarshalJSON() ([]byte, error) {
	type plain Lease
	return json.Marshal(struct {
		plain
		LeaseTime int64 `json:"lease_time"`
	}{plain(l), int64(l.LeaseTime / time.Second)})
}

// Config configures a Manager.
type Config struct {
	Handle *netif.Handle // required
	Log    *slog.Logger  // nil: discard
	Now    func() time.Time
	// After is the timer (tests inject a fake clock); nil: time.After.
	After func(d time.Duration) <-chan time.Time
	// Timeout of one exchange attempt (default 3s, 3 attempts).
	Timeout time.Duration
	// OnLease, when set, is called after a lease is applied or renewed, and
	// with ok false when it is given up (e.g. to write resolv.conf). It runs
	// on the client's goroutine and must not call the Manager or a Changer.
	OnLease func(name string, l Lease, ok bool)
}

// Manager runs one client per interface.
type Manager struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	clients map[string]*client
}

// NewManager checks cfg.
func NewManager(cfg Config) (*Manager, error) {
	if cfg.Handle == nil {
		return nil, errors.New("dhcp.NewManager: Handle is required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.After == nil {
		cfg.After = time.After
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 3 * time.Second
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Manager{cfg: cfg, log: log, clients: map[string]*client{}}, nil
}

var _ netif.DHCPController = (*Manager)(nil)

type client struct {
	m      *Manager
	name   string
	log    *slog.Logger
	cancel context.CancelFunc
	done   chan struct{}
	renew  chan chan error

	mu    sync.Mutex
	lease *nclient4.Lease
	pub   *Lease
	nc    *nclient4.Client
}

// Start runs a client on link name unless one runs. It returns at once;
// Lease tells when it is bound.
func (m *Manager) Start(ctx context.Context, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.clients[name]; ok {
		return nil
	}
	if _, err := m.cfg.Handle.Netlink().LinkByName(name); err != nil {
		return fmt.Errorf("starting DHCP on %s: %w", name, err)
	}
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c := &client{m: m, name: name, log: m.log.With("interface", name), cancel: cancel,
		done: make(chan struct{}), renew: make(chan chan error)}
	m.clients[name] = c
	go c.run(cctx)
	m.log.Info("dhcp client started", "interface", name)
	return nil
}

// Running reports whether a client runs on name.
func (m *Manager) Running(name string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.clients[name]
	return ok
}

// Lease returns the bound lease of name.
func (m *Manager) Lease(name string) (Lease, bool) {
	m.mu.Lock()
	c := m.clients[name]
	m.mu.Unlock()
	if c == nil {
		return Lease{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pub == nil {
		return Lease{}, false
	}
	l := *c.pub
	l.DNS = append([]string(nil), l.DNS...)
	return l, true
}

// Bound reports whether the client of name holds a lease.
func (m *Manager) Bound(name string) bool {
	_, ok := m.Lease(name)
	return ok
}

// Renew renews the lease of name now and returns the renewed lease.
func (m *Manager) Renew(ctx context.Context, name string) (Lease, error) {
	m.mu.Lock()
	c := m.clients[name]
	m.mu.Unlock()
	if c == nil {
		return Lease{}, fmt.Errorf("renewing DHCP lease on %s: no client runs", name)
	}
	errc := make(chan error, 1)
	select {
	case c.renew <- errc:
	case <-c.done:
		return Lease{}, fmt.Errorf("renewing DHCP lease on %s: client stopped", name)
	case <-ctx.Done():
		return Lease{}, ctx.Err()
	}
	select {
	case err := <-errc:
		if err != nil {
			return Lease{}, err
		}
	case <-ctx.Done():
		return Lease{}, ctx.Err()
	}
	l, _ := m.Lease(name)
	return l, nil
}

// Stop ends the client of name; with release, the lease is released and
// its address and route removed.
func (m *Manager) Stop(ctx context.Context, name string, release bool) error {
	m.mu.Lock()
	c := m.clients[name]
	delete(m.clients, name)
	m.mu.Unlock()
	if c == nil {
		return nil
	}
	c.cancel()
	select {
	case <-c.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	c.mu.Lock()
	lease, nc := c.lease, c.nc
	c.lease, c.pub, c.nc = nil, nil, nil
	c.mu.Unlock()
	var err error
	if release && lease != nil {
		if rerr := c.release(lease); rerr != nil {
			c.log.Warn("releasing dhcp lease", "err", rerr)
		}
		err = c.unapply(lease)
		m.notify(name, Lease{}, false)
	}
	if nc != nil {
		nc.Close()
	}
	m.log.Info("dhcp client stopped", "interface", name, "released", release)
	return err
}

// Close stops every client without releasing (addresses stay, so the
// device keeps working across an agent restart).
func (m *Manager) Close() {
	m.mu.Lock()
	names := make([]string, 0, len(m.clients))
	for n := range m.clients {
		names = append(names, n)
	}
	m.mu.Unlock()
	for _, n := range names {
		_ = m.Stop(context.Background(), n, false)
	}
}

func (m *Manager) notify(name string, l Lease, ok bool) {
	if m.cfg.OnLease != nil {
		m.cfg.OnLease(name, l, ok)
	}
}

func (c *client) run(ctx context.Context) {
	defer close(c.done)
	backoff := time.Second
	for ctx.Err() == nil {
		if err := c.open(); err != nil {
			c.log.Warn("opening dhcp socket", "err", err)
			c.wait(ctx, backoff)
			backoff = min(2*backoff, time.Minute)
			continue
		}
		lease, err := c.obtain(ctx)
		if err != nil {
			if ctx.Err() == nil {
				c.log.Warn("obtaining dhcp lease", "err", err)
				c.wait(ctx, backoff)
				backoff = min(2*backoff, time.Minute)
			}
			continue
		}
		backoff = time.Second
		c.bound(ctx, lease)
	}
}

// wait sleeps d unless ctx ends; renew requests meanwhile fail.
func (c *client) wait(ctx context.Context, d time.Duration) {
	t := c.m.cfg.After(d)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t:
			return
		case errc := <-c.renew:
			errc <- errors.New("no lease to renew yet")
		}
	}
}

func (c *client) open() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nc != nil {
		return nil
	}
	return c.m.cfg.Handle.Do(func() error {
		nc, err := nclient4.New(c.name, nclient4.WithTimeout(c.m.cfg.Timeout), nclient4.WithRetry(3))
		if err != nil {
			return fmt.Errorf("opening DHCP client on %s: %w", c.name, err)
		}
		c.nc = nc
		return nil
	})
}

func (c *client) obtain(ctx context.Context) (*nclient4.Lease, error) {
	c.mu.Lock()
	nc := c.nc
	c.mu.Unlock()
	lease, err := nc.Request(ctx)
	if err != nil {
		return nil, fmt.Errorf("requesting lease on %s: %w", c.name, err)
	}
	if err := c.apply(lease, nil); err != nil {
		return nil, err
	}
	return lease, nil
}

// bound keeps lease alive until it is lost or ctx ends.
func (c *client) bound(ctx context.Context, lease *nclient4.Lease) {
	for {
		c.mu.Lock()
		pub := *c.pub
		nc := c.nc
		c.mu.Unlock()
		now := c.m.cfg.Now()
		var manual chan error
		select {
		case <-ctx.Done():
			return
		case <-c.m.cfg.After(max(pub.T1.Sub(now), 0)):
		case manual = <-c.renew:
		}
		newLease, err := c.renewUntil(ctx, nc, lease, pub, manual != nil)
		if manual != nil {
			manual <- err
		}
		if err == nil {
			lease = newLease
			continue
		}
		if ctx.Err() != nil {
			return
		}
		var nak *nclient4.ErrNak
		if errors.As(err, &nak) || !c.m.cfg.Now().Before(pub.Expiry) {
			c.log.Warn("dhcp lease lost", "err", err)
			if uerr := c.unapply(lease); uerr != nil {
				c.log.Error("removing lost lease", "err", uerr)
			}
			c.mu.Lock()
			c.lease, c.pub = nil, nil
			c.mu.Unlock()
			c.m.notify(c.name, Lease{}, false)
			return
		}
		if manual != nil {
			continue // a failed manual renewal keeps the lease and its timers
		}
	}
}

// renewUntil renews (unicast-style request to the server) until T2, then
// rebinds (request from any server) until expiry. once tries one time.
func (c *client) renewUntil(ctx context.Context, nc *nclient4.Client, lease *nclient4.Lease, pub Lease, once bool) (*nclient4.Lease, error) {
	for {
		now := c.m.cfg.Now()
		var nl *nclient4.Lease
		var err error
		if now.Before(pub.T2) || once {
			nl, err = nc.Renew(ctx, lease)
		} else {
			// Rebinding: any server may answer; start from a fresh request.
			nl, err = nc.Request(ctx, dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(lease.ACK.YourIPAddr)))
		}
		if err == nil {
			if err := c.apply(nl, lease); err != nil {
				return nil, err
			}
			return nl, nil
		}
		var nak *nclient4.ErrNak
		if once || errors.As(err, &nak) || ctx.Err() != nil {
			return nil, fmt.Errorf("renewing lease on %s: %w", c.name, err)
		}
		left := pub.Expiry.Sub(c.m.cfg.Now())
		if left <= 0 {
			return nil, fmt.Errorf("lease on %s expired: %w", c.name, err)
		}
		c.log.Warn("renewing dhcp lease", "err", err, "expires_in", left)
		c.wait(ctx, min(max(left/2, time.Second), time.Minute))
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
}

func leaseAddr(l *nclient4.Lease) *net.IPNet {
	mask := l.ACK.SubnetMask()
	if mask == nil {
		mask = l.ACK.YourIPAddr.DefaultMask()
	}
	return &net.IPNet{IP: l.ACK.YourIPAddr.To4(), Mask: mask}
}

func leaseRouter(l *nclient4.Lease) net.IP {
	if rs := l.ACK.Router(); len(rs) > 0 {
		return rs[0]
	}
	return nil
}

// apply puts lease on the link, replacing what old applied.
func (c *client) apply(lease, old *nclient4.Lease) error {
	nl := c.m.cfg.Handle.Netlink()
	link, err := nl.LinkByName(c.name)
	if err != nil {
		return fmt.Errorf("looking up %s: %w", c.name, err)
	}
	addr := leaseAddr(lease)
	gw := leaseRouter(lease)
	if old != nil {
		oa, og := leaseAddr(old), leaseRouter(old)
		if oa.String() != addr.String() || !og.Equal(gw) {
			if err := c.unapply(old); err != nil {
				return err
			}
		}
	}
	if err := nl.AddrAdd(link, &netlink.Addr{IPNet: addr}); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("adding leased address %s to %s: %w", addr, c.name, err)
	}
	if gw != nil {
		r := &netlink.Route{LinkIndex: link.Attrs().Index, Gw: gw, Priority: RouteMetric, Protocol: unix.RTPROT_DHCP}
		if err := nl.RouteAdd(r); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("adding default route via %s on %s: %w", gw, c.name, err)
		}
	}
	now := c.m.cfg.Now()
	lt := lease.ACK.IPAddressLeaseTime(time.Hour)
	pub := Lease{
		Interface: c.name, Server: lease.ACK.ServerIdentifier().String(), Address: addr.String(),
		LeaseTime: lt, Expiry: now.Add(lt), ObtainedAt: now, RenewedAt: now,
		T1: now.Add(lease.ACK.IPAddressRenewalTime(lt / 2)),
		T2: now.Add(lease.ACK.IPAddressRebindingTime(lt * 7 / 8)),
	}
	if gw != nil {
		pub.Router = gw.String()
	}
	for _, d := range lease.ACK.DNS() {
		pub.DNS = append(pub.DNS, d.String())
	}
	c.mu.Lock()
	if old != nil && c.pub != nil && c.pub.Address == pub.Address {
		pub.ObtainedAt = c.pub.ObtainedAt
	}
	c.lease, c.pub = lease, &pub
	c.mu.Unlock()
	if old == nil {
		c.log.Info("dhcp lease obtained", "address", pub.Address, "router", pub.Router, "server", pub.Server, "lease_time", lt)
	} else {
		c.log.Info("dhcp lease renewed", "address", pub.Address, "expiry", pub.Expiry)
	}
	c.m.notify(c.name, pub, true)
	return nil
}

// release sends DHCPRELEASE from the leased address over an ordinary UDP
// socket: the raw socket's source 0.0.0.0 would make the server's kernel
// drop a unicast packet as martian.
func (c *client) release(lease *nclient4.Lease) error {
	req, err := dhcpv4.NewReleaseFromACK(lease.ACK)
	if err != nil {
		return fmt.Errorf("building DHCPRELEASE: %w", err)
	}
	server := lease.ACK.ServerIdentifier()
	if server == nil {
		return errors.New("lease has no server identifier")
	}
	return c.m.cfg.Handle.Do(func() error {
		conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: lease.ACK.YourIPAddr, Port: dhcpv4.ClientPort})
		if err != nil {
			return fmt.Errorf("opening socket for DHCPRELEASE: %w", err)
		}
		defer conn.Close()
		if _, err := conn.WriteTo(req.ToBytes(), &net.UDPAddr{IP: server, Port: dhcpv4.ServerPort}); err != nil {
			return fmt.Errorf("sending DHCPRELEASE to %s: %w", server, err)
		}
		return nil
	})
}

// unapply removes the address and route lease put on the link.
func (c *client) unapply(lease *nclient4.Lease) error {
	nl := c.m.cfg.Handle.Netlink()
	link, err := nl.LinkByName(c.name)
	if err != nil {
		return fmt.Errorf("looking up %s: %w", c.name, err)
	}
	var errs []error
	if gw := leaseRouter(lease); gw != nil {
		r := &netlink.Route{LinkIndex: link.Attrs().Index, Gw: gw, Priority: RouteMetric, Protocol: unix.RTPROT_DHCP}
		if err := nl.RouteDel(r); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("removing default route via %s on %s: %w", gw, c.name, err))
		}
	}
	addr := leaseAddr(lease)
	if err := nl.AddrDel(link, &netlink.Addr{IPNet: addr}); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
		errs = append(errs, fmt.Errorf("removing leased address %s from %s: %w", addr, c.name, err))
	}
	return errors.Join(errs...)
}
