package agent

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/devmgr/devmgr/internal/agent/api"
	"github.com/devmgr/devmgr/internal/agent/client"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/devmgr/devmgr/internal/testing/testutil"
)

// raw sends a request as-is and returns the status and the error answer.
func raw(t *testing.T, socket, method, path string, a *Actor, body string) (int, Error) {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", socket)
	}}}
	defer hc.CloseIdleConnections()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://agent"+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if a != nil {
		req.Header.Set(HeaderUser, a.User)
		req.Header.Set(HeaderRole, string(a.Role))
		req.Header.Set(HeaderSource, a.Source)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e Error
	if resp.StatusCode >= 400 {
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s %s: error answer of type %q: %s", method, path, ct, b)
		}
		if err := json.Unmarshal(b, &e); err != nil || e.Message == "" {
			t.Errorf("%s %s: error answer %q is not {\"error\":...}", method, path, b)
		}
	}
	return resp.StatusCode, e
}

func TestRoles(t *testing.T) {
	ta := startAgent(t, nil)
	ta.net.allowSet = true
	ctx := context.Background()
	c := ta.client

	// Viewer: reads, nothing else.
	if _, err := c.Interfaces(ctx, viewer); err != nil {
		t.Errorf("viewer list: %v", err)
	}
	if _, err := c.Leases(ctx, viewer); err != nil { // shown on the AP page
		t.Errorf("viewer leases: %v", err)
	}
	if _, err := c.SetConfig(ctx, viewer, "eth1", api.LinkConfig{Mode: "dhcp"}); !IsStatus(err, http.StatusForbidden) {
		t.Errorf("viewer PUT config: %v, want 403", err)
	}
	if _, err := c.SetUp(ctx, viewer, "eth1", false); !IsStatus(err, http.StatusForbidden) {
		t.Errorf("viewer down: %v, want 403", err)
	}
	if _, err := c.Ping(ctx, viewer, api.PingRequest{Host: "127.0.0.1"}, nil); !IsStatus(err, http.StatusForbidden) {
		t.Errorf("viewer ping: %v, want 403", err)
	}
	if _, err := c.Neighbors(ctx, viewer); !IsStatus(err, http.StatusForbidden) {
		t.Errorf("viewer neighbours: %v, want 403", err)
	}
	if e, ok := ta.audit.find(actConfig, "denied"); !ok || e.User != viewer.User || e.Source != viewer.Source || e.Target != "eth1" {
		t.Errorf("audit of the refused change: %+v %v", e, ok)
	}

	// Operator: diagnostics, no changes.
	var lines []string
	res, err := c.Ping(ctx, operator, diagPing("192.0.2.9", 2), func(s string) { lines = append(lines, s) })
	if err != nil || res.ExitCode != 0 || len(lines) != 2 || lines[1] != "reply 2 from 192.0.2.9" {
		t.Errorf("operator ping: %+v %v %q", res, err, lines)
	}
	if e, ok := ta.audit.find(actPing, "ok"); !ok || e.User != operator.User || e.Target != "192.0.2.9" {
		t.Errorf("audit of ping: %+v %v", e, ok)
	}
	res, err = c.Traceroute(ctx, operator, api.TracerouteRequest{Host: "example.com"}, nil)
	if err != nil || res.ExitCode != 1 {
		t.Errorf("operator traceroute: %+v %v", res, err)
	}
	if _, ok := ta.audit.find(actTraceroute, "failed"); !ok {
		t.Errorf("traceroute exit 1 not audited as failed: %+v", ta.audit.all())
	}
	if r, err := c.DNS(ctx, operator, api.DNSRequest{Name: "example.com"}); err != nil || len(r.Answers) != 1 {
		t.Errorf("operator dns: %+v %v", r, err)
	}
	if _, err := c.Neighbors(ctx, operator); err != nil {
		t.Errorf("operator neighbours: %v", err)
	}
	if ls, err := c.Leases(ctx, operator); err != nil || ls == nil {
		t.Errorf("operator leases: %v %v", ls, err)
	}
	if _, err := c.SetConfig(ctx, operator, "eth1", api.LinkConfig{Mode: "dhcp"}); !IsStatus(err, http.StatusForbidden) {
		t.Errorf("operator PUT config: %v, want 403", err)
	}
	if len(ta.net.setCalls) != 0 {
		t.Fatalf("refused requests reached the network: %v", ta.net.setCalls)
	}

	// Admin: changes.
	ch, err := c.SetConfig(ctx, admin, "eth1", api.LinkConfig{Mode: "static", Addresses: []string{"10.0.0.2/24"}})
	if err != nil || ch.Status != StatusPending || ch.ID == "" || ch.RollbackAt.IsZero() {
		t.Fatalf("admin PUT config: %+v %v", ch, err)
	}
	if got, err := c.Change(ctx, viewer, ch.ID); err != nil || got.Status != StatusPending || got.User != admin.User {
		t.Errorf("viewer GET change: %+v %v (made by %s)", got, err, admin.User)
	}
	if _, err := c.SetUp(ctx, admin, "eth1", false); !IsStatus(err, http.StatusConflict) {
		t.Errorf("second pending change: %v, want 409", err)
	}
	if _, err := c.Confirm(ctx, operator, ch.ID); !IsStatus(err, http.StatusForbidden) {
		t.Errorf("operator confirm: %v, want 403", err)
	}
	if got, err := c.Confirm(ctx, admin, ch.ID); err != nil || got.Status != StatusConfirmed {
		t.Errorf("admin confirm: %+v %v", got, err)
	}
	if _, ok := ta.audit.find(actConfirm, "ok"); !ok {
		t.Errorf("confirm not audited: %+v", ta.audit.all())
	}
	if e, ok := ta.audit.find(actConfig, "ok"); !ok || e.User != admin.User || !strings.Contains(e.Detail, ch.ID) {
		t.Errorf("audit of the change: %+v", e)
	}
	if _, err := c.SetConfig(ctx, admin, "wlan0", api.LinkConfig{Mode: "dhcp"}); !IsStatus(err, http.StatusForbidden) || !strings.Contains(err.Error(), "access point") {
		t.Errorf("AP interface: %v, want 403 saying why", err)
	}
	if e, ok := ta.audit.find(actConfig, "denied"); !ok {
		t.Errorf("AP refusal not audited: %+v", e)
	}

	// Health needs no actor.
	if h, err := c.Health(ctx); err != nil || h.Status != "ok" || !h.Network {
		t.Errorf("health: %+v %v", h, err)
	}
}

func TestActorHeaders(t *testing.T) {
	ta := startAgent(t, nil)
	tests := []struct {
		name  string
		a     *Actor
		field string
	}{
		{"no headers", nil, HeaderUser},
		{"no role", &Actor{User: "alice"}, HeaderRole},
		{"unknown role", &Actor{User: "alice", Role: "root"}, HeaderRole},
		{"role case", &Actor{User: "alice", Role: "Admin"}, HeaderRole},
		{"no user", &Actor{Role: "admin"}, HeaderUser},
		{"long user", &Actor{User: strings.Repeat("u", 200), Role: "admin"}, HeaderUser},
		{"long source", &Actor{User: "alice", Role: "admin", Source: strings.Repeat("1", 200)}, HeaderSource},
	}
	for _, tt := range tests {
		status, e := raw(t, ta.socket, "GET", "/v1/interfaces", tt.a, "")
		if status != http.StatusBadRequest || e.Field != tt.field {
			t.Errorf("%s: %d %+v, want 400 naming %s", tt.name, status, e, tt.field)
		}
	}
}

func TestRequestErrors(t *testing.T) {
	ta := startAgent(t, nil)
	ta.net.allowSet = true
	tests := []struct {
		method, path, body string
		status             int
		field              string
	}{
		{"PUT", "/v1/interfaces/eth1/config", `{"mode":"dhcp","colour":"red"}`, 400, "colour"},
		{"PUT", "/v1/interfaces/eth1/config", `{"mode":"static","mtu":"big"}`, 400, "mtu"},
		{"PUT", "/v1/interfaces/eth1/config", `{"mode":"static","addresses":"10.0.0.1/24"}`, 400, "addresses"},
		{"PUT", "/v1/interfaces/eth1/config", `{"mode":"static","up":"yes"}`, 400, "up"},
		{"PUT", "/v1/interfaces/eth1/config", `{"mode":"static","mtu":100}`, 400, "mtu"},
		{"PUT", "/v1/interfaces/eth1/config", `{"mode":`, 400, ""},
		{"PUT", "/v1/interfaces/eth1/config", `{"mode":"dhcp"}{"mode":"dhcp"}`, 400, ""},
		{"PUT", "/v1/interfaces/eth1/config", ``, 400, ""},
		{"PUT", "/v1/interfaces/eth1/config", `[1,2]`, 400, ""},
		{"PUT", "/v1/interfaces/eth1/config", `{"mode":"static","dns":["` + strings.Repeat("1", 70000) + `"]}`, 413, ""},
		{"PUT", "/v1/interfaces/averyveryverylongname/config", `{"mode":"dhcp"}`, 400, "name"},
		{"PUT", "/v1/interfaces/wlan0/config", `{"mode":"dhcp"}`, 403, "name"},
		{"POST", "/v1/interfaces/wlan0/down", ``, 403, "name"},
		{"GET", "/v1/interfaces/eth9", ``, 404, "name"},
		{"GET", "/v1/changes/nothex", ``, 404, "id"},
		{"GET", "/v1/changes/abcdef", ``, 404, "id"},
		{"POST", "/v1/changes/abcdef/confirm", ``, 404, "id"},
		{"POST", "/v1/diag/ping", `{"host":"-f","count":1}`, 400, "host"},
		{"POST", "/v1/diag/ping", `{"host":"127.0.0.1","count":50}`, 400, "count"},
		{"POST", "/v1/diag/ping", `{"host":"127.0.0.1","count":"3"}`, 400, "count"},
		{"POST", "/v1/diag/ping", `{"host":"127.0.0.1","count":0}`, 400, "count"}, // not silently the default
		{"POST", "/v1/diag/traceroute", `{"host":"127.0.0.1","max_hops":0}`, 400, "max_hops"},
		{"POST", "/v1/diag/ping", `{"host":"127.0.0.1","flood":true}`, 400, "flood"},
		{"POST", "/v1/diag/traceroute", `{"host":"a;b"}`, 400, "host"},
		{"POST", "/v1/diag/traceroute", `{"host":"127.0.0.1","max_hops":64}`, 400, "max_hops"},
		{"POST", "/v1/diag/dns", `{"name":"example.com","type":"AXFR"}`, 400, "type"},
		{"POST", "/v1/diag/dns", `{"name":"example.com","server":"resolver"}`, 400, "server"},
		{"POST", "/v1/diag/dns", `{"name":""}`, 400, "name"},
		{"GET", "/v2/interfaces", ``, 404, ""},
		{"DELETE", "/v1/interfaces", ``, 404, ""},
	}
	for _, tt := range tests {
		status, e := raw(t, ta.socket, tt.method, tt.path, &admin, tt.body)
		if status != tt.status || e.Field != tt.field {
			t.Errorf("%s %s %.40s: %d %+v, want %d naming %q", tt.method, tt.path, tt.body, status, e, tt.status, tt.field)
		}
	}
	// What a form shows beside the field: a sentence about it, the same for
	// a 0 as for any other count out of range, never JSON's or Go's words.
	for body, want := range map[string]string{
		`{"host":"127.0.0.1","count":0}`:    "Count must be from 1 to 10.",
		`{"host":"127.0.0.1","count":99}`:   "Count must be from 1 to 10.",
		`{"host":"127.0.0.1","count":"3"}`:  "Count must be a whole number.",
		`{"host":"127.0.0.1","flood":true}`: `This request has no field "flood".`,
	} {
		if _, e := raw(t, ta.socket, "POST", "/v1/diag/ping", &admin, body); e.Message != want {
			t.Errorf("ping %s: %q, want %q", body, e.Message, want)
		}
	}
	if len(ta.net.setCalls) != 0 {
		t.Errorf("bad requests reached the network: %v", ta.net.setCalls)
	}
	if len(ta.diag.calls) != 0 {
		t.Errorf("bad requests reached diagnostics: %v", ta.diag.calls)
	}
	if _, ok := ta.audit.find(actPing, "invalid"); !ok {
		t.Errorf("invalid ping not audited: %+v", ta.audit.all())
	}
}

func TestClientUnavailable(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	c := client.New(filepath.Join(dir, "missing.sock"))
	if _, err := c.Health(ctx); !errors.Is(err, client.ErrUnavailable) {
		t.Errorf("missing socket: %v, want client.ErrUnavailable", err)
	}
	stale := filepath.Join(dir, "stale.sock")
	makeStale(t, stale)
	c = client.New(stale)
	if _, err := c.Interfaces(ctx, viewer); !errors.Is(err, client.ErrUnavailable) {
		t.Errorf("stale socket: %v, want client.ErrUnavailable", err)
	}
}

// makeStale leaves a socket file nobody listens on, as a crashed agent does.
func makeStale(t *testing.T, path string) {
	t.Helper()
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	if st, err := os.Lstat(path); err != nil || st.Mode()&fs.ModeSocket == 0 {
		t.Fatalf("no stale socket: %v", err)
	}
}

func TestStaleSocket(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "agent.sock")
	makeStale(t, sock)
	ta := startAgent(t, func(c *Config) { c.Socket = sock })
	if _, err := ta.client.Health(context.Background()); err != nil {
		t.Fatalf("agent over a stale socket: %v", err)
	}

	// A live agent is not taken over.
	second, err := New(ta.srv.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := second.Listen(); !errors.Is(err, ErrRunning) {
		t.Errorf("second agent on a live socket: %v, want ErrRunning", err)
	}
	if _, err := ta.client.Health(context.Background()); err != nil {
		t.Errorf("first agent after the second tried: %v", err)
	}

	// Something else at the path is left alone.
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := ta.srv.cfg
	cfg.Socket = file
	third, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := third.Listen(); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("regular file at the socket path: %v", err)
	}
	if b, _ := os.ReadFile(file); string(b) != "keep" {
		t.Errorf("file at the socket path changed: %q", b)
	}
}

func TestSocketRemovedAtStop(t *testing.T) {
	testutil.RequireRoot(t) // the agent lets only root in
	dir := t.TempDir()
	sock := filepath.Join(dir, "agent.sock")
	srv, err := New(Config{Socket: sock, Diag: &fakeDiag{t: t}, Audit: &auditLog{}, Log: discard()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.ListenAndServe(ctx) }()
	testutil.Eventually(t, 5*time.Second, func() bool { _, err := os.Lstat(sock); return err == nil }, "the socket %s", sock)
	h, err := client.New(sock).Health(ctx)
	if err != nil || h.Network {
		t.Errorf("health without a network backend: %+v %v", h, err)
	}
	if _, err := client.New(sock).Interfaces(ctx, viewer); !IsStatus(err, http.StatusServiceUnavailable) {
		t.Errorf("interfaces without a network backend: %v, want 503", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(sock); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket left after stop: %v", err)
	}
	// No temporary directories are left next to it.
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("left in the socket directory: %v", ents)
	}
}

func TestSocketModeAndGroup(t *testing.T) {
	testutil.RequireRoot(t)
	nobody, err := user.Lookup("nobody")
	if err != nil {
		testutil.Missing(t, "user nobody: %v", err)
	}
	ta := startAgent(t, func(c *Config) { c.WebUser = "nobody" })
	st, err := os.Stat(ta.socket)
	if err != nil {
		t.Fatal(err)
	}
	sys := st.Sys().(*syscall.Stat_t)
	if st.Mode()&fs.ModeSocket == 0 || st.Mode().Perm() != 0o660 || sys.Uid != 0 || itoa(sys.Gid) != nobody.Gid {
		t.Errorf("socket %v uid %d gid %d, want 0660 root:%s", st.Mode(), sys.Uid, sys.Gid, nobody.Gid)
	}

	// A web user that does not exist: root only, and said so in the log.
	tb := startAgent(t, func(c *Config) {
		c.WebUser = "devmgr-no-such-user"
		c.lookupUser = func(string) (*user.User, error) { return nil, user.UnknownUserError("devmgr-no-such-user") }
	})
	st, err = os.Stat(tb.socket)
	if err != nil {
		t.Fatal(err)
	}
	sys = st.Sys().(*syscall.Stat_t)
	if st.Mode().Perm() != 0o600 || sys.Gid != 0 {
		t.Errorf("socket without a web user %v gid %d, want 0600 root:root", st.Mode(), sys.Gid)
	}
	if !strings.Contains(tb.logs.String(), "web user not found") {
		t.Errorf("missing web user not logged:\n%s", tb.logs.String())
	}
}

func itoa(u uint32) string { return strconv.FormatUint(uint64(u), 10) }

// TestPeerCredentials connects as uid 65534 from a child process: served
// when it is the web user, refused with 403 (and logged) otherwise, while
// root is always served.
func TestPeerCredentials(t *testing.T) {
	testutil.RequireRoot(t)
	nobody, err := user.Lookup("nobody")
	if err != nil || nobody.Uid != "65534" {
		testutil.Missing(t, "user nobody with uid 65534: %v", err)
	}
	other, err := user.Lookup("daemon")
	if err != nil {
		testutil.Missing(t, "user daemon: %v", err)
	}
	// The child must be able to run the test binary: copy it somewhere
	// uid 65534 can read.
	bindir, err := os.MkdirTemp("", "devmgr-agent-peer-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(bindir) })
	if err := os.Chmod(bindir, 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.ReadFile("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(bindir, "agent.test")
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	child := func(t *testing.T, socket string) string {
		t.Helper()
		if err := os.Chmod(filepath.Dir(socket), 0o755); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin)
		cmd.Env = []string{childEnv + "=" + socket}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
		return strings.TrimSpace(string(out))
	}
	ctx := context.Background()

	t.Run("web user is served", func(t *testing.T) {
		ta := startAgent(t, func(c *Config) { c.WebUser = "nobody" }) // default mode 0660 root:nogroup
		if out := child(t, ta.socket); !strings.HasPrefix(out, "status=200 uid=65534") {
			t.Errorf("child as the web user: %s", out)
		}
		if _, err := ta.client.Health(ctx); err != nil {
			t.Errorf("root: %v", err)
		}
	})
	t.Run("other uid is refused", func(t *testing.T) {
		ta := startAgent(t, func(c *Config) {
			c.WebUser = other.Username
			c.socketMode = 0o666 // let the connection reach the credential check
		})
		ta.net.allowSet = true
		if out := child(t, ta.socket); !strings.HasPrefix(out, "status=403 uid=65534") {
			t.Errorf("child as uid 65534: %s", out)
		}
		if !strings.Contains(ta.logs.String(), "refused agent connection") || !strings.Contains(ta.logs.String(), "uid=65534") {
			t.Errorf("refusal not logged:\n%s", ta.logs.String())
		}
		if _, err := ta.client.Health(ctx); err != nil {
			t.Errorf("root: %v", err)
		}
	})
	t.Run("socket mode keeps other users out", func(t *testing.T) {
		ta := startAgent(t, func(c *Config) { c.WebUser = other.Username })
		if out := child(t, ta.socket); !strings.HasPrefix(out, "unavailable uid=65534") || !strings.Contains(out, "permission denied") {
			t.Errorf("child without socket permission: %s", out)
		}
	})
}
