package dhcp

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/devmgr/devmgr/internal/change"
	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/netif"
	"github.com/devmgr/devmgr/internal/testing/lab"
	"github.com/devmgr/devmgr/internal/testing/testutil"
	"github.com/google/go-cmp/cmp"
)

func newLab(t *testing.T) (*lab.Lab, *netif.Handle) {
	t.Helper()
	testutil.RequireRoot(t)
	testutil.RequireBinary(t, "ip", "dnsmasq")
	l := lab.NewT(t, lab.Options{})
	h, err := netif.OpenAt(l.NSPath(lab.Device))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return l, h
}

func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tlog{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tlog struct{ t *testing.T }

func (w tlog) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// fakeTimers fires short timers for real and long ones (T1, T2) only when
// the test says so.
type fakeTimers struct {
	mu   sync.Mutex
	long []chan time.Time
}

func (f *fakeTimers) After(d time.Duration) <-chan time.Time {
	if d < 10*time.Second {
		return time.After(d)
	}
	c := make(chan time.Time, 1)
	f.mu.Lock()
	f.long = append(f.long, c)
	f.mu.Unlock()
	return c
}

// fire fires every pending long timer.
func (f *fakeTimers) fire() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(f.long)
	for _, c := range f.long {
		c <- time.Now()
	}
	f.long = nil
	return n
}

// skewClock is the real clock plus a skip.
type skewClock struct {
	mu   sync.Mutex
	skew time.Duration
}

func (c *skewClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.skew)
}

func (c *skewClock) skip(d time.Duration) {
	c.mu.Lock()
	c.skew += d
	c.mu.Unlock()
}

func waitLease(t *testing.T, m *Manager, name string, cond func(Lease) bool) Lease {
	t.Helper()
	var l Lease
	testutil.Eventually(t, 20*time.Second, func() bool {
		var ok bool
		l, ok = m.Lease(name)
		return ok && cond(l)
	}, "a matching lease on %s", name)
	return l
}

func countLog(t *testing.T, l *lab.Lab, word string) int {
	b, err := os.ReadFile(l.DNSMasqLog())
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), word)
}

func TestLeaseRenewRelease(t *testing.T) {
	l, h := newLab(t)
	ctx := context.Background()
	timers := &fakeTimers{}
	clock := &skewClock{}
	var mu sync.Mutex
	var events []bool
	m, err := NewManager(Config{Handle: h, Log: testLog(t), After: timers.After, Now: clock.Now, OnLease: func(_ string, _ Lease, ok bool) {
		mu.Lock()
		events = append(events, ok)
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	if err := m.Start(ctx, "eth0"); err != nil {
		t.Fatal(err)
	}
	lease := waitLease(t, m, "eth0", func(Lease) bool { return true })
	if !m.Bound("eth0") || m.Bound("eth1") {
		t.Errorf("Bound: eth0 %v, eth1 %v; want only eth0", m.Bound("eth0"), m.Bound("eth1"))
	}
	p, err := netip.ParsePrefix(lease.Address)
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := netip.MustParseAddr(lab.DHCPStart), netip.MustParseAddr(lab.DHCPEnd)
	if p.Bits() != 24 || p.Addr().Less(lo) || hi.Less(p.Addr()) {
		t.Errorf("leased %s, want inside %s..%s/24", lease.Address, lo, hi)
	}
	if lease.Server != lab.UpstreamIP || lease.Router != lab.UpstreamIP || !slices.Equal(lease.DNS, []string{lab.UpstreamIP}) {
		t.Errorf("lease %+v", lease)
	}
	if lease.LeaseTime != 2*time.Minute || lease.Expiry.Sub(lease.ObtainedAt) != 2*time.Minute || !lease.T1.Before(lease.Expiry) {
		t.Errorf("lease times %+v", lease)
	}
	if b, err := json.Marshal(lease); err != nil || !strings.Contains(string(b), `"lease_time":120`) {
		t.Errorf("lease JSON %s, %v", b, err)
	}
	// Applied: the address and a default route, and traffic flows upstream
	// from the leased address.
	i, err := h.Get(ctx, "eth0")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(i.Addresses, lease.Address) || i.Gateway != lab.UpstreamIP {
		t.Errorf("eth0 = %+v, want %s via %s", i, lease.Address, lab.UpstreamIP)
	}
	body, err := l.Get(ctx, lab.Device, l.HTTPURL())
	if err != nil {
		t.Fatal(err)
	}
	if host, _, _ := net.SplitHostPort(strings.TrimSpace(body)); host != p.Addr().String() {
		t.Errorf("upstream saw %q, want %s", body, p.Addr())
	}

	// Renewal at T1 (the fake clock fires it now).
	acks := countLog(t, l, "DHCPACK")
	testutil.Eventually(t, 5*time.Second, func() bool { return timers.fire() > 0 }, "a T1 timer armed")
	renewed := waitLease(t, m, "eth0", func(x Lease) bool { return x.RenewedAt.After(lease.RenewedAt) })
	if renewed.Address != lease.Address || !renewed.Expiry.After(lease.Expiry) || !renewed.ObtainedAt.Equal(lease.ObtainedAt) {
		t.Errorf("renewed %+v, was %+v", renewed, lease)
	}
	if n := countLog(t, l, "DHCPACK"); n <= acks {
		t.Errorf("dnsmasq logged %d DHCPACKs, had %d before renewal", n, acks)
	}
	// And on demand.
	again, err := m.Renew(ctx, "eth0")
	if err != nil {
		t.Fatal(err)
	}
	if !again.RenewedAt.After(renewed.RenewedAt) || again.Address != lease.Address {
		t.Errorf("Renew = %+v", again)
	}

	// Rebinding: the clock passes T2 without a renewal; the client asks
	// any server for its address again.
	discovers := countLog(t, l, "DHCPDISCOVER")
	clock.skip(time.Until(again.T2) + time.Second)
	testutil.Eventually(t, 20*time.Second, func() bool { return timers.fire() > 0 }, "a T2 timer armed")
	rebound := waitLease(t, m, "eth0", func(x Lease) bool { return x.RenewedAt.After(again.RenewedAt) })
	if rebound.Address != lease.Address {
		t.Errorf("rebound to %s, had %s", rebound.Address, lease.Address)
	}
	if n := countLog(t, l, "DHCPDISCOVER"); n <= discovers {
		t.Errorf("rebinding sent no DHCPDISCOVER (%d before, %d after)", discovers, n)
	}

	// Release on mode change: address and route gone, dnsmasq saw it.
	if err := m.Stop(ctx, "eth0", true); err != nil {
		t.Fatal(err)
	}
	i, err = h.Get(ctx, "eth0")
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(i.Addresses, lease.Address) || i.Gateway != "" {
		t.Errorf("after release eth0 = %+v", i)
	}
	if _, ok := m.Lease("eth0"); ok || m.Running("eth0") || m.Bound("eth0") {
		t.Error("lease or client left after Stop")
	}
	testutil.Eventually(t, 3*time.Second, func() bool { return countLog(t, l, "DHCPRELEASE") > 0 }, "dnsmasq to see a DHCPRELEASE")
	mu.Lock()
	defer mu.Unlock()
	if len(events) < 4 || !events[0] || events[len(events)-1] {
		t.Errorf("OnLease events %v, want obtained, renewed..., released", events)
	}
}

// newChanger is the agent's change engine with netif's Changer in dir.
func newChanger(t *testing.T, h *netif.Handle, cfg config.Config, dir string, m *Manager, after func(time.Duration, func()) func() bool) (*change.Engine, *netif.Changer) {
	t.Helper()
	eng, err := change.New(change.Config{Dir: filepath.Join(dir, "changes"), Timeout: time.Minute, AfterFunc: after, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(eng.Close)
	c, err := netif.NewChanger(netif.Config{Handle: h, AppConfig: cfg, Changes: eng, Dir: filepath.Join(dir, "network"), DHCP: m, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	return eng, c
}

// TestDHCPModeRollsBack runs the real client through netif's Changer: a
// DHCP change that is not confirmed leaves the link as it was.
func TestDHCPModeRollsBack(t *testing.T) {
	l, h := newLab(t)
	ctx := context.Background()
	m, err := NewManager(Config{Handle: h, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	dir := t.TempDir()
	cfg := l.Config(dir)
	cfg.Uplinks, cfg.LAN = nil, []string{"eth0", "eth1"}
	before, err := h.Snapshot(ctx, "eth0")
	if err != nil {
		t.Fatal(err)
	}
	rolledBack := make(chan func(), 1)
	eng, c := newChanger(t, h, cfg, dir, m, func(_ time.Duration, f func()) func() bool { rolledBack <- f; return func() bool { return true } })
	ch, err := c.SetConfig(ctx, "eth0", netif.LinkConfig{Mode: netif.ModeDHCP})
	if err != nil {
		t.Fatal(err)
	}
	lease := waitLease(t, m, "eth0", func(Lease) bool { return true })
	if i, _ := h.Get(ctx, "eth0"); !slices.Contains(i.Addresses, lease.Address) {
		t.Fatalf("lease %s not applied: %+v", lease.Address, i)
	}
	(<-rolledBack)() // the rollback timer fires
	if got, err := c.Get(ch.ID); err != nil || got.Status != netif.StatusRolledBack || got.Error != "" {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	if m.Running("eth0") {
		t.Error("DHCP client still runs after rollback")
	}
	after, err := h.Snapshot(ctx, "eth0")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("eth0 after rollback (-before +after):\n%s", diff)
	}

	// Confirmed DHCP survives a restart: ApplyDesired starts the client.
	ch, err = c.SetConfig(ctx, "eth0", netif.LinkConfig{Mode: netif.ModeDHCP})
	if err != nil {
		t.Fatal(err)
	}
	<-rolledBack
	if _, err := c.Confirm(ctx, ch.ID); err != nil {
		t.Fatal(err)
	}
	lease = waitLease(t, m, "eth0", func(Lease) bool { return true })
	m.Close() // agent stops: the address stays
	eng.Close()
	m2, err := NewManager(Config{Handle: h, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m2.Close)
	eng2, c2 := newChanger(t, h, cfg, dir, m2, nil)
	if err := eng2.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c2.ApplyDesired(ctx); err != nil {
		t.Fatal(err)
	}
	again := waitLease(t, m2, "eth0", func(Lease) bool { return true })
	if again.Address != lease.Address {
		t.Errorf("after restart leased %s, had %s", again.Address, lease.Address)
	}
	if _, err := c2.SetConfig(ctx, "wlan0", netif.LinkConfig{Mode: netif.ModeDHCP}); !errors.Is(err, netif.ErrProtected) {
		t.Errorf("DHCP on the AP interface = %v, want ErrProtected", err)
	}
}
