package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/devmgr/devmgr/internal/auth"
)

// A page asked for without a session sends the user to sign in and then
// back to it; an ended session is said so; only this console's paths are
// ever a destination.
func TestLoginReturnsToPage(t *testing.T) {
	h := newHarness(t)
	h.addUser("alice", auth.Admin, userPassword)
	c := h.newClient()

	r := c.get("/audit?user=bob")
	if r.status != http.StatusSeeOther || r.location() != "/login?next=%2Faudit%3Fuser%3Dbob" {
		t.Fatalf("GET /audit without a session = %d %q", r.status, r.location())
	}
	page := c.get(r.location())
	if !strings.Contains(page.body, `name="next" value="/audit?user=bob"`) || strings.Contains(page.body, `id="login-expired"`) {
		t.Errorf("login page does not carry the page to return to, or says the session ended")
	}
	r = c.post("/login", url.Values{"username": {"alice"}, "password": {userPassword}, "next": {"/audit?user=bob"}})
	if r.status != http.StatusSeeOther || r.location() != "/audit?user=bob" {
		t.Errorf("login with next = %d %q, want back to /audit?user=bob", r.status, r.location())
	}

	// The session ends (logged out elsewhere): the next page load says so.
	c.post("/logout", nil)
	c.setCookie(SessionCookie, "stale-session-token")
	r = c.get("/network")
	if r.status != http.StatusSeeOther || !strings.Contains(r.location(), "expired=1") {
		t.Errorf("GET /network with an ended session = %d %q, want the login page told it expired", r.status, r.location())
	}
	if page := c.get(r.location()); !strings.Contains(page.body, `id="login-expired"`) {
		t.Errorf("the login page does not say the session ended")
	}

	for _, next := range []string{"//evil.example/", "https://evil.example/", "/\\evil.example", "/login", "javascript:alert(1)", ""} {
		o := h.newClient()
		o.get("/login")
		r := o.post("/login", url.Values{"username": {"alice"}, "password": {userPassword}, "next": {next}})
		if r.status != http.StatusSeeOther || r.location() != "/" {
			t.Errorf("next %q: %d %q, want /", next, r.status, r.location())
		}
	}
}

// setCookie puts a cookie for the console into the client's jar.
func (c *client) setCookie(name, value string) {
	u, _ := url.Parse(c.h.ts.URL)
	c.c.Jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: "/"}})
}

// The favicon exists, and a missing static file gets the console's 404
// page, not Go's plain text.
func TestFaviconAndStatic404(t *testing.T) {
	h := newHarness(t)
	c := h.newClient()
	if r := c.get("/favicon.ico"); r.status != http.StatusOK || !strings.Contains(r.body, "<svg") {
		t.Errorf("GET /favicon.ico = %d", r.status)
	}
	r := c.get("/static/no-such-file.css")
	if r.status != http.StatusNotFound || !strings.Contains(r.body, "<html") {
		t.Errorf("GET a missing static file = %d, %.60q", r.status, r.body)
	}
}

// A script that changes something with the session cookie but without the
// page's token is told which header it lacks, in JSON.
func TestAPIWithoutCSRFHeader(t *testing.T) {
	h := newAgentHarness(t, testConfig(t.TempDir()), &fakeAgent{})
	h.addUser("alice", auth.Admin, userPassword)
	c := h.newClient()
	c.mustLogin("alice", userPassword)
	r := c.request("POST", "/api/v1/interfaces/eth1/up", nil, map[string]string{"Content-Type": "application/json"})
	if r.status != http.StatusForbidden || decode[apiError](t, r).Field != "X-CSRF-Token" {
		t.Errorf("POST without the header = %d %s", r.status, r.body)
	}
}
