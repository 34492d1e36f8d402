package web

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/devmgr/devmgr/internal/auth"
	"github.com/devmgr/devmgr/internal/store"
	"github.com/devmgr/devmgr/internal/testing/testutil"
)

// proxiedHarness is a console behind a (pretend) nginx: plain HTTP from
// loopback, so X-Real-IP names the client and tests can speak from many
// addresses. Unknown users' dummy hashes are free, to keep floods fast.
func proxiedHarness(t *testing.T) *harness {
	t.Helper()
	cfg := testConfig(t.TempDir())
	cfg.Web.TLS.Disable = true
	h := startHarness(t, cfg, newFakeClock())
	h.srv.verifyDummy = func(string) {}
	return h
}

// loginFrom loads the login page and signs in, both from addr.
func (c *client) loginFrom(addr, name, password string) response {
	c.t.Helper()
	hdr := map[string]string{"X-Real-IP": addr}
	if r := c.request(http.MethodGet, "/login", nil, hdr); r.status != http.StatusOK {
		c.t.Fatalf("GET /login from %s: %d", addr, r.status)
	}
	hdr["Content-Type"] = "application/x-www-form-urlencoded"
	form := url.Values{"username": {name}, "password": {password}, "csrf_token": {c.csrf}}
	return c.request(http.MethodPost, "/login", strings.NewReader(form.Encode()), hdr)
}

// handlerClient sends requests straight to the console's handler (no TLS,
// no network), carrying the login form's cookie and token.
type handlerClient struct {
	t      *testing.T
	h      http.Handler
	cookie *http.Cookie
	token  string
}

func newHandlerClient(t *testing.T, h http.Handler) *handlerClient {
	t.Helper()
	hc := &handlerClient{t: t, h: h}
	rec := hc.do(httptest.NewRequest(http.MethodGet, "/login", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /login = %d", rec.Code)
	}
	for _, c := range rec.Result().Cookies() {
		if c.Name == LoginCSRFCookie {
			hc.cookie = c
		}
	}
	m := csrfRE.FindStringSubmatch(rec.Body.String())
	if hc.cookie == nil || m == nil {
		t.Fatalf("login page without a form token cookie and field")
	}
	hc.token = m[1]
	return hc
}

func (hc *handlerClient) do(req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	hc.h.ServeHTTP(rec, req)
	return rec
}

func (hc *handlerClient) login(name, password string) *httptest.ResponseRecorder {
	form := url.Values{"username": {name}, "password": {password}, "csrf_token": {hc.token}}
	req := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(hc.cookie)
	return hc.do(req)
}

// dbSize is the database's size on disk, WAL checkpointed into it.
func dbSize(t *testing.T, h *harness) int64 {
	t.Helper()
	if _, err := h.db.SQL().Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, f := range []string{store.FileName, store.FileName + "-wal"} {
		if st, err := os.Stat(filepath.Join(h.cfg.DataDir, f)); err == nil {
			n += st.Size()
		}
	}
	return n
}

// Anonymous login attempts with huge usernames, and a throttled flood,
// cannot fill the disk: 10,000 attempts with 60 KiB usernames and 500
// throttled ones grow the database by less than 1 MB.
func TestLoginFloodDoesNotFillDisk(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.srv.verifyDummy = func(string) {}
	hc := newHandlerClient(t, h.srv.Handler())
	before := dbSize(t, h)

	// The body is encoded once: the test measures the server, not url.Values.
	body := []byte(url.Values{"username": {strings.Repeat("a", 60<<10)}, "password": {"wrong password"}, "csrf_token": {hc.token}}.Encode())
	for i := range 10_000 {
		req := httptest.NewRequest(http.MethodPost, "/login", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(hc.cookie)
		rec := hc.do(req)
		if rec.Code != http.StatusUnprocessableEntity {
			t.Fatalf("attempt %d with a 60 KiB username = %d, want 422", i, rec.Code)
		}
		if i == 0 && !strings.Contains(rec.Body.String(), "Username: at most 32 characters") {
			t.Errorf("no message naming the field:\n%s", rec.Body.String())
		}
	}
	// One source, names within the limit: throttled after 20, one audit
	// row counting the rest.
	for i := range 500 {
		hc.login(fmt.Sprintf("guess%d", i), "wrong password")
	}
	grown := dbSize(t, h) - before
	t.Logf("database grew by %d bytes", grown)
	if grown >= 1_000_000 {
		t.Errorf("database grew by %d bytes, want under 1 MB", grown)
	}
	entries, err := h.db.ListAudit(context.Background(), store.AuditFilter{Result: resultThrottled})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || !strings.Contains(entries[0].Detail, "(480 attempts)") {
		t.Errorf("throttled attempts in the audit log: %+v, want one row counting 480", entries)
	}
}

// A login form larger than the body limit is refused unparsed.
func TestLoginBodyLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	hc := newHandlerClient(t, h.srv.Handler())
	form := url.Values{"username": {strings.Repeat("a", 1<<20)}, "password": {"x"}, "csrf_token": {hc.token}}
	req := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(hc.cookie)
	if rec := hc.do(req); rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("1 MiB login form = %d, want 413", rec.Code)
	}
	// The JSON login refuses an over-long username before the throttle.
	a := h.newClient().postJSON("/api/v1/login", map[string]string{"username": strings.Repeat("a", 33), "password": "x"}, nil)
	if e := decode[apiError](t, a); a.status != http.StatusBadRequest || e.Field != "username" {
		t.Errorf("API login with a 33-character username = %d %+v, want 400 naming username", a.status, e)
	}
	if n, _ := h.db.CountLoginFailures(context.Background(), "", time.Time{}); n != 0 {
		t.Errorf("%d login failures recorded, want none", n)
	}
}

// An attacker's failures for admin from one address do not keep the admin
// out from another: the hard block is per user and source; per user there
// is only a delay, capped.
func TestLoginNoLockoutFromElsewhere(t *testing.T) {
	t.Parallel()
	h := proxiedHarness(t)
	h.addUser("root", auth.Admin, userPassword)
	attacker := h.newClient()
	for i := range 50 {
		r := attacker.loginFrom("203.0.113.9", "root", "guess number "+strconv.Itoa(i))
		want := http.StatusUnauthorized
		if i >= auth.MaxUserSourceFailures {
			want = http.StatusTooManyRequests
		}
		if r.status != want {
			t.Fatalf("attacker's attempt %d = %d, want %d", i+1, r.status, want)
		}
	}
	if r := attacker.loginFrom("203.0.113.9", "root", userPassword); r.status != http.StatusTooManyRequests {
		t.Errorf("the right password from the attacker's address = %d, want 429", r.status)
	}
	h.sleeps.take()
	if r := h.newClient().loginFrom("198.51.100.7", "root", userPassword); r.status != http.StatusSeeOther || r.location() != "/" {
		t.Fatalf("admin from another address = %d %q, want 303 /", r.status, r.location())
	}
	if d := h.sleeps.take(); len(d) != 1 || d[0] <= 0 || d[0] > auth.UserDelayMax {
		t.Errorf("the admin's delay: %v, want one of at most %v", d, auth.UserDelayMax)
	}
	// The admin's success there lifts nothing at the attacker's address.
	if r := attacker.loginFrom("203.0.113.9", "root", userPassword); r.status != http.StatusTooManyRequests {
		t.Errorf("attacker after the admin's login = %d, want 429", r.status)
	}
}

// An IPv6 attacker rotating addresses within its /64 is one source.
func TestLoginIPv6PrefixIsOneSource(t *testing.T) {
	t.Parallel()
	h := proxiedHarness(t)
	for i := range auth.MaxSourceFailures {
		r := h.newClient().loginFrom(fmt.Sprintf("2001:db8:1:2:%x::1", i+1), "guess"+strconv.Itoa(i), "wrong password")
		if r.status != http.StatusUnauthorized {
			t.Fatalf("attempt %d = %d, want 401", i+1, r.status)
		}
	}
	if r := h.newClient().loginFrom("2001:db8:1:2:abcd:ef01:2345:6789", "another", "wrong password"); r.status != http.StatusTooManyRequests {
		t.Errorf("a fresh address in the same /64 = %d, want 429", r.status)
	}
	if r := h.newClient().loginFrom("2001:db8:1:3::1", "another", "wrong password"); r.status != http.StatusUnauthorized {
		t.Errorf("the next /64 = %d, want 401", r.status)
	}
}

// Once the global budget of failures is spent, sources that never logged
// in are paced (one per PaceInterval) and refused past MaxPaceWait; a
// source that logged in before is not slowed.
func TestLoginGlobalBudget(t *testing.T) {
	t.Parallel()
	h := proxiedHarness(t)
	h.addUser("vera", auth.Viewer, userPassword)
	h.newClient().loginFrom("198.51.100.7", "vera", userPassword)
	for i := range auth.GlobalBudget {
		if r := h.newClient().loginFrom(fmt.Sprintf("2001:db8:%x::1", i), "guess"+strconv.Itoa(i), "wrong password"); r.status != http.StatusUnauthorized {
			t.Fatalf("attempt %d = %d, want 401", i+1, r.status)
		}
	}
	if d := h.sleeps.take(); len(d) != 0 {
		t.Fatalf("delays before the budget was spent: %v", d)
	}
	var refused response
	for i := range 100 {
		r := h.newClient().loginFrom(fmt.Sprintf("203.0.113.%d", i), "newname"+strconv.Itoa(i), "wrong password")
		if r.status == http.StatusTooManyRequests {
			refused = r
			break
		}
	}
	d := h.sleeps.take()
	// The first paced source goes at once (no sleep), then one per interval.
	if len(d) < 2 || d[0] != auth.PaceInterval || d[1] != 2*auth.PaceInterval || d[len(d)-1] >= auth.MaxPaceWait {
		t.Errorf("unknown sources' delays: %v, want %v, %v, ... below %v", d, auth.PaceInterval, 2*auth.PaceInterval, auth.MaxPaceWait)
	}
	if refused.status != http.StatusTooManyRequests || refused.header.Get("Retry-After") == "" {
		t.Errorf("past the pacing queue: %d Retry-After %q, want 429 with Retry-After", refused.status, refused.header.Get("Retry-After"))
	}
	if r := h.newClient().loginFrom("198.51.100.7", "vera", userPassword); r.status != http.StatusSeeOther {
		t.Errorf("known source = %d, want 303", r.status)
	}
	if d := h.sleeps.take(); len(d) != 0 {
		t.Errorf("the known source was delayed: %v", d)
	}
}

// Password checks of login attempts wait in a bounded queue: at most
// 2×GOMAXPROCS run, hashQueueDepth more wait, and past that the answer is
// 503 with Retry-After.
func TestLoginHashQueueBounded(t *testing.T) {
	h := proxiedHarness(t)
	release := make(chan struct{})
	var running, most atomic.Int32
	h.srv.verifyDummy = func(string) {
		n := running.Add(1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		<-release
		running.Add(-1)
	}
	capacity := cap(h.srv.hashes.admit)
	workers := cap(h.srv.hashes.run)
	// Load the forms first: a page load costs no hash.
	clients := make([]*client, capacity)
	for i := range clients {
		clients[i] = h.newClient()
		clients[i].request(http.MethodGet, "/login", nil, nil)
	}
	var wg sync.WaitGroup
	statuses := make([]int, capacity)
	for i, c := range clients {
		wg.Go(func() {
			form := url.Values{"username": {"guess" + strconv.Itoa(i)}, "password": {"wrong password"}, "csrf_token": {c.csrf}}
			r := c.request(http.MethodPost, "/login", strings.NewReader(form.Encode()), map[string]string{
				"Content-Type": "application/x-www-form-urlencoded", "X-Real-IP": fmt.Sprintf("192.0.2.%d", i+1)})
			statuses[i] = r.status
		})
	}
	releaseAll := sync.OnceFunc(func() { close(release) })
	defer releaseAll() // lets the waiting logins end if the queue never fills
	testutil.Eventually(t, 30*time.Second, func() bool {
		return len(h.srv.hashes.admit) >= capacity && int(running.Load()) >= workers
	}, func() string {
		return fmt.Sprintf("queue never filled: %d of %d places, %d running", len(h.srv.hashes.admit), capacity, running.Load())
	})
	r := h.newClient().loginFrom("198.51.100.99", "one-too-many", "wrong password")
	releaseAll()
	wg.Wait()
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Errorf("past the queue: %d Retry-After %q, want 503 with Retry-After", r.status, r.header.Get("Retry-After"))
	}
	if m := int(most.Load()); m != workers {
		t.Errorf("at most %d hashes ran at once, want %d", m, workers)
	}
	for i, s := range statuses {
		if s != http.StatusUnauthorized {
			t.Errorf("queued attempt %d = %d, want 401", i, s)
		}
	}
}

// The login page stores no session; its form is guarded by a signed
// double-submit token instead.
func TestLoginFormStoresNoSession(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addUser("vera", auth.Viewer, userPassword)
	sessions := func() int {
		t.Helper()
		var n int
		if err := h.db.SQL().QueryRow(`SELECT count(*) FROM sessions`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for range 1000 {
		rec := httptest.NewRecorder()
		h.srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/login", nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("GET /login = %d", rec.Code)
		}
	}
	if n := sessions(); n != 0 {
		t.Fatalf("1000 anonymous GET /login stored %d session rows, want 0", n)
	}

	a, b := newHandlerClient(t, h.srv.Handler()), newHandlerClient(t, h.srv.Handler())
	post := func(cookie *http.Cookie, token string, hdr map[string]string) *httptest.ResponseRecorder {
		form := url.Values{"username": {"vera"}, "password": {userPassword}}
		if token != "" {
			form.Set("csrf_token", token)
		}
		req := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		if cookie != nil {
			req.AddCookie(cookie)
		}
		return a.do(req)
	}
	forged := *a.cookie
	forged.Value = strings.Repeat("A", len(a.token)) // well formed, not signed
	for name, rec := range map[string]*httptest.ResponseRecorder{
		"no cookie, no field":   post(nil, "", nil),
		"no cookie":             post(nil, a.token, nil),
		"no field":              post(a.cookie, "", nil),
		"another form's cookie": post(b.cookie, a.token, nil),
		"unsigned pair":         post(&forged, forged.Value, nil),
		"cross-origin":          post(a.cookie, a.token, map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}),
	} {
		if rec.Code != http.StatusForbidden {
			t.Errorf("%s: POST /login = %d, want 403", name, rec.Code)
		}
	}
	if rec := post(a.cookie, a.token, nil); rec.Code != http.StatusSeeOther {
		t.Fatalf("with the form's cookie and field: POST /login = %d, want 303", rec.Code)
	}
	if n := sessions(); n != 1 {
		t.Errorf("after one login %d session rows, want 1", n)
	}
	// An open form expires, and a restart (a new signing key) ends it.
	h.clock.Advance(loginFormLifetime + time.Minute)
	rec := post(b.cookie, b.token, nil)
	if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), formExpired) {
		t.Errorf("expired form: %d, want 403 saying %q", rec.Code, formExpired)
	}
	c := newHandlerClient(t, h.srv.Handler())
	h2 := h.restart()
	rec = httptest.NewRecorder()
	form := url.Values{"username": {"vera"}, "password": {userPassword}, "csrf_token": {c.token}}
	req := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(c.cookie)
	h2.srv.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden {
		t.Errorf("a form from before a restart: %d, want 403", rec.Code)
	}
}

// An admin's password reset forgets the user's failed logins.
func TestPasswordResetUnlocks(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	admin, _ := h.adminClient()
	vera := h.addUser("vera", auth.Viewer, userPassword)
	for i := range auth.MaxUserSourceFailures {
		h.newClient().login("vera", "guess number "+strconv.Itoa(i))
	}
	if r := h.newClient().login("vera", userPassword); r.status != http.StatusTooManyRequests {
		t.Fatalf("vera after %d failures = %d, want 429", auth.MaxUserSourceFailures, r.status)
	}
	resetPassword(t, admin, vera.ID, "vera")
	if n, _ := h.db.CountLoginFailures(context.Background(), "vera", time.Time{}); n != 0 {
		t.Errorf("after the reset vera has %d failures, want 0", n)
	}
}
