package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/devmgr/devmgr/internal/auth"
	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/diag"
	"github.com/devmgr/devmgr/internal/dnsmasq"
	"github.com/devmgr/devmgr/internal/netif"
)

// The peer-credential test runs this binary again as another uid; the
// child connects to the socket named here and prints what it got.
const childEnv = "DEVMGR_AGENT_TEST_PEER_SOCKET"

// The restart tests run a whole agent (Run) in this binary as a child
// process they can kill: "CONFIG_FILE NETNS_PATH".
const runEnv = "DEVMGR_AGENT_TEST_RUN"

func TestMain(m *testing.M) {
	if sock := os.Getenv(childEnv); sock != "" {
		os.Exit(peerChild(sock))
	}
	if args := os.Getenv(runEnv); args != "" {
		os.Exit(runChild(args))
	}
	os.Exit(m.Run())
}

func runChild(args string) int {
	cfgPath, ns, _ := strings.Cut(args, " ")
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	cfg, err := config.Load(cfgPath)
	if err != nil {
		log.Error("loading config", "err", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	audit := AuditorFunc(func(_ context.Context, e AuditEntry) error {
		log.Info("audit", "action", e.Action, "target", e.Target, "result", e.Result)
		return nil
	})
	if err := Run(ctx, Options{Config: cfg, Audit: audit, Log: log, NetNS: ns}); err != nil {
		log.Error("agent", "err", err)
		return 1
	}
	return 0
}

func peerChild(sock string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c := NewClient(sock)
	_, err := c.Health(ctx)
	var e *Error
	switch {
	case err == nil:
		fmt.Printf("status=200 uid=%d\n", os.Getuid())
	case errors.As(err, &e):
		fmt.Printf("status=%d uid=%d msg=%s\n", e.Status, os.Getuid(), e.Message)
	case errors.Is(err, ErrUnavailable):
		fmt.Printf("unavailable uid=%d err=%v\n", os.Getuid(), err)
	default:
		fmt.Printf("error uid=%d err=%v\n", os.Getuid(), err)
	}
	return 0
}

var (
	admin    = Actor{User: "alice", Role: auth.Admin, Source: "192.0.2.50"}
	operator = Actor{User: "oscar", Role: auth.Operator, Source: "192.0.2.51"}
	viewer   = Actor{User: "victor", Role: auth.Viewer, Source: "192.0.2.52"}
)

// auditLog records audit entries.
type auditLog struct {
	mu      sync.Mutex
	entries []AuditEntry
}

func (a *auditLog) Audit(_ context.Context, e AuditEntry) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.entries = append(a.entries, e)
	return nil
}

func (a *auditLog) all() []AuditEntry {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]AuditEntry(nil), a.entries...)
}

func (a *auditLog) find(action, result string) (AuditEntry, bool) {
	for _, e := range a.all() {
		if e.Action == action && e.Result == result {
			return e, true
		}
	}
	return AuditEntry{}, false
}

// fakeNetwork fails the test on any call it was not told to expect.
type fakeNetwork struct {
	t        *testing.T
	mu       sync.Mutex
	ifs      []Interface
	pending  *Change
	setCalls []string
	allowSet bool
}

func (f *fakeNetwork) List(context.Context) ([]Interface, error) { return f.ifs, nil }

func (f *fakeNetwork) Get(_ context.Context, name string) (Interface, error) {
	for _, i := range f.ifs {
		if i.Name == name {
			return i, nil
		}
	}
	return Interface{}, fmt.Errorf("interface %q: %w", name, netif.ErrNotFound)
}

func (f *fakeNetwork) change(name, what string) (Change, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.allowSet {
		f.t.Errorf("unexpected change %s on %s", what, name)
		return Change{}, errors.New("unexpected")
	}
	if name == "wlan0" {
		return Change{}, fmt.Errorf("%w: wlan0 is the access point interface", netif.ErrProtected)
	}
	if f.pending != nil {
		return Change{}, netif.ErrPending
	}
	f.setCalls = append(f.setCalls, name+" "+what)
	now := time.Now()
	ch := Change{ID: "0123456789abcdef", Interface: name, Status: StatusPending, CreatedAt: now, RollbackAt: now.Add(time.Minute)}
	f.pending = &ch
	return ch, nil
}

func (f *fakeNetwork) SetConfig(_ context.Context, name string, lc LinkConfig) (Change, error) {
	if lc.MTU != 0 && (lc.MTU < 576 || lc.MTU > 9000) {
		return Change{}, &netif.FieldError{Field: "mtu", Message: "out of range"}
	}
	return f.change(name, "config "+lc.Mode)
}

func (f *fakeNetwork) SetUp(_ context.Context, name string, up bool) (Change, error) {
	return f.change(name, fmt.Sprintf("up=%v", up))
}

func (f *fakeNetwork) Change(_ context.Context, id string) (Change, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pending != nil && f.pending.ID == id {
		return *f.pending, nil
	}
	return Change{}, fmt.Errorf("change %q: %w", id, netif.ErrUnknownChange)
}

func (f *fakeNetwork) Confirm(_ context.Context, id string) (Change, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pending == nil || f.pending.ID != id {
		return Change{}, fmt.Errorf("change %q: %w", id, netif.ErrUnknownChange)
	}
	ch := *f.pending
	ch.Status = StatusConfirmed
	f.pending = nil
	return ch, nil
}

func (f *fakeNetwork) Pending() (Change, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pending == nil {
		return Change{}, false
	}
	return *f.pending, true
}

// fakeDiag streams canned lines.
type fakeDiag struct {
	mu    sync.Mutex
	calls []string
	block chan struct{} // if set, Ping waits for it after its first line
}

func (f *fakeDiag) record(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, s)
}

func (f *fakeDiag) Ping(_ context.Context, r diag.PingRequest, line func(string)) (diag.Result, error) {
	f.record("ping " + r.Host)
	for i := range r.Count {
		line(fmt.Sprintf("reply %d from %s", i+1, r.Host))
		if i == 0 && f.block != nil {
			<-f.block
		}
	}
	return diag.Result{ExitCode: 0, DurationMS: 5}, nil
}

func (f *fakeDiag) Traceroute(_ context.Context, r diag.TracerouteRequest, line func(string)) (diag.Result, error) {
	f.record("traceroute " + r.Host)
	line("1 " + r.Host)
	return diag.Result{ExitCode: 1}, nil
}

func (f *fakeDiag) DNS(_ context.Context, r diag.DNSRequest) (diag.DNSResult, error) {
	f.record("dns " + r.Name)
	return diag.DNSResult{Server: "127.0.0.1:53", Name: r.Name + ".", Type: r.Type, RCode: "NOERROR", Answers: []diag.DNSAnswer{{Name: r.Name + ".", Type: "A", TTL: 1, Value: "192.0.2.1"}}}, nil
}

func (f *fakeDiag) Neighbors(context.Context) ([]diag.Neighbor, error) {
	return []diag.Neighbor{{IP: "192.0.2.2", MAC: "02:00:00:00:00:02", Interface: "eth1", State: "reachable"}}, nil
}

func (f *fakeDiag) Leases(context.Context) ([]dnsmasq.Lease, error) { return []dnsmasq.Lease{}, nil }

// logBuffer collects log output for assertions.
type logBuffer struct {
	mu sync.Mutex
	sb strings.Builder
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sb.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sb.String()
}

type testAgent struct {
	srv    *Server
	client *Client
	socket string
	audit  *auditLog
	logs   *logBuffer
	net    *fakeNetwork
	diag   *fakeDiag
}

// startAgent serves an agent on a socket in a fresh directory; mod may
// change the config before New.
func startAgent(t *testing.T, mod func(*Config)) *testAgent {
	t.Helper()
	dir, err := os.MkdirTemp("", "devmgr-agent-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ta := &testAgent{socket: filepath.Join(dir, "agent.sock"), audit: &auditLog{}, logs: &logBuffer{},
		net:  &fakeNetwork{t: t, ifs: []Interface{{Interface: netif.Interface{Name: "eth1", Kind: "veth", Addresses: []string{}}, Role: RoleLAN}}},
		diag: &fakeDiag{}}
	cfg := Config{
		Socket: ta.socket, Network: ta.net, Diag: ta.diag, Audit: ta.audit, Version: "test",
		Log: slog.New(slog.NewTextHandler(ta.logs, nil)),
		// No web user: root-only, whatever accounts this machine has.
		lookupUser: nil,
	}
	if mod != nil {
		mod(&cfg)
	}
	ta.socket = cfg.Socket
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := srv.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		if t.Failed() {
			t.Logf("agent log:\n%s", ta.logs.String())
		}
	})
	ta.srv, ta.client = srv, NewClient(ta.socket)
	t.Cleanup(ta.client.Close)
	return ta
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func diagPing(host string, count int) diag.PingRequest {
	return diag.PingRequest{Host: host, Count: count}
}
