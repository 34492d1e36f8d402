package web

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/devmgr/devmgr/internal/agent/api"
	agentclient "github.com/devmgr/devmgr/internal/agent/client"
	"github.com/devmgr/devmgr/internal/auth"
	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/testing/agentproc"
	"github.com/devmgr/devmgr/internal/testing/lab"
	"github.com/devmgr/devmgr/internal/testing/testutil"
	"github.com/devmgr/devmgr/internal/toolrun"
	"net/http/httptest"
)

// send submits a form with any method, with the client's form token.
func (c *client) send(method, path string, vals url.Values) response {
	c.t.Helper()
	if vals == nil {
		vals = url.Values{}
	}
	if _, ok := vals["csrf_token"]; !ok && c.csrf != "" {
		vals.Set("csrf_token", c.csrf)
	}
	return c.request(method, path, strings.NewReader(vals.Encode()),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
}

// sendJSON sends v as JSON with any method.
func (c *client) sendJSON(method, path string, v any, hdr map[string]string) response {
	c.t.Helper()
	b, _ := json.Marshal(v)
	if hdr == nil {
		hdr = map[string]string{}
	}
	hdr["Content-Type"] = "application/json"
	return c.request(method, path, bytes.NewReader(b), hdr)
}

// api sends a JSON request as the page's script does: with the session's
// form token in X-CSRF-Token. A body that is a string is sent as it is.
func (c *client) api(method, path string, body any) response {
	c.t.Helper()
	hdr := map[string]string{"X-CSRF-Token": c.csrf, "Accept": "application/json"}
	var rd *bytes.Reader
	switch b := body.(type) {
	case nil:
		return c.request(method, path, nil, hdr)
	case string:
		rd = bytes.NewReader([]byte(b))
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	hdr["Content-Type"] = "application/json"
	return c.request(method, path, rd, hdr)
}

// fakeAgent answers every call with canned data, for tests about the
// console's own behaviour (roles, routes); the lab tests use the real agent.
// A request it has no route for, or one the console sent without its actor,
// fails the test.
type fakeAgent struct {
	t       testing.TB
	mu      sync.Mutex
	calls   []string
	backups fakeBackups
}

func newFakeAgent(t testing.TB) *fakeAgent { return &fakeAgent{t: t} }

func (f *fakeAgent) record(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, s)
}

var fakeIfaces = []api.Interface{
	{Name: "eth1", Kind: "ethernet", AdminUp: true, OperState: "up", Carrier: true, MAC: "02:00:00:00:00:02", MTU: 1500, Addresses: []string{"198.51.100.77/24"},
		Role: api.RoleLAN, Mode: "dhcp", Config: &api.LinkConfig{Mode: "dhcp"},
		Lease: &api.Lease{Interface: "eth1", Server: "198.51.100.254", Address: "198.51.100.77/24", LeaseTime: 7200, Expiry: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}},
	{Name: "wlan0", Kind: "wireless", AdminUp: true, OperState: "up", Carrier: true, MAC: "02:00:00:00:00:01", MTU: 1500, Addresses: []string{"192.168.4.1/24"}, Role: api.RoleAP},
}

func fakeChange(id string, status string) api.Change {
	now := time.Now()
	return api.Change{ID: id, Interface: "eth1", Status: status, CreatedAt: now, RollbackAt: now.Add(time.Minute)}
}

func (f *fakeAgent) Health(context.Context) (api.Health, error) {
	return api.Health{Status: "ok", Network: true}, nil
}

func (f *fakeAgent) Interfaces(_ context.Context, a api.Actor) ([]api.Interface, error) {
	f.record("interfaces " + a.User)
	return fakeIfaces, nil
}

func (f *fakeAgent) Interface(_ context.Context, a api.Actor, name string) (api.Interface, error) {
	f.record("interface " + name)
	for _, i := range fakeIfaces {
		if i.Name == name {
			return i, nil
		}
	}
	return api.Interface{}, &api.Error{Status: http.StatusNotFound, Field: "name", Message: "no such interface"}
}

func (f *fakeAgent) Traffic(_ context.Context, a api.Actor, name string, since time.Time) (api.Traffic, error) {
	f.record("traffic " + a.User)
	return api.Traffic{IntervalSeconds: 10, Interfaces: []api.TrafficSeries{{Name: "eth1", RxRate: 1250, TxRate: 125,
		Samples: []api.TrafficSample{{T: 1, RxBps: 1000, TxBps: 100}, {T: 2, RxBps: 1250, TxBps: 125}}}}}, nil
}

func (f *fakeAgent) SetConfig(_ context.Context, a api.Actor, name string, lc api.LinkConfig) (api.Change, error) {
	f.record("config " + name + " " + a.User + " " + string(a.Role))
	if lc.Gateway == "203.0.113.300" { // several bad fields at once, as the agent reports them
		return api.Change{}, &api.Error{Status: http.StatusBadRequest, Field: "addresses[1]", Message: "203.0.113.0/24 is a network address, not a host address",
			Fields: []api.FieldProblem{
				{Field: "addresses[1]", Message: "203.0.113.0/24 is a network address, not a host address"},
				{Field: "gateway", Message: "the gateway is not an IP address"},
			}}
	}
	return fakeChange("c1", api.StatusPending), nil
}

func (f *fakeAgent) SetUp(_ context.Context, a api.Actor, name string, up bool) (api.Change, error) {
	f.record(fmt.Sprintf("up %s %v %s", name, up, a.User))
	return fakeChange("c1", api.StatusPending), nil
}

func (f *fakeAgent) Change(_ context.Context, _ api.Actor, id string) (api.Change, error) {
	return fakeChange(id, api.StatusPending), nil
}

func (f *fakeAgent) Confirm(_ context.Context, a api.Actor, id string) (api.Change, error) {
	f.record("confirm " + id + " " + a.User)
	return fakeChange(id, api.StatusConfirmed), nil
}

func (f *fakeAgent) Ping(_ context.Context, a api.Actor, r api.PingRequest, line func(string)) (api.Result, error) {
	f.record("ping " + r.Host)
	line("reply from " + r.Host)
	return api.Result{}, nil
}

func (f *fakeAgent) Traceroute(_ context.Context, a api.Actor, r api.TracerouteRequest, line func(string)) (api.Result, error) {
	f.record("traceroute " + r.Host)
	line("1 " + r.Host)
	return api.Result{}, nil
}

func (f *fakeAgent) DNS(_ context.Context, a api.Actor, r api.DNSRequest) (api.DNSResult, error) {
	return api.DNSResult{Name: r.Name, Type: "A", RCode: "NOERROR", Answers: []api.DNSAnswer{}}, nil
}

func (f *fakeAgent) Neighbors(context.Context, api.Actor) ([]api.Neighbor, error) {
	return []api.Neighbor{{IP: "192.0.2.9", MAC: "02:00:00:00:00:09", Interface: "eth1", State: "reachable"}}, nil
}

func (f *fakeAgent) Leases(context.Context, api.Actor) ([]api.DHCPLease, error) {
	return []api.DHCPLease{}, nil
}

func (f *fakeAgent) Audit(context.Context, api.Actor, api.AuditQuery) ([]api.AuditRecord, error) {
	return []api.AuditRecord{}, nil
}

// Transport serves the fake over HTTP, as the agent's socket would, for
// the console's proxy: each route of api.Routes calls the fake's method.
func (f *fakeAgent) Transport() http.RoundTripper { return handlerTransport{f.handler()} }

// handlerTransport answers a request with a handler, in memory.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

func (f *fakeAgent) handler() http.Handler {
	actor := func(r *http.Request) api.Actor {
		a := api.Actor{User: r.Header.Get(api.HeaderUser), Role: auth.Role(r.Header.Get(api.HeaderRole)), Source: r.Header.Get(api.HeaderSource)}
		if a.User == "" || a.Role == "" {
			f.t.Errorf("fake agent: %s %s without the actor (%+v)", r.Method, r.URL.Path, a)
		}
		return a
	}
	reply := func(w http.ResponseWriter, status int, v any, err error) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Content-Type-Options", "nosniff") // as the agent's writeJSON
		if e, ok := api.AsError(err); ok {
			w.WriteHeader(e.Status)
			json.NewEncoder(w).Encode(e)
			return
		}
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(v)
	}
	bad := func(w http.ResponseWriter, r *http.Request, v any) bool {
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		err := dec.Decode(v)
		if err == nil {
			return false
		}
		e := &api.Error{Status: http.StatusBadRequest, Message: "the body is not valid JSON"}
		if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			e.Field, e.Message = strings.Trim(f, `"`), "is not a known field"
		}
		reply(w, 0, nil, e)
		return true
	}
	stream := func(w http.ResponseWriter, run func(line func(string)) (api.Result, error)) {
		w.Header().Set("Content-Type", "application/x-ndjson")
		enc := json.NewEncoder(w)
		res, _ := run(func(l string) { enc.Encode(api.StreamEvent{Type: api.EventLine, Text: l}) })
		enc.Encode(api.StreamEvent{Type: api.EventDone, ExitCode: &res.ExitCode})
	}
	hs := map[string]http.HandlerFunc{
		"GET /v1/interfaces": func(w http.ResponseWriter, r *http.Request) {
			l, err := f.Interfaces(r.Context(), actor(r))
			reply(w, 200, l, err)
		},
		"GET /v1/interfaces/{name}": func(w http.ResponseWriter, r *http.Request) {
			i, err := f.Interface(r.Context(), actor(r), r.PathValue("name"))
			reply(w, 200, i, err)
		},
		"PUT /v1/interfaces/{name}/config": func(w http.ResponseWriter, r *http.Request) {
			var lc api.LinkConfig
			if bad(w, r, &lc) {
				return
			}
			ch, err := f.SetConfig(r.Context(), actor(r), r.PathValue("name"), lc)
			reply(w, 202, ch, err)
		},
		"POST /v1/interfaces/{name}/up": func(w http.ResponseWriter, r *http.Request) {
			ch, err := f.SetUp(r.Context(), actor(r), r.PathValue("name"), true)
			reply(w, 202, ch, err)
		},
		"POST /v1/interfaces/{name}/down": func(w http.ResponseWriter, r *http.Request) {
			ch, err := f.SetUp(r.Context(), actor(r), r.PathValue("name"), false)
			reply(w, 202, ch, err)
		},
		"GET /v1/traffic": func(w http.ResponseWriter, r *http.Request) {
			actor(r)
			reply(w, 200, api.Traffic{IntervalSeconds: 10, Interfaces: []api.TrafficSeries{}}, nil)
		},
		"GET /v1/changes/{id}": func(w http.ResponseWriter, r *http.Request) {
			ch, err := f.Change(r.Context(), actor(r), r.PathValue("id"))
			reply(w, 200, ch, err)
		},
		"POST /v1/changes/{id}/confirm": func(w http.ResponseWriter, r *http.Request) {
			ch, err := f.Confirm(r.Context(), actor(r), r.PathValue("id"))
			reply(w, 200, ch, err)
		},
		"POST /v1/diag/ping": func(w http.ResponseWriter, r *http.Request) {
			var req api.PingRequest
			if bad(w, r, &req) {
				return
			}
			stream(w, func(line func(string)) (api.Result, error) { return f.Ping(r.Context(), actor(r), req, line) })
		},
		"POST /v1/diag/traceroute": func(w http.ResponseWriter, r *http.Request) {
			var req api.TracerouteRequest
			if bad(w, r, &req) {
				return
			}
			stream(w, func(line func(string)) (api.Result, error) { return f.Traceroute(r.Context(), actor(r), req, line) })
		},
		"POST /v1/diag/dns": func(w http.ResponseWriter, r *http.Request) {
			var req api.DNSRequest
			if bad(w, r, &req) {
				return
			}
			res, err := f.DNS(r.Context(), actor(r), req)
			reply(w, 200, res, err)
		},
		"GET /v1/diag/neighbors": func(w http.ResponseWriter, r *http.Request) {
			l, err := f.Neighbors(r.Context(), actor(r))
			reply(w, 200, l, err)
		},
		"GET /v1/dhcp/leases": func(w http.ResponseWriter, r *http.Request) {
			l, err := f.Leases(r.Context(), actor(r))
			reply(w, 200, l, err)
		},
		"GET /v1/ap": func(w http.ResponseWriter, r *http.Request) {
			i, err := f.AP(r.Context(), actor(r))
			reply(w, 200, i, err)
		},
		"GET /v1/ap/clients": func(w http.ResponseWriter, r *http.Request) {
			l, err := f.APClients(r.Context(), actor(r))
			reply(w, 200, l, err)
		},
		"PUT /v1/ap/settings": func(w http.ResponseWriter, r *http.Request) {
			var u api.APUpdate
			if bad(w, r, &u) {
				return
			}
			ch, err := f.APUpdate(r.Context(), actor(r), u)
			reply(w, 202, ch, err)
		},
		"GET /v1/ap/changes/{id}": func(w http.ResponseWriter, r *http.Request) {
			ch, err := f.APChange(r.Context(), actor(r), r.PathValue("id"))
			reply(w, 200, ch, err)
		},
		"POST /v1/ap/changes/{id}/confirm": func(w http.ResponseWriter, r *http.Request) {
			ch, err := f.APConfirm(r.Context(), actor(r), r.PathValue("id"))
			reply(w, 200, ch, err)
		},
		"GET /v1/ap/deny": func(w http.ResponseWriter, r *http.Request) {
			l, err := f.APDenied(r.Context(), actor(r))
			reply(w, 200, api.DenyList{Denied: l}, err)
		},
		"POST /v1/ap/deny": func(w http.ResponseWriter, r *http.Request) {
			var req api.DenyRequest
			if bad(w, r, &req) {
				return
			}
			l, err := f.APDeny(r.Context(), actor(r), req.MAC)
			reply(w, 200, api.DenyList{Denied: l}, err)
		},
		"DELETE /v1/ap/deny/{mac}": func(w http.ResponseWriter, r *http.Request) {
			l, err := f.APAllow(r.Context(), actor(r), r.PathValue("mac"))
			reply(w, 200, api.DenyList{Denied: l}, err)
		},
		"GET /v1/ap/dhcp": func(w http.ResponseWriter, r *http.Request) {
			actor(r)
			reply(w, 200, api.APDHCP{Start: "192.168.4.2", End: "192.168.4.20", LeaseTime: 86400,
				StaticLeases: []api.StaticLease{}, Address: "192.168.4.1/24", MaxStaticLeases: 256}, nil)
		},
		"PUT /v1/ap/dhcp": func(w http.ResponseWriter, r *http.Request) {
			actor(r)
			var u api.APDHCPUpdate
			if bad(w, r, &u) {
				return
			}
			reply(w, 202, api.APChange{ID: "0123456789abcdef", Status: api.StatusPending}, nil)
		},
		"GET /v1/ap/dhcp/changes/{id}": func(w http.ResponseWriter, r *http.Request) {
			actor(r)
			reply(w, 200, api.APChange{ID: r.PathValue("id"), Status: api.StatusPending}, nil)
		},
		"POST /v1/ap/dhcp/changes/{id}/confirm": func(w http.ResponseWriter, r *http.Request) {
			actor(r)
			reply(w, 200, api.APChange{ID: r.PathValue("id"), Status: api.StatusConfirmed}, nil)
		},
	}
	for p, h := range f.commandHandlers(actor, reply, bad) {
		hs[p] = h
	}
	for p, h := range f.backupHandlers(actor, reply, bad) {
		hs[p] = h
	}
	for p, h := range f.resetHandlers(actor, reply) {
		hs[p] = h
	}
	mux := http.NewServeMux()
	for _, rt := range api.Routes {
		if h, ok := hs[rt.Pattern()]; ok {
			mux.Handle(rt.Pattern(), h)
		}
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		f.t.Errorf("fake agent: unexpected %s %s", r.Method, r.URL.Path)
		http.NotFound(w, r)
	})
	return mux
}

// newAgentHarness starts a console on a fresh data dir using ag.
func newAgentHarness(t testing.TB, cfg config.Config, ag Agent) *harness {
	t.Helper()
	return startHarnessAgent(t, cfg, newFakeClock(), fakeSys{}, ag)
}

// TestAgentDown: with no agent on the socket the pages say so, the API
// answers 503 with the same words, and the rest of the console works.
func TestAgentDown(t *testing.T) {
	t.Parallel()
	for name, ag := range map[string]Agent{
		"missing socket": agentclient.New(filepath.Join(t.TempDir(), "agent.sock")),
		"no agent":       nil,
	} {
		t.Run(name, func(t *testing.T) {
			h := newAgentHarness(t, testConfig(t.TempDir()), ag)
			h.addUser("alice", auth.Admin, userPassword)
			c := h.newClient()
			c.mustLogin("alice", userPassword)
			for _, p := range []string{"/network", "/diagnostics", "/commands", "/commands/history", "/system"} {
				r := c.get(p)
				if r.status != http.StatusOK || !strings.Contains(r.body, agentDownMessage) ||
					!regexp.MustCompile(`id="agent-state" role="alert" class="alert alert-warning"`).MatchString(r.body) {
					t.Errorf("GET %s = %d, without the visible agent-down message", p, r.status)
				}
			}
			for _, rq := range []struct {
				method, path string
				body         any
			}{
				{"GET", "/api/v1/interfaces", nil},
				{"GET", "/api/v1/interfaces/eth1", nil},
				{"PUT", "/api/v1/interfaces/eth1/config", map[string]any{"mode": "static", "addresses": []string{"10.0.0.2/24"}}},
				{"POST", "/api/v1/interfaces/eth1/up", nil},
				{"GET", "/api/v1/changes/abc", nil},
				{"POST", "/api/v1/changes/abc/confirm", nil},
				{"POST", "/api/v1/diag/ping", map[string]any{"host": "127.0.0.1"}},
				{"POST", "/api/v1/diag/traceroute", map[string]any{"host": "127.0.0.1"}},
				{"POST", "/api/v1/diag/dns", map[string]any{"name": "example.com"}},
				{"GET", "/api/v1/diag/neighbors", nil},
				{"GET", "/api/v1/dhcp/leases", nil},
				{"GET", "/api/v1/commands", nil},
				{"POST", "/api/v1/commands/uptime/runs", map[string]any{"params": map[string]string{}}},
				{"GET", "/api/v1/runs/1/events", nil},
				{"GET", "/api/v1/system/reset", nil},
				{"GET", "/api/v1/system/reset/changes", nil},
				{"POST", "/api/v1/system/reset", map[string]any{"password": userPassword, "confirm": "testhost"}},
			} {
				r := c.api(rq.method, rq.path, rq.body)
				if r.status != http.StatusServiceUnavailable || decode[apiError](t, r).Error != agentDownMessage {
					t.Errorf("%s %s = %d %s, want 503 with the agent-down message", rq.method, rq.path, r.status, r.body)
				}
			}
			// The rest of the console keeps working.
			for _, p := range []string{"/", "/users", "/audit", "/api/v1/me"} {
				if r := c.get(p); r.status != http.StatusOK {
					t.Errorf("GET %s with the agent down = %d", p, r.status)
				}
			}
		})
	}
}

// TestNetworkPagesFake checks the console's side with a fake agent: who
// sees what, what is passed as the actor, and the field errors of its own
// JSON decoding.
func TestNetworkPagesFake(t *testing.T) {
	t.Parallel()
	fa := newFakeAgent(t)
	cfg := testConfig(t.TempDir())
	cfg.AP.Interface, cfg.LAN = "wlan0", []string{"eth1"}
	h := newAgentHarness(t, cfg, fa)
	h.addUser("vera", auth.Viewer, userPassword)
	h.addUser("olga", auth.Operator, userPassword)
	h.addUser("alice", auth.Admin, userPassword)
	viewer, operator, admin := h.newClient(), h.newClient(), h.newClient()
	viewer.mustLogin("vera", userPassword)
	operator.mustLogin("olga", userPassword)
	admin.mustLogin("alice", userPassword)

	page := admin.get("/network")
	for _, want := range []string{`data-iface="eth1"`, `id="form-eth1"`, `data-mark="ap"`, `data-mark="lan"`, `id="change-panel"`, `/static/js/app.js?v=`, `hx-post="/network/eth1"`, `id="nav-network"`, `id="nav-diagnostics"`} {
		if !strings.Contains(page.body, want) {
			t.Errorf("admin's network page lacks %s", want)
		}
	}
	// eth1 is in DHCP mode: its lease is shown, the static fields hidden.
	for _, want := range []string{"198.51.100.254", "2h 0m", "2030-01-02 03:04:05 UTC", `<option value="dhcp" selected>`} {
		if !strings.Contains(page.body, want) {
			t.Errorf("admin's network page lacks %s (DHCP lease, mode)", want)
		}
	}
	if strings.Contains(page.body, `id="form-wlan0"`) {
		t.Errorf("the AP interface has a form")
	}
	vpage := viewer.get("/network")
	if vpage.status != http.StatusOK || strings.Contains(vpage.body, `id="form-eth1"`) || strings.Contains(vpage.body, "confirm-now") {
		t.Errorf("viewer's network page = %d, with admin controls", vpage.status)
	}
	if strings.Contains(vpage.body, `id="nav-diagnostics"`) {
		t.Errorf("viewer sees the Diagnostics link")
	}
	if r := viewer.get("/diagnostics"); r.status != http.StatusForbidden {
		t.Errorf("viewer's diagnostics = %d, want 403", r.status)
	}
	dpage := operator.get("/diagnostics")
	for _, want := range []string{`id="ping-form"`, `id="traceroute-form"`, `id="dns-form"`, "192.0.2.9", "No leases.", `/static/js/diagnostics.js?v=`} {
		if !strings.Contains(dpage.body, want) {
			t.Errorf("diagnostics page lacks %s", want)
		}
	}
	for _, p := range []string{"/network", "/diagnostics"} {
		if body := admin.get(p).body; regexp.MustCompile(`<script>|<script [^>]*>[^<]|<style|style="|onclick=|onload=`).MatchString(body) {
			t.Errorf("GET %s has inline script or style", p)
		}
	}

	// The console forwards a body as it is; the agent's answer comes back
	// as it is, status and field (the agent's own tests cover its decoding).
	if r := admin.api("PUT", "/api/v1/interfaces/eth1/config", `{"mode":"static","vlan":5}`); r.status != http.StatusBadRequest || decode[apiError](t, r).Field != "vlan" {
		t.Errorf("PUT with an unknown field = %d %s, want the agent's 400 naming vlan", r.status, r.body)
	}
	if r := admin.request("PUT", "/api/v1/interfaces/eth1/config", strings.NewReader(`{"mode":"dhcp"}`), map[string]string{"X-CSRF-Token": admin.csrf}); r.status != http.StatusUnsupportedMediaType {
		t.Errorf("PUT without JSON content type = %d, want 415", r.status)
	}
	if r := admin.request("PUT", "/api/v1/interfaces/eth1/config", strings.NewReader(`{"mode":"dhcp"}`), map[string]string{"Content-Type": "application/json"}); r.status != http.StatusForbidden {
		t.Errorf("PUT with the session and no form token = %d, want 403", r.status)
	}
	r := admin.api("PUT", "/api/v1/interfaces/eth1/config", map[string]any{"mode": "dhcp"})
	if r.status != http.StatusAccepted {
		t.Fatalf("PUT = %d %s", r.status, r.body)
	}
	var ch struct {
		ID         string    `json:"change_id"`
		RollbackAt time.Time `json:"rollback_at"`
	}
	if err := json.Unmarshal([]byte(r.body), &ch); err != nil || ch.ID == "" || ch.RollbackAt.IsZero() {
		t.Errorf("202 body %s: %v", r.body, err)
	}
	// The ping stream is relayed as NDJSON events.
	r = operator.api("POST", "/api/v1/diag/ping", map[string]any{"host": "192.0.2.9", "count": 1})
	if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/x-ndjson" ||
		r.body != "{\"type\":\"line\",\"text\":\"reply from 192.0.2.9\"}\n{\"type\":\"done\",\"exit_code\":0}\n" {
		t.Errorf("ping = %d %q %q", r.status, r.header.Get("Content-Type"), r.body)
	}
	fa.mu.Lock()
	defer fa.mu.Unlock()
	if !slices.Contains(fa.calls, "config eth1 alice admin") || !slices.Contains(fa.calls, "ping 192.0.2.9") {
		t.Errorf("agent calls %q", fa.calls)
	}
}

// labConsole is a console talking to a real agent (devmgr agent) that
// manages the lab's device namespace.
type labConsole struct {
	*harness
	lab    *lab.Lab
	socket string
	client *agentclient.Client
}

// audited reports whether the agent's own audit log (GET /v1/audit) has
// an entry of user's action that ended with result.
func (lc *labConsole) audited(user, action, result string) bool {
	t := lc.t
	t.Helper()
	root := api.Actor{User: "root", Role: auth.Admin, Source: "local"}
	got, err := lc.client.Audit(context.Background(), root, api.AuditQuery{User: user, Action: action, Result: result})
	if err != nil {
		t.Fatalf("reading the agent's audit log: %v", err)
	}
	return slices.ContainsFunc(got, func(e api.AuditRecord) bool { return e.Action == action }) // Action selects a prefix
}

// startLabConsole builds a lab, runs devmgr agent in its device namespace
// with rollback after rollback, and a console on its socket.
func startLabConsole(t *testing.T, rollback time.Duration) *labConsole {
	t.Helper()
	testutil.RequireRoot(t)
	testutil.RequireBinary(t, "ip", "ping")
	l := lab.NewT(t, lab.Options{NoServers: true})
	// A short path: unix socket names are limited to 108 bytes.
	dir, err := os.MkdirTemp("", "devmgr-web-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	acfg := l.Config(filepath.Join(dir, "agent"))
	acfg.Network.RollbackTimeout = rollback
	acfg.Web.User = "root" // a root-only socket, whatever accounts this machine has
	if err := os.MkdirAll(acfg.DataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	agentproc.Start(t, agentproc.Options{Config: acfg, NS: l.NS(lab.Device)})
	wcfg := acfg
	wcfg.DataDir = filepath.Join(dir, "web")
	wcfg.Web.Listen = "127.0.0.1:0"
	ac := agentclient.New(acfg.Agent.Socket)
	t.Cleanup(ac.Close)
	h := newAgentHarness(t, wcfg, ac)
	return &labConsole{harness: h, lab: l, socket: acfg.Agent.Socket, client: ac}
}

// agentStateOK is the agent-state part of a page whose agent answered.
const agentStateOK = `<div id="agent-state" role="alert" class="d-none">`

// ndjson splits a streamed answer into its events.
func ndjson(t *testing.T, body string) []api.StreamEvent {
	t.Helper()
	var out []api.StreamEvent
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		var ev api.StreamEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("stream line %q: %v", sc.Text(), err)
		}
		out = append(out, ev)
	}
	return out
}

// TestNetworkAPIWithAgent drives the public API against the real agent in
// the lab: the list, roles, field errors, a static config confirmed, a
// second change refused while one is pending, an unconfirmed change rolled
// back, and a streamed ping.
func TestNetworkAPIWithAgent(t *testing.T) {
	const rollback = 10 * time.Second // the shortest devmgr accepts
	lc := startLabConsole(t, rollback)
	h := lc.harness
	h.addUser("vera", auth.Viewer, userPassword)
	h.addUser("olga", auth.Operator, userPassword)
	h.addUser("alice", auth.Admin, userPassword)
	viewer, operator, admin := h.newClient(), h.newClient(), h.newClient()
	viewer.mustLogin("vera", userPassword)
	operator.mustLogin("olga", userPassword)
	admin.mustLogin("alice", userPassword)
	ctx := context.Background()

	// The list matches the device namespace.
	r := viewer.get("/api/v1/interfaces")
	if r.status != http.StatusOK {
		t.Fatalf("GET /api/v1/interfaces = %d %s", r.status, r.body)
	}
	ifs := decode[[]api.Interface](t, r)
	links, err := lc.lab.Handle(lab.Device).LinkList()
	if err != nil {
		t.Fatal(err)
	}
	var want, got []string
	for _, l := range links {
		want = append(want, l.Attrs().Name)
	}
	roles := map[string]string{}
	for _, i := range ifs {
		got = append(got, i.Name)
		roles[i.Name] = i.Role
		if i.Name == "wlan0" && !slices.Contains(i.Addresses, lab.APAddress) {
			t.Errorf("wlan0 addresses %v lack %s", i.Addresses, lab.APAddress)
		}
	}
	slices.Sort(want)
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("interfaces (-netlink +api):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"lo": "", "wlan0": api.RoleAP, "eth0": api.RoleUplink, "eth1": api.RoleLAN}, roles); diff != "" {
		t.Errorf("roles (-want +got):\n%s", diff)
	}
	if r := viewer.get("/api/v1/interfaces/eth1"); r.status != http.StatusOK || decode[api.Interface](t, r).Name != "eth1" {
		t.Errorf("GET eth1 = %d %s", r.status, r.body)
	}
	if r := viewer.get("/api/v1/interfaces/eth9"); r.status != http.StatusNotFound || decode[apiError](t, r).Field != "name" {
		t.Errorf("GET eth9 = %d %s, want 404 naming name", r.status, r.body)
	}

	// The page shows them, with the marks from the config.
	page := admin.get("/network")
	for _, want := range []string{`data-iface="lo"`, `data-iface="wlan0"`, `data-iface="eth0"`, `data-iface="eth1"`, `data-mark="ap"`, `data-mark="uplink"`, `id="form-eth1"`, "192.0.2.1/24"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("network page lacks %s", want)
		}
	}
	if !strings.Contains(page.body, `id="agent-state" role="alert" class="d-none"`) {
		t.Errorf("network page says the agent is down")
	}

	static := map[string]any{"mode": "static", "addresses": []string{lab.LANDeviceAddr}}
	for who, c := range map[string]*client{"viewer": viewer, "operator": operator} {
		if r := c.api("PUT", "/api/v1/interfaces/eth1/config", static); r.status != http.StatusForbidden {
			t.Errorf("%s PUT = %d, want 403", who, r.status)
		}
		if r := c.api("POST", "/api/v1/interfaces/eth1/down", nil); r.status != http.StatusForbidden {
			t.Errorf("%s down = %d, want 403", who, r.status)
		}
	}

	// Invalid input: a 4xx naming the field, from the agent's validation.
	for _, tc := range []struct {
		path   string
		body   any
		status int
		field  string
	}{
		{"eth1", map[string]any{"mode": "static", "addresses": []string{"203.0.113.0/24"}}, 400, "addresses[0]"},
		{"eth1", map[string]any{"mode": "static", "addresses": []string{"203.0.113.1"}}, 400, "addresses[0]"},
		{"eth1", map[string]any{"mode": "static", "addresses": []string{"192.0.2.50/24"}}, 400, "addresses[0]"},
		{"eth1", map[string]any{"mode": "static", "addresses": []string{lab.LANDeviceAddr}, "gateway": "10.9.9.9"}, 400, "gateway"},
		{"eth1", map[string]any{"mode": "static", "addresses": []string{lab.LANDeviceAddr}, "dns": []string{"dns.example"}}, 400, "dns[0]"},
		{"eth1", map[string]any{"mode": "static", "addresses": []string{lab.LANDeviceAddr}, "mtu": 100}, 400, "mtu"},
		{"eth1", map[string]any{"mode": "bridge"}, 400, "mode"},
		{"eth0", static, 400, "name"},
		{"wlan0", static, 403, "name"},
	} {
		r := admin.api("PUT", "/api/v1/interfaces/"+tc.path+"/config", tc.body)
		if e := decode[apiError](t, r); r.status != tc.status || e.Field != tc.field || e.Error == "" {
			t.Errorf("PUT %s %v = %d %s, want %d naming %s", tc.path, tc.body, r.status, r.body, tc.status, tc.field)
		}
	}

	// A static address: 202, pending, the LAN host answers, a second
	// change is refused, the confirm keeps it.
	r = admin.api("PUT", "/api/v1/interfaces/eth1/config", static)
	if r.status != http.StatusAccepted {
		t.Fatalf("PUT static = %d %s", r.status, r.body)
	}
	ch := decode[api.Change](t, r)
	if ch.ID == "" || ch.Status != api.StatusPending || !ch.RollbackAt.After(time.Now()) {
		t.Errorf("change %+v", ch)
	}
	if got := decode[api.Change](t, viewer.get("/api/v1/changes/"+ch.ID)); got.Status != api.StatusPending {
		t.Errorf("change status %q, want pending", got.Status)
	}
	if out, err := lc.lab.Exec(ctx, lab.Device, "ping", "-n", "-c", "1", "-W", "2", lab.LANHostIP); err != nil {
		t.Errorf("LAN host unreachable after the static config: %v\n%s", err, out)
	}
	if r := admin.api("POST", "/api/v1/interfaces/eth1/down", nil); r.status != http.StatusConflict || !strings.Contains(decode[apiError](t, r).Error, "pending") {
		t.Errorf("second change = %d %s, want 409 saying a change is pending", r.status, r.body)
	}
	if r := admin.get("/network"); !strings.Contains(r.body, `data-change-id="`+ch.ID+`"`) {
		t.Errorf("network page does not show the pending change")
	}
	if r := viewer.api("POST", "/api/v1/changes/"+ch.ID+"/confirm", nil); r.status != http.StatusForbidden {
		t.Errorf("viewer confirm = %d, want 403", r.status)
	}
	r = admin.api("POST", "/api/v1/changes/"+ch.ID+"/confirm", nil)
	if r.status != http.StatusOK || decode[api.Change](t, r).Status != api.StatusConfirmed {
		t.Fatalf("confirm = %d %s", r.status, r.body)
	}
	if got := decode[api.Change](t, viewer.get("/api/v1/changes/"+ch.ID)); got.Status != api.StatusConfirmed {
		t.Errorf("change status %q, want confirmed", got.Status)
	}
	if r := admin.api("POST", "/api/v1/changes/"+ch.ID+"/confirm", nil); r.status != http.StatusConflict {
		t.Errorf("confirming twice = %d, want 409", r.status)
	}
	if r := viewer.get("/api/v1/changes/nonexistent"); r.status != http.StatusNotFound {
		t.Errorf("unknown change = %d, want 404", r.status)
	}
	eth1 := decode[api.Interface](t, viewer.get("/api/v1/interfaces/eth1"))
	if eth1.Mode != "static" || !slices.Contains(eth1.Addresses, lab.LANDeviceAddr) {
		t.Errorf("eth1 after confirm: %+v", eth1)
	}
	if !lc.audited("alice", "network.config", "ok") || !lc.audited("alice", "network.confirm", "ok") {
		t.Errorf("the agent did not record alice's change and confirm")
	}

	// Down, never confirmed: rolled back within the timeout plus 2 s.
	r = admin.api("POST", "/api/v1/interfaces/eth1/down", nil)
	if r.status != http.StatusAccepted {
		t.Fatalf("down = %d %s", r.status, r.body)
	}
	down := decode[api.Change](t, r)
	var downNow api.Change
	testutil.Eventually(t, rollback+2*time.Second, func() bool {
		downNow = decode[api.Change](t, viewer.get("/api/v1/changes/"+down.ID))
		return downNow.Status == api.StatusRolledBack
	}, func() string { return fmt.Sprintf("change still %s", downNow.Status) })
	if eth1 := decode[api.Interface](t, viewer.get("/api/v1/interfaces/eth1")); !eth1.AdminUp {
		t.Errorf("eth1 still down after the rollback")
	}

	// Diagnostics: operator and up, streamed.
	if r := viewer.api("POST", "/api/v1/diag/ping", map[string]any{"host": "127.0.0.1"}); r.status != http.StatusForbidden {
		t.Errorf("viewer ping = %d, want 403", r.status)
	}
	for _, tc := range []struct {
		path  string
		body  any
		field string
	}{
		{"ping", map[string]any{"host": "-f"}, "host"},
		{"ping", map[string]any{"host": "127.0.0.1", "count": 11}, "count"},
		{"ping", map[string]any{"host": "a b"}, "host"},
		{"traceroute", map[string]any{"host": "127.0.0.1", "max_hops": 31}, "max_hops"},
		{"dns", map[string]any{"name": "example.com", "type": "ANY"}, "type"},
		{"dns", map[string]any{"name": "example.com", "server": "dns.example"}, "server"},
	} {
		r := operator.api("POST", "/api/v1/diag/"+tc.path, tc.body)
		if r.status != http.StatusBadRequest || decode[apiError](t, r).Field != tc.field {
			t.Errorf("%s %v = %d %s, want 400 naming %s", tc.path, tc.body, r.status, r.body, tc.field)
		}
	}
	r = operator.api("POST", "/api/v1/diag/ping", map[string]any{"host": "127.0.0.1", "count": 2})
	if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("ping = %d %q %s", r.status, r.header.Get("Content-Type"), r.body)
	}
	evs := ndjson(t, r.body)
	var replies int
	for _, ev := range evs {
		if ev.Type == api.EventLine && strings.Contains(ev.Text, "bytes from 127.0.0.1") {
			replies++
		}
	}
	if last := evs[len(evs)-1]; replies != 2 || last.Type != api.EventDone || last.ExitCode == nil || *last.ExitCode != 0 {
		t.Errorf("ping stream: %d replies, last %+v\n%s", replies, last, r.body)
	}
	if _, err := toolrun.LookPath("traceroute"); err == nil {
		r = operator.api("POST", "/api/v1/diag/traceroute", map[string]any{"host": "127.0.0.1", "max_hops": 2})
		evs := ndjson(t, r.body)
		if r.status != http.StatusOK || len(evs) < 2 || evs[len(evs)-1].Type != api.EventDone || !strings.Contains(r.body, "127.0.0.1") {
			t.Errorf("traceroute = %d %s", r.status, r.body)
		}
	}
	if r := operator.get("/api/v1/diag/neighbors"); r.status != http.StatusOK {
		t.Errorf("neighbours = %d %s", r.status, r.body)
	}
	if r := operator.get("/api/v1/dhcp/leases"); r.status != http.StatusOK || strings.TrimSpace(r.body) != "[]" {
		t.Errorf("leases = %d %s, want an empty list", r.status, r.body)
	}
	if r := operator.get("/diagnostics"); r.status != http.StatusOK || !strings.Contains(r.body, `id="ping-form"`) || !strings.Contains(r.body, `id="agent-state" role="alert" class="d-none"`) {
		t.Errorf("diagnostics page = %d", r.status)
	}
	if !lc.audited("olga", "diag.ping", "ok") {
		t.Errorf("the agent did not record olga's ping")
	}

	// The agent stops: the pages say so, the API answers 503.
	if err := os.Remove(lc.socket); err != nil {
		t.Fatal(err)
	}
	lc.client.Close() // no idle connection to the old socket
	if r := viewer.get("/network"); !strings.Contains(r.body, `id="agent-state" role="alert" class="alert alert-warning" data-down="1"`) {
		t.Errorf("network page does not say the agent is down")
	}
	if r := viewer.get("/api/v1/interfaces"); r.status != http.StatusServiceUnavailable || decode[apiError](t, r).Error != agentDownMessage {
		t.Errorf("interfaces with the agent gone = %d %s", r.status, r.body)
	}
}

// With an agent, the dashboard's interfaces are the agent's (which may live
// in another namespace), and a down agent is said in their place.
func TestDashboardInterfacesFromAgent(t *testing.T) {
	t.Parallel()
	h := newAgentHarness(t, testConfig(t.TempDir()), newFakeAgent(t))
	h.addUser("alice", auth.Admin, userPassword)
	c := h.newClient()
	c.mustLogin("alice", userPassword)
	page := c.get("/")
	for _, want := range []string{`data-iface="eth1"`, `data-iface="wlan0"`, "198.51.100.77/24", "192.168.4.1/24"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("dashboard lacks %s from the agent", want)
		}
	}

	down := newAgentHarness(t, testConfig(t.TempDir()), agentclient.New(filepath.Join(t.TempDir(), "agent.sock")))
	down.addUser("alice", auth.Admin, userPassword)
	dc := down.newClient()
	dc.mustLogin("alice", userPassword)
	if r := dc.get("/"); r.status != http.StatusOK || !strings.Contains(r.body, agentDownMessage) {
		t.Errorf("dashboard with the agent down = %d, without %q", r.status, agentDownMessage)
	}
}
