package web

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/devmgr/devmgr/internal/agent/api"
	"github.com/devmgr/devmgr/internal/auth"
)

// diagAgent is the fake agent with leases, and a DNS that answers or
// refuses as the agent does.
type diagAgent struct{ *fakeAgent }

func (diagAgent) Leases(context.Context, api.Actor) ([]api.DHCPLease, error) {
	return []api.DHCPLease{
		{IP: "192.168.4.20", MAC: "02:00:00:00:04:20", Hostname: "phone", Expiry: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)},
		{IP: "192.168.4.21", MAC: "02:00:00:00:04:21"},
	}, nil
}

func (diagAgent) DNS(_ context.Context, _ api.Actor, r api.DNSRequest) (api.DNSResult, error) {
	if r.Server == "dns.example" {
		return api.DNSResult{}, &api.Error{Status: http.StatusBadRequest, Field: "name", Message: "Name is wrong.", Fields: []api.FieldProblem{
			{Field: "name", Message: "Name is wrong."}, {Field: "server", Message: "Server must be an IP address, such as 192.0.2.53, or left empty."},
		}}
	}
	return api.DNSResult{Server: "192.0.2.53:53", Name: r.Name + ".", Type: r.Type, RCode: "NOERROR", DurationMS: 7,
		Answers: []api.DNSAnswer{{Name: r.Name + ".", Type: "A", TTL: 60, Value: "192.0.2.80"}}}, nil
}

// TestDiagnosticsPage: the Diagnostics page is rendered on the server: its
// tables in the page and in the live fragment the page polls, the DNS form
// answered with its result or its fields marked; only ping and traceroute
// stream through the page's module.
func TestDiagnosticsPage(t *testing.T) {
	t.Parallel()
	h := newAgentHarness(t, testConfig(t.TempDir()), diagAgent{newFakeAgent(t)})
	h.addUser("olga", auth.Operator, userPassword)
	c := h.newClient()
	c.mustLogin("olga", userPassword)

	page := c.get("/diagnostics")
	for _, want := range []string{
		`id="ping-form" data-stream="/api/v1/diag/ping"`, `id="traceroute-form" data-stream="/api/v1/diag/traceroute"`,
		`id="dns-form" novalidate hx-post="/diagnostics/dns"`, `/static/js/diagnostics.js?v=`,
		`hx-get="/diagnostics/live" hx-trigger="every 10s" hx-swap="none" hx-headers='{"X-Devmgr-Background": "1"}'`,
		`<td class="mono" data-label="Address">192.0.2.9</td>`, // the neighbour
		`<td data-label="Hostname">phone</td>`, "2030-01-02 03:04:05", ">never</td>",
		`id="ping-count" name="count"`, `id="traceroute-max_hops" name="max_hops"`, "1 to 10 packets",
		agentStateOK,
	} {
		if !strings.Contains(page.body, want) {
			t.Errorf("diagnostics page lacks %s", want)
		}
	}
	if strings.Contains(page.body, "/static/diagnostics.js") || regexp.MustCompile(`<script>|<style|style="| on[a-z]+="`).MatchString(page.body) {
		t.Errorf("diagnostics page has the old script, or inline script or style")
	}

	// The live fragment: both tables and the agent's state, out of band.
	live := c.request(http.MethodGet, "/diagnostics/live", nil, map[string]string{"HX-Request": "true", "X-Devmgr-Background": "1"})
	for _, want := range []string{`id="neighbors-part" tabindex="0" role="region" aria-labelledby="neighbors-title" hx-swap-oob="true"`,
		`id="leases-part" tabindex="0" role="region" aria-labelledby="leases-title" hx-swap-oob="true"`, `id="agent-state" hx-swap-oob="true"`, "192.0.2.9", "phone"} {
		if live.status != http.StatusOK || !strings.Contains(live.body, want) {
			t.Errorf("live fragment = %d, lacks %s", live.status, want)
		}
	}
	if strings.Contains(live.body, "<html") || strings.Contains(live.body, "ping-form") {
		t.Errorf("live fragment is more than the tables")
	}

	// A lookup: the form again, with the answer.
	r := c.post("/diagnostics/dns", url.Values{"name": {" example.com "}, "type": {"AAAA"}, "server": {""}})
	for _, want := range []string{`id="dns-form"`, "NOERROR, 1 answer from 192.0.2.53:53 in 7 ms.", `<td class="mono" data-label="Value">192.0.2.80</td>`,
		`value="example.com"`, `<option selected>AAAA</option>`} {
		if r.status != http.StatusOK || !strings.Contains(r.body, want) {
			t.Errorf("DNS answer = %d, lacks %s", r.status, want)
		}
	}
	if strings.Contains(r.body, "<html") {
		t.Errorf("DNS answer is a whole page")
	}
	// Refused: 422, every field the agent names marked with its sentence.
	r = c.post("/diagnostics/dns", url.Values{"name": {"x"}, "type": {"A"}, "server": {"dns.example"}})
	if r.status != http.StatusUnprocessableEntity {
		t.Errorf("refused lookup = %d, want 422", r.status)
	}
	for _, want := range []string{`is-invalid" id="dns-name"`, `is-invalid" id="dns-server"`, `value="dns.example"`,
		`data-error-for="server">Server must be an IP address, such as 192.0.2.53, or left empty.</div>`, `data-error-for="name">Name is wrong.</div>`} {
		if !strings.Contains(r.body, want) {
			t.Errorf("refused lookup lacks %s", want)
		}
	}

	// Viewers have no diagnostics.
	h.addUser("vera", auth.Viewer, userPassword)
	v := h.newClient()
	v.mustLogin("vera", userPassword)
	for _, p := range []string{"/diagnostics", "/diagnostics/live"} {
		if r := v.get(p); r.status != http.StatusForbidden {
			t.Errorf("viewer GET %s = %d, want 403", p, r.status)
		}
	}
}

// Without the agent the page says so once, the tables say why they are
// empty, and a lookup answers 503 in the form.
func TestDiagnosticsAgentDown(t *testing.T) {
	t.Parallel()
	h := newAgentHarness(t, testConfig(t.TempDir()), nil)
	h.addUser("olga", auth.Operator, userPassword)
	c := h.newClient()
	c.mustLogin("olga", userPassword)
	page := c.get("/diagnostics")
	if strings.Count(page.body, agentDownMessage) != 1 || !strings.Contains(page.body, "Not known while the device does not answer.") {
		t.Errorf("diagnostics page without the agent does not say so once")
	}
	r := c.post("/diagnostics/dns", url.Values{"name": {"example.com"}, "type": {"A"}})
	if r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, `id="dns-error">`+agentDownMessage) {
		t.Errorf("lookup without the agent = %d\n%s", r.status, r.body)
	}
}
