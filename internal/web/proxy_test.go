package web

import (
	"io"
	"net/http"
	"net/http/httptest"
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
	// The headers the console sets on every answer come once, though the
	// agent sets one of them too.
	for _, f := range apiHeaders {
		if got := r.header.Values(f.name); len(got) != 1 {
			t.Errorf("proxied answer: %s = %q, want one value", f.name, got)
		}
	}
	// Routes of the agent not marked Web are not reachable.
	before := ca.last
	for _, p := range []string{"/api/v1/health", "/api/v1/../v1/health"} {
		if r := c.get(p); r.status == http.StatusOK && ca.last != before {
			t.Errorf("GET %s reached the agent", p)
		}
	}
}

// keptAgent is capturingAgent with an answer kept for one role and
// request, as agentclient.WithSharedReads keeps them.
type keptAgent struct {
	capturingAgent
	role, uri string
}

func (k *keptAgent) Kept(role, uri string) (int, http.Header, []byte, bool) {
	if role != k.role || uri != k.uri {
		return 0, nil, nil, false
	}
	h := http.Header{"Content-Type": {"application/json"}, "Connection": {"close"}, "Content-Length": {"999"}, "X-Kept": {"yes"},
		"Date": {"Mon, 02 Jan 2006 15:04:05 GMT"}}
	return http.StatusServiceUnavailable, h, []byte(`{"error":"kept"}`), true
}

// TestAgentProxyKept: a GET the agent client has a fresh answer to is
// answered with it, without a request to the agent, and without the
// answer's connection headers; other roles, other requests and changes
// are proxied.
// A kept answer's header is shared by every answer given from it: an
// answer's Add does not reach it.
func TestWriteKeptShares(t *testing.T) {
	t.Parallel()
	kept := http.Header{"X-Kept": make([]string, 1, 4)}
	kept["X-Kept"][0] = "yes"
	w := httptest.NewRecorder()
	writeKept(w, http.StatusOK, kept, []byte("{}"))
	w.Header().Add("X-Kept", "more")
	if got := kept["X-Kept"]; len(got) != 1 || got[0] != "yes" || got[:2][1] != "" {
		t.Errorf("kept header after an answer's Add: %q (beyond: %q)", got, got[:2])
	}
}

func TestAgentProxyKept(t *testing.T) {
	t.Parallel()
	ka := &keptAgent{role: "viewer", uri: "/v1/traffic?interface=eth1"}
	h := newAgentHarness(t, testConfig(t.TempDir()), ka)
	h.addUser("vera", auth.Viewer, userPassword)
	h.addUser("alice", auth.Admin, userPassword)
	vera, alice := h.newClient(), h.newClient()
	vera.mustLogin("vera", userPassword)
	alice.mustLogin("alice", userPassword)

	r := vera.get("/api/v1/traffic?interface=eth1")
	if r.status != http.StatusServiceUnavailable || r.body != `{"error":"kept"}` || r.header.Get("X-Kept") != "yes" ||
		r.header.Get("Connection") != "" || r.header.Get("Content-Length") != "16" || strings.Contains(r.header.Get("Date"), "2006") {
		t.Errorf("kept answer given as %d %v %q", r.status, r.header, r.body)
	}
	if ca := &ka.capturingAgent; ca.last != nil {
		t.Errorf("the agent was asked %s %s although an answer was kept", ca.last.Method, ca.last.URL)
	}
	for _, tc := range []struct {
		c    *client
		path string
	}{
		{alice, "/api/v1/traffic?interface=eth1"}, // another role
		{vera, "/api/v1/traffic?interface=eth0"},  // another request
		{vera, "/api/v1/traffic"},
	} {
		ka.mu.Lock()
		ka.last = nil
		ka.mu.Unlock()
		if r := tc.c.get(tc.path); r.body == `{"error":"kept"}` || ka.last == nil {
			t.Errorf("GET %s was not asked of the agent (%d %q)", tc.path, r.status, r.body)
		}
	}
}
