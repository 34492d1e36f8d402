package web

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/devmgr/devmgr/internal/agent/api"
	"github.com/devmgr/devmgr/internal/auth"
	"github.com/devmgr/devmgr/internal/store"
)

// resetAgent is the fake agent with another overlay or run, or a
// StartReset that the agent refuses.
type resetAgent struct {
	*fakeAgent
	info    func(*api.SystemReset)
	refusal error
}

func (r resetAgent) SystemReset(ctx context.Context, a api.Actor) (api.SystemReset, error) {
	info, err := r.fakeAgent.SystemReset(ctx, a)
	if r.info != nil {
		r.info(&info)
	}
	return info, err
}

func (r resetAgent) StartReset(ctx context.Context, a api.Actor, req api.ResetRequest) (api.ResetRun, error) {
	run, err := r.fakeAgent.StartReset(ctx, a, req)
	if r.refusal != nil {
		return api.ResetRun{}, r.refusal
	}
	return run, err
}

func newResetHarness(t *testing.T, ag Agent) *harness {
	t.Helper()
	h := newAgentHarness(t, testConfig(t.TempDir()), ag)
	h.addUser("alice", auth.Admin, userPassword)
	h.addUser("olga", auth.Operator, userPassword)
	return h
}

// resetClients is a console on the fake agent fa, with an admin and an
// operator signed in.
func resetClients(t *testing.T) (fa *fakeAgent, h *harness, admin, operator *client) {
	t.Helper()
	fa = newFakeAgent(t)
	h = newResetHarness(t, fa)
	admin, operator = h.newClient(), h.newClient()
	admin.mustLogin("alice", userPassword)
	operator.mustLogin("olga", userPassword)
	return fa, h, admin, operator
}

// The System page shows an admin the overlay, what differs from the
// factory layer, the last reset with its verification and the form; the
// nav leads there; no other role sees it.
func TestSystemPage(t *testing.T) {
	t.Parallel()
	_, _, admin, operator := resetClients(t)
	r := admin.get("/system")
	if r.status != http.StatusOK {
		t.Fatalf("GET /system = %d", r.status)
	}
	mustContain(t, "the page", r.body,
		`id="nav-system">System</a>`, `class="nav-link active" aria-current="page" href="/system" id="tab-reset">Reset</a>`,
		`href="/system/backups" id="tab-backups">Backups</a>`,
		`id="overlay-state">mounted</span>`, `id="overlay-lower">/mnt/lower</dd>`, `id="overlay-upper">/mnt/upper</dd>`,
		`id="overlay-options">rw,nosuid,lowerdir=/mnt/lower,upperdir=/mnt/upper,workdir=/mnt/work</dd>`,
		`id="overlay-usage">3 files and 2 directories, 2.0 KiB</dd>`,
		`id="changes-summary">1 added, 1 changed, 1 deleted`, `<tr data-dir="/etc">`, `<li>/etc/old.conf</li>`,
		`href="/api/v1/system/reset/changes" download id="changes-download"`,
		`id="reset-run" data-status="done"`, `value="100" aria-label="Reset progress"`, `<table class="table table-sm mb-0 table-stack" id="verification" data-ok="true">`,
		`<tr data-check="tree">`, `Type the host name, <span class="mono">testhost</span>`,
		`name="keep_settings" id="reset-keep" checked`, `the console starts afresh`)
	if strings.Contains(r.body, `hx-trigger=`) {
		t.Error("the page polls with no reset running")
	}
	live := admin.request(http.MethodGet, "/system/live", nil, map[string]string{"HX-Request": "true"})
	if live.status != http.StatusOK || !strings.HasPrefix(strings.TrimSpace(live.body), `<div id="system-body"`) || strings.Contains(live.body, "<nav") {
		t.Errorf("GET /system/live = %d %.200s", live.status, live.body)
	}
	for _, p := range []string{"/system", "/system/live", "/api/v1/system/reset", "/api/v1/system/reset/changes"} {
		if r := operator.get(p); r.status != http.StatusForbidden {
			t.Errorf("an operator's GET %s = %d", p, r.status)
		}
	}
	if r := operator.get("/"); strings.Contains(r.body, "nav-system") {
		t.Error("an operator's nav leads to the System page")
	}

	// The changes' download and the progress come from the agent.
	dl := admin.get("/api/v1/system/reset/changes")
	if dl.status != http.StatusOK || dl.header.Get("Content-Type") != "application/gzip" ||
		dl.header.Get("Content-Disposition") != `attachment; filename="testhost-changes.tar.gz"` || !strings.HasPrefix(dl.body, "\x1f\x8b") {
		t.Errorf("the download: %d %v", dl.status, dl.header)
	}
	ev := admin.get("/api/v1/system/reset/events?after=0")
	if ev.status != http.StatusOK || !strings.Contains(ev.body, `"message":"the reset is done"`) {
		t.Errorf("the events: %d %s", ev.status, ev.body)
	}
}

// A reset that runs is polled every second, without a form, and the page
// has the note its script shows while the console is away; one that
// failed names its phase and what to do. A device without a reset says
// how to set one up.
func TestSystemPageStates(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		info func(*api.SystemReset)
		want []string
		not  []string
	}{
		"running": {func(i *api.SystemReset) {
			i.Run.Status, i.Run.Phase, i.Run.Percent = api.ResetRunning, api.PhaseWiping, 44
		}, []string{`hx-get="/system/live" hx-trigger="every 1s"`, `data-offline>The console is restarting`, `Running: Wiping the upper layer.`,
			`value="44" aria-label="Reset progress"`}, []string{`id="reset-form"`}},
		"failed": {func(i *api.SystemReset) {
			i.Run.Status, i.Run.Phase, i.Run.Error = api.ResetFailed, api.PhaseUnmount, "unmounting: /mnt/merged is busy: held by app (pid 42)"
			i.Run.Hint, i.Run.Holders = "stop these processes, then reset again", []api.ResetHolder{{PID: 42, Command: "app", Uses: []string{"cwd"}}}
		}, []string{`Failed in phase unmounting the overlay.`, `/mnt/merged is busy: held by app (pid 42)`,
			`<strong>What to do:</strong> stop these processes, then reset again`, `<span class="mono">app</span> (pid 42)`, `id="reset-form"`}, []string{`hx-trigger=`}},
		"none": {func(i *api.SystemReset) {
			*i = api.SystemReset{Mode: "none", Hostname: fakeResetHost}
		}, []string{`id="reset-none"`, `<code>reset.mode</code> is <code>none</code>`, `devmgr provision`}, []string{`id="reset-form"`, `id="overlay"`}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := newResetHarness(t, resetAgent{fakeAgent: newFakeAgent(t), info: tc.info})
			c := h.newClient()
			c.mustLogin("alice", userPassword)
			r := c.get("/system")
			mustContain(t, "the page", r.body, tc.want...)
			mustNotContain(t, "the page", r.body, tc.not...)
		})
	}
}

// Bad reset requests, from the page and the API, are refused with each
// bad field named, and the agent is never asked: a wrong password (which
// counts against the login throttle), a wrong host name, a non-admin, a
// token; the password is never forwarded.
func TestSystemResetRefused(t *testing.T) {
	t.Parallel()
	fa, h, admin, operator := resetClients(t)
	admin.get("/system")
	htmx := map[string]string{"HX-Request": "true", "Content-Type": "application/x-www-form-urlencoded"}
	form := func(c *client, v url.Values) response {
		v.Set("csrf_token", c.csrf)
		return c.request(http.MethodPost, "/system/reset", strings.NewReader(v.Encode()), htmx)
	}

	r := form(admin, url.Values{"password": {"wrong password"}, "confirm": {"otherhost"}, "keep_settings": {"on"}})
	if r.status != http.StatusUnprocessableEntity ||
		!strings.Contains(r.body, `<div class="invalid-feedback" id="reset-password-error" data-error-for="password">This is not your current password.</div>`) ||
		!strings.Contains(r.body, `data-error-for="confirm">This is not the device&#39;s host name: type testhost.</div>`) ||
		!strings.Contains(r.body, `value="otherhost"`) || strings.Contains(r.body, "wrong password") {
		t.Errorf("wrong password and host name: %d\n%s", r.status, r.body)
	}
	r = form(admin, url.Values{"password": {userPassword}})
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, `data-error-for="confirm">Type the device&#39;s host name, testhost, to confirm.</div>`) ||
		!strings.Contains(r.body, `data-error-for="password"></div>`) {
		t.Errorf("no host name: %d\n%s", r.status, r.body)
	}
	if r := form(operator, url.Values{"password": {userPassword}, "confirm": {fakeResetHost}}); r.status != http.StatusForbidden {
		t.Errorf("an operator's reset: %d", r.status)
	}
	j := admin.api(http.MethodPost, "/api/v1/system/reset", map[string]any{"password": "", "confirm": "x"})
	got := decode[apiError](t, j)
	if j.status != http.StatusBadRequest || got.Field != "password" ||
		!slices.Equal([]string{"password", "confirm"}, []string{got.Fields[0].Field, got.Fields[1].Field}) {
		t.Errorf("the API's refusal: %d %s", j.status, j.body)
	}
	if r := operator.api(http.MethodPost, "/api/v1/system/reset", map[string]any{"password": userPassword, "confirm": fakeResetHost}); r.status != http.StatusForbidden {
		t.Errorf("an operator's API reset: %d", r.status)
	}
	h.addToken("ci", auth.Admin, "dmt_reset_admin_token")
	tok := h.newClient()
	r = tok.request(http.MethodPost, "/api/v1/system/reset", strings.NewReader(`{"password":"x","confirm":"testhost"}`),
		map[string]string{"Authorization": "Bearer dmt_reset_admin_token", "Content-Type": "application/json"})
	if r.status != http.StatusForbidden || !strings.Contains(r.body, "An API token has no password") {
		t.Errorf("a token's reset: %d %s", r.status, r.body)
	}
	if s := fa.startResets(); len(s) > 0 {
		t.Errorf("a refused reset reached the agent: %q", s)
	}
	entries, err := h.db.ListAudit(context.Background(), store.AuditFilter{Action: api.ActReset})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(entries, func(e store.AuditEntry) bool {
		return e.User == "alice" && e.Result == resultFail &&
			strings.Contains(e.Detail, "password: This is not your current password.; confirm: This is not the device's host name")
	}) {
		t.Errorf("the refusals' audit entries: %+v", entries)
	}

	// Good: the agent gets the host name and keep settings, never the
	// password; the page shows the queued run.
	r = form(admin, url.Values{"password": {userPassword}, "confirm": {" TestHost "}})
	if r.status != http.StatusOK || !strings.Contains(r.body, `id="reset-run" data-status="queued"`) ||
		!strings.Contains(r.body, `hx-trigger="every 1s"`) || strings.Contains(r.body, `id="reset-form"`) {
		t.Errorf("the reset's answer: %d\n%s", r.status, r.body)
	}
	j = admin.api(http.MethodPost, "/api/v1/system/reset", map[string]any{"password": userPassword, "confirm": fakeResetHost})
	if run := decode[api.ResetRun](t, j); j.status != http.StatusAccepted || run.Status != api.ResetQueued {
		t.Errorf("the API's reset: %d %s", j.status, j.body)
	}
	want := []string{`start reset alice confirm=TestHost keep=false password=""`, `start reset alice confirm=testhost keep=default password=""`}
	if got := fa.startResets(); !slices.Equal(want, got) {
		t.Errorf("the agent got %q, want %q", got, want)
	}
}

// The agent's refusal (a reset runs already) is shown as it says it, and
// answered with its status.
func TestSystemResetBusy(t *testing.T) {
	t.Parallel()
	busy := &api.Error{Status: http.StatusConflict, Message: "a factory reset is already running: reset 0123456789abcdef, asked for by bob; wait for it to end"}
	h := newResetHarness(t, resetAgent{fakeAgent: newFakeAgent(t), refusal: busy})
	c := h.newClient()
	c.mustLogin("alice", userPassword)
	j := c.api(http.MethodPost, "/api/v1/system/reset", map[string]any{"password": userPassword, "confirm": fakeResetHost})
	if got := decode[apiError](t, j); j.status != http.StatusConflict || got.Error != "A factory reset is already running: reset 0123456789abcdef, asked for by bob; wait for it to end." {
		t.Errorf("a second reset: %d %s", j.status, j.body)
	}
	c.get("/system")
	r := c.post("/system/reset", url.Values{"password": {userPassword}, "confirm": {fakeResetHost}})
	if r.status != http.StatusConflict || !strings.Contains(r.body, `id="reset-error">A factory reset is already running`) {
		t.Errorf("a second reset from the page: %d\n%s", r.status, r.body)
	}
}
