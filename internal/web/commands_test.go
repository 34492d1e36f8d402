package web

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/devmgr/devmgr/internal/agent/api"
	"github.com/devmgr/devmgr/internal/auth"
)

// The Commands pages with the fake agent: who sees what, forms built from
// the parameters, the agent's refusals beside their fields, the run
// followed, the end panel, a run's page and the history.
func TestCommandsPages(t *testing.T) {
	t.Parallel()
	fa := newFakeAgent(t)
	h := newAgentHarness(t, testConfig(t.TempDir()), fa)
	h.addUser("vera", auth.Viewer, userPassword)
	h.addUser("olga", auth.Operator, userPassword)
	h.addUser("alice", auth.Admin, userPassword)
	viewer, operator, admin := h.newClient(), h.newClient(), h.newClient()
	viewer.mustLogin("vera", userPassword)
	operator.mustLogin("olga", userPassword)
	admin.mustLogin("alice", userPassword)

	if r := viewer.get("/commands"); r.status != http.StatusForbidden {
		t.Errorf("viewer's commands page = %d, want 403", r.status)
	}
	if strings.Contains(viewer.get("/").body, `id="nav-commands"`) {
		t.Errorf("a viewer sees the Commands link")
	}
	page := operator.get("/commands")
	for _, want := range []string{
		`id="nav-commands"`, `aria-current="page" href="/commands"`, `data-command="uptime"`, `data-command="ping"`,
		`hx-post="/commands/ping/run"`, `/static/js/run.js?v=`,
		// int: a number input with its bounds and default; the hint says them
		`type="number" name="count" id="ping-count" value="4" step="1" inputmode="numeric" min="1" max="10"`, "A whole number from 1 to 10.",
		// enum and interface: selects, the default chosen; no default: a choice to make
		`<select class="form-select" name="unit" id="journal-unit">`, `<option selected>a.service</option>`,
		`<select class="form-select" name="iface" id="journal-iface">`, `<option value="">choose…</option>`,
		// string: its pattern and length
		`maxlength="8"`, "Matches ^[a-z]&#43;$; at most 8 characters.", "A host name, such as example.com.",
	} {
		if !strings.Contains(page.body, want) {
			t.Errorf("operator's commands page lacks %s", want)
		}
	}
	if strings.Contains(page.body, `data-command="reboot"`) || strings.Contains(page.body, "hx-confirm") {
		t.Errorf("the operator sees the admin's command")
	}
	apage := admin.get("/commands")
	if !strings.Contains(apage.body, `hx-confirm="Run Reboot? Restarts the device."`) {
		t.Errorf("reboot does not ask first")
	}
	if regexp.MustCompile(`<script>|<script [^>]*>[^<]|<style|style="|onclick=`).MatchString(apage.body) {
		t.Errorf("the commands page has inline script or style")
	}

	run := func(id string, vals url.Values) response {
		t.Helper()
		return operator.post("/commands/"+id+"/run", vals)
	}
	// Every bad field marked beside its input, in words about the field.
	r := run("ping", url.Values{"count": {"11"}, "host": {""}})
	if r.status != http.StatusUnprocessableEntity {
		t.Fatalf("bad ping = %d %s", r.status, r.body)
	}
	for _, want := range []string{`id="ping-count" value="11"`, `is-invalid" type="number" name="count"`, "Count: 11 is outside 1..10.",
		`is-invalid" name="host"`, "Host is required."} {
		if !strings.Contains(r.body, want) {
			t.Errorf("the refused form lacks %s:\n%s", want, r.body)
		}
	}
	if strings.Contains(r.body, "params.") || strings.Contains(r.body, "data-run=") {
		t.Errorf("the refused form names the wire's field or follows a run:\n%s", r.body)
	}
	// A good run: the form again, following run 42 from its first line.
	r = run("ping", url.Values{"count": {""}, "host": {"example.com"}})
	if r.status != http.StatusOK || !strings.Contains(r.body, `data-run="42" data-end-url="/commands/runs/42/end" data-events="/api/v1/runs/42/events" data-cancel-url="/api/v1/runs/42/cancel"`) ||
		!strings.Contains(r.body, `id="ping-host" value="example.com"`) {
		t.Errorf("a good run = %d:\n%s", r.status, r.body)
	}
	// Running already: said above the form, and that run followed.
	r = run("ping", url.Values{"host": {"taken"}})
	if r.status != http.StatusConflict || !strings.Contains(r.body, "ping is already running for you (run 5)") || !strings.Contains(r.body, `data-events="/api/v1/runs/5/events"`) {
		t.Errorf("running already = %d:\n%s", r.status, r.body)
	}
	r = run("ping", url.Values{"host": {"busy"}})
	if r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, "4 commands are running, the most that may run at once") {
		t.Errorf("too many = %d:\n%s", r.status, r.body)
	}
	if r := run("reboot", nil); r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "There is no command reboot that you may run.") {
		t.Errorf("an admin's command run by an operator = %d:\n%s", r.status, r.body)
	}
	fa.mu.Lock()
	calls := slices.Clone(fa.calls)
	fa.mu.Unlock()
	if !slices.Contains(calls, "run ping olga map[host:example.com]") || !slices.Contains(calls, "run ping olga map[count:11]") {
		t.Errorf("agent calls %q: an empty field is left out, for its default", calls)
	}

	// The end panel, and a run's page with its output as text.
	if r := operator.get("/commands/runs/42/end"); r.status != http.StatusOK || !strings.Contains(r.body, `data-status="ok"`) ||
		!strings.Contains(r.body, `<span class="mono" data-exit-code>0</span>`) || !strings.Contains(r.body, "1.2 s") || strings.Contains(r.body, "<html") {
		t.Errorf("end panel = %d:\n%s", r.status, r.body)
	}
	r = operator.get("/commands/runs/42")
	for _, want := range []string{"Run 42 of ping", "count=2 host=example.com", "olga (operator) from", "192.0.2.7",
		"64 bytes from example.com\n&lt;b&gt;not markup&lt;/b&gt;\n</pre>", `data-copy`, `/static/js/run.js?v=`} {
		if !strings.Contains(r.body, want) {
			t.Errorf("run page lacks %q", want)
		}
	}
	if strings.Contains(r.body, "data-events") {
		t.Errorf("an ended run is followed")
	}
	if r := operator.get("/commands/runs/5"); !strings.Contains(r.body, `data-events="/api/v1/runs/5/events"`) || !strings.Contains(r.body, "Running…") {
		t.Errorf("a running run's page does not follow it:\n%s", r.body)
	}
	if r := operator.get("/commands/runs/404"); r.status != http.StatusNotFound {
		t.Errorf("a run that is not there = %d", r.status)
	}

	// The history: the operator's own (the agent decides), an admin's
	// with a user filter; pages.
	r = operator.get("/commands/history?command=ping&status=ok&page=2")
	for _, want := range []string{"120 runs of yours.", `data-run-row="42"`, `href="/commands/runs/42"`, "count=2 host=example.com",
		`id="runs-prev"`, `id="runs-next"`, `<option selected>ping</option>`, `<option selected>ok</option>`} {
		if !strings.Contains(r.body, want) {
			t.Errorf("operator's history lacks %s", want)
		}
	}
	if strings.Contains(r.body, `id="f-user"`) {
		t.Errorf("an operator may filter by user")
	}
	if r := admin.get("/commands/history?user=olga"); !strings.Contains(r.body, `id="f-user" name="user" value="olga"`) || strings.Contains(r.body, "of yours") {
		t.Errorf("admin's history:\n%s", r.body)
	}
	fa.mu.Lock()
	defer fa.mu.Unlock()
	if !slices.Contains(fa.calls, "runs olga {Command:ping User: Status:ok Limit:50 Offset:50}") ||
		!slices.Contains(fa.calls, "runs alice {Command: User:olga Status: Limit:50 Offset:0}") {
		t.Errorf("history queries %q", fa.calls)
	}
}

// streamingAgent is fakeAgent whose transport reaches an HTTP server that
// writes a run's events one at a time: the first, then the rest once the
// test says.
type streamingAgent struct {
	fakeAgent
	tr      http.RoundTripper
	lastIDs chan string
	more    chan struct{}
}

func (s *streamingAgent) Transport() http.RoundTripper { return s.tr }

// The console passes an event stream on as it comes (text/event-stream,
// each event flushed, never buffered to the end), with the browser's
// Last-Event-ID and nothing else of its headers.
func TestProxyEventStream(t *testing.T) {
	t.Parallel()
	sa := &streamingAgent{lastIDs: make(chan string, 1), more: make(chan struct{})}
	agentSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/runs/7/events" || r.Header.Get(api.HeaderUser) != "olga" {
			t.Errorf("agent got %s as %q", r.URL.Path, r.Header.Get(api.HeaderUser))
		}
		sa.lastIDs <- r.Header.Get(api.HeaderLastEventID)
		w.Header().Set("Content-Type", "text/event-stream")
		w.Write([]byte("id: 3\nevent: line\ndata: three\n\n"))
		w.(http.Flusher).Flush()
		<-sa.more
		w.Write([]byte("id: 4\nevent: line\ndata: four\n\nevent: end\ndata: {}\n\n"))
	}))
	t.Cleanup(agentSrv.Close)
	sa.tr = &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "tcp", agentSrv.Listener.Addr().String())
	}}
	h := newAgentHarness(t, testConfig(t.TempDir()), sa)
	h.addUser("olga", auth.Operator, userPassword)
	c := h.newClient()
	c.mustLogin("olga", userPassword)

	req, _ := http.NewRequest("GET", h.ts.URL+"/api/v1/runs/7/events", nil)
	req.Header.Set(api.HeaderLastEventID, "2")
	req.Header.Set("X-Devmgr-Background", "1")
	resp, err := c.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if got := <-sa.lastIDs; got != "2" {
		t.Errorf("the agent got Last-Event-ID %q, want 2", got)
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || ct != "text/event-stream" || resp.Header.Get("X-Accel-Buffering") != "no" {
		t.Fatalf("events through the console: %d %q %v", resp.StatusCode, ct, resp.Header)
	}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	next := func() string {
		select {
		case l := <-lines:
			return l
		case <-time.After(10 * time.Second):
			t.Fatal("no event within 10 s: the console holds the stream back")
			return ""
		}
	}
	// The first event arrives while the agent still holds the rest.
	for _, want := range []string{"id: 3", "event: line", "data: three", ""} {
		if got := next(); got != want {
			t.Errorf("line %q, want %q", got, want)
		}
	}
	close(sa.more)
	var rest []string
	for l := range lines {
		rest = append(rest, l)
	}
	if want := []string{"id: 4", "event: line", "data: four", "", "event: end", "data: {}", ""}; !slices.Equal(rest, want) {
		t.Errorf("the rest %q, want %q", rest, want)
	}
}
