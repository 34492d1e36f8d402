package netif

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"github.com/devmgr/devmgr/internal/fielderr"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/devmgr/devmgr/internal/change"
	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/testing/lab"
	"github.com/devmgr/devmgr/internal/testing/testutil"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

func newLab(t *testing.T) (*lab.Lab, *Handle) {
	t.Helper()
	testutil.RequireRoot(t)
	testutil.RequireBinary(t, "ip")
	l := lab.NewT(t, lab.Options{NoServers: true})
	h, err := OpenAt(l.NSPath(lab.Device))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return l, h
}

func TestListMatchesLab(t *testing.T) {
	l, h := newLab(t)
	ifs, err := h.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, i := range ifs {
		names = append(names, i.Name)
	}
	if diff := cmp.Diff([]string{"eth0", "eth1", "lo", "wlan0"}, names); diff != "" {
		t.Fatalf("names (-want +got):\n%s", diff)
	}
	byName := map[string]Interface{}
	for _, i := range ifs {
		byName[i.Name] = i
	}
	if k := byName["lo"].Kind; k != KindLoopback {
		t.Errorf("lo kind %q", k)
	}
	for _, n := range []string{"eth0", "eth1", "wlan0"} {
		i := byName[n]
		if i.Kind != KindVeth || !i.AdminUp || !i.Carrier || i.OperState != "up" || i.MTU != 1500 || len(i.MAC) != 17 {
			t.Errorf("%s = %+v, want an up veth with carrier, MTU 1500 and a MAC", n, i)
		}
	}
	v4 := func(i Interface) []string {
		return slices.DeleteFunc(slices.Clone(i.Addresses), func(a string) bool { return strings.HasPrefix(a, "fe80:") })
	}
	if diff := cmp.Diff([]string{lab.APAddress}, v4(byName["wlan0"])); diff != "" {
		t.Errorf("wlan0 addresses (-want +got):\n%s", diff)
	}
	if got := v4(byName["eth1"]); len(got) != 0 {
		t.Errorf("eth1 addresses %v, want none", got)
	}
	if got := v4(byName["lo"]); !slices.Contains(got, "127.0.0.1/8") {
		t.Errorf("lo addresses %v", got)
	}
	// The package-level List sees the calling thread's namespace.
	var inNS []Interface
	if err := l.Do(lab.Device, func() error {
		var err error
		inNS, err = List(context.Background())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	ignoreCounters := cmp.FilterPath(func(p cmp.Path) bool {
		f := p.Last().String()
		return f == ".RxBytes" || f == ".TxBytes"
	}, cmp.Ignore())
	if diff := cmp.Diff(ifs, inNS, ignoreCounters); diff != "" {
		t.Errorf("List in the namespace differs from Handle.List (-handle +list):\n%s", diff)
	}
	one, err := h.Get(context.Background(), "wlan0")
	if err != nil {
		t.Fatal(err)
	}
	if one.Name != "wlan0" || one.MAC != byName["wlan0"].MAC {
		t.Errorf("Get(wlan0) = %+v", one)
	}
	if _, err := h.Get(context.Background(), "nope0"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(nope0) = %v, want ErrNotFound", err)
	}
}

func TestStaticConfigReachesLANHost(t *testing.T) {
	ping := testutil.RequireBinary(t, "ping")
	l, h := newLab(t)
	ctx := context.Background()
	lc := LinkConfig{Mode: ModeStatic, Addresses: []string{lab.LANDeviceAddr}, Gateway: lab.LANHostIP, MTU: 1400}
	if err := h.ApplyConfig(ctx, "eth1", lc); err != nil {
		t.Fatal(err)
	}
	before := counters(t, h)
	if out, err := l.Exec(ctx, lab.Device, ping, "-c3", "-i0.2", "-s1000", "-W3", lab.LANHostIP); err != nil {
		t.Fatalf("LAN host not reachable: %v\n%s", err, out)
	}
	// The counters of one dump: every link, the pings' bytes on eth1.
	after := counters(t, h)
	if len(after) != 4 || after["eth1"].Index != before["eth1"].Index {
		t.Errorf("Counters = %+v", after)
	}
	if tx, rx := after["eth1"].TxBytes-before["eth1"].TxBytes, after["eth1"].RxBytes-before["eth1"].RxBytes; tx < 3000 || rx < 3000 {
		t.Errorf("eth1 sent %d and received %d bytes for 3 pings of 1000 bytes", tx, rx)
	}
	i, err := h.Get(ctx, "eth1")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(i.Addresses, lab.LANDeviceAddr) || i.MTU != 1400 || i.Gateway != lab.LANHostIP {
		t.Errorf("eth1 = %+v", i)
	}
}

func counters(t *testing.T, h *Handle) map[string]Counters {
	t.Helper()
	cs, err := h.Counters()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]Counters{}
	for _, c := range cs {
		out[c.Name] = c
	}
	return out
}

func testState() State {
	return State{
		Name: "eth1", AdminUp: true, MTU: 1400,
		Addresses: []AddrState{
			{CIDR: "203.0.113.1/24", Flags: unix.IFA_F_PERMANENT},
			{CIDR: "203.0.113.77/24", Flags: unix.IFA_F_PERMANENT},
			{CIDR: "2001:db8:1::1/64", Flags: unix.IFA_F_PERMANENT | unix.IFA_F_NODAD},
		},
		Routes: []Route{
			// Listed before the route that makes its gateway reachable.
			{Dst: "100.65.0.0/16", Gateway: "100.64.0.1", Protocol: unix.RTPROT_STATIC, Type: unix.RTN_UNICAST},
			{Dst: "100.64.0.1/32", Scope: unix.RT_SCOPE_LINK, Protocol: unix.RTPROT_STATIC, Type: unix.RTN_UNICAST},
			DefaultRoute("203.0.113.2"),
			{Dst: "198.18.0.0/15", Gateway: "203.0.113.2", Protocol: unix.RTPROT_STATIC, Type: unix.RTN_UNICAST, Priority: 50},
			DefaultRoute("2001:db8:1::2"),
		},
	}
}

func TestApplyIsExactAndIdempotent(t *testing.T) {
	_, h := newLab(t)
	ctx := context.Background()
	want := testState()
	changed, err := h.apply(ctx, "eth1", want)
	if err != nil {
		t.Fatal(err)
	}
	if len(changed) == 0 {
		t.Fatal("first apply changed nothing")
	}
	got, err := h.Snapshot(ctx, "eth1")
	if err != nil {
		t.Fatal(err)
	}
	// Snapshot sorts routes; compare as sets.
	sortRoutes := cmp.Transformer("sort", func(rs []Route) []Route {
		out := slices.Clone(rs)
		slices.SortFunc(out, func(a, b Route) int { return strings.Compare(a.key(), b.key()) })
		return out
	})
	if diff := cmp.Diff(want, got, sortRoutes); diff != "" {
		t.Fatalf("state after Apply (-want +got):\n%s", diff)
	}
	changed, err = h.apply(ctx, "eth1", got)
	if err != nil {
		t.Fatal(err)
	}
	if len(changed) != 0 {
		t.Errorf("second Apply changed %v", changed)
	}
	// Back to nothing, and down.
	empty := State{Name: "eth1", AdminUp: false, MTU: 1500, Addresses: []AddrState{}, Routes: []Route{}}
	if err := h.Apply(ctx, "eth1", empty); err != nil {
		t.Fatal(err)
	}
	got, err = h.Snapshot(ctx, "eth1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(empty, got); diff != "" {
		t.Errorf("state after Apply(empty) (-want +got):\n%s", diff)
	}
	if changed, _ := h.apply(ctx, "eth1", empty); len(changed) != 0 {
		t.Errorf("second Apply(empty) changed %v", changed)
	}
}

// fakeDHCP records calls; the netif tests use no real DHCP. A link is
// bound when the test says so.
type fakeDHCP struct {
	mu    sync.Mutex
	calls []string
	bound map[string]bool
}

func (f *fakeDHCP) Bound(name string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.bound[name]
}

func (f *fakeDHCP) setBound(name string, b bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.bound == nil {
		f.bound = map[string]bool{}
	}
	f.bound[name] = b
}

func (f *fakeDHCP) Start(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "start "+name)
	return nil
}

func (f *fakeDHCP) Stop(_ context.Context, name string, release bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "stop "+name)
	return nil
}

type changerEnv struct {
	l   *lab.Lab
	h   *Handle
	cfg config.Config
	dir string // the agent's state directory
}

func newChangerEnv(t *testing.T) *changerEnv {
	l, h := newLab(t)
	dir := t.TempDir()
	cfg := l.Config(dir)
	if err := cfg.Validate(); err != nil {
		t.Fatalf("lab config: %v", err)
	}
	// A starting state with something in every part, so rollback has work to do.
	if err := h.Apply(context.Background(), "eth1", testState()); err != nil {
		t.Fatal(err)
	}
	return &changerEnv{l: l, h: h, cfg: cfg, dir: cfg.Agent.StateDir}
}

// testChanger is a Changer with its own change engine, as the agent has.
type testChanger struct {
	*Changer
	eng *change.Engine
}

func (c testChanger) Recover(ctx context.Context) error { return c.eng.Recover(ctx) }

// changer starts a Changer on the lab; after, if set, is the engine's
// timer (never: the agent "dies" before it fires).
func (e *changerEnv) changer(t *testing.T, after func(time.Duration, func()) func() bool, mod ...func(*change.Config, *Config)) testChanger {
	t.Helper()
	return newTestChanger(t, e.h, e.cfg, e.dir, after, mod...)
}

func newTestChanger(t *testing.T, h *Handle, cfg config.Config, dir string, after func(time.Duration, func()) func() bool, mod ...func(*change.Config, *Config)) testChanger {
	t.Helper()
	ecfg := change.Config{Dir: filepath.Join(dir, "changes"), Timeout: time.Minute, AfterFunc: after}
	ncfg := Config{Handle: h, AppConfig: cfg, Dir: filepath.Join(dir, "network"), DHCP: &fakeDHCP{}}
	for _, m := range mod {
		m(&ecfg, &ncfg)
	}
	eng, err := change.New(ecfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(eng.Close)
	ncfg.Changes = eng
	c, err := NewChanger(ncfg)
	if err != nil {
		t.Fatal(err)
	}
	return testChanger{Changer: c, eng: eng}
}

// timer is an engine timer the test fires by hand.
type timer struct {
	t     *testing.T
	fired chan func()
}

func newTimer(t *testing.T) *timer { return &timer{t: t, fired: make(chan func(), 1)} }

func (tm *timer) after(d time.Duration, f func()) func() bool {
	if d != time.Minute {
		tm.t.Errorf("rollback timer of %v, want the engine's minute", d)
	}
	tm.fired <- f
	return func() bool { return true }
}

// fire runs the rollback the last change armed.
func (tm *timer) fire() { (<-tm.fired)() }

func (e *changerEnv) snapshot(t *testing.T) State {
	t.Helper()
	st, err := e.h.Snapshot(context.Background(), "eth1")
	if err != nil {
		t.Fatal(err)
	}
	return st
}

var newStatic = LinkConfig{Mode: ModeStatic, Addresses: []string{"10.20.0.2/24"}, Gateway: "10.20.0.1", DNS: []string{"10.20.0.1"}, MTU: 1300}

func TestUnconfirmedChangeRollsBack(t *testing.T) {
	e := newChangerEnv(t)
	ctx := context.Background()
	before := e.snapshot(t)
	tm := newTimer(t)
	var inForce []map[string]LinkConfig
	c := e.changer(t, tm.after, func(_ *change.Config, n *Config) {
		n.OnApplied = func(m map[string]LinkConfig) { inForce = append(inForce, m) }
	})
	start := time.Now()
	ch, err := c.SetConfig(ctx, "eth1", newStatic)
	if err != nil {
		t.Fatal(err)
	}
	if ch.Status != StatusPending || ch.Interface != "eth1" || ch.RollbackAt.Sub(start) > time.Minute+time.Second {
		t.Errorf("change %+v", ch)
	}
	applied := e.snapshot(t)
	if cmp.Equal(before, applied) || applied.MTU != 1300 {
		t.Fatalf("change not applied: %+v", applied)
	}
	if _, err := c.SetConfig(ctx, "eth1", LinkConfig{Mode: ModeStatic, Addresses: []string{"10.30.0.2/24"}}); !errors.Is(err, ErrPending) {
		t.Errorf("second change = %v, want ErrPending", err)
	}
	tm.fire()
	got, err := c.Get(ch.ID)
	if err != nil || got.Status != StatusRolledBack || got.Error != "" || got.FinishedAt == nil {
		t.Fatalf("after the timer Get = %+v, %v", got, err)
	}
	if diff := cmp.Diff(before, e.snapshot(t)); diff != "" {
		t.Errorf("netlink state after rollback differs from before (-before +after):\n%s", diff)
	}
	if _, ok := c.Desired("eth1"); ok {
		t.Error("a rolled back change became desired")
	}
	// OnApplied told of the config while it was in force, then of none.
	want := []map[string]LinkConfig{{"eth1": newStatic}, {}}
	if diff := cmp.Diff(want, inForce); diff != "" {
		t.Errorf("configs in force (-want +got):\n%s", diff)
	}
	if _, err := c.Confirm(ctx, ch.ID); !errors.Is(err, ErrNotPending) {
		t.Errorf("confirming a rolled back change = %v, want ErrNotPending", err)
	}
	if _, err := c.Confirm(ctx, "0123456789abcdef"); !errors.Is(err, ErrUnknownChange) {
		t.Errorf("confirming an unknown change = %v, want ErrUnknownChange", err)
	}
	if list := c.Changes(); len(list) != 1 || list[0].ID != ch.ID {
		t.Errorf("Changes = %+v", list)
	}
}

func never(time.Duration, func()) func() bool { return func() bool { return true } }

// A pending change says who began it and what it does, field by field;
// one to mode dhcp says it waits for a lease until the client is bound,
// and the link's DHCP state says so too.
func TestPendingChangeSaysWhatAndWho(t *testing.T) {
	e := newChangerEnv(t)
	ctx := change.WithUser(context.Background(), "alice")
	fd := &fakeDHCP{}
	c := e.changer(t, never, func(_ *change.Config, n *Config) { n.DHCP = fd })
	ch, err := c.SetConfig(ctx, "eth1", newStatic)
	if err != nil {
		t.Fatal(err)
	}
	// testState is on eth1 and devmgr never configured it: the old values are the link's.
	want := []change.FieldChange{
		{Field: "mode", Old: "", New: "static"},
		{Field: "addresses", Old: "203.0.113.1/24, 203.0.113.77/24, 2001:db8:1::1/64", New: "10.20.0.2/24"},
		{Field: "gateway", Old: "203.0.113.2", New: "10.20.0.1"},
		{Field: "dns", Old: "", New: "10.20.0.1"},
		{Field: "mtu", Old: "1400", New: "1300"},
	}
	if diff := cmp.Diff(want, ch.Changes); diff != "" {
		t.Errorf("field changes (-want +got):\n%s", diff)
	}
	if ch.User != "alice" || ch.Waiting != "" || c.DHCPState("eth1") != "" {
		t.Errorf("static change %+v, DHCP state %q", ch, c.DHCPState("eth1"))
	}
	if _, err := c.Confirm(ctx, ch.ID); err != nil {
		t.Fatal(err)
	}

	ch, err = c.SetConfig(change.WithUser(ctx, "bob"), "eth1", LinkConfig{Mode: ModeDHCP})
	if err != nil {
		t.Fatal(err)
	}
	want = []change.FieldChange{
		{Field: "mode", Old: "static", New: "dhcp"}, {Field: "addresses", Old: "10.20.0.2/24", New: ""},
		{Field: "gateway", Old: "10.20.0.1", New: ""}, {Field: "dns", Old: "10.20.0.1", New: ""},
	}
	if diff := cmp.Diff(want, ch.Changes); diff != "" {
		t.Errorf("field changes to dhcp (-want +got):\n%s", diff)
	}
	if ch.User != "bob" || ch.Waiting != WaitingForLease || c.DHCPState("eth1") != DHCPWaiting {
		t.Errorf("dhcp change %+v, DHCP state %q", ch, c.DHCPState("eth1"))
	}
	if lc, ok := c.InForce("eth1"); !ok || lc.Mode != ModeDHCP {
		t.Errorf("in force while pending: %+v %v", lc, ok)
	}
	if lc, _ := c.Desired("eth1"); lc.Mode != ModeStatic {
		t.Errorf("confirmed while pending: %+v", lc)
	}
	fd.setBound("eth1", true)
	if p, ok := c.Pending(); !ok || p.Waiting != "" || c.DHCPState("eth1") != DHCPBound {
		t.Errorf("bound: pending %+v %v, DHCP state %q", p, ok, c.DHCPState("eth1"))
	}
	fd.setBound("eth1", false)
	if got, err := c.Get(ch.ID); err != nil || got.Waiting != WaitingForLease {
		t.Errorf("lease lost: Get = %+v, %v", got, err)
	}
	if got, err := c.Confirm(ctx, ch.ID); err != nil || got.Waiting != "" || got.User != "bob" || len(got.Changes) != 4 {
		t.Errorf("confirmed: %+v, %v (a finished change waits for nothing)", got, err)
	}
	if c.DHCPState("eth1") != DHCPWaiting {
		t.Errorf("confirmed dhcp without a lease: DHCP state %q", c.DHCPState("eth1"))
	}
}

func TestConfirmedChangeSurvivesRestart(t *testing.T) {
	e := newChangerEnv(t)
	ctx := context.Background()
	c := e.changer(t, never)
	ch, err := c.SetConfig(ctx, "eth1", newStatic)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.Confirm(ctx, ch.ID); err != nil || got.Status != StatusConfirmed {
		t.Fatalf("Confirm = %+v, %v", got, err)
	}
	after := e.snapshot(t)
	c.eng.Close()

	c2 := e.changer(t, nil)
	if err := c2.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := c2.Get(ch.ID); err != nil || got.Status != StatusConfirmed {
		t.Errorf("after restart Get = %+v, %v", got, err)
	}
	if lc, ok := c2.Desired("eth1"); !ok || !cmp.Equal(lc, newStatic) {
		t.Errorf("desired after restart = %+v, %v", lc, ok)
	}
	// Boot: something else changed the link; ApplyDesired restores the config.
	if err := e.h.Apply(ctx, "eth1", State{Name: "eth1", MTU: 1500}); err != nil {
		t.Fatal(err)
	}
	if err := c2.ApplyDesired(ctx); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(after, e.snapshot(t)); diff != "" {
		t.Errorf("state after ApplyDesired (-confirmed +now):\n%s", diff)
	}
	if err := c2.ApplyDesired(ctx); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(after, e.snapshot(t)); diff != "" {
		t.Errorf("second ApplyDesired changed the state:\n%s", diff)
	}
	if _, ok := c2.Pending(); ok {
		t.Error("a change is pending after restart")
	}
}

func TestCrashRecoveryRollsBack(t *testing.T) {
	e := newChangerEnv(t)
	ctx := context.Background()
	before := e.snapshot(t)
	c := e.changer(t, never) // the timer never fires: the agent "dies"
	ch, err := c.SetUp(ctx, "eth1", false)
	if err != nil {
		t.Fatal(err)
	}
	if e.snapshot(t).AdminUp {
		t.Fatal("eth1 still up")
	}
	// No Close: a crashed agent leaves only its journal.
	c2 := e.changer(t, nil)
	if err := c2.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := c2.Get(ch.ID)
	if err != nil || got.Status != StatusRolledBack {
		t.Errorf("after recovery Get = %+v, %v", got, err)
	}
	if diff := cmp.Diff(before, e.snapshot(t)); diff != "" {
		t.Errorf("state after recovery (-before +after):\n%s", diff)
	}
	// A second start finds nothing to do.
	c3 := e.changer(t, nil)
	if err := c3.Recover(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestAPInterfaceRefused(t *testing.T) {
	e := newChangerEnv(t)
	ctx := context.Background()
	before, err := e.h.Snapshot(ctx, "wlan0")
	if err != nil {
		t.Fatal(err)
	}
	c := e.changer(t, never)
	for _, f := range []func() error{
		func() error { _, err := c.SetConfig(ctx, "wlan0", newStatic); return err },
		func() error { _, err := c.SetConfig(ctx, "wlan0", LinkConfig{Mode: ModeDHCP}); return err },
		func() error { _, err := c.SetUp(ctx, "wlan0", false); return err },
	} {
		err := f()
		if !errors.Is(err, ErrProtected) || !strings.Contains(err.Error(), "access point") {
			t.Errorf("change to wlan0 = %v, want ErrProtected saying why", err)
		}
	}
	after, err := e.h.Snapshot(ctx, "wlan0")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("wlan0 changed:\n%s", diff)
	}
	if _, ok := c.Pending(); ok {
		t.Error("a refused change is pending")
	}
}

func TestInvalidConfigChangesNothing(t *testing.T) {
	e := newChangerEnv(t)
	ctx := context.Background()
	before := e.snapshot(t)
	c := e.changer(t, never)
	_, err := c.SetConfig(ctx, "eth1", LinkConfig{Mode: ModeStatic, Addresses: []string{"10.0.0.2/24"}, Gateway: "10.9.9.9"})
	var fe *fielderr.Error
	if !errors.As(err, &fe) || fe.Field != "gateway" {
		t.Fatalf("SetConfig = %v, want a gateway fielderr.Error", err)
	}
	if diff := cmp.Diff(before, e.snapshot(t)); diff != "" {
		t.Errorf("state changed:\n%s", diff)
	}
	if _, ok := c.Pending(); ok {
		t.Error("an invalid change is pending")
	}
}

// TestSIGKILLDuringPendingChange kills a process holding a pending change
// (the journal is all that is left) and recovers in a new Changer.
func TestSIGKILLDuringPendingChange(t *testing.T) {
	if ns := os.Getenv("DEVMGR_NETIF_CHILD_NS"); ns != "" {
		childHoldsChange(t, ns, os.Getenv("DEVMGR_NETIF_CHILD_DIR"))
		return
	}
	e := newChangerEnv(t)
	ctx := context.Background()
	before := e.snapshot(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestSIGKILLDuringPendingChange$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "DEVMGR_NETIF_CHILD_NS="+e.l.NSPath(lab.Device), "DEVMGR_NETIF_CHILD_DIR="+e.dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	sc := bufio.NewScanner(out)
	var id string
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "PENDING "); ok {
			id = rest
			break
		}
		t.Logf("child: %s", sc.Text())
	}
	if id == "" {
		t.Fatal("child made no pending change")
	}
	if st := e.snapshot(t); st.MTU != newStatic.MTU {
		t.Fatalf("child's change not applied: %+v", st)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	c := e.changer(t, nil)
	if err := c.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Get(id); err != nil || got.Status != StatusRolledBack {
		t.Errorf("Get(%s) = %+v, %v", id, got, err)
	}
	if diff := cmp.Diff(before, e.snapshot(t)); diff != "" {
		t.Errorf("state after recovery (-before +after):\n%s", diff)
	}
}

func childHoldsChange(t *testing.T, nsPath, dir string) {
	h, err := OpenAt(nsPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.AP.Address = lab.APAddress
	cfg.LAN = []string{"eth1"}
	c := newTestChanger(t, h, cfg, dir, nil)
	ch, err := c.SetConfig(context.Background(), "eth1", newStatic)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("PENDING %s\n", ch.ID)
	time.Sleep(time.Minute) // until SIGKILL
}

// A change that would change nothing (the confirmed config again, "up" on
// an up link) is refused with ErrNoChange: no pending change, no rollback
// window. A link changed behind devmgr's back is repaired, not refused.
func TestNoOpChangeRefused(t *testing.T) {
	e := newChangerEnv(t)
	ctx := context.Background()
	c := e.changer(t, never)
	ch, err := c.SetConfig(ctx, "eth1", newStatic)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Confirm(ctx, ch.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SetConfig(ctx, "eth1", newStatic); !errors.Is(err, ErrNoChange) {
		t.Errorf("the same config again: %v, want ErrNoChange", err)
	}
	if _, err := c.SetUp(ctx, "eth1", true); !errors.Is(err, ErrNoChange) {
		t.Errorf("up on an up link: %v, want ErrNoChange", err)
	}
	if p, ok := c.Pending(); ok {
		t.Fatalf("a no-op started change %+v", p)
	}
	// The address went away behind devmgr's back: the same config repairs it.
	if err := e.h.Apply(ctx, "eth1", State{Name: "eth1", AdminUp: true, MTU: 1300}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SetConfig(ctx, "eth1", newStatic); err != nil {
		t.Errorf("the confirmed config on a changed link: %v, want a change", err)
	}
}
