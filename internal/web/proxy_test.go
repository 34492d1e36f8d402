package web

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/devmgr/devmgr/internal/agent/api"
	"github.com/devmgr/devmgr/internal/auth"
)

// capturingAgent is fakeAgent whose transport keeps the last request the
// proxy sent.
type capturingAgent struct {
	fakeAgent
	mu   sync.Mutex
	last *http.Request
	body string
}

func (c *capturingAgent) Transport() http.RoundTripper { return c }

func (c *capturingAgent) RoundTrip(r *http.Request) (*http.Response, error) {
	var b []byte
	if r.Body != nil {
		b, _ = io.ReadAll(r.Body)
	}
	c.mu.Lock()
	c.last, c.body = r, string(b)
	c.mu.Unlock()
	r.Body = io.NopCloser(strings.NewReader(string(b)))
	return handlerTransport{c.fakeAgent.handler()}.RoundTrip(r)
}

// The proxy forwards only api.Routes' Web routes, to their /v1 path, with
// the actor the console found and nothing of the browser's credentials.
func TestAgentProxy(t *testing.T) {
	t.Parallel()
	ca := &capturingAgent{}
	h := newAgentHarness(t, testConfig(t.TempDir()), ca)
	h.addUser("alice", auth.Admin, userPassword)
	c := h.newClient()
	c.mustLogin("alice", userPassword)

	r := c.api("PUT", "/api/v1/interfaces/eth1/config?x=1", map[string]any{"mode": "dhcp"})
	if r.status != http.StatusAccepted {
		t.Fatalf("PUT = %d %s", r.status, r.body)
	}
	got := ca.last
	if got.URL.Path != "/v1/interfaces/eth1/config" || got.URL.RawQuery != "x=1" || got.Method != "PUT" {
		t.Errorf("forwarded %s %s?%s", got.Method, got.URL.Path, got.URL.RawQuery)
	}
	if got.Header.Get(api.HeaderUser) != "alice" || got.Header.Get(api.HeaderRole) != "admin" || got.Header.Get(api.HeaderSource) == "" {
		t.Errorf("actor headers %v", got.Header)
	}
	for _, h := range []string{"Cookie", "Authorization", "X-Csrf-Token", "Origin"} {
		if v := got.Header.Get(h); v != "" {
			t.Errorf("the agent was sent %s: %q", h, v)
		}
	}
	if !strings.Contains(ca.body, `"mode":"dhcp"`) {
		t.Errorf("body %q", ca.body)
	}
	// A forged actor header of the browser is replaced.
	r = c.request("GET", "/api/v1/interfaces", nil, map[string]string{api.HeaderRole: "root", api.HeaderUser: "mallory"})
	if r.status != http.StatusOK || ca.last.Header.Get(api.HeaderUser) != "alice" || ca.last.Header.Get(api.HeaderRole) != "admin" {
		t.Errorf("forged actor passed: %d %v", r.status, ca.last.Header)
	}
	// Routes of the agent not marked Web are not reachable.
	before := ca.last
	for _, p := range []string{"/api/v1/health", "/api/v1/../v1/health"} {
		if r := c.get(p); r.status == http.StatusOK && ca.last != before {
			t.Errorf("GET %s reached the agent", p)
		}
	}
}
