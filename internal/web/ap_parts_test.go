package web

import (
	"context"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/devmgr/devmgr/internal/agent/api"
	"github.com/devmgr/devmgr/internal/auth"
)

// apFake is the fake agent with an access point worth a page: two
// clients, three leases, a deny list it keeps, and the refusals of the
// real agent (a bad MAC address; err for a settings change).
type apFake struct {
	*fakeAgent
	mu        sync.Mutex
	denied    []string
	updates   []api.APUpdate
	updateErr error
	change    api.APChange
}

func newAPFake(t *testing.T) *apFake {
	return &apFake{fakeAgent: newFakeAgent(t), denied: []string{},
		change: api.APChange{ID: "c2", Status: api.StatusPending, Fields: []string{"ssid"}, RollbackAt: time.Now().Add(time.Minute)}}
}

func (f *apFake) AP(context.Context, api.Actor) (api.APInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return api.APInfo{
		Status: api.APStatus{Running: true, State: "ENABLED", Interface: "wlan0", SSID: "DeviceManager", Channel: 6, Frequency: 2437,
			Band: "2.4ghz", Security: "wpa2-wpa3", Country: "US", Clients: 2, Denied: len(f.denied)},
		Settings: api.APSettings{SSID: "DeviceManager", PassphraseSet: true, Security: "wpa2-wpa3", Band: "2.4ghz", Channel: 6, Country: "US"},
		Denied:   slices.Clone(f.denied),
	}, nil
}

func (f *apFake) APClients(context.Context, api.Actor) ([]api.APClient, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []api.APClient
	for _, c := range []api.APClient{
		{MAC: "02:00:00:00:01:00", IP: "192.168.4.10", Hostname: "phone", Signal: -38, ConnectedSeconds: 754, RxBytes: 6_311_204, TxBytes: 31_457_280},
		{MAC: "02:00:00:00:02:00", IP: "192.168.4.11", Hostname: "a-laptop-with-a-very-long-hostname-that-does-not-wrap-by-itself", Signal: -71, ConnectedSeconds: 42},
	} {
		if !slices.Contains(f.denied, c.MAC) {
			out = append(out, c)
		}
	}
	return out, nil
}

func (f *apFake) Leases(context.Context, api.Actor) ([]api.DHCPLease, error) {
	exp := time.Now().Add(59*time.Minute + 30*time.Second)
	return []api.DHCPLease{
		{MAC: "02:00:00:00:01:00", IP: "192.168.4.10", Hostname: "phone", Expiry: exp},
		{MAC: "02:00:00:00:02:00", IP: "192.168.4.11", Hostname: "laptop", Expiry: exp},
		{MAC: "02:00:00:00:07:00", IP: "192.168.4.17", Hostname: "printer"}, // never expires
	}, nil
}

func (f *apFake) APUpdate(_ context.Context, a api.Actor, u api.APUpdate) (api.APChange, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.updates = append(f.updates, u)
	if f.updateErr != nil {
		return api.APChange{}, f.updateErr
	}
	return f.change, nil
}

func (f *apFake) APChange(_ context.Context, _ api.Actor, id string) (api.APChange, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if id != f.change.ID {
		return api.APChange{}, &api.Error{Status: http.StatusNotFound, Field: "id", Message: "unknown change " + id}
	}
	return f.change, nil
}

func (f *apFake) recorded() []string {
	f.fakeAgent.mu.Lock()
	defer f.fakeAgent.mu.Unlock()
	return slices.Clone(f.calls)
}

func (f *apFake) refuse(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.updateErr = err
}

func (f *apFake) sent() []api.APUpdate {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.updates)
}

// macError is the agent's refusal of a MAC address (apmgr, hostapd.NormalizeMAC).
func macError(mac string) (string, error) {
	hw, err := net.ParseMAC(mac)
	if err != nil || len(hw) != 6 {
		return "", &api.Error{Status: http.StatusBadRequest, Field: "mac", Message: fmt.Sprintf("%q is not a MAC address such as 02:00:00:00:01:00", mac)}
	}
	return hw.String(), nil
}

func (f *apFake) APDeny(_ context.Context, _ api.Actor, mac string) ([]string, error) {
	n, err := macError(mac)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !slices.Contains(f.denied, n) {
		f.denied = append(f.denied, n)
	}
	return slices.Clone(f.denied), nil
}

func (f *apFake) APAllow(_ context.Context, _ api.Actor, mac string) ([]string, error) {
	n, err := macError(mac)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	i := slices.Index(f.denied, n)
	if i < 0 {
		return nil, &api.Error{Status: http.StatusNotFound, Field: "mac", Message: "the station is not on the deny list"}
	}
	f.denied = slices.Delete(f.denied, i, i+1)
	return slices.Clone(f.denied), nil
}

// apClients are a viewer and an admin of a console whose agent is ag.
func apClients(t *testing.T, ag Agent) (viewer, admin *client) {
	t.Helper()
	h := newAgentHarness(t, testConfig(t.TempDir()), ag)
	h.addUser("vera", auth.Viewer, userPassword)
	h.addUser("alice", auth.Admin, userPassword)
	viewer, admin = h.newClient(), h.newClient()
	viewer.mustLogin("vera", userPassword)
	admin.mustLogin("alice", userPassword)
	return viewer, admin
}

// element is the start tag of the element with id in body, or "".
func element(body, id string) string {
	m := regexp.MustCompile(`<[a-z]+[^>]*\sid="` + regexp.QuoteMeta(id) + `"[^>]*>`).FindString(body)
	return m
}

func mustContain(t *testing.T, what, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("%s lacks %q", what, w)
		}
	}
}

func mustNotContain(t *testing.T, what, body string, nots ...string) {
	t.Helper()
	for _, n := range nots {
		if strings.Contains(body, n) {
			t.Errorf("%s has %q", what, n)
		}
	}
}

// The page and its live fragment render the same parts: status, clients,
// leases for everyone; the settings, QR code and deny list for admins.
func TestAPPageParts(t *testing.T) {
	t.Parallel()
	fa := newAPFake(t)
	viewer, admin := apClients(t, fa)

	r := viewer.get("/ap")
	if r.status != http.StatusOK || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("GET /ap: %d, Cache-Control %q", r.status, r.header.Get("Cache-Control"))
	}
	mustContain(t, "viewer's page", r.body, `id="ap-ssid">DeviceManager<`, `id="ap-clients"`, `data-mac="02:00:00:00:01:00"`, "30.0 MiB",
		`id="ap-leases"`, "192.168.4.17", "printer", "in 59m", "never", `hx-get="/ap/live"`, `"X-Devmgr-Background": "1"`)
	mustNotContain(t, "viewer's page", r.body, `id="ap-form"`, `id="ap-qr"`, `id="ap-join"`, "data-deny=", `id="ap-denied"`,
		`id="ap-block-form"`, fakePassphrase, "WIFI:", `id="confirm-now"`, "/static/ap.js", "/static/changes.js")
	if calls := fa.recorded(); slices.ContainsFunc(calls, func(c string) bool { return strings.HasPrefix(c, "ap secret") }) {
		t.Errorf("a viewer's page read the passphrase: %q", calls)
	}

	r = admin.get("/ap")
	mustContain(t, "admin's page", r.body, `id="ap-form"`, `hx-post="/ap/settings"`, `data-deny="02:00:00:00:02:00"`, `hx-post="/ap/deny"`,
		`id="ap-block-form"`, `id="ap-denied"`, `id="ap-qr"`, `id="change-panel"`, `data-max-bytes="32"`, `id="ap-ssid-count">13 of 32 bytes<`,
		`<optgroup label="5 GHz" data-band="5ghz">`, `<option value="6" selected>6 (2437 MHz)</option>`)
	mustNotContain(t, "admin's page", r.body, fakePassphrase, "WIFI:", "maxlength")
	if qr := regexp.MustCompile(`<path fill="#000" d="(M[0-9 Mhvz-]+)"`).FindStringSubmatch(r.body); qr == nil || len(qr[1]) < 500 {
		t.Errorf("admin's page has no QR code drawn")
	}
	for _, label := range regexp.MustCompile(`<option value="wpa[^"]*"[^>]*>([^<]*)<`).FindAllStringSubmatch(r.body, -1) {
		if label := html.UnescapeString(label[1]); len(label) > 12 {
			t.Errorf("security option %q: too long for the select on a phone", label)
		}
	}

	// The live fragment: the same parts, out of band; never the forms or the QR code.
	for who, c := range map[string]*client{"viewer": viewer, "admin": admin} {
		r := c.request(http.MethodGet, "/ap/live", nil, map[string]string{"X-Devmgr-Background": "1"})
		if r.status != http.StatusOK {
			t.Fatalf("%s GET /ap/live: %d", who, r.status)
		}
		for _, id := range []string{"agent-state", "ap-status", "ap-clients-part", "ap-leases-part"} {
			if !strings.Contains(element(r.body, id), `hx-swap-oob="true"`) {
				t.Errorf("%s's live fragment: %s is not out of band: %q", who, id, element(r.body, id))
			}
		}
		mustContain(t, who+"'s live fragment", r.body, `data-mac="02:00:00:00:01:00"`, "printer")
		mustNotContain(t, who+"'s live fragment", r.body, `id="ap-form"`, `id="ap-qr"`, `id="ap-block-form"`, fakePassphrase)
		if got := strings.Contains(r.body, `id="ap-denied"`); got != (who == "admin") {
			t.Errorf("%s's live fragment has the deny list: %v", who, got)
		}
	}
	// A page drawn without the agent reloads once the agent answers.
	if r := viewer.get("/ap/live?info=0"); r.status != http.StatusNoContent || r.header.Get("HX-Refresh") != "true" {
		t.Errorf("live with info=0: %d %q, want 204 and HX-Refresh", r.status, r.header.Get("HX-Refresh"))
	}
	// The passphrase is not the API's: the agent's route is not forwarded.
	if r := admin.get("/api/v1/ap/settings"); r.status == http.StatusOK || strings.Contains(r.body, fakePassphrase) {
		t.Errorf("GET /api/v1/ap/settings: %d %s", r.status, r.body)
	}
}

// Without the agent the page says why and keeps polling, to reload itself.
func TestAPPageAgentDown(t *testing.T) {
	t.Parallel()
	viewer, admin := apClients(t, nil)
	for who, c := range map[string]*client{"viewer": viewer, "admin": admin} {
		r := c.get("/ap")
		mustContain(t, who+"'s page", r.body, agentDownMessage, `hx-get="/ap/live?info=0"`)
		mustNotContain(t, who+"'s page", r.body, `id="ap-status"`, `id="ap-form"`)
		r = c.get("/ap/live?info=0")
		if r.status != http.StatusOK || !strings.Contains(element(r.body, "agent-state"), "hx-swap-oob") || !strings.Contains(r.body, agentDownMessage) {
			t.Errorf("%s's live fragment without agent: %d %s", who, r.status, r.body)
		}
	}
	r := admin.post("/ap/deny", url.Values{"mac": {"02:00:00:00:01:00"}})
	if r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, agentDownMessage) || !strings.Contains(element(r.body, "ap-action-status"), "hx-swap-oob") {
		t.Errorf("block without agent: %d %s", r.status, r.body)
	}
}

// settingsForm is the settings as the page's form sends them.
func settingsForm(mod func(url.Values)) url.Values {
	v := url.Values{"ssid": {"DeviceManager"}, "passphrase": {""}, "security": {"wpa2-wpa3"}, "band": {"2.4ghz"},
		"channel": {"6"}, "country": {"US"}}
	if mod != nil {
		mod(v)
	}
	return v
}

// invalid is the message beside the settings form's field, or "" when the
// field is not marked.
func invalid(t *testing.T, body, id, field string) string {
	t.Helper()
	if !strings.Contains(element(body, id), "is-invalid") {
		return ""
	}
	m := regexp.MustCompile(`data-error-for="` + field + `">([^<]*)<`).FindStringSubmatch(body)
	if m == nil || m[1] == "" {
		t.Errorf("%s is marked without a message", id)
		return ""
	}
	return m[1]
}

func TestAPSettingsForm(t *testing.T) {
	t.Parallel()
	fa := newAPFake(t)
	_, admin := apClients(t, fa)
	admin.get("/ap")

	// Every bad field at once, none sent to the agent, no truncation.
	long := strings.Repeat("x", 40)
	r := admin.post("/ap/settings", settingsForm(func(v url.Values) {
		v.Set("ssid", long)
		v.Set("passphrase", "short")
		v.Set("country", "zz")
		v.Set("channel", "36")
	}))
	if r.status != http.StatusUnprocessableEntity {
		t.Fatalf("bad settings: %d, want 422", r.status)
	}
	for _, c := range []struct{ id, field, want string }{
		{"ap-f-ssid", "ssid", "Network name: must be 1 to 32 bytes, and is 40."},
		{"ap-f-passphrase", "passphrase", "Passphrase: must be 8 to 63 characters, and is 5."},
		{"ap-f-country", "country", "Country: &#34;ZZ&#34; is not a country code; enter two letters, such as US or DE."},
		{"ap-f-channel", "channel", "Channel: 36 is not a 2.4 GHz channel; choose one of the 2.4 GHz channels, or Automatic."},
	} {
		if got := invalid(t, r.body, c.id, c.field); got != c.want {
			t.Errorf("%s: %q, want %q", c.field, got, c.want)
		}
	}
	mustContain(t, "the refused form", r.body, `value="`+long+`"`, `id="ap-ssid-count">40 of 32 bytes<`, "Type the new passphrase again")
	mustNotContain(t, "the refused form", r.body, `value="short"`, `id="change-panel"`)
	if u := fa.sent(); len(u) != 0 {
		t.Errorf("refused settings reached the agent: %+v", u)
	}

	// Good settings: the change, and its panel out of band.
	r = admin.post("/ap/settings", settingsForm(func(v url.Values) {
		v.Set("ssid", "Workshop")
		v.Set("isolate", "on")
		v.Set("country", " de ")
	}))
	if r.status != http.StatusOK {
		t.Fatalf("good settings: %d\n%s", r.status, r.body)
	}
	panel := element(r.body, "change-panel")
	for _, want := range []string{`hx-swap-oob="true"`, `data-url="/api/v1/ap/changes/c2"`, `data-panel="/ap/changes/c2"`, `data-auto="1"`, `data-seconds=`} {
		if !strings.Contains(panel, want) {
			t.Errorf("change panel %q lacks %s", panel, want)
		}
	}
	mustContain(t, "the answer", r.body, `id="ap-form"`, "Applied the access point settings", `value="Workshop"`)
	sent := fa.sent()
	if len(sent) != 1 {
		t.Fatalf("updates %+v", sent)
	}
	u := sent[0]
	if *u.SSID != "Workshop" || !*u.Isolate || *u.Hidden || *u.Country != "DE" || *u.Channel != 6 || u.Passphrase != nil {
		t.Errorf("update %+v", u)
	}
	// A passphrase typed goes to the agent, and never back to the page.
	r = admin.post("/ap/settings", settingsForm(func(v url.Values) { v.Set("passphrase", "a new passphrase") }))
	if u := fa.sent()[1]; r.status != http.StatusOK || u.Passphrase == nil || *u.Passphrase != "a new passphrase" || strings.Contains(r.body, "a new passphrase") {
		t.Errorf("passphrase change: %d %+v", r.status, u)
	}

	// The agent's refusals: beside their field, or above the form.
	fa.refuse(&api.Error{Status: http.StatusBadRequest, Field: "passphrase", Message: "a 64-digit hex key works only with security wpa2; SAE needs a passphrase"})
	r = admin.post("/ap/settings", settingsForm(nil))
	if got := invalid(t, r.body, "ap-f-passphrase", "passphrase"); r.status != http.StatusUnprocessableEntity ||
		got != "Passphrase: a 64-digit hex key works only with security wpa2; SAE needs a passphrase." {
		t.Errorf("agent's field error: %d %q", r.status, got)
	}
	fa.refuse(&api.Error{Status: http.StatusConflict, Message: "the new settings are the same as the current ones"})
	r = admin.post("/ap/settings", settingsForm(nil))
	if r.status != http.StatusConflict || !strings.Contains(r.body, `id="ap-form-error">The new settings are the same as the current ones.<`) {
		t.Errorf("agent's 409: %d\n%s", r.status, r.body)
	}
}

// Once a change has ended, its panel comes with the settings in force and
// their QR code, out of band.
func TestAPChangePanel(t *testing.T) {
	t.Parallel()
	fa := newAPFake(t)
	_, admin := apClients(t, fa)
	r := admin.get("/ap/changes/c2")
	if r.status != http.StatusOK || !strings.Contains(element(r.body, "change-panel"), `data-seconds=`) || strings.Contains(r.body, `id="ap-form"`) {
		t.Errorf("pending change's panel: %d\n%s", r.status, r.body)
	}
	fa.mu.Lock()
	fa.change.Status = api.StatusRolledBack
	fa.mu.Unlock()
	r = admin.get("/ap/changes/c2")
	if !strings.Contains(element(r.body, "change-panel"), `data-status="rolled_back"`) || !strings.Contains(r.body, "the access point settings are as before") {
		t.Errorf("rolled-back change's panel:\n%s", r.body)
	}
	for _, id := range []string{"ap-form", "ap-join"} {
		if !strings.Contains(element(r.body, id), `hx-swap-oob="true"`) {
			t.Errorf("%s not out of band: %q", id, element(r.body, id))
		}
	}
	mustContain(t, "the ended change's answer", r.body, `id="ap-f-ssid" value="DeviceManager"`, `id="ap-qr"`)
	mustNotContain(t, "the ended change's answer", r.body, fakePassphrase)
	if r := admin.get("/ap/changes/nope"); !strings.Contains(element(r.body, "change-panel"), `data-status="unknown"`) {
		t.Errorf("unknown change's panel:\n%s", r.body)
	}
}

// Blocking and allowing from the buttons and the block form: the answer
// carries the deny list, the clients and a sentence; a bad address typed
// is marked beside the field with the agent's words.
func TestAPBlock(t *testing.T) {
	t.Parallel()
	fa := newAPFake(t)
	_, admin := apClients(t, fa)
	admin.get("/ap")

	action := func(body string) string {
		m := regexp.MustCompile(`id="ap-action-status"[^>]*>(?:<div class="alert alert-(\w+)[^>]*>([^<]*)</div>)?</div>`).FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no action status in\n%s", body)
		}
		return strings.TrimSpace(m[1] + " " + m[2])
	}
	r := admin.post("/ap/deny", url.Values{"mac": {""}, "from": {"form"}})
	if got := invalid(t, r.body, "ap-block-mac", "mac"); r.status != http.StatusUnprocessableEntity || !strings.HasPrefix(got, "Enter the MAC address") {
		t.Errorf("empty MAC: %d %q", r.status, got)
	}
	r = admin.post("/ap/deny", url.Values{"mac": {"nonsense"}, "from": {"form"}})
	if got := invalid(t, r.body, "ap-block-mac", "mac"); r.status != http.StatusUnprocessableEntity ||
		got != "&#34;nonsense&#34; is not a MAC address such as 02:00:00:00:01:00." || action(r.body) != "" {
		t.Errorf("bad MAC typed: %d %q, action %q", r.status, got, action(r.body))
	}
	if !strings.Contains(r.body, `value="nonsense"`) {
		t.Errorf("the bad MAC is not kept in the field")
	}
	// From a button there is no field to mark: the sentence says it.
	r = admin.post("/ap/deny", url.Values{"mac": {"nonsense"}})
	if got := action(r.body); r.status != http.StatusUnprocessableEntity || !strings.HasPrefix(got, "danger ") || !strings.Contains(got, "is not a MAC address") {
		t.Errorf("bad MAC from a button: %d %q", r.status, got)
	}

	r = admin.post("/ap/deny", url.Values{"mac": {"02-00-00-00-02-00"}, "from": {"form"}})
	if r.status != http.StatusOK || action(r.body) != "success 02:00:00:00:02:00 was disconnected and is blocked until you allow it again." {
		t.Fatalf("block: %d %q", r.status, action(r.body))
	}
	for _, id := range []string{"ap-clients-part", "ap-denied"} {
		if !strings.Contains(element(r.body, id), `hx-swap-oob="true"`) {
			t.Errorf("%s not out of band: %q", id, element(r.body, id))
		}
	}
	if !strings.Contains(element(r.body, "ap-action-status"), `hx-swap-oob="innerHTML"`) {
		t.Errorf("the action status is not swapped inside its live region")
	}
	mustContain(t, "the block's answer", r.body, `<li class="list-group-item d-flex align-items-center gap-2" data-mac="02:00:00:00:02:00">`,
		`data-allow="02:00:00:00:02:00"`, `tr data-mac="02:00:00:00:01:00"`, `id="ap-block-mac" value=""`)
	mustNotContain(t, "the block's answer", r.body, `tr data-mac="02:00:00:00:02:00"`)

	r = admin.post("/ap/allow", url.Values{"mac": {"02:00:00:00:02:00"}})
	if r.status != http.StatusOK || action(r.body) != "success 02:00:00:00:02:00 may join again." || !strings.Contains(r.body, "No devices are blocked.") {
		t.Errorf("allow: %d %q", r.status, action(r.body))
	}
	r = admin.post("/ap/allow", url.Values{"mac": {"02:00:00:00:02:00"}})
	if got := action(r.body); r.status != http.StatusUnprocessableEntity || got != "danger The station is not on the deny list." {
		t.Errorf("allow of a device not blocked: %d %q", r.status, got)
	}
}
