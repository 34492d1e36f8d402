package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/devmgr/devmgr/internal/agent"
	"github.com/devmgr/devmgr/internal/agent/api"
	agentclient "github.com/devmgr/devmgr/internal/agent/client"
	"github.com/devmgr/devmgr/internal/auth"
	"github.com/devmgr/devmgr/internal/dnsmasq"
	"github.com/devmgr/devmgr/internal/store"
	"github.com/devmgr/devmgr/internal/testing/apmgrtest"
	"github.com/devmgr/devmgr/internal/testing/testutil"
)

// apAudit records the agent's audit entries.
type apAudit struct {
	mu      sync.Mutex
	entries []agent.AuditEntry
}

func (a *apAudit) Audit(_ context.Context, e agent.AuditEntry) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.entries = append(a.entries, e)
	return nil
}

func (a *apAudit) find(action, result string) (agent.AuditEntry, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, e := range a.entries {
		if e.Action == action && e.Result == result {
			return e, true
		}
	}
	return agent.AuditEntry{}, false
}

// apConsole is a console whose agent, on a unix socket of its own, runs
// the AP module on a temporary device with a fake hostapd.
type apConsole struct {
	*harness
	dev   *apmgrtest.Device
	audit *apAudit
}

// startAPAgent serves a real agent with dev's AP module and returns its client.
func startAPAgent(t testing.TB, dev *apmgrtest.Device, audit agent.Auditor, log *slog.Logger) *agentclient.Client {
	t.Helper()
	return serveTestAgent(t, agent.Config{
		AP: dev.Manager, Diag: agent.Tools{LeaseFile: filepath.Join(dev.Root, dnsmasq.DefaultLeaseFile)},
		Audit: audit, Log: log.With("component", "agent"), Version: "test",
	})
}

// serveTestAgent serves a real agent of cfg, on a socket of its own (it
// sets cfg.Socket), until the test ends, and returns its client.
func serveTestAgent(t testing.TB, cfg agent.Config) *agentclient.Client {
	t.Helper()
	testutil.RequireRoot(t) // the agent lets only root and the web user in
	// Short: a socket's path is at most 108 bytes.
	dir, err := os.MkdirTemp("", "devmgr-web-agent-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	cfg.Socket = filepath.Join(dir, "agent.sock")
	srv, err := agent.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := srv.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent: %v", err)
		}
	})
	c := agentclient.New(cfg.Socket)
	t.Cleanup(c.Close)
	return c
}

func startAPConsole(t testing.TB, o apmgrtest.Options) *apConsole {
	t.Helper()
	h := &harness{t: t, cfg: testConfig(t.TempDir()), clock: newFakeClock(), logBuf: &syncBuffer{}}
	log := slog.New(slog.NewTextHandler(h.logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if o.Log == nil {
		o.Log = log.With("component", "apmgr")
	}
	ac := &apConsole{harness: h, audit: &apAudit{}}
	if o.OnFinish == nil {
		o.OnFinish = agent.AuditChanges(ac.audit, log) // as the agent wires its engine
	}
	ac.dev = apmgrtest.New(t, o)
	client := startAPAgent(t, ac.dev, ac.audit, log)
	db, err := store.Open(context.Background(), h.cfg.DataDir, log)
	if err != nil {
		t.Fatalf("opening store: %v", err)
	}
	var once sync.Once
	h.closeDB = func() { once.Do(func() { db.Close() }) }
	t.Cleanup(h.closeDB)
	h.db = db
	h.srv, err = New(Config{Config: h.cfg, DB: db, Logger: log, Clock: h.clock.Now, SysInfo: fakeSys{}, Agent: client})
	if err != nil {
		t.Fatalf("web.New: %v", err)
	}
	h.ts = httptest.NewTLSServer(h.srv.Handler())
	t.Cleanup(h.ts.Close)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", h.logBuf.String())
		}
	})
	return ac
}

// apJSON sends a JSON body with the client's form token.
func (c *client) apJSON(method, path string, v any) response {
	c.t.Helper()
	var b []byte
	switch v := v.(type) {
	case string:
		b = []byte(v)
	case nil:
	default:
		b, _ = json.Marshal(v)
	}
	return c.request(method, path, bytes.NewReader(b), map[string]string{"Content-Type": "application/json", "X-CSRF-Token": c.csrf})
}

func TestAPAPI(t *testing.T) {
	ac := startAPConsole(t, apmgrtest.Options{})
	ac.addUser("vera", auth.Viewer, userPassword)
	ac.addUser("alice", auth.Admin, userPassword)
	viewer, admin := ac.newClient(), ac.newClient()
	viewer.mustLogin("vera", userPassword)
	admin.mustLogin("alice", userPassword)

	// Everyone reads: state, settings without the passphrase, clients with their leases.
	r := viewer.get("/api/v1/ap")
	if r.status != http.StatusOK {
		t.Fatalf("GET /api/v1/ap: %d %s", r.status, r.body)
	}
	info := decode[api.APInfo](t, r)
	if !info.Status.Running || info.Status.SSID != "DeviceManager" || info.Status.Clients != 2 || !info.Settings.PassphraseSet {
		t.Errorf("AP info %+v", info)
	}
	if strings.Contains(r.body, apmgrtest.Passphrase) || strings.Contains(r.body, `"passphrase":`) {
		t.Errorf("the API shows the passphrase: %s", r.body)
	}
	r = viewer.get("/api/v1/ap/clients")
	cl := decode[[]api.APClient](t, r)
	if r.status != http.StatusOK || len(cl) != 2 || cl[0].Hostname != "phone" || cl[0].IP != "192.168.4.10" || cl[1].Hostname != "laptop" {
		t.Errorf("clients: %d %+v", r.status, cl)
	}
	if r := viewer.get("/api/v1/ap/deny"); r.status != http.StatusOK || !strings.Contains(strings.ReplaceAll(r.body, " ", ""), `"denied":[]`) {
		t.Errorf("GET deny list: %d %s", r.status, r.body)
	}

	// Viewers change nothing; the console refuses before the agent is asked.
	if r := viewer.apJSON(http.MethodPut, "/api/v1/ap/settings", map[string]any{"ssid": "Mine"}); r.status != http.StatusForbidden {
		t.Errorf("viewer PUT settings: %d, want 403", r.status)
	}
	if r := viewer.apJSON(http.MethodPost, "/api/v1/ap/deny", map[string]any{"mac": "02:00:00:00:01:00"}); r.status != http.StatusForbidden {
		t.Errorf("viewer deny: %d, want 403", r.status)
	}
	if n := ac.dev.Hostapd.Count("RELOAD"); n != 0 {
		t.Fatalf("refused requests reloaded hostapd %d times", n)
	}

	// Field errors name the field, from the console's decoder or the agent.
	for _, c := range []struct {
		body  string
		field string
	}{
		{`{"channel":99}`, "channel"},
		{`{"ssid":""}`, "ssid"},
		{`{"passphrase":"short"}`, "passphrase"},
		{`{"country":"ZZ"}`, "country"},
		{`{"channel":"six"}`, "channel"},
		{`{"colour":"blue"}`, "colour"},
	} {
		r := admin.apJSON(http.MethodPut, "/api/v1/ap/settings", c.body)
		e := decode[apiError](t, r)
		if r.status != http.StatusBadRequest || e.Field != c.field || e.Error == "" {
			t.Errorf("PUT %s: %d %+v, want 400 field %s", c.body, r.status, e, c.field)
		}
	}
	// Without the form token, a session may not change anything.
	if r := admin.request(http.MethodPut, "/api/v1/ap/settings", strings.NewReader(`{"ssid":"x"}`), map[string]string{"Content-Type": "application/json"}); r.status != http.StatusForbidden {
		t.Errorf("PUT without the form token: %d, want 403", r.status)
	}

	// Change → 202 → confirm.
	r = admin.apJSON(http.MethodPut, "/api/v1/ap/settings", map[string]any{"ssid": "Workshop", "channel": 1})
	if r.status != http.StatusAccepted {
		t.Fatalf("PUT settings: %d %s", r.status, r.body)
	}
	ch := decode[api.APChange](t, r)
	if ch.ID == "" || ch.Status != api.StatusPending || ch.RollbackAt.IsZero() || !strings.Contains(r.body, `"rollback_at"`) {
		t.Errorf("202 body %s", r.body)
	}
	if r := viewer.get("/api/v1/ap/changes/" + ch.ID); r.status != http.StatusOK || decode[api.APChange](t, r).Status != api.StatusPending {
		t.Errorf("GET change: %d %s", r.status, r.body)
	}
	if r := admin.apJSON(http.MethodPut, "/api/v1/ap/settings", map[string]any{"ssid": "Other"}); r.status != http.StatusConflict {
		t.Errorf("second change while pending: %d, want 409", r.status)
	}
	if r := viewer.apJSON(http.MethodPost, "/api/v1/ap/changes/"+ch.ID+"/confirm", nil); r.status != http.StatusForbidden {
		t.Errorf("viewer confirm: %d, want 403", r.status)
	}
	r = admin.apJSON(http.MethodPost, "/api/v1/ap/changes/"+ch.ID+"/confirm", nil)
	if r.status != http.StatusOK || decode[api.APChange](t, r).Status != api.StatusConfirmed {
		t.Fatalf("confirm: %d %s", r.status, r.body)
	}
	if r := admin.apJSON(http.MethodPost, "/api/v1/ap/changes/"+ch.ID+"/confirm", nil); r.status != http.StatusConflict {
		t.Errorf("confirm twice: %d, want 409", r.status)
	}
	if r := viewer.get("/api/v1/ap/changes/00000000deadbeef"); r.status != http.StatusNotFound {
		t.Errorf("unknown change: %d, want 404", r.status)
	}
	info = decode[api.APInfo](t, viewer.get("/api/v1/ap"))
	if info.Status.SSID != "Workshop" || info.Status.Channel != 1 || info.Status.Frequency != 2412 || info.Status.Pending != nil {
		t.Errorf("status after the change %+v", info.Status)
	}
	if e, ok := ac.audit.find("ap.update", "ok"); !ok || e.User != "alice" || e.Source != "127.0.0.1" {
		t.Errorf("audit of the update: %+v %v", e, ok)
	}
	if _, ok := ac.audit.find("ap.confirm", "ok"); !ok {
		t.Errorf("confirm not audited")
	}

	// Block and allow.
	r = admin.apJSON(http.MethodPost, "/api/v1/ap/deny", map[string]any{"mac": "02:00:00:00:02:00"})
	if r.status != http.StatusOK || decode[api.DenyList](t, r).Denied[0] != "02:00:00:00:02:00" {
		t.Fatalf("deny: %d %s", r.status, r.body)
	}
	if cl := decode[[]api.APClient](t, viewer.get("/api/v1/ap/clients")); len(cl) != 1 {
		t.Errorf("clients after the block: %+v", cl)
	}
	if r := admin.apJSON(http.MethodPost, "/api/v1/ap/deny", map[string]any{"mac": "nonsense"}); r.status != http.StatusBadRequest || decode[apiError](t, r).Field != "mac" {
		t.Errorf("deny of a bad MAC: %d %s", r.status, r.body)
	}
	if r := viewer.apJSON(http.MethodDelete, "/api/v1/ap/deny/02:00:00:00:02:00", nil); r.status != http.StatusForbidden {
		t.Errorf("viewer allow: %d, want 403", r.status)
	}
	r = admin.apJSON(http.MethodDelete, "/api/v1/ap/deny/02:00:00:00:02:00", nil)
	if r.status != http.StatusOK || len(decode[api.DenyList](t, r).Denied) != 0 {
		t.Errorf("allow: %d %s", r.status, r.body)
	}
	if r := admin.apJSON(http.MethodDelete, "/api/v1/ap/deny/02:00:00:00:02:00", nil); r.status != http.StatusNotFound {
		t.Errorf("allow of a station not blocked: %d, want 404", r.status)
	}

	// API tokens: a viewer's reads, an admin's changes.
	ac.addToken("ci-admin", auth.Admin, "dmt_ap_admin_token")
	tc := ac.newClient()
	r = tc.request(http.MethodPost, "/api/v1/ap/deny", strings.NewReader(`{"mac":"02:00:00:00:09:00"}`),
		map[string]string{"Content-Type": "application/json", "Authorization": "Bearer dmt_ap_admin_token"})
	if r.status != http.StatusOK {
		t.Errorf("token deny: %d %s", r.status, r.body)
	}
	if e, ok := ac.audit.find("ap.deny", "ok"); !ok || e.User != "alice" {
		t.Errorf("audit of the first deny: %+v %v", e, ok)
	}
}

func TestAPPage(t *testing.T) {
	ac := startAPConsole(t, apmgrtest.Options{})
	ac.addUser("vera", auth.Viewer, userPassword)
	ac.addUser("alice", auth.Admin, userPassword)
	viewer, admin := ac.newClient(), ac.newClient()
	viewer.mustLogin("vera", userPassword)
	admin.mustLogin("alice", userPassword)

	r := viewer.get("/ap")
	if r.status != http.StatusOK {
		t.Fatalf("GET /ap: %d", r.status)
	}
	for _, want := range []string{`id="nav-ap"`, `id="ap-ssid">DeviceManager<`, "2437 MHz", "WPA2/WPA3-Personal (transition)",
		`data-mac="02:00:00:00:01:00"`, "phone", "192.168.4.10", "laptop", "-38 dBm", "12m 34s", "30.0 MiB", "broadcasting"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("viewer's AP page lacks %q", want)
		}
	}
	for _, not := range []string{`id="ap-form"`, "data-deny=", "Allow again", apmgrtest.Passphrase, `id="ap-qr"`, "WIFI:"} {
		if strings.Contains(r.body, not) {
			t.Errorf("viewer's AP page shows %q", not)
		}
	}
	// Everyone reads the leases, from the agent's leases file.
	if !strings.Contains(r.body, `id="ap-leases"`) || !regexp.MustCompile(`<tr data-mac="02:00:00:00:02:00">\s*<td[^>]*>laptop</td>\s*<td[^>]*>192.168.4.11</td>`).MatchString(r.body) {
		t.Errorf("viewer's AP page lacks the laptop's lease")
	}
	r = admin.get("/ap")
	for _, want := range []string{`id="ap-form"`, `data-deny="02:00:00:00:02:00"`, `id="ap-f-ssid" value="DeviceManager"`, `id="ap-denied"`, `id="ap-qr"`} {
		if !strings.Contains(r.body, want) {
			t.Errorf("admin's AP page lacks %q", want)
		}
	}
	if strings.Contains(r.body, apmgrtest.Passphrase) || strings.Contains(r.body, "WIFI:") {
		t.Error("admin's AP page shows the passphrase")
	}

	// A bad address typed into the block form: the agent's refusal, as a
	// sentence beside the field.
	r = admin.post("/ap/deny", url.Values{"mac": {"02:00:00:00:01"}, "from": {"form"}})
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, `data-error-for="mac">&#34;02:00:00:00:01&#34; is not a MAC address such as 02:00:00:00:01:00.<`) ||
		!strings.Contains(r.body, `id="ap-block-mac" value="02:00:00:00:01"`) {
		t.Errorf("bad MAC: %d\n%s", r.status, r.body)
	}
	if got := ac.dev.Manager.Denied(); len(got) != 0 {
		t.Errorf("deny list after a bad MAC: %q", got)
	}
	if strings.Contains(ac.logBuf.String(), apmgrtest.Passphrase) {
		t.Error("the log shows the passphrase")
	}
}

func TestAPPageExplainsProblems(t *testing.T) {
	ac := startAPConsole(t, apmgrtest.Options{NoHostapd: true})
	ac.addUser("vera", auth.Viewer, userPassword)
	c := ac.newClient()
	c.mustLogin("vera", userPassword)
	r := c.get("/ap")
	if r.status != http.StatusOK || !strings.Contains(r.body, "hostapd is not running") || !strings.Contains(r.body, ">down<") {
		t.Errorf("AP page without hostapd: %d\n%s", r.status, r.body)
	}
	if r := c.get("/api/v1/ap/clients"); r.status != http.StatusServiceUnavailable {
		t.Errorf("clients without hostapd: %d, want 503", r.status)
	}

	// Without an agent at all.
	h := newHarness(t)
	h.addUser("vera", auth.Viewer, userPassword)
	c = h.newClient()
	c.mustLogin("vera", userPassword)
	if r := c.get("/ap"); r.status != http.StatusOK || !strings.Contains(r.body, "agent is not running") {
		t.Errorf("AP page without agent: %d", r.status)
	}
	if r := c.get("/api/v1/ap"); r.status != http.StatusServiceUnavailable {
		t.Errorf("API without agent: %d, want 503", r.status)
	}
}

// The network tests' fakeAgent also answers the AP calls, with canned data,
// so that the route × role table sees allowed AP requests succeed.

func (f *fakeAgent) AP(_ context.Context, a api.Actor) (api.APInfo, error) {
	f.record("ap " + a.User)
	return api.APInfo{Status: api.APStatus{Running: true, State: "ENABLED", Interface: "wlan0", SSID: "DeviceManager"}, Denied: []string{}}, nil
}

func (f *fakeAgent) APClients(_ context.Context, a api.Actor) ([]api.APClient, error) {
	f.record("ap clients " + a.User)
	return []api.APClient{}, nil
}

func (f *fakeAgent) APSecretSettings(_ context.Context, a api.Actor) (api.APSecretSettings, error) {
	f.record("ap secret " + a.User)
	return api.APSecretSettings{APSettings: api.APSettings{SSID: "DeviceManager", PassphraseSet: true, Security: "wpa2-wpa3",
		Band: "2.4ghz", Channel: 6, Country: "US"}, Passphrase: fakePassphrase}, nil
}

// fakePassphrase is the fake agent's AP passphrase.
const fakePassphrase = "fake agent passphrase"

func (f *fakeAgent) APUpdate(_ context.Context, a api.Actor, _ api.APUpdate) (api.APChange, error) {
	f.record("ap update " + a.User)
	return api.APChange{ID: "c2", Status: api.StatusPending}, nil
}

func (f *fakeAgent) APChange(_ context.Context, _ api.Actor, id string) (api.APChange, error) {
	return api.APChange{ID: id, Status: api.StatusPending}, nil
}

func (f *fakeAgent) APConfirm(_ context.Context, a api.Actor, id string) (api.APChange, error) {
	f.record("ap confirm " + id + " " + a.User)
	return api.APChange{ID: id, Status: api.StatusConfirmed}, nil
}

func (f *fakeAgent) APDenied(context.Context, api.Actor) ([]string, error) { return []string{}, nil }

func (f *fakeAgent) APDeny(_ context.Context, a api.Actor, mac string) ([]string, error) {
	f.record("ap deny " + mac + " " + a.User)
	return []string{mac}, nil
}

func (f *fakeAgent) APAllow(_ context.Context, a api.Actor, mac string) ([]string, error) {
	f.record("ap allow " + mac + " " + a.User)
	return []string{}, nil
}

func (f *fakeAgent) APDHCP(_ context.Context, a api.Actor) (api.APDHCP, error) {
	f.record("ap dhcp " + a.User)
	return api.APDHCP{Start: "192.168.4.2", End: "192.168.4.20", LeaseTime: 86400, Address: "192.168.4.1/24", MaxStaticLeases: 256,
		StaticLeases: []api.StaticLease{{MAC: "02:00:00:00:00:05", IP: "192.168.4.50", Hostname: "printer"}}}, nil
}

func (f *fakeAgent) APDHCPUpdate(_ context.Context, a api.Actor, u api.APDHCPUpdate) (api.APChange, error) {
	f.record(fmt.Sprintf("ap dhcp update %s %s %d %d", a.User, *u.Start, *u.LeaseTime, len(*u.StaticLeases)))
	if *u.Start == "192.168.9.1" {
		return api.APChange{}, &api.Error{Status: http.StatusBadRequest, Field: "start", Message: "192.168.9.1 is not in the access point's network 192.168.4.1/24",
			Fields: []api.FieldProblem{
				{Field: "start", Message: "192.168.9.1 is not in the access point's network 192.168.4.1/24"},
				{Field: "static_leases[1].mac", Message: "01:00:5e:00:00:01 is a multicast address"},
			}}
	}
	return api.APChange{ID: "d1", Status: api.StatusPending, User: a.User, Fields: []string{"start"},
		Changes: []api.FieldChange{{Field: "start", Old: "192.168.4.2", New: *u.Start}}, RollbackAt: time.Now().Add(time.Minute)}, nil
}

func (f *fakeAgent) APDHCPChange(_ context.Context, _ api.Actor, id string) (api.APChange, error) {
	return api.APChange{ID: id, Status: api.StatusConfirmed}, nil
}
