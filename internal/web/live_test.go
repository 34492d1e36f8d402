package web

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/devmgr/devmgr/internal/agent/api"
	"github.com/devmgr/devmgr/internal/auth"
)

var bgHeader = map[string]string{headerBackground: "1"}

// TestBackgroundRequestsDoNotKeepSessionAlive: an open page's polls do not
// count as activity (issue #9 bug 3); the user's own requests and "stay
// signed in" do, and every answer says how long the session has left.
func TestBackgroundRequestsDoNotKeepSessionAlive(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t.TempDir())
	cfg.Web.Session.IdleTimeout = 15 * time.Minute
	clock := newFakeClock()
	h := startHarnessAgent(t, cfg, clock, fakeSys{}, newFakeAgent(t))
	h.addUser("alice", auth.Admin, userPassword)

	polling := h.newClient()
	polling.mustLogin("alice", userPassword)
	left := func(r response) time.Duration {
		t.Helper()
		ms, err := strconv.ParseInt(r.header.Get(headerSessionLeft), 10, 64)
		if err != nil {
			t.Fatalf("%s = %q: %v", headerSessionLeft, r.header.Get(headerSessionLeft), err)
		}
		return time.Duration(ms) * time.Millisecond
	}
	// Polls every few minutes for 14 minutes: the session still ends 15
	// minutes after the login.
	for i := range 7 {
		clock.Advance(2 * time.Minute)
		elapsed := time.Duration(i+1) * 2 * time.Minute
		r := polling.request(http.MethodGet, "/network/live?ifaces=eth1,wlan0", nil, bgHeader)
		if r.status != http.StatusOK {
			t.Fatalf("poll = %d", r.status)
		}
		if l := left(r); l != 15*time.Minute-elapsed {
			t.Fatalf("%v after the login, a poll says the session has %v left, want %v (polls are not activity)", elapsed, l, 15*time.Minute-elapsed)
		}
	}
	clock.Advance(2 * time.Minute)
	if r := polling.request(http.MethodGet, "/network/live", nil, bgHeader); r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/login") {
		t.Errorf("a poll 16 minutes after the last user request = %d %s, want the session ended", r.status, r.header.Get("Location"))
	}

	// The same with user requests: the session lives on.
	active := h.newClient()
	active.mustLogin("alice", userPassword)
	for range 8 {
		clock.Advance(2 * time.Minute)
		r := active.get("/network")
		if r.status != http.StatusOK {
			t.Fatalf("GET /network after %v = %d", 2*time.Minute, r.status)
		}
		if l := left(r); l < 14*time.Minute {
			t.Errorf("after a user request the session has %v left, want about 15 minutes", l)
		}
	}

	// "Stay signed in" renews at once, even within a minute of the last request.
	staying := h.newClient()
	staying.mustLogin("alice", userPassword)
	clock.Advance(14 * time.Minute)
	staying.get("/network") // moves the idle timer: 15 minutes from now
	clock.Advance(14*time.Minute + 30*time.Second)
	r := staying.request(http.MethodPost, "/session/renew", nil, map[string]string{"X-CSRF-Token": staying.csrf})
	if r.status != http.StatusNoContent || left(r) != 15*time.Minute {
		t.Fatalf("POST /session/renew = %d, %s %q", r.status, headerSessionLeft, r.header.Get(headerSessionLeft))
	}
	clock.Advance(14 * time.Minute)
	if r := staying.request(http.MethodGet, "/network/live?ifaces=eth1,wlan0", nil, bgHeader); r.status != http.StatusOK {
		t.Errorf("a poll 14 minutes after 'stay signed in' = %d, want the session alive", r.status)
	}
	// The page carries the time left for its script.
	if p := staying.get("/network"); !strings.Contains(p.body, `data-session-left="900000"`) || !strings.Contains(p.body, `id="stay-signed-in"`) {
		t.Errorf("the page lacks data-session-left or the stay-signed-in offer")
	}
}

// hangingAgent is the fake agent whose interface reads hang until release
// is closed (a hung agent, issue #9 bug 6).
type hangingAgent struct {
	*fakeAgent
	once    sync.Once
	release chan struct{}
}

func (a *hangingAgent) Interfaces(ctx context.Context, ac api.Actor) ([]api.Interface, error) {
	select {
	case <-a.release:
		return a.fakeAgent.Interfaces(ctx, ac)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// TestHungAgent: a page whose agent does not answer renders at once with
// "the device is not answering", and its live fragment brings the device
// back once the agent answers again.
func TestHungAgent(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t.TempDir())
	cfg.AP.Interface, cfg.LAN = "wlan0", []string{"eth1"}
	ag := &hangingAgent{fakeAgent: newFakeAgent(t), release: make(chan struct{})}
	h := newAgentHarness(t, cfg, ag)
	h.addUser("alice", auth.Admin, userPassword)
	c := h.newClient()
	c.mustLogin("alice", userPassword)

	start := time.Now()
	page := c.get("/network")
	if took := time.Since(start); took > agentReadTimeout+2*time.Second {
		t.Errorf("GET /network took %v with a hung agent", took)
	}
	if page.status != http.StatusOK || !strings.Contains(page.body, agentSlowMessage) || strings.Contains(page.body, `id="form-eth1"`) {
		t.Fatalf("GET /network with a hung agent = %d, want the not-answering message", page.status)
	}
	if !strings.Contains(page.body, `hx-get="/network/live?ifaces="`) {
		t.Fatalf("the page does not poll for the device")
	}
	live := c.request(http.MethodGet, "/network/live?ifaces=", nil, bgHeader)
	if live.status != http.StatusOK || !strings.Contains(live.body, agentSlowMessage) || !strings.Contains(live.body, `hx-swap-oob="true"`) {
		t.Errorf("live fragment with a hung agent = %d %q", live.status, live.body)
	}
	ag.once.Do(func() { close(ag.release) })
	live = c.request(http.MethodGet, "/network/live?ifaces=", nil, bgHeader)
	if live.status != http.StatusNoContent || live.header.Get("HX-Refresh") != "true" {
		t.Errorf("live fragment once the agent answers = %d, HX-Refresh %q; want the page reloaded", live.status, live.header.Get("HX-Refresh"))
	}
	live = c.request(http.MethodGet, "/network/live?"+url.Values{"ifaces": {"eth1,wlan0"}}.Encode(), nil, bgHeader)
	if live.status != http.StatusOK || !strings.Contains(live.body, `id="live-eth1" class="iface-live" hx-swap-oob="true"`) || !strings.Contains(live.body, `id="agent-state" hx-swap-oob="true" role="alert" class="d-none"`) {
		t.Errorf("live fragment of a page that shows the device = %d\n%s", live.status, live.body)
	}
}

// TestLANForm: the LAN form posts with htmx and gets back the form with
// every bad field marked, in words about the field, or the change panel.
func TestLANForm(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t.TempDir())
	cfg.AP.Interface, cfg.LAN = "wlan0", []string{"eth1"}
	h := newAgentHarness(t, cfg, newFakeAgent(t))
	h.addUser("alice", auth.Admin, userPassword)
	c := h.newClient()
	c.mustLogin("alice", userPassword)
	c.get("/network")
	send := func(v url.Values) response {
		return c.request(http.MethodPost, "/network/eth1", strings.NewReader(v.Encode()), map[string]string{
			"Content-Type": "application/x-www-form-urlencoded", "X-CSRF-Token": c.csrf, "HX-Request": "true"})
	}
	r := send(url.Values{"mode": {"static"}, "addresses": {"203.0.113.1/24, 203.0.113.0/24"}, "gateway": {"203.0.113.300"}, "mtu": {"15OO"}})
	if r.status != http.StatusUnprocessableEntity {
		t.Fatalf("bad MTU = %d, want 422", r.status)
	}
	if !strings.Contains(r.body, `class="form-control is-invalid" name="mtu" id="mtu-eth1" value="15OO"`) || !strings.Contains(r.body, "Enter the MTU as a whole number") {
		t.Errorf("the MTU is not marked:\n%s", r.body)
	}
	// The console's own check comes first; then the agent's, every field at once.
	r = send(url.Values{"mode": {"static"}, "addresses": {"203.0.113.1/24, 203.0.113.0/24"}, "gateway": {"203.0.113.300"}, "mtu": {"1500"}})
	if r.status != http.StatusUnprocessableEntity {
		t.Fatalf("bad fields = %d, want 422", r.status)
	}
	for _, want := range []string{
		`class="form-control mono is-invalid" name="addresses"`,
		`class="form-control mono is-invalid" name="gateway"`,
		`Address 2: 203.0.113.0/24 is a network address`,
		`value="203.0.113.1/24, 203.0.113.0/24"`, // what was typed stays
	} {
		if !strings.Contains(r.body, want) {
			t.Errorf("the answer lacks %s:\n%s", want, r.body)
		}
	}
	if strings.Contains(r.body, "addresses[1]") {
		t.Errorf("the answer shows the agent's field path")
	}
	r = send(url.Values{"mode": {"dhcp"}})
	if r.status != http.StatusOK || !strings.Contains(r.body, `id="change-panel"`) || !strings.Contains(r.body, `hx-swap-oob="true"`) || !strings.Contains(r.body, `data-auto="1"`) {
		t.Errorf("a change = %d, want the form and the change panel out of band:\n%s", r.status, r.body)
	}
}

// TestAPDHCPCard: every role sees the DHCP range and static leases; an
// admin changes them with a form whose bad lines are marked by number,
// and gets the change panel.
func TestAPDHCPCard(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t.TempDir())
	h := newAgentHarness(t, cfg, newFakeAgent(t))
	h.addUser("vera", auth.Viewer, userPassword)
	h.addUser("alice", auth.Admin, userPassword)
	viewer, admin := h.newClient(), h.newClient()
	viewer.mustLogin("vera", userPassword)
	admin.mustLogin("alice", userPassword)

	v := viewer.get("/ap")
	for _, want := range []string{`id="ap-dhcp-range">192.168.4.2 – 192.168.4.20<`, `id="ap-dhcp-lease">1d 0h 0m<`, "192.168.4.50", "printer"} {
		if !strings.Contains(v.body, want) {
			t.Errorf("viewer's AP page lacks %s", want)
		}
	}
	if strings.Contains(v.body, `id="ap-dhcp-form"`) {
		t.Errorf("a viewer has the DHCP form")
	}
	a := admin.get("/ap")
	if !strings.Contains(a.body, `id="ap-dhcp-form"`) || !strings.Contains(a.body, `value="24h"`) || !strings.Contains(a.body, "02:00:00:00:00:05 192.168.4.50 printer</textarea>") {
		t.Fatalf("admin's AP page lacks the DHCP form with the settings in force")
	}
	send := func(v url.Values) response {
		return admin.request(http.MethodPost, "/ap/dhcp", strings.NewReader(v.Encode()), map[string]string{
			"Content-Type": "application/x-www-form-urlencoded", "X-CSRF-Token": admin.csrf, "HX-Request": "true"})
	}
	r := send(url.Values{"start": {"192.168.4.2"}, "end": {"192.168.4.20"}, "lease": {"a day"}, "static": {"02:00:00:00:00:05"}})
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "Enter the lease time") || !strings.Contains(r.body, "Line 1: write a MAC address") {
		t.Errorf("a bad lease time and line = %d\n%s", r.status, r.body)
	}
	r = send(url.Values{"start": {"192.168.9.1"}, "end": {"192.168.4.20"}, "lease": {"12h"},
		"static": {"02:00:00:00:00:05 192.168.4.50 printer\n\n01:00:5e:00:00:01 192.168.4.51"}})
	for _, want := range []string{`is-invalid" name="start"`, "Range start: 192.168.9.1 is not in", `is-invalid" name="static"`, "Line 3: 01:00:5e:00:00:01 is a multicast address."} {
		if !strings.Contains(r.body, want) {
			t.Errorf("the agent's refusal lacks %s:\n%s", want, r.body)
		}
	}
	r = send(url.Values{"start": {"192.168.4.5"}, "end": {"192.168.4.20"}, "lease": {"90m"}, "static": {""}})
	if r.status != http.StatusOK || !strings.Contains(r.body, `data-url="/api/v1/ap/dhcp/changes/d1"`) || !strings.Contains(r.body, "Range start") {
		t.Errorf("a DHCP change = %d, want the change panel:\n%s", r.status, r.body)
	}
	if p := viewer.get("/ap/dhcp/changes/d1"); p.status != http.StatusOK || !strings.Contains(p.body, `data-status="confirmed"`) || strings.Contains(p.body, `id="ap-dhcp-form"`) {
		t.Errorf("the ended change's panel for a viewer = %d\n%s", p.status, p.body)
	}
}

// TestDashboardTraffic: the dashboard draws each uplink's last hour from
// the agent's traffic history.
func TestDashboardTraffic(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t.TempDir())
	cfg.Uplinks = []string{"eth1"}
	h := newAgentHarness(t, cfg, newFakeAgent(t))
	h.addUser("vera", auth.Viewer, userPassword)
	c := h.newClient()
	c.mustLogin("vera", userPassword)
	for _, p := range []string{"/", "/dashboard/live"} {
		r := c.request(http.MethodGet, p, nil, bgHeader)
		if r.status != http.StatusOK || !strings.Contains(r.body, `data-uplink="eth1"`) || !strings.Contains(r.body, `<polyline class="rx" points="`) {
			t.Errorf("GET %s = %d, without the uplink's sparkline", p, r.status)
		}
	}
}
