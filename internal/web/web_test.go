package web

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/devmgr/devmgr/internal/accounts"
	"github.com/devmgr/devmgr/internal/auth"
	"github.com/devmgr/devmgr/internal/store"
)

const userPassword = "a long enough password"

func TestHealthz(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	r := h.newClient().get("/healthz")
	if r.status != http.StatusOK || r.body != "ok\n" {
		t.Errorf("GET /healthz = %d %q, want 200 ok", r.status, r.body)
	}
}

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addUser("vera", auth.Viewer, userPassword)
	c := h.newClient()
	anon := h.newClient()
	c.mustLogin("vera", userPassword)
	page := map[string]string{
		"Content-Security-Policy":    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
		"X-Frame-Options":            "DENY",
		"X-Content-Type-Options":     "nosniff",
		"Referrer-Policy":            "no-referrer",
		"Cross-Origin-Opener-Policy": "same-origin",
		"Permissions-Policy":         "camera=(), microphone=(), geolocation=()",
		"Strict-Transport-Security":  "max-age=63072000",
	}
	// The API's answers are never documents: OWASP's set for REST.
	api := map[string]string{
		"Content-Security-Policy":    "default-src 'none'; frame-ancestors 'none'",
		"X-Frame-Options":            "DENY",
		"X-Content-Type-Options":     "nosniff",
		"Referrer-Policy":            "",
		"Cross-Origin-Opener-Policy": "",
		"Permissions-Policy":         "",
		"Strict-Transport-Security":  "max-age=63072000",
	}
	for _, tc := range []struct {
		c       *client
		path    string
		noStore bool
	}{
		{anon, "/healthz", true}, {anon, "/login", true}, {anon, "/static/app.js", false}, {anon, "/api/v1/me", true},
		{anon, "/nowhere", true}, {c, "/", true}, {c, "/dashboard/live", true}, {c, "/api/v1/me", true}, {c, "/users", true},
		{c, "/api/v1/system", true}, {anon, "/api/v1/nowhere", true},
	} {
		r := tc.c.get(tc.path)
		want := page
		if strings.HasPrefix(tc.path, "/api/") {
			want = api
		}
		for k, v := range want {
			if got := r.header.Values(k); (v == "" && len(got) != 0) || (v != "" && (len(got) != 1 || got[0] != v)) {
				t.Errorf("GET %s: %s = %q, want %q once", tc.path, k, got, v)
			}
		}
		if got := r.header.Get("Cache-Control"); tc.noStore && !strings.Contains(got, "no-store") {
			t.Errorf("GET %s: Cache-Control = %q, want no-store", tc.path, got)
		}
	}
	// No inline script or style in any page: the CSP would block it.
	for _, p := range []string{"/", "/users", "/account/password"} {
		body := c.get(p).body
		if regexp.MustCompile(`<script>|<script [^>]*>[^<]|<style|style="|onclick=|onload=`).MatchString(body) {
			t.Errorf("GET %s has inline script or style", p)
		}
	}
	if body := anon.get("/login").body; regexp.MustCompile(`<script>|<style|style="`).MatchString(body) {
		t.Errorf("login page has inline script or style")
	}
}

func TestFirstStartForcedPasswordChange(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	pwFile := filepath.Join(h.cfg.DataDir, accounts.InitialPasswordFile)
	st, err := os.Stat(pwFile)
	if err != nil {
		t.Fatalf("initial password file: %v", err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("initial password file mode %v, want 0600", st.Mode().Perm())
	}
	if strings.Contains(h.logBuf.String(), h.initialPassword()) {
		t.Errorf("the log contains the initial password")
	}
	if !strings.Contains(h.logBuf.String(), pwFile) {
		t.Errorf("the log does not name %s", pwFile)
	}
	initial := h.initialPassword()

	c := h.newClient()
	if r := c.get("/"); r.status != http.StatusSeeOther || r.location() != "/login" {
		t.Fatalf("anonymous GET / = %d %q, want 303 /login", r.status, r.location())
	}
	r := c.login("admin", initial)
	if r.status != http.StatusSeeOther || r.location() != "/account/password" {
		t.Fatalf("first login = %d %q, want 303 /account/password", r.status, r.location())
	}
	page := c.get("/account/password")
	if page.status != http.StatusOK || !strings.Contains(page.body, `id="must-change"`) {
		t.Fatalf("password page: %d, must-change notice missing", page.status)
	}
	if strings.Contains(page.body, `href="/users"`) || strings.Contains(page.body, `id="nav-dashboard"`) {
		t.Errorf("password page links to other pages before the change")
	}

	// Nothing else is served before the change.
	for _, rt := range h.srv.routeTable() {
		method, path := routeExample(rt.pattern)
		if rt.access != role {
			continue
		}
		var res response
		if method == http.MethodGet {
			res = c.get(path)
		} else {
			res = c.send(method, path, url.Values{"name": {"x"}, "role": {"admin"}})
		}
		switch {
		case method == http.MethodGet && !strings.HasPrefix(path, "/api/"):
			if res.status != http.StatusSeeOther || res.location() != "/account/password" {
				t.Errorf("%s %s before change = %d %q, want 303 /account/password", method, path, res.status, res.location())
			}
		default:
			if res.status != http.StatusForbidden {
				t.Errorf("%s %s before change = %d, want 403", method, path, res.status)
			}
		}
	}

	// Errors are shown beside the fields; password fields are never refilled.
	r = c.post("/account/password", url.Values{"current": {"wrong"}, "new": {"short"}, "confirm": {"other"}})
	if r.status != http.StatusUnprocessableEntity {
		t.Fatalf("bad change = %d, want 422", r.status)
	}
	for _, f := range []string{"current", "new", "confirm"} {
		if !regexp.MustCompile(`class="form-control is-invalid" id="` + f + `"`).MatchString(r.body) {
			t.Errorf("field %s not marked invalid", f)
		}
	}
	if strings.Contains(r.body, "wrong") || strings.Contains(r.body, `value="short"`) {
		t.Errorf("password fields refilled")
	}
	r = c.post("/account/password", url.Values{"current": {initial}, "new": {initial}, "confirm": {initial}})
	if r.status != http.StatusUnprocessableEntity {
		t.Errorf("reusing the password = %d, want 422", r.status)
	}
	if _, err := os.Stat(pwFile); err != nil {
		t.Fatalf("initial password file gone before the change: %v", err)
	}

	const newPW = "correct horse battery staple"
	r = c.post("/account/password", url.Values{"current": {initial}, "new": {newPW}, "confirm": {newPW}})
	if r.status != http.StatusSeeOther || r.location() != "/" {
		t.Fatalf("change = %d %q, want 303 /", r.status, r.location())
	}
	if _, err := os.Stat(pwFile); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("initial password file still there after the change: %v", err)
	}
	if r := c.get("/"); r.status != http.StatusOK || !strings.Contains(r.body, "Your password has been changed") {
		t.Errorf("dashboard after change: %d", r.status)
	}
	if r := c.get("/users"); r.status != http.StatusOK {
		t.Errorf("users after change: %d", r.status)
	}

	// A restart finds the admin and makes no new one or file.
	h2 := h.restart()
	if _, err := os.Stat(pwFile); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("restart recreated the initial password file")
	}
	c2 := h2.newClient()
	c2.mustLogin("admin", newPW)
	if n, _ := h2.db.CountUsers(context.Background()); n != 1 {
		t.Errorf("users after restart = %d, want 1", n)
	}
}

func TestLoginLogout(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addUser("vera", auth.Viewer, userPassword)
	c := h.newClient()
	c.get("/login")
	if c.sessionCookie() != nil {
		t.Fatal("a session cookie from the login page: an anonymous visit must store no session")
	}
	// A session cookie planted before login (session fixation) is not kept.
	u, _ := url.Parse(h.ts.URL)
	c.c.Jar.SetCookies(u, []*http.Cookie{{Name: SessionCookie, Value: "planted-by-an-attacker", Path: "/"}})
	r := c.post("/login", url.Values{"username": {"vera"}, "password": {userPassword}})
	if r.status != http.StatusSeeOther || r.location() != "/" {
		t.Fatalf("login = %d %q", r.status, r.location())
	}
	after := c.sessionCookie()
	if after == nil || after.Value == "planted-by-an-attacker" {
		t.Errorf("session token not renewed at login")
	}
	// Cookie attributes, as sent.
	var setCookie string
	for _, v := range r.header.Values("Set-Cookie") {
		if strings.HasPrefix(v, SessionCookie+"=") {
			setCookie = v
		}
	}
	for _, attr := range []string{"HttpOnly", "Secure", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(setCookie, attr) {
			t.Errorf("Set-Cookie %q lacks %s", setCookie, attr)
		}
	}
	if strings.Contains(setCookie, "Domain=") {
		t.Errorf("Set-Cookie %q has a Domain (not allowed for __Host-)", setCookie)
	}
	if r := c.get("/"); r.status != http.StatusOK || !strings.Contains(r.body, "testhost") {
		t.Fatalf("dashboard = %d", r.status)
	}
	if r := c.get("/login"); r.status != http.StatusSeeOther {
		t.Errorf("login page while logged in = %d, want 303", r.status)
	}
	stolen := *c.sessionCookie()

	r = c.post("/logout", nil)
	if r.status != http.StatusSeeOther || r.location() != "/login" {
		t.Fatalf("logout = %d %q", r.status, r.location())
	}
	if r := c.get("/"); r.status != http.StatusSeeOther {
		t.Errorf("GET / after logout = %d, want 303", r.status)
	}
	// The old session is gone on the server, not only from the jar.
	req, _ := http.NewRequest(http.MethodGet, h.ts.URL+"/api/v1/me", nil)
	req.AddCookie(&stolen)
	if r := h.newClient().do(req); r.status != http.StatusUnauthorized {
		t.Errorf("replayed cookie after logout = %d, want 401", r.status)
	}
	entries, err := h.db.ListAudit(context.Background(), store.AuditFilter{User: "vera", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Action+":"+e.Result)
		if e.Source == "" {
			t.Errorf("audit %s without source address", e.Action)
		}
	}
	for _, want := range []string{"login:ok", "logout:ok"} {
		if !strings.Contains(strings.Join(got, " "), want) {
			t.Errorf("audit %v lacks %s", got, want)
		}
	}
}

// tokenRE matches the form token wherever it is in a page.
var tokenRE = regexp.MustCompile(`(value="|"X-CSRF-Token": ")[A-Za-z0-9_-]{43}`)

func TestUnknownAndKnownUserLookTheSame(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addUser("vera", auth.Viewer, userPassword)
	known := h.newClient().login("vera", "not the password at all")
	unknown := h.newClient().login("nobody", "not the password at all")
	if known.status != http.StatusUnauthorized || unknown.status != known.status {
		t.Errorf("status known %d, unknown %d, want both 401", known.status, unknown.status)
	}
	norm := func(s string) string {
		s = tokenRE.ReplaceAllString(s, "${1}TOKEN")
		return strings.ReplaceAll(strings.ReplaceAll(s, "nobody", "USER"), "vera", "USER")
	}
	if diff := cmp.Diff(norm(known.body), norm(unknown.body)); diff != "" {
		t.Errorf("bodies differ (-known +unknown):\n%s", diff)
	}
	api := func(name string) response {
		return h.newClient().postJSON("/api/v1/login", map[string]string{"username": name, "password": "not the password at all"}, nil)
	}
	ka, ua := api("vera"), api("nobody")
	if ka.status != http.StatusUnauthorized || ka.status != ua.status || ka.body != ua.body {
		t.Errorf("API: known %d %q, unknown %d %q", ka.status, ka.body, ua.status, ua.body)
	}
}

func TestLoginThrottle(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addUser("vera", auth.Viewer, userPassword)
	c := h.newClient()
	for i := range 5 {
		if r := c.login("vera", "wrong password "+strconv.Itoa(i)); r.status != http.StatusUnauthorized {
			t.Fatalf("failure %d = %d, want 401", i+1, r.status)
		}
	}
	check429 := func(h *harness, what string) {
		t.Helper()
		r := h.newClient().login("vera", userPassword) // even the right password
		if r.status != http.StatusTooManyRequests {
			t.Fatalf("%s: form login = %d, want 429", what, r.status)
		}
		if n, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || n <= 0 || n > 15*60 {
			t.Errorf("%s: form Retry-After = %q", what, r.header.Get("Retry-After"))
		}
		if !strings.Contains(r.body, "Too many failed sign-in attempts. Try again in") {
			t.Errorf("%s: form has no readable message", what)
		}
		a := h.newClient().postJSON("/api/v1/login", map[string]string{"username": "vera", "password": userPassword}, nil)
		if a.status != http.StatusTooManyRequests || a.header.Get("Retry-After") == "" {
			t.Fatalf("%s: API login = %d Retry-After %q, want 429", what, a.status, a.header.Get("Retry-After"))
		}
		if e := decode[apiError](t, a); !strings.Contains(e.Error, "Try again in") {
			t.Errorf("%s: API error %q", what, e.Error)
		}
	}
	check429(h, "after 5 failures")

	// A restart does not reset the throttle.
	h = h.restart()
	check429(h, "after restart")

	// The window passes.
	h.clock.Advance(16 * time.Minute)
	h.newClient().mustLogin("vera", userPassword)
}

func TestLoginThrottlePerSource(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addUser("vera", auth.Viewer, userPassword)
	for i := range 20 {
		a := h.newClient().postJSON("/api/v1/login", map[string]string{"username": "guess" + strconv.Itoa(i), "password": "wrong password"}, nil)
		if a.status != http.StatusUnauthorized {
			t.Fatalf("failure %d = %d, want 401", i+1, a.status)
		}
	}
	if r := h.newClient().login("vera", userPassword); r.status != http.StatusTooManyRequests {
		t.Errorf("after 20 failures from one address: %d, want 429", r.status)
	}
}

func TestCrossOriginRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addUser("alice", auth.Admin, userPassword)
	c := h.newClient()
	c.mustLogin("alice", userPassword)
	form := url.Values{"csrf_token": {c.csrf}, "name": {"mallory"}, "role": {"admin"}, "password": {userPassword}, "confirm": {userPassword}}
	for _, hdr := range []map[string]string{
		{"Sec-Fetch-Site": "cross-site"},
		{"Sec-Fetch-Site": "same-site"},
		{"Origin": "https://evil.example"},
	} {
		hdr["Content-Type"] = "application/x-www-form-urlencoded"
		r := c.request(http.MethodPost, "/users", strings.NewReader(form.Encode()), hdr)
		if r.status != http.StatusForbidden {
			t.Errorf("POST /users with %v = %d, want 403", hdr, r.status)
		}
		r = c.request(http.MethodPost, "/logout", strings.NewReader(url.Values{"csrf_token": {c.csrf}}.Encode()), hdr)
		if r.status != http.StatusForbidden {
			t.Errorf("POST /logout with %v = %d, want 403", hdr, r.status)
		}
	}
	if _, err := h.db.UserByName(context.Background(), "mallory"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("cross-origin POST created a user: %v", err)
	}
	if r := c.get("/"); r.status != http.StatusOK {
		t.Errorf("session ended by refused cross-origin logout: %d", r.status)
	}
	// Same-origin, as a browser sends it, works.
	r := c.request(http.MethodPost, "/users", strings.NewReader(form.Encode()), map[string]string{
		"Content-Type": "application/x-www-form-urlencoded", "Sec-Fetch-Site": "same-origin", "Origin": h.ts.URL,
	})
	if r.status != http.StatusSeeOther {
		t.Errorf("same-origin POST /users = %d, want 303\n%s", r.status, r.body)
	}
}

func TestFormTokenRequired(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addUser("alice", auth.Admin, userPassword)
	c := h.newClient()
	c.mustLogin("alice", userPassword)
	add := url.Values{"name": {"mallory"}, "role": {"admin"}, "password": {userPassword}, "confirm": {userPassword}}
	for name, token := range map[string][]string{"missing": {""}, "wrong": {strings.Repeat("A", 43)}} {
		v := url.Values{}
		for k, vs := range add {
			v[k] = vs
		}
		v["csrf_token"] = token
		if r := c.post("/users", v); r.status != http.StatusForbidden {
			t.Errorf("%s form token: POST /users = %d, want 403", name, r.status)
		}
		if r := c.post("/logout", url.Values{"csrf_token": token}); r.status != http.StatusForbidden {
			t.Errorf("%s form token: POST /logout = %d, want 403", name, r.status)
		}
	}
	// A JSON request riding on the session cookie needs the header too.
	if r := c.postJSON("/api/v1/login", map[string]string{"username": "alice", "password": userPassword}, nil); r.status != http.StatusForbidden {
		t.Errorf("API POST with session cookie and no X-CSRF-Token = %d, want 403", r.status)
	}
	if r := c.postJSON("/api/v1/login", map[string]string{"username": "alice", "password": userPassword}, map[string]string{"X-CSRF-Token": c.csrf}); r.status != http.StatusOK {
		t.Errorf("API POST with X-CSRF-Token = %d, want 200", r.status)
	}
	// A login form posted without first loading the page (no session) is refused.
	fresh := h.newClient()
	if r := fresh.post("/login", url.Values{"username": {"alice"}, "password": {userPassword}}); r.status != http.StatusForbidden {
		t.Errorf("login without form token = %d, want 403", r.status)
	}
	c.get("/users") // the API login above renewed the session and its form token
	if r := c.post("/users", add); r.status != http.StatusSeeOther {
		t.Errorf("POST /users with the token = %d, want 303", r.status)
	}
}

// routeExample turns a route pattern into a method and a concrete path.
func routeExample(pattern string) (method, path string) {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok {
		method, path = http.MethodGet, pattern
	}
	path = strings.ReplaceAll(path, "{$}", "")
	path = strings.ReplaceAll(path, "{id}", "2")
	path = strings.ReplaceAll(path, "{name}", "eth1")
	if strings.HasSuffix(path, "/static/") {
		path += "js/app.js"
	}
	return method, path
}

func TestRoleChecks(t *testing.T) {
	t.Parallel()
	h := startHarnessAgent(t, testConfig(t.TempDir()), newFakeClock(), fakeSys{}, newFakeAgent(t))
	h.addUser("vera", auth.Viewer, userPassword)
	h.addUser("olga", auth.Operator, userPassword)
	h.addUser("alice", auth.Admin, userPassword)
	t1 := h.addUser("target1", auth.Viewer, userPassword)
	t2 := h.addUser("target2", auth.Viewer, userPassword)
	viewerTok, adminTok := "dmt_viewer_token_for_tests", "dmt_admin_token_for_tests"
	h.addToken("ci-viewer", auth.Viewer, viewerTok)
	h.addToken("ci-admin", auth.Admin, adminTok)

	callers := map[string]*client{"anon": h.newClient(), "viewer": h.newClient(), "operator": h.newClient(), "admin": h.newClient()}
	callers["anon"].get("/login")
	callers["viewer"].mustLogin("vera", userPassword)
	callers["operator"].mustLogin("olga", userPassword)
	callers["admin"].mustLogin("alice", userPassword)

	const (
		login = -1 // 303 to /login
		ok    = 0  // 2xx or 303 elsewhere: allowed
	)
	// route × caller → status. Every route of the table must be here.
	type row struct {
		route                                            string
		anon, viewer, operator, admin, tokView, tokAdmin int
	}
	rows := []row{
		{"GET /healthz", ok, ok, ok, ok, ok, ok},
		{"GET /static/", ok, ok, ok, ok, ok, ok},
		{"GET /favicon.ico", ok, ok, ok, ok, ok, ok},
		{"GET /login", ok, ok, ok, ok, ok, ok},
		{"POST /login", ok, ok, ok, ok, 403, 403}, // a fresh client without the login page's form token
		{"POST /api/v1/login", ok, ok, ok, ok, ok, ok},
		{"/", 404, 404, 404, 404, 404, 404},
		{"GET /account/password", login, ok, ok, ok, login, login},
		{"GET /{$}", login, ok, ok, ok, login, login},
		{"GET /dashboard/live", login, ok, ok, ok, login, login},
		{"GET /api/v1/me", 401, ok, ok, ok, ok, ok},
		{"GET /api/v1/system", 401, ok, ok, ok, ok, ok},
		{"GET /network", login, ok, ok, ok, login, login},
		{"GET /network/live", login, ok, ok, ok, login, login},
		{"GET /network/changes/{id}", login, ok, ok, ok, login, login},
		{"GET /api/v1/interfaces", 401, ok, ok, ok, ok, ok},
		{"GET /api/v1/interfaces/{name}", 401, ok, ok, ok, ok, ok},
		{"GET /api/v1/changes/{id}", 401, ok, ok, ok, ok, ok},
		{"GET /api/v1/traffic", 401, ok, ok, ok, ok, ok},
		{"GET /diagnostics", login, 403, ok, ok, login, login},
		{"GET /diagnostics/live", login, 403, ok, ok, login, login},
		{"GET /api/v1/diag/neighbors", 401, 403, ok, ok, 403, ok},
		{"GET /api/v1/dhcp/leases", 401, ok, ok, ok, ok, ok},
		{"GET /ap", login, ok, ok, ok, login, login},
		{"GET /ap/live", login, ok, ok, ok, login, login},
		{"GET /ap/changes/{id}", login, ok, ok, ok, login, login},
		{"GET /ap/dhcp/changes/{id}", login, ok, ok, ok, login, login},
		{"POST /ap/dhcp", 403, 403, 403, 422, 403, 403},
		{"GET /api/v1/ap", 401, ok, ok, ok, ok, ok},
		{"GET /api/v1/ap/clients", 401, ok, ok, ok, ok, ok},
		{"GET /api/v1/ap/changes/{id}", 401, ok, ok, ok, ok, ok},
		{"GET /api/v1/ap/deny", 401, ok, ok, ok, ok, ok},
		{"GET /api/v1/ap/dhcp", 401, ok, ok, ok, ok, ok},
		{"GET /api/v1/ap/dhcp/changes/{id}", 401, ok, ok, ok, ok, ok},
		{"GET /commands", login, 403, ok, ok, login, login},
		{"GET /commands/history", login, 403, ok, ok, login, login},
		{"GET /commands/runs/{id}", login, 403, ok, ok, login, login},
		{"GET /commands/runs/{id}/end", login, 403, ok, ok, login, login},
		{"GET /api/v1/commands", 401, ok, ok, ok, ok, ok}, // each role's own list
		{"GET /api/v1/runs", 401, ok, ok, ok, ok, ok},     // the agent shows each their own
		{"GET /api/v1/runs/{id}", 401, ok, ok, ok, ok, ok},
		{"GET /api/v1/runs/{id}/events", 401, ok, ok, ok, ok, ok},
		{"GET /users", login, 403, 403, ok, login, login},
		{"GET /api/v1/users", 401, 403, 403, ok, 403, ok},
		{"GET /audit", login, 403, 403, ok, login, login},
		{"GET /api/v1/audit", 401, 403, 403, ok, 403, ok},
		{"GET /system/backups", login, 403, 403, ok, login, login},
		{"GET /system/backups/restore/{name}", login, 403, 403, 404, login, login}, // no backup "eth1"
		{"GET /system/backups/changes/{id}", login, 403, 403, ok, login, login},
		{"GET /api/v1/backups", 401, 403, 403, ok, 403, ok},
		{"GET /api/v1/backups/{name}", 401, 403, 403, ok, 403, ok},
		{"GET /api/v1/backups/restores/{id}", 401, 403, 403, ok, 403, ok},
		{"GET /system", login, 403, 403, ok, login, login},
		{"GET /system/live", login, 403, 403, ok, login, login},
		{"GET /api/v1/system/reset", 401, 403, 403, ok, 403, ok},
		{"GET /api/v1/system/reset/changes", 401, 403, 403, ok, 403, ok},
		{"GET /api/v1/system/reset/events", 401, 403, 403, ok, 403, ok},
		// State-changing routes: checked with harmless bodies.
		// Tokens open only /api/: elsewhere their requests are anonymous and
		// carry no form token. Anonymous visitors have no session (the login
		// page stores none), so no form token either.
		{"POST /users", 403, 403, 403, 422, 403, 403},
		{"POST /users/{id}/role", 403, 403, 403, 422, 403, 403},
		{"POST /users/{id}/reset", 403, 403, 403, ok, 403, 403},
		{"POST /users/{id}/delete", 403, 403, 403, ok, 403, 403},
		{"POST /account/password", 403, 422, 422, 422, 403, 403},
		{"POST /logout", 403, ok, ok, ok, 403, 403},
		{"POST /session/renew", 403, ok, ok, ok, 403, 403},
		{"POST /commands/{id}/run", 403, 403, 422, 422, 403, 403}, // no command "2"
		{"POST /network/{name}", 403, 403, 403, ok, 403, 403},
		{"POST /network/{name}/up", 403, 403, 403, ok, 403, 403},
		{"POST /network/{name}/down", 403, 403, 403, ok, 403, 403},
		// The AP forms get role=nonsense: no SSID, no MAC address.
		{"POST /ap/settings", 403, 403, 403, 422, 403, 403},
		{"POST /ap/deny", 403, 403, 403, 422, 403, 403},
		{"POST /ap/allow", 403, 403, 403, 422, 403, 403},
		{"POST /diagnostics/dns", 403, 403, ok, ok, 403, 403},
		{"POST /system/reset", 403, 403, 403, 422, 403, 403}, // no password, no host name
		// API changes get the login body: allowed callers get 400 (unknown
		// field) where a body is read.
		{"PUT /api/v1/interfaces/{name}/config", 401, 403, 403, 400, 403, 400},
		{"POST /api/v1/interfaces/{name}/up", 401, 403, 403, ok, 403, ok},
		{"POST /api/v1/interfaces/{name}/down", 401, 403, 403, ok, 403, ok},
		{"POST /api/v1/changes/{id}/confirm", 401, 403, 403, ok, 403, ok},
		{"POST /api/v1/diag/ping", 401, 403, 400, 400, 403, 400},
		{"POST /api/v1/diag/traceroute", 401, 403, 400, 400, 403, 400},
		{"POST /api/v1/diag/dns", 401, 403, 400, 400, 403, 400},
		{"PUT /api/v1/ap/settings", 401, 403, 403, 400, 403, 400},
		{"POST /api/v1/ap/changes/{id}/confirm", 401, 403, 403, ok, 403, ok},
		{"POST /api/v1/ap/deny", 401, 403, 403, 400, 403, 400},
		{"DELETE /api/v1/ap/deny/{mac}", 401, 403, 403, ok, 403, ok},
		{"PUT /api/v1/ap/dhcp", 401, 403, 403, 400, 403, 400},
		{"POST /api/v1/ap/dhcp/changes/{id}/confirm", 401, 403, 403, ok, 403, ok},
		// Commands: the least role is viewer's; the agent checks each
		// command's roles and who may see a run.
		{"POST /api/v1/commands/{id}/runs", 401, 400, 400, 400, 400, 400},
		{"POST /api/v1/runs/{id}/cancel", 401, ok, ok, ok, ok, ok},
		// The factory reset: the console checks the password itself.
		{"POST /api/v1/system/reset", 401, 403, 403, 400, 403, 400},
		// Backups: only admins. The upload form is multipart (this body is
		// not), there is no backup "eth1", and the restore needs the
		// password typed again (none here).
		{"POST /system/backups/create", 403, 403, 403, ok, 403, 403},
		{"POST /system/backups/upload", 403, 403, 403, 400, 403, 403},
		{"POST /system/backups/delete/{name}", 403, 403, 403, ok, 403, 403},
		{"POST /system/backups/preview/{name}", 403, 403, 403, 404, 403, 403},
		{"POST /system/backups/restore/{name}", 403, 403, 403, 404, 403, 403},
		{"POST /api/v1/backups", 401, 403, 403, 400, 403, 400},
		{"DELETE /api/v1/backups/{name}", 401, 403, 403, 404, 403, 404},
		{"POST /api/v1/backups/{name}/preview", 401, 403, 403, 400, 403, 400},
		{"POST /api/v1/backups/upload", 401, 403, 403, 415, 403, 415},
		{"POST /api/v1/backups/{name}/restore", 401, 403, 403, 400, 403, 400},
		// Last: a confirmed restore ends the admin's session.
		{"POST /api/v1/backups/restores/{id}/confirm", 401, 403, 403, ok, 403, ok},
	}
	covered := map[string]bool{}
	for _, rw := range rows {
		covered[rw.route] = true
	}
	for _, rt := range h.srv.routeTable() {
		if !covered[rt.pattern] {
			t.Errorf("route %q has no row in the role table", rt.pattern)
		}
	}
	for _, rw := range rows {
		method, path := routeExample(rw.route)
		if strings.Contains(rw.route, "{id}") {
			// Act on users nobody is signed in as.
			target := t1
			if strings.HasSuffix(path, "/delete") {
				target = t2
			}
			path = strings.Replace(path, "/2/", "/"+strconv.FormatInt(target.ID, 10)+"/", 1)
		}
		if rw.route == "/" {
			path = "/no/such/page"
		}
		for _, who := range []struct {
			name string
			want int
		}{{"anon", rw.anon}, {"viewer", rw.viewer}, {"operator", rw.operator}, {"admin", rw.admin}, {"token-viewer", rw.tokView}, {"token-admin", rw.tokAdmin}} {
			if who.name == "admin" && rw.route == "POST /logout" {
				continue // keep the admin signed in for the rows below; TestLoginLogout covers it
			}
			if (who.name == "operator" || who.name == "viewer") && rw.route == "POST /logout" {
				continue
			}
			var res response
			switch {
			case strings.HasPrefix(who.name, "token-"):
				tok := viewerTok
				if who.name == "token-admin" {
					tok = adminTok
				}
				c := h.newClient()
				hdr := map[string]string{"Authorization": "Bearer " + tok}
				if method != http.MethodGet {
					if strings.HasPrefix(path, "/api/") {
						res = c.sendJSON(method, path, map[string]string{"username": "target1", "password": userPassword}, hdr)
					} else {
						hdr["Content-Type"] = "application/x-www-form-urlencoded"
						res = c.request(method, path, strings.NewReader("role=nonsense"), hdr)
					}
				} else {
					res = c.request(method, path, nil, hdr)
				}
			default:
				c := callers[who.name]
				switch {
				case method == http.MethodGet:
					res = c.get(path)
				// Logins succeed for anybody, on fresh clients so that the
				// signed-in callers keep their sessions.
				case path == "/api/v1/login":
					res = h.newClient().postJSON(path, map[string]string{"username": "target1", "password": userPassword}, nil)
				case strings.HasPrefix(path, "/api/"):
					res = c.sendJSON(method, path, map[string]string{"username": "target1", "password": userPassword}, map[string]string{"X-CSRF-Token": c.csrf})
				case path == "/login":
					res = h.newClient().login("target1", userPassword)
				default:
					res = c.post(path, url.Values{"role": {"nonsense"}})
				}
			}
			got := classify(res)
			want := who.want
			if got != want {
				t.Errorf("%s %s as %s = %d (%s), want %s", method, path, who.name, res.status, res.location(), statusName(want))
			}
		}
	}
}

// classify maps a response to the role table's vocabulary.
func classify(r response) int {
	switch {
	case r.status == http.StatusSeeOther && (r.location() == "/login" || strings.HasPrefix(r.location(), "/login?")):
		return -1
	case r.status >= 200 && r.status < 300, r.status == http.StatusSeeOther:
		return 0
	}
	return r.status
}

func statusName(s int) string {
	switch s {
	case -1:
		return "303 /login"
	case 0:
		return "allowed"
	}
	return strconv.Itoa(s)
}

func TestSessionIdleAndLifetime(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addUser("vera", auth.Viewer, userPassword)
	c := h.newClient()
	c.mustLogin("vera", userPassword)
	h.clock.Advance(14 * time.Minute)
	if r := c.get("/"); r.status != http.StatusOK {
		t.Fatalf("after 14 idle minutes: %d, want 200", r.status)
	}
	h.clock.Advance(15*time.Minute + time.Second)
	if r := c.get("/"); r.status != http.StatusSeeOther || r.location() != "/login?expired=1" { // the page says the session ended
		t.Fatalf("after 15 idle minutes: %d %q, want 303 /login", r.status, r.location())
	}
	if r := c.get("/login"); !strings.Contains(r.body, "Your session expired") {
		t.Errorf("login page does not say the session expired")
	}
	if r := c.get("/api/v1/me"); r.status != http.StatusUnauthorized {
		t.Errorf("API after expiry = %d, want 401", r.status)
	}

	// Active all along, a session still ends after the lifetime (8 h).
	c = h.newClient()
	c.mustLogin("vera", userPassword)
	for range 8 * 6 {
		h.clock.Advance(10 * time.Minute)
		if r := c.get("/dashboard/live"); r.status != http.StatusOK {
			t.Fatalf("active session ended early: %d", r.status)
		}
	}
	h.clock.Advance(time.Minute)
	htmx := map[string]string{"HX-Request": "true"}
	if r := c.request(http.MethodGet, "/dashboard/live", nil, htmx); r.status != http.StatusUnauthorized {
		t.Errorf("htmx poll after the lifetime = %d, want 401", r.status)
	}
}

func TestPasswordChangeEndsOtherSessions(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addUser("vera", auth.Viewer, userPassword)
	a, b := h.newClient(), h.newClient()
	a.mustLogin("vera", userPassword)
	b.mustLogin("vera", userPassword)
	const newPW = "another long password"
	a.get("/account/password")
	r := a.post("/account/password", url.Values{"current": {userPassword}, "new": {newPW}, "confirm": {newPW}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("change = %d\n%s", r.status, r.body)
	}
	if r := a.get("/"); r.status != http.StatusOK {
		t.Errorf("the changing session = %d, want 200", r.status)
	}
	if r := b.get("/"); r.status != http.StatusSeeOther || r.location() != "/login?expired=1" {
		t.Errorf("the other session = %d %q, want 303 /login", r.status, r.location())
	}
	// The form token still works in the changing session.
	if r := a.get("/api/v1/me"); r.status != http.StatusOK {
		t.Errorf("me = %d", r.status)
	}
	if r := h.newClient().login("vera", userPassword); r.status != http.StatusUnauthorized {
		t.Errorf("old password = %d, want 401", r.status)
	}

	// An admin's reset and role change end the user's sessions too.
	h.addUser("alice", auth.Admin, userPassword)
	admin := h.newClient()
	admin.mustLogin("alice", userPassword)
	u, _ := h.db.UserByName(context.Background(), "vera")
	admin.get("/users")
	if r := admin.post("/users/"+strconv.FormatInt(u.ID, 10)+"/role", url.Values{"role": {"operator"}}); r.status != http.StatusSeeOther {
		t.Fatalf("role change = %d", r.status)
	}
	if r := a.get("/"); r.status != http.StatusSeeOther {
		t.Errorf("session after role change = %d, want 303", r.status)
	}
	a.mustLogin("vera", newPW)
	if me := decode[meResponse](t, a.get("/api/v1/me")); me.Role != "operator" {
		t.Errorf("role after change = %q", me.Role)
	}
	_, resetPW := resetPassword(t, admin, u.ID, "vera")
	if r := a.get("/"); r.status != http.StatusSeeOther {
		t.Errorf("session after reset = %d, want 303", r.status)
	}
	if r := a.login("vera", resetPW); r.status != http.StatusSeeOther || r.location() != "/account/password" {
		t.Errorf("login with reset password = %d %q, want 303 /account/password", r.status, r.location())
	}
}

func TestTokenAuth(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const plain = "dmt_0123456789abcdef0123456789abcdef"
	h.addToken("ci", auth.Viewer, plain)
	c := h.newClient()
	bearer := map[string]string{"Authorization": "Bearer " + plain}
	r := c.request(http.MethodGet, "/api/v1/me", nil, bearer)
	if r.status != http.StatusOK {
		t.Fatalf("me with token = %d %s", r.status, r.body)
	}
	if diff := cmp.Diff(meResponse{Username: "token:ci", Role: "viewer"}, decode[meResponse](t, r)); diff != "" {
		t.Errorf("me (-want +got):\n%s", diff)
	}
	if c.sessionCookie() != nil {
		t.Errorf("a token request got a session cookie")
	}
	tok, err := h.db.TokenByHash(context.Background(), auth.HashToken(plain))
	if err != nil || tok.LastUsedAt == nil {
		t.Errorf("last use not recorded: %+v %v", tok, err)
	}
	for _, bad := range []string{"Bearer nope", "Bearer ", "Basic " + plain, plain} {
		r := c.request(http.MethodGet, "/api/v1/me", nil, map[string]string{"Authorization": bad})
		if r.status != http.StatusUnauthorized {
			t.Errorf("Authorization %q = %d, want 401", bad, r.status)
		}
		if e := decode[apiError](t, r); e.Error == "" {
			t.Errorf("401 without a JSON error")
		}
	}
	// Tokens do not open the HTML console.
	if r := c.request(http.MethodGet, "/", nil, bearer); r.status != http.StatusSeeOther {
		t.Errorf("GET / with token = %d, want 303 to login", r.status)
	}
	h.revokeToken("ci")
	if r := c.request(http.MethodGet, "/api/v1/me", nil, bearer); r.status != http.StatusUnauthorized {
		t.Errorf("me with revoked token = %d, want 401", r.status)
	}
}

func TestAPIMeAndJSONErrors(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addUser("vera", auth.Viewer, userPassword)
	c := h.newClient()
	r := c.postJSON("/api/v1/login", map[string]string{"username": "vera", "password": userPassword}, nil)
	if r.status != http.StatusOK {
		t.Fatalf("API login = %d %s", r.status, r.body)
	}
	if diff := cmp.Diff(meResponse{Username: "vera", Role: "viewer"}, decode[meResponse](t, c.get("/api/v1/me"))); diff != "" {
		t.Errorf("me (-want +got):\n%s", diff)
	}
	if r := c.get("/api/v1/users"); r.status != http.StatusForbidden || decode[apiError](t, r).Error == "" {
		t.Errorf("viewer /api/v1/users = %d %s, want 403 JSON", r.status, r.body)
	}
	if r := c.get("/api/v1/nothing"); r.status != http.StatusNotFound || decode[apiError](t, r).Error == "" {
		t.Errorf("unknown API path = %d %s, want 404 JSON", r.status, r.body)
	}
	anon := h.newClient()
	if r := anon.postJSON("/api/v1/login", map[string]string{"username": "vera"}, nil); r.status != http.StatusBadRequest || decode[apiError](t, r).Field != "password" {
		t.Errorf("missing password = %d %s, want 400 field password", r.status, r.body)
	}
	big := strings.Repeat("x", maxBodyBytes+1)
	if r := anon.postJSON("/api/v1/login", map[string]string{"username": "vera", "password": big}, nil); r.status != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body = %d, want 413", r.status)
	}
	sys := decode[System](t, c.get("/api/v1/system"))
	if sys.Hostname != "testhost" || len(sys.Interfaces) != 2 {
		t.Errorf("system = %+v", sys)
	}
}

func TestDashboard(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addUser("vera", auth.Viewer, userPassword)
	c := h.newClient()
	c.mustLogin("vera", userPassword)
	page := c.get("/")
	for _, want := range []string{`hx-get="/dashboard/live"`, `hx-trigger="every 3s"`, "testhost", "Debian GNU/Linux 12 (bookworm)", "Linux 6.1.0-test",
		"1d 2h 0m", "0.50 0.25 0.12", "1.0 GiB of 4.0 GiB", "40.0 GiB of 100.0 GiB", `data-iface="wlan0"`, `data-iface="lo"`, "127.0.0.1/8"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("dashboard lacks %q", want)
		}
	}
	for _, unwanted := range []string{`href="/users"`, `href="/audit"`} {
		if strings.Contains(page.body, unwanted) {
			t.Errorf("viewer's dashboard has %s", unwanted)
		}
	}
	live := c.request(http.MethodGet, "/dashboard/live", nil, map[string]string{"HX-Request": "true"})
	if live.status != http.StatusOK || strings.Contains(live.body, "<html") || !strings.Contains(live.body, `data-iface="wlan0"`) {
		t.Errorf("fragment = %d, want the system fragment without layout", live.status)
	}
	anon := h.newClient()
	if r := anon.request(http.MethodGet, "/dashboard/live", nil, map[string]string{"HX-Request": "true"}); r.status != http.StatusUnauthorized {
		t.Errorf("anonymous htmx poll = %d, want 401", r.status)
	}
}

func TestUsersPage(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	admin, _ := h.adminClient()
	page := admin.get("/users")
	if !strings.Contains(page.body, `data-user="admin"`) {
		t.Fatalf("users page lacks admin")
	}

	// Errors beside the fields, typed values kept, passwords not.
	r := admin.post("/users", url.Values{"name": {"Bad Name!"}, "role": {"operator"}, "password": {"short"}, "confirm": {"different"}})
	if r.status != http.StatusUnprocessableEntity {
		t.Fatalf("bad add = %d", r.status)
	}
	for _, f := range []string{"name", "password", "confirm"} {
		if !regexp.MustCompile(`is-invalid" id="` + f + `"`).MatchString(r.body) {
			t.Errorf("field %s not marked invalid", f)
		}
	}
	if !strings.Contains(r.body, `value="Bad Name!"`) || !regexp.MustCompile(`<option value="operator" selected>`).MatchString(r.body) {
		t.Errorf("typed values not kept")
	}
	if strings.Contains(r.body, `value="short"`) || strings.Contains(r.body, `value="different"`) {
		t.Errorf("password refilled")
	}

	r = admin.post("/users", url.Values{"name": {"vera"}, "role": {"viewer"}, "password": {userPassword}, "confirm": {userPassword}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("add = %d\n%s", r.status, r.body)
	}
	r = admin.get("/users")
	if !strings.Contains(r.body, `data-user="vera"`) || !strings.Contains(r.body, "Added vera (viewer)") {
		t.Errorf("vera not listed")
	}
	r = admin.post("/users", url.Values{"name": {"vera"}, "role": {"viewer"}, "password": {userPassword}, "confirm": {userPassword}})
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "already exists") {
		t.Errorf("duplicate add = %d", r.status)
	}
	vera, err := h.db.UserByName(context.Background(), "vera")
	if err != nil || !vera.MustChangePassword || vera.Role != auth.Viewer {
		t.Fatalf("vera = %+v %v", vera, err)
	}

	// Every action goes back to /users (a reload shows the page, never a
	// 404 at /users/1/role), saying what happened or why it was refused.
	adminUser, _ := h.db.UserByName(context.Background(), "admin")
	id := func(u store.User) string { return strconv.FormatInt(u.ID, 10) }
	for _, tc := range []struct {
		path string
		form url.Values
		says string
	}{
		{"/users/" + id(vera) + "/role", url.Values{"role": {"operator"}}, "vera is now operator"},
		{"/users/" + id(adminUser) + "/role", url.Values{"role": {"viewer"}}, "admin is the last admin; make another user admin first."},
		{"/users/" + id(adminUser) + "/delete", nil, "You cannot delete your own account."},
		{"/users/" + id(adminUser) + "/reset", nil, "Use Change password for your own account."},
		{"/users/" + id(vera) + "/delete", nil, "Deleted vera."},
		{"/users/" + id(vera) + "/role", url.Values{"role": {"admin"}}, "There is no such user any more"},
		{"/users/999/delete", nil, "There is no such user any more"},
		{"/users/x/reset", nil, "There is no such user."},
	} {
		admin.get("/users")
		r := admin.post(tc.path, tc.form)
		if r.status != http.StatusSeeOther || r.location() != "/users" {
			t.Errorf("POST %s %v = %d %q, want 303 /users", tc.path, tc.form, r.status, r.location())
			continue
		}
		if page := admin.get("/users"); page.status != http.StatusOK || !strings.Contains(page.body, tc.says) {
			t.Errorf("after POST %s %v the page does not say %q", tc.path, tc.form, tc.says)
		}
	}
	if _, err := h.db.UserByName(context.Background(), "vera"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("vera still there: %v", err)
	}
	// Only a bad value is answered in place, with 422 and the page.
	admin.get("/users")
	if r := admin.post("/users/"+id(adminUser)+"/role", url.Values{"role": {"root"}}); r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, `id="users-error"`) {
		t.Errorf("an unknown role = %d, want 422 with the reason", r.status)
	}

	// Everything above is in the audit log, and its filters work.
	r = admin.get("/audit?action=user.add&result=ok")
	if r.status != http.StatusOK || !strings.Contains(r.body, "user.add") || strings.Contains(r.body, `<td class="nowrap" data-label="Action">user.delete</td>`) {
		t.Errorf("audit filtered by action: %d", r.status)
	}
	r = admin.get("/audit?action=user.role&result=failed")
	if !strings.Contains(r.body, "last admin") {
		t.Errorf("audit lacks the refused role change")
	}
	today := h.clock.Now().UTC().Format(time.DateOnly)
	r = admin.get("/audit?user=admin&since=" + today + "&until=" + today)
	if !strings.Contains(r.body, "password.change") || !strings.Contains(r.body, "user.delete") {
		t.Errorf("audit by user and date lacks entries")
	}
	r = admin.get("/audit?since=2020-01-01&until=2020-01-02")
	if !strings.Contains(r.body, "No entries match") {
		t.Errorf("audit for an old day is not empty")
	}
	if r := admin.get("/audit?since=yesterday"); r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "is-invalid") {
		t.Errorf("bad date = %d", r.status)
	}
	entries := decode[[]store.AuditEntry](t, admin.get("/api/v1/audit?user=admin"))
	if len(entries) == 0 {
		t.Errorf("API audit is empty")
	}
}

func TestAuditPaging(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	admin, _ := h.adminClient()
	ctx := context.Background()
	for i := range auditPageSize + 5 {
		if err := h.db.Audit(ctx, store.AuditEntry{Time: h.clock.Now(), User: "bulk", Action: accounts.ActUserAdd, Target: "u" + strconv.Itoa(i), Result: resultOK}); err != nil {
			t.Fatal(err)
		}
	}
	p1 := admin.get("/audit?user=bulk")
	if !strings.Contains(p1.body, `id="audit-next"`) || strings.Contains(p1.body, `id="audit-prev"`) {
		t.Fatalf("page 1 links wrong")
	}
	p2 := admin.get("/audit?user=bulk&page=2")
	if strings.Contains(p2.body, `id="audit-next"`) || !strings.Contains(p2.body, `id="audit-prev"`) {
		t.Errorf("page 2 links wrong")
	}
	if n := strings.Count(p2.body, `<td data-label="User">bulk</td>`); n != 5 {
		t.Errorf("page 2 has %d rows, want 5", n)
	}
}

func TestStaticFiles(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.newClient()
	for _, p := range []string{"/static/vendor/bootstrap/bootstrap.min.css", "/static/vendor/htmx/htmx.min.js", "/static/theme.js"} {
		if r := c.get(p); r.status != http.StatusOK || len(r.body) < 100 {
			t.Errorf("GET %s = %d (%d bytes)", p, r.status, len(r.body))
		}
	}
	for _, p := range []string{"/static/", "/static/vendor/"} {
		if r := c.get(p); r.status != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404 (no listings)", p, r.status)
		}
	}
	login := c.get("/login").body
	if !regexp.MustCompile(`/static/vendor/htmx/htmx\.min\.js\?v=[0-9a-f]{12}`).MatchString(login) {
		t.Errorf("static URLs carry no version")
	}
	if !strings.Contains(login, `"includeIndicatorStyles":false`) {
		t.Errorf("htmx indicator styles (inline CSS) not disabled")
	}
}
