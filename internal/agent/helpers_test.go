package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/devmgr/devmgr/internal/agent/api"
	"github.com/devmgr/devmgr/internal/agent/client"
	"github.com/devmgr/devmgr/internal/fielderr"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/devmgr/devmgr/internal/auth"
	"github.com/devmgr/devmgr/internal/change"
	"github.com/devmgr/devmgr/internal/diag"
	"github.com/devmgr/devmgr/internal/dnsmasq"
	"github.com/devmgr/devmgr/internal/netif"
	"github.com/devmgr/devmgr/internal/testing/agentproc"
	"github.com/devmgr/devmgr/internal/testing/testutil"
)

// The peer-credential test runs this binary again as another uid; the
// child connects to the socket named here and prints what it got.
const childEnv = "DEVMGR_AGENT_TEST_PEER_SOCKET"

func TestMain(m *testing.M) {
	if sock := os.Getenv(childEnv); sock != "" {
		os.Exit(peerChild(sock))
	}
	if len(os.Args) > 1 && os.Args[1] == emitLinesArg { // a command of the latency benchmark
		os.Exit(emitLines(os.Args[2:]))
	}
	os.Exit(agentproc.RunTests(m)) // the state-directory test runs devmgr agent
}

func peerChild(sock string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c := client.New(sock)
	_, err := c.Health(ctx)
	var e *Error
	switch {
	case err == nil:
		fmt.Printf("status=200 uid=%d\n", os.Getuid())
	case errors.As(err, &e):
		fmt.Printf("status=%d uid=%d msg=%s\n", e.Status, os.Getuid(), e.Message)
	case errors.Is(err, client.ErrUnavailable):
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

// fakeNetwork fails the test on any call it was not told to expect. Its
// changes go through the agent's change engine as netif's do, with a
// module that only records.
type fakeNetwork struct {
	t        testing.TB
	eng      *change.Engine
	mu       sync.Mutex
	ifs      []Interface
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

func (f *fakeNetwork) change(ctx context.Context, name, what string) (Change, error) {
	f.mu.Lock()
	allowed := f.allowSet
	f.mu.Unlock()
	if !allowed {
		f.t.Errorf("unexpected change %s on %s", what, name)
		return Change{}, errors.New("unexpected")
	}
	if name == "wlan0" {
		return Change{}, &netif.ProtectedError{Name: "wlan0"}
	}
	ch, err := f.eng.Begin(ctx, func(context.Context) (change.Plan, error) {
		return change.Plan{Kind: netif.Kind, Target: name, Apply: func(context.Context) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.setCalls = append(f.setCalls, name+" "+what)
			return nil
		}}, nil
	})
	return fromChange(ch), err
}

func fromChange(ch change.Change) Change {
	return Change{ID: ch.ID, Interface: ch.Target, Status: ch.Status, User: ch.User, Changes: ch.Changes,
		CreatedAt: ch.CreatedAt, RollbackAt: ch.RollbackAt, FinishedAt: ch.FinishedAt}
}

func (f *fakeNetwork) SetConfig(ctx context.Context, name string, lc LinkConfig) (Change, error) {
	if lc.MTU != 0 && (lc.MTU < 576 || lc.MTU > 9000) {
		return Change{}, &fielderr.Error{Field: "mtu", Message: "out of range"}
	}
	return f.change(ctx, name, "config "+lc.Mode)
}

func (f *fakeNetwork) SetUp(ctx context.Context, name string, up bool) (Change, error) {
	return f.change(ctx, name, fmt.Sprintf("up=%v", up))
}

func (f *fakeNetwork) Change(_ context.Context, id string) (Change, error) {
	ch, err := f.eng.Get(id)
	if err == nil && ch.Kind != netif.Kind {
		err = fmt.Errorf("change %q: %w", id, netif.ErrUnknownChange)
	}
	return fromChange(ch), err
}

func (f *fakeNetwork) Confirm(ctx context.Context, id string) (Change, error) {
	if _, err := f.Change(ctx, id); err != nil {
		return Change{}, err
	}
	ch, err := f.eng.Confirm(ctx, id)
	return fromChange(ch), err
}

func (f *fakeNetwork) Pending() (Change, bool) {
	ch, ok := f.eng.Pending()
	if !ok || ch.Kind != netif.Kind {
		return Change{}, false
	}
	return fromChange(ch), true
}

// recordingModule is a change module that records its calls.
type recordingModule struct {
	mu    sync.Mutex
	calls []string
}

func (m *recordingModule) record(s string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = append(m.calls, s)
}

func (m *recordingModule) Check(change.Change, json.RawMessage, json.RawMessage) error { return nil }

func (m *recordingModule) Undo(_ context.Context, ch change.Change, _ json.RawMessage) error {
	m.record("undo " + ch.ID)
	return nil
}

func (m *recordingModule) Keep(_ context.Context, ch change.Change, _ json.RawMessage) error {
	m.record("keep " + ch.ID)
	return nil
}

// fakeDiag streams canned lines. A request the agent let through without
// a host or name fails the test.
type fakeDiag struct {
	t     testing.TB
	mu    sync.Mutex
	calls []string
	block chan struct{} // if set, Ping waits for it after its first line
}

func (f *fakeDiag) record(s string) {
	if strings.HasSuffix(s, " ") {
		f.t.Errorf("fake diag: %q reached the tool unvalidated", s)
	}
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
	t       testing.TB
	srv     *Server
	client  *client.Client
	socket  string
	audit   *auditLog
	logs    *logBuffer
	net     *fakeNetwork
	diag    *fakeDiag
	changes *change.Engine   // the agent's, audited with AuditChanges
	timers  *testutil.Timers // its rollback timers, fired by the test
	stop    func()           // ends Serve and waits for it (also at cleanup)
}

// newEngine is a change engine whose rollbacks are audited in audit and
// whose timers fire when the test says.
func newEngine(t testing.TB, audit Auditor, ts *testutil.Timers) *change.Engine {
	t.Helper()
	eng, err := change.New(change.Config{Dir: t.TempDir(), Timeout: time.Minute, AfterFunc: ts.After,
		OnFinish: AuditChanges(audit, discard())})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(eng.Close)
	return eng
}

// newTestAgent makes an agent's parts: audit log, change engine (with the
// fake network's module registered) and fakes; start serves it.
func newTestAgent(t testing.TB) *testAgent {
	t.Helper()
	ta := &testAgent{t: t, audit: &auditLog{}, logs: &logBuffer{}, diag: &fakeDiag{t: t}, timers: &testutil.Timers{}}
	ta.changes = newEngine(t, ta.audit, ta.timers)
	if err := ta.changes.Register(netif.Kind, &recordingModule{}); err != nil {
		t.Fatal(err)
	}
	ta.net = &fakeNetwork{t: t, eng: ta.changes,
		ifs: []Interface{{Name: "eth1", Kind: "veth", Addresses: []string{}, Role: RoleLAN}}}
	return ta
}

// startAgent serves an agent on a socket in a fresh directory; mod may
// change the config before New.
func startAgent(t *testing.T, mod func(*Config)) *testAgent {
	t.Helper()
	return newTestAgent(t).start(mod)
}

// start serves ta; mod may change the config before New.
func (ta *testAgent) start(mod func(*Config)) *testAgent {
	t := ta.t
	t.Helper()
	testutil.RequireRoot(t) // the agent lets only root and the web user in
	dir, err := os.MkdirTemp("", "devmgr-agent-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ta.socket = filepath.Join(dir, "agent.sock")
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
	ta.stop = sync.OnceFunc(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		if t.Failed() {
			t.Logf("agent log:\n%s", ta.logs.String())
		}
	})
	t.Cleanup(ta.stop)
	ta.srv, ta.client = srv, client.New(ta.socket)
	t.Cleanup(ta.client.Close)
	return ta
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func diagPing(host string, count int) api.PingRequest {
	return api.PingRequest{Host: host, Count: &count}
}
