package netif

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/devmgr/devmgr/internal/testing/lab"
	"github.com/devmgr/devmgr/internal/testing/testutil"
)

func newLive(t *testing.T, h *Handle) (*Live, *testutil.Clock) {
	t.Helper()
	live, err := NewLive(context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { live.Close() })
	clock := testutil.NewClock(time.Unix(1_800_000_000, 0))
	live.now = clock.Now
	return live, clock
}

var ignoreCounters = cmp.FilterPath(func(p cmp.Path) bool {
	f := p.Last().String()
	return f == ".RxBytes" || f == ".TxBytes"
}, cmp.Ignore())

// TestLiveFollowsEvents: each change of a link, an address or a route, made
// by netlink or by another program, is in the very next read of Live (no
// waiting), which then equals a fresh dump (Handle.List).
func TestLiveFollowsEvents(t *testing.T) {
	l, h := newLab(t)
	ctx := context.Background()
	live, _ := newLive(t, h)
	nlh := h.Netlink()
	link := func(name string) netlink.Link {
		t.Helper()
		ln, err := nlh.LinkByName(name)
		if err != nil {
			t.Fatal(err)
		}
		return ln
	}
	addr := func(s string) *netlink.Addr {
		a, err := netlink.ParseAddr(s)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	steps := []struct {
		name   string
		change func() error
		check  func(i Interface, err error) string // "" when the read is right
		iface  string
	}{
		{"address added", func() error { return nlh.AddrAdd(link("eth1"), addr("203.0.113.1/24")) },
			func(i Interface, _ error) string {
				if !slices.Contains(i.Addresses, "203.0.113.1/24") {
					return fmt.Sprintf("addresses %v lack 203.0.113.1/24", i.Addresses)
				}
				return ""
			}, "eth1"},
		{"address added by ip", func() error {
			out, err := l.Exec(ctx, lab.Device, "ip", "addr", "add", "2001:db8::1/64", "dev", "eth1", "nodad")
			if err != nil {
				return fmt.Errorf("%w: %s", err, out)
			}
			return nil
		}, func(i Interface, _ error) string {
			if !slices.Contains(i.Addresses, "2001:db8::1/64") {
				return fmt.Sprintf("addresses %v lack 2001:db8::1/64", i.Addresses)
			}
			return ""
		}, "eth1"},
		{"default route", func() error {
			return nlh.RouteAdd(&netlink.Route{LinkIndex: link("eth1").Attrs().Index, Gw: net.ParseIP("203.0.113.2")})
		}, func(i Interface, _ error) string {
			if i.Gateway != "203.0.113.2" {
				return fmt.Sprintf("gateway %q, want 203.0.113.2", i.Gateway)
			}
			return ""
		}, "eth1"},
		{"address removed", func() error { return nlh.AddrDel(link("eth1"), addr("203.0.113.1/24")) },
			func(i Interface, _ error) string {
				if slices.Contains(i.Addresses, "203.0.113.1/24") {
					return fmt.Sprintf("addresses %v still hold 203.0.113.1/24", i.Addresses)
				}
				if i.Gateway != "" {
					return fmt.Sprintf("gateway %q stays without its network", i.Gateway)
				}
				return ""
			}, "eth1"},
		{"link down", func() error { return nlh.LinkSetDown(link("eth1")) },
			func(i Interface, _ error) string {
				if i.AdminUp || i.OperState == "up" {
					return fmt.Sprintf("admin up %v, oper state %s after down", i.AdminUp, i.OperState)
				}
				return ""
			}, "eth1"},
		{"MTU", func() error { return nlh.LinkSetMTU(link("eth1"), 1400) },
			func(i Interface, _ error) string {
				if i.MTU != 1400 {
					return fmt.Sprintf("MTU %d, want 1400", i.MTU)
				}
				return ""
			}, "eth1"},
		{"link up", func() error { return nlh.LinkSetUp(link("eth1")) },
			func(i Interface, _ error) string {
				if !i.AdminUp {
					return "admin down after up"
				}
				return ""
			}, "eth1"},
		{"link added", func() error {
			return nlh.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "veth7"}, PeerName: "veth7p"})
		},
			func(i Interface, err error) string {
				if err != nil {
					return err.Error()
				}
				return ""
			}, "veth7"},
		{"link deleted", func() error { return nlh.LinkDel(link("veth7")) },
			func(_ Interface, err error) string {
				if !errors.Is(err, ErrNotFound) {
					return fmt.Sprintf("error %v, want ErrNotFound", err)
				}
				return ""
			}, "veth7"},
	}
	for _, st := range steps {
		if err := st.change(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		i, err := live.Get(ctx, st.iface)
		if msg := st.check(i, err); msg != "" {
			t.Errorf("%s: the next read: %s", st.name, msg)
		}
		got, err := live.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want, err := h.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got, ignoreCounters); diff != "" {
			t.Errorf("%s: Live.List differs from a dump (-dump +live):\n%s", st.name, diff)
		}
	}
}

// TestLiveCounters: the byte counters are at most CounterInterval old:
// traffic shows once that much time has passed, not before.
func TestLiveCounters(t *testing.T) {
	ping := testutil.RequireBinary(t, "ping")
	l, h := newLab(t)
	ctx := context.Background()
	if err := h.ApplyConfig(ctx, "eth1", LinkConfig{Mode: ModeStatic, Addresses: []string{lab.LANDeviceAddr}}); err != nil {
		t.Fatal(err)
	}
	live, clock := newLive(t, h)
	before, err := live.Get(ctx, "eth1")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := l.Exec(ctx, lab.Device, ping, "-c3", "-i0.2", "-s1000", "-W3", lab.LANHostIP); err != nil {
		t.Fatalf("LAN host not reachable: %v\n%s", err, out)
	}
	clock.Advance(CounterInterval - time.Millisecond)
	if i, _ := live.Get(ctx, "eth1"); i.TxBytes != before.TxBytes {
		t.Errorf("counters read again within %s: tx %d, was %d", CounterInterval, i.TxBytes, before.TxBytes)
	}
	clock.Advance(time.Millisecond)
	i, err := live.Get(ctx, "eth1")
	if err != nil {
		t.Fatal(err)
	}
	if tx, rx := i.TxBytes-before.TxBytes, i.RxBytes-before.RxBytes; tx < 3000 || rx < 3000 {
		t.Errorf("after %s eth1 sent %d and received %d bytes, want the 3 pings of 1000 bytes", CounterInterval, tx, rx)
	}
}

// TestLiveOverflow: events lost to a full queue (ENOBUFS) still make the
// next read read the state again.
func TestLiveOverflow(t *testing.T) {
	_, h := newLab(t)
	ctx := context.Background()
	live, _ := newLive(t, h)
	if err := unix.SetsockoptInt(live.sock.GetFd(), unix.SOL_SOCKET, unix.SO_RCVBUF, 0); err != nil {
		t.Fatal(err)
	}
	eth1, err := h.Netlink().LinkByName("eth1")
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	for k := range n {
		a, _ := netlink.ParseAddr(fmt.Sprintf("10.%d.%d.1/24", k/250, k%250))
		if err := h.Netlink().AddrAdd(eth1, a); err != nil {
			t.Fatal(err)
		}
	}
	i, err := live.Get(ctx, "eth1")
	if err != nil {
		t.Fatal(err)
	}
	if v4 := slices.DeleteFunc(i.Addresses, func(a string) bool { return a[:5] == "fe80:" }); len(v4) != n {
		t.Errorf("eth1 has %d IPv4 addresses after an overflow, want %d", len(v4), n)
	}
}
