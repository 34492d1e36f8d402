package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/devmgr/devmgr/internal/accounts"
	"github.com/devmgr/devmgr/internal/auth"
	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/store"
	"github.com/devmgr/devmgr/internal/testing/testutil"
)

// fakeClock is the server's clock in tests; Advance moves it.
type fakeClock = testutil.Clock

func newFakeClock() *fakeClock { return testutil.NewClock(time.Now()) }

// fakeSys is a fixed SysInfo.
type fakeSys struct{}

func (fakeSys) Snapshot(context.Context) (System, error) {
	return System{
		Time: time.Unix(1_700_000_000, 0), Hostname: "testhost", OS: "Debian GNU/Linux 12 (bookworm)",
		Kernel: "Linux 6.1.0-test", Uptime: 26 * time.Hour, Load: [3]float64{0.5, 0.25, 0.125},
		MemTotal: 4 << 30, MemAvailable: 3 << 30, MemUsed: 1 << 30,
		DiskPath: "/", DiskTotal: 100 << 30, DiskFree: 60 << 30, DiskUsed: 40 << 30,
		Interfaces: []Interface{
			{Name: "lo", State: "up", MTU: 65536, Addrs: []string{"127.0.0.1/8"}},
			{Name: "wlan0", State: "down", MAC: "02:00:00:00:00:01", MTU: 1500, Addrs: []string{}},
		},
	}, nil
}

// harness is a console on a test TLS server with its own data dir.
type harness struct {
	t       testing.TB
	cfg     config.Config
	clock   *fakeClock
	db      *store.DB
	srv     *Server
	ts      *httptest.Server
	logBuf  *syncBuffer
	closeDB func()
	sleeps  *fakeSleep
}

// fakeSleep stands in for the server's login delays: it records them and
// returns at once.
type fakeSleep struct {
	mu sync.Mutex
	d  []time.Duration
}

func (f *fakeSleep) sleep(_ context.Context, d time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.d = append(f.d, d)
	return nil
}

// take returns the delays so far and forgets them.
func (f *fakeSleep) take() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	d := f.d
	f.d = nil
	return d
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testConfig(dataDir string) config.Config {
	cfg := config.Default()
	cfg.DataDir = dataDir
	cfg.Web.Listen = "127.0.0.1:0"
	return cfg
}

// newHarness starts a console on a fresh data dir.
func newHarness(t testing.TB) *harness {
	t.Helper()
	return startHarness(t, testConfig(t.TempDir()), newFakeClock())
}

// startHarness starts a console on cfg.DataDir, which may hold an earlier
// harness's database (a restart).
func startHarness(t testing.TB, cfg config.Config, clock *fakeClock) *harness {
	t.Helper()
	return startHarnessWith(t, cfg, clock, fakeSys{})
}

// startHarnessWith is startHarness with the dashboard reading sys.
func startHarnessWith(t testing.TB, cfg config.Config, clock *fakeClock, sys SysInfo) *harness {
	t.Helper()
	return startHarnessAgent(t, cfg, clock, sys, nil)
}

// startHarnessAgent is startHarnessWith with the Network and Diagnostics
// pages talking to ag (nil: no agent).
func startHarnessAgent(t testing.TB, cfg config.Config, clock *fakeClock, sys SysInfo, ag Agent) *harness {
	t.Helper()
	h := &harness{t: t, cfg: cfg, clock: clock, logBuf: &syncBuffer{}}
	log := slog.New(slog.NewTextHandler(h.logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	db, err := store.Open(context.Background(), cfg.DataDir, log)
	if err != nil {
		t.Fatalf("opening store: %v", err)
	}
	var once sync.Once
	h.closeDB = func() { once.Do(func() { db.Close() }) }
	t.Cleanup(h.closeDB)
	h.db = db
	h.srv, err = New(Config{Config: cfg, DB: db, Logger: log, Clock: clock.Now, SysInfo: sys, Agent: ag})
	if err != nil {
		t.Fatalf("web.New: %v", err)
	}
	h.sleeps = &fakeSleep{}
	h.srv.sleep = h.sleeps.sleep
	h.ts = httptest.NewTLSServer(h.srv.Handler())
	t.Cleanup(h.ts.Close)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", h.logBuf.String())
		}
	})
	return h
}

// restart stops this console and starts another on the same data dir and clock.
func (h *harness) restart() *harness {
	h.t.Helper()
	h.ts.Close()
	h.closeDB()
	return startHarness(h.t, h.cfg, h.clock)
}

func (h *harness) initialPassword() string {
	h.t.Helper()
	b, err := os.ReadFile(filepath.Join(h.cfg.DataDir, accounts.InitialPasswordFile))
	if err != nil {
		h.t.Fatalf("reading initial password: %v", err)
	}
	return strings.TrimSpace(string(b))
}

// cheapHash is an argon2id hash of password with small parameters. The
// store keeps a hash's parameters in it and auth.VerifyPassword uses them,
// so a login of a user the test added runs the real check, in a fraction of
// the 50-100 ms of a CPU the device's parameters cost (dozens per test).
func cheapHash(password string) string {
	const m, tm, p = 256, 1, 1
	salt := make([]byte, 16)
	rand.Read(salt)
	key := argon2.IDKey([]byte(password), salt, tm, m, p, 32)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, m, tm, p, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// addUser creates a user directly in the store, with no forced change.
func (h *harness) addUser(name string, role auth.Role, password string) store.User {
	h.t.Helper()
	hash := cheapHash(password)
	u, err := h.db.CreateUser(context.Background(), name, role, hash, false)
	if err != nil {
		h.t.Fatalf("creating user %s: %v", name, err)
	}
	return u
}

// client is a browser stand-in: a cookie jar, no automatic redirects, and
// the form token of the last page it saw.
type client struct {
	t    testing.TB
	h    *harness
	c    *http.Client
	csrf string
}

type response struct {
	status int
	header http.Header
	body   string
}

func (r response) location() string { return r.header.Get("Location") }

func (h *harness) newClient() *client {
	jar, _ := cookiejar.New(nil)
	c := h.ts.Client()
	hc := &http.Client{
		Transport:     c.Transport,
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}
	return &client{t: h.t, h: h, c: hc}
}

var csrfRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

func (c *client) do(req *http.Request) response {
	c.t.Helper()
	res, err := c.c.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatalf("%s %s: reading body: %v", req.Method, req.URL.Path, err)
	}
	if m := csrfRE.FindSubmatch(b); m != nil {
		c.csrf = string(m[1])
	}
	return response{status: res.StatusCode, header: res.Header, body: string(b)}
}

func (c *client) request(method, path string, body io.Reader, hdr map[string]string) response {
	c.t.Helper()
	req, err := http.NewRequest(method, c.h.ts.URL+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return c.do(req)
}

func (c *client) get(path string) response {
	c.t.Helper()
	return c.request(http.MethodGet, path, nil, nil)
}

// post submits a form with the client's current form token added.
func (c *client) post(path string, vals url.Values) response {
	c.t.Helper()
	if vals == nil {
		vals = url.Values{}
	}
	if _, ok := vals["csrf_token"]; !ok && c.csrf != "" {
		vals.Set("csrf_token", c.csrf)
	}
	return c.request(http.MethodPost, path, strings.NewReader(vals.Encode()),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
}

func (c *client) postJSON(path string, v any, hdr map[string]string) response {
	c.t.Helper()
	b, _ := json.Marshal(v)
	if hdr == nil {
		hdr = map[string]string{}
	}
	hdr["Content-Type"] = "application/json"
	return c.request(http.MethodPost, path, bytes.NewReader(b), hdr)
}

// login loads the login page for a form token and signs in.
func (c *client) login(name, password string) response {
	c.t.Helper()
	if r := c.get("/login"); r.status != http.StatusOK && r.status != http.StatusSeeOther {
		c.t.Fatalf("GET /login: %d", r.status)
	}
	return c.post("/login", url.Values{"username": {name}, "password": {password}})
}

// mustLogin signs in and fails the test unless it worked; it loads the
// dashboard to pick up the session's form token.
func (c *client) mustLogin(name, password string) {
	c.t.Helper()
	r := c.login(name, password)
	if r.status != http.StatusSeeOther || r.location() != "/" {
		c.t.Fatalf("login %s: status %d location %q, want 303 /\n%s", name, r.status, r.location(), r.body)
	}
	if r := c.get("/"); r.status != http.StatusOK {
		c.t.Fatalf("GET / after login: %d", r.status)
	}
}

// sessionCookie returns the session cookie the jar holds for the server.
func (c *client) sessionCookie() *http.Cookie {
	u, _ := url.Parse(c.h.ts.URL)
	for _, ck := range c.c.Jar.Cookies(u) {
		if ck.Name == SessionCookie {
			return ck
		}
	}
	return nil
}

func decode[T any](t testing.TB, r response) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(r.body), &v); err != nil {
		t.Fatalf("decoding %q: %v", r.body, err)
	}
	return v
}

// adminClient completes the first start: logs in with the generated
// password and changes it. It returns the signed-in client and the new password.
func (h *harness) adminClient() (*client, string) {
	h.t.Helper()
	c := h.newClient()
	initial := h.initialPassword()
	r := c.login("admin", initial)
	if r.status != http.StatusSeeOther || r.location() != "/account/password" {
		h.t.Fatalf("first login: %d %q", r.status, r.location())
	}
	c.get("/account/password")
	const pw = "correct horse battery staple"
	r = c.post("/account/password", url.Values{"current": {initial}, "new": {pw}, "confirm": {pw}})
	if r.status != http.StatusSeeOther {
		h.t.Fatalf("changing initial password: %d\n%s", r.status, r.body)
	}
	if r := c.get("/"); r.status != http.StatusOK {
		h.t.Fatalf("dashboard after change: %d", r.status)
	}
	return c, pw
}

// addToken stores an API token whose plain text is plain.
func (h *harness) addToken(name string, role auth.Role, plain string) {
	h.t.Helper()
	h.addTokenTTL(name, role, plain, 0)
}

// addTokenTTL stores an API token that expires ttl from now (0: never).
func (h *harness) addTokenTTL(name string, role auth.Role, plain string, ttl time.Duration) {
	h.t.Helper()
	if _, err := h.db.CreateToken(context.Background(), name, role, auth.HashToken(plain), ttl); err != nil {
		h.t.Fatalf("creating token %s: %v", name, err)
	}
}

// bearer adds a viewer's API token called name and returns the header
// that presents it.
func (h *harness) bearer(name string) map[string]string {
	h.t.Helper()
	plain := "dmt_" + name + "0123456789abcdef0123456789abcdef"
	h.addToken(name, auth.Viewer, plain)
	return map[string]string{"Authorization": "Bearer " + plain}
}

func (h *harness) revokeToken(name string) {
	h.t.Helper()
	if err := h.db.RevokeToken(context.Background(), name); err != nil {
		h.t.Fatalf("revoking token %s: %v", name, err)
	}
}
