package web

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/devmgr/devmgr/internal/agent/api"
	"github.com/devmgr/devmgr/internal/auth"
)

// glanceAgent is the fake agent with a busy access point and two leases;
// it records how long each read was given.
type glanceAgent struct {
	*fakeAgent
	apErr error

	mu       sync.Mutex
	deadline map[string]time.Duration // read → its context's time left
}

func (g *glanceAgent) note(read string, ctx context.Context) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.deadline == nil {
		g.deadline = map[string]time.Duration{}
	}
	dl, ok := ctx.Deadline()
	if !ok {
		dl = time.Now().Add(time.Hour)
	}
	g.deadline[read] = time.Until(dl)
}

func (g *glanceAgent) Interfaces(ctx context.Context, a api.Actor) ([]api.Interface, error) {
	g.note("interfaces", ctx)
	return g.fakeAgent.Interfaces(ctx, a)
}

func (g *glanceAgent) AP(ctx context.Context, _ api.Actor) (api.APInfo, error) {
	g.note("ap", ctx)
	g.mu.Lock()
	err := g.apErr
	g.mu.Unlock()
	if err != nil {
		return api.APInfo{}, err
	}
	return api.APInfo{Status: api.APStatus{Running: true, State: "ENABLED", Interface: "wlan0", SSID: "Cafe Guests", Clients: 3}}, nil
}

func (g *glanceAgent) Leases(ctx context.Context, _ api.Actor) ([]api.DHCPLease, error) {
	g.note("leases", ctx)
	return []api.DHCPLease{{IP: "192.168.4.20"}, {IP: "192.168.4.21"}}, nil
}

// TestDashboardAtAGlance: the dashboard shows the access point (state,
// SSID, clients, leases) and the uplink (state, address) from the agent,
// in the page and in the fragment it polls as a background request, each
// read bounded; what the agent does not answer is said once.
func TestDashboardAtAGlance(t *testing.T) {
	t.Parallel()
	ga := &glanceAgent{fakeAgent: newFakeAgent(t)}
	cfg := testConfig(t.TempDir())
	cfg.Uplinks, cfg.AP.Interface = []string{"eth1"}, "wlan0"
	h := newAgentHarness(t, cfg, ga)
	h.addUser("vera", auth.Viewer, userPassword)
	c := h.newClient()
	c.mustLogin("vera", userPassword)

	want := []string{
		`id="glance-ap-state">broadcasting</span>`, `id="glance-ssid">Cafe Guests</dd>`, `id="glance-clients">3</dd>`, `id="glance-leases">2</dd>`,
		`data-uplink="eth1"`, `data-field="state">up</span>`, `<div>198.51.100.77/24</div>`, agentStateOK,
	}
	page := c.get("/")
	live := c.request(http.MethodGet, "/dashboard/live", nil, map[string]string{"HX-Request": "true", "X-Devmgr-Background": "1"})
	for _, w := range want {
		if !strings.Contains(page.body, w) {
			t.Errorf("dashboard lacks %s", w)
		}
		if live.status != http.StatusOK || !strings.Contains(live.body, w) {
			t.Errorf("dashboard fragment = %d, lacks %s", live.status, w)
		}
	}
	if !strings.Contains(page.body, `hx-get="/dashboard/live" hx-trigger="every 3s" hx-swap="innerHTML" hx-headers='{"X-Devmgr-Background": "1"}'`) {
		t.Errorf("the dashboard's poll is not a background request")
	}
	if strings.Contains(live.body, "<html") {
		t.Errorf("the fragment is a whole page")
	}
	ga.mu.Lock()
	for _, read := range []string{"interfaces", "ap", "leases"} {
		if left, ok := ga.deadline[read]; !ok || left > agentReadTimeout || left <= 0 {
			t.Errorf("the %s read had %v left, want at most agentReadTimeout (%v)", read, left, agentReadTimeout)
		}
	}
	ga.mu.Unlock()

	// The AP cannot be read: the agent's words once, the rest shown.
	ga.mu.Lock()
	ga.apErr = &api.Error{Status: http.StatusServiceUnavailable, Message: "The access point cannot be read."}
	ga.mu.Unlock()
	page = c.get("/")
	if strings.Count(page.body, "The access point cannot be read.") != 1 || !strings.Contains(page.body, `id="glance-ap-state">unknown</span>`) ||
		!strings.Contains(page.body, `id="glance-ssid">–</dd>`) || !strings.Contains(page.body, `id="glance-leases">2</dd>`) || !strings.Contains(page.body, `data-uplink="eth1"`) {
		t.Errorf("dashboard with the AP unreadable:\n%s", page.body)
	}
}

// Without an agent: this host's interfaces, and the agent's part said
// missing once.
func TestDashboardWithoutAgent(t *testing.T) {
	t.Parallel()
	h := newAgentHarness(t, testConfig(t.TempDir()), nil)
	h.addUser("vera", auth.Viewer, userPassword)
	c := h.newClient()
	c.mustLogin("vera", userPassword)
	page := c.get("/")
	for _, w := range []string{`data-iface="wlan0"`, `id="glance-ap-state">unknown</span>`, `id="glance-leases">–</dd>`, `id="glance-no-uplink">Not known`} {
		if !strings.Contains(page.body, w) {
			t.Errorf("dashboard without an agent lacks %s", w)
		}
	}
	if n := strings.Count(page.body, agentDownMessage); n != 1 {
		t.Errorf("the agent-down message shows %d times, want once", n)
	}
}

// TestDashboardSharedPart: the dashboard's content is rendered once for
// everyone who sees the same data, and each page around it is its user's:
// their name, role and form token, the token their form posts accept.
func TestDashboardSharedPart(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addUser("vera", auth.Viewer, userPassword)
	h.addUser("vic", auth.Viewer, userPassword)
	pages := map[string]string{}
	for _, name := range []string{"vera", "vic"} {
		c := h.newClient()
		c.mustLogin(name, userPassword)
		page := c.get("/")
		if page.status != http.StatusOK || !strings.Contains(page.body, `id="user-menu">`+name+` <span class="badge text-bg-secondary">viewer</span>`) {
			t.Fatalf("%s's dashboard (%d) does not name them:\n%s", name, page.status, page.body)
		}
		tok := regexp.MustCompile(`data-csrf="([^"]+)"`).FindStringSubmatch(page.body)
		if tok == nil || !strings.Contains(page.body, `name="csrf_token" value="`+tok[1]+`"`) {
			t.Fatalf("%s's dashboard has no form token, or two:\n%s", name, page.body)
		}
		// The token is the session's: signing out with it works.
		if r := c.post("/logout", url.Values{"csrf_token": {tok[1]}}); r.status != http.StatusSeeOther {
			t.Errorf("%s signing out with the page's token: %d", name, r.status)
		}
		_, content, _ := strings.Cut(page.body, "<main")
		pages[name] = content
	}
	strip := regexp.MustCompile(`data-csrf="[^"]+"|value="[^"]+"|data-session-left="\d+"|\d\d:\d\d:\d\d|up \S+`)
	if a, b := strip.ReplaceAllString(pages["vera"], ""), strip.ReplaceAllString(pages["vic"], ""); a != b {
		t.Errorf("two viewers' dashboards differ in their content:\n%s\n----\n%s", a, b)
	}
}

// genAgent is glanceAgent counting its AP reads, behind a client that
// counts its changes.
type genAgent struct {
	*glanceAgent
	gen     atomic.Uint64
	apReads atomic.Int64

	holdMu sync.Mutex
	// hold, when set, holds the next AP read until it is closed, after
	// telling entered.
	hold, entered chan struct{}
}

func (g *genAgent) Generation() (uint64, bool) { return g.gen.Load(), true }

// newGenHarness is a console on a genAgent.
func newGenHarness(t testing.TB) (*harness, *genAgent) {
	t.Helper()
	ga := &genAgent{glanceAgent: &glanceAgent{fakeAgent: newFakeAgent(t)}}
	return newAgentHarness(t, testConfig(t.TempDir()), ga), ga
}

// apReadsFrom checks the agent's AP reads since it was called:
// reads(want, what) fails the test unless there were want.
func apReadsFrom(t *testing.T, ga *genAgent) func(want int64, what string) {
	base := ga.apReads.Load()
	return func(want int64, what string) {
		t.Helper()
		if got := ga.apReads.Load() - base; got != want {
			t.Errorf("%s: the agent's AP read %d times, want %d", what, got, want)
		}
	}
}

func (g *genAgent) AP(ctx context.Context, a api.Actor) (api.APInfo, error) {
	g.apReads.Add(1)
	g.holdMu.Lock()
	hold, entered := g.hold, g.entered
	g.hold, g.entered = nil, nil
	g.holdMu.Unlock()
	if hold != nil {
		entered <- struct{}{}
		<-hold
	}
	return g.glanceAgent.AP(ctx, a)
}

// While one request reads a role's dashboard again, the role's other
// requests are given the kept one (up to dashboardStale), not made to wait
// for that read or to read too.
func TestDashboardRenewedAhead(t *testing.T) {
	t.Parallel()
	h, ga := newGenHarness(t)
	h.addUser("vera", auth.Viewer, userPassword)
	h.addUser("victor", auth.Viewer, userPassword)
	vera, victor := h.newClient(), h.newClient()
	vera.mustLogin("vera", userPassword)
	victor.mustLogin("victor", userPassword)
	vera.get("/")
	h.clock.Advance(dashboardKeep)
	reads := apReadsFrom(t, ga)

	hold, entered := make(chan struct{}), make(chan struct{}, 1)
	ga.holdMu.Lock()
	ga.hold, ga.entered = hold, entered
	ga.holdMu.Unlock()
	held := make(chan int, 1)
	go func() {
		res, err := vera.c.Get(h.ts.URL + "/")
		if err != nil {
			held <- 0
			return
		}
		res.Body.Close()
		held <- res.StatusCode
	}()
	<-entered
	reads(1, "a dashboard read again")
	if p := victor.get("/"); p.status != http.StatusOK || !strings.Contains(p.body, `id="glance-ssid">Cafe Guests</dd>`) {
		t.Errorf("dashboard while another reads it: %d\n%s", p.status, p.body)
	}
	reads(1, "another viewer's dashboard while the first is read again")
	h.clock.Advance(dashboardStale)
	victor.get("/")
	reads(2, "a dashboard older than dashboardStale while a read of it is held")
	close(hold)
	if code := <-held; code != http.StatusOK {
		t.Errorf("the held dashboard = %d, want 200", code)
	}
}

// TestDashboardKept: the dashboard's data read for a role is given to the
// role's requests for dashboardKeep, the page and the fragment alike; not
// after a change through the agent client, not to another role, and not
// when a read failed.
func TestDashboardKept(t *testing.T) {
	t.Parallel()
	h, ga := newGenHarness(t)
	h.addUser("vera", auth.Viewer, userPassword)
	h.addUser("alice", auth.Admin, userPassword)
	vera, alice := h.newClient(), h.newClient()
	vera.mustLogin("vera", userPassword)
	alice.mustLogin("alice", userPassword)
	// Signing in may have shown each their dashboard.
	h.clock.Advance(dashboardKeep)
	reads := apReadsFrom(t, ga)
	live := func(c *client) response {
		return c.request(http.MethodGet, "/dashboard/live", nil, map[string]string{"HX-Request": "true", "X-Devmgr-Background": "1"})
	}
	if p := vera.get("/"); !strings.Contains(p.body, `id="glance-ssid">Cafe Guests</dd>`) {
		t.Fatalf("dashboard:\n%s", p.body)
	}
	reads(1, "a dashboard")
	vera.get("/")
	if p := live(vera); !strings.Contains(p.body, `id="glance-ssid">Cafe Guests</dd>`) {
		t.Errorf("fragment:\n%s", p.body)
	}
	reads(1, "the dashboard again and its fragment at once")
	alice.get("/")
	reads(2, "an admin's dashboard")
	h.clock.Advance(dashboardKeep - time.Millisecond)
	vera.get("/")
	reads(2, "a viewer's dashboard just within the time kept")
	h.clock.Advance(time.Millisecond)
	vera.get("/")
	reads(3, "a dashboard after the time kept")
	ga.gen.Add(1) // a change through the client
	vera.get("/")
	reads(4, "a dashboard after a change")

	ga.mu.Lock()
	ga.apErr = &api.Error{Status: http.StatusServiceUnavailable, Message: "The access point cannot be read."}
	ga.mu.Unlock()
	h.clock.Advance(dashboardKeep)
	vera.get("/")
	if p := vera.get("/"); !strings.Contains(p.body, "The access point cannot be read.") {
		t.Errorf("dashboard with the AP unreadable:\n%s", p.body)
	}
	reads(6, "dashboards with a read failing")
}
