package agent

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/devmgr/devmgr/internal/agent/api"
	"github.com/devmgr/devmgr/internal/auth"
	"github.com/devmgr/devmgr/internal/commands"
	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/testing/injection"
	"github.com/devmgr/devmgr/internal/testing/testutil"
)

func i64(n int64) *int64 { return &n }

var (
	everyone  = []auth.Role{auth.Viewer, auth.Operator, auth.Admin}
	operators = []auth.Role{auth.Operator, auth.Admin}
)

// cmd is a catalog entry with the catalog's defaults.
func cmd(id string, roles []auth.Role, argv ...string) config.Command {
	return config.Command{ID: id, Title: strings.ToUpper(id[:1]) + id[1:], Argv: argv, Roles: roles,
		Timeout: config.DefaultCommandTimeout, OutputLimit: config.DefaultOutputLimit}
}

// startCommands serves an agent whose catalog is catalog, on interfaces
// lo, eth0 and eth1 (the LAN); mod may change the options.
func startCommands(t testing.TB, catalog []config.Command, mod func(*commandsOptions)) (*testAgent, *Commands) {
	t.Helper()
	ta := newTestAgent(t)
	o := commandsOptions{
		Catalog: catalog, StateDir: t.TempDir(), Retention: commands.Retention{KeepRuns: 1000, MaxBytes: 1 << 30},
		LAN: []string{"eth1"}, Links: func() ([]string, error) { return []string{"lo", "eth0", "eth1"}, nil },
		Audit: ta.audit, Log: discard(), Grace: 200 * time.Millisecond,
	}
	if mod != nil {
		mod(&o)
	}
	c, err := openCommands(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	ta.start(func(cfg *Config) { cfg.Commands = c })
	t.Cleanup(func() { c.Close() }) // after the server's stop (cleanups run last first)
	return ta, c
}

// follow reads a run to its end through the client.
func follow(t *testing.T, ta *testAgent, a Actor, id int64) ([]string, api.RunResult) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var lines []string
	res, err := ta.client.FollowRun(ctx, a, id, 0, func(_ int64, s string) { lines = append(lines, s) })
	if err != nil {
		t.Fatalf("following run %d: %v", id, err)
	}
	return lines, res
}

func TestCommandRoles(t *testing.T) {
	block := testutil.Script(t, "echo started; exec sleep 30")
	catalog := []config.Command{
		cmd("look", everyone, "/usr/bin/true"),
		cmd("probe", operators, block),
		cmd("reboot", []auth.Role{auth.Admin}, "/usr/bin/true"),
		cmd("ops-only", []auth.Role{auth.Operator}, "/usr/bin/true"), // rank is not enough
	}
	ta, _ := startCommands(t, catalog, nil)
	ctx := context.Background()
	c := ta.client
	ids := func(a Actor) []string {
		t.Helper()
		list, err := c.Commands(ctx, a)
		if err != nil {
			t.Fatalf("commands as %s: %v", a.Role, err)
		}
		var out []string
		for _, cm := range list {
			out = append(out, cm.ID)
		}
		return out
	}
	for _, tc := range []struct {
		a    Actor
		want []string
	}{
		{viewer, []string{"look"}},
		{operator, []string{"look", "probe", "ops-only"}},
		{admin, []string{"look", "probe", "reboot"}},
	} {
		if diff := cmp.Diff(tc.want, ids(tc.a)); diff != "" {
			t.Errorf("commands %s may run (-want +got):\n%s", tc.a.Role, diff)
		}
	}

	for _, tc := range []struct {
		a       Actor
		command string
	}{{viewer, "probe"}, {viewer, "reboot"}, {operator, "reboot"}, {admin, "ops-only"}} {
		// The console asks for a role that may not: it forgot its check,
		// or forged the role; the agent refuses either way.
		_, err := c.StartRun(ctx, tc.a, tc.command, nil)
		if !IsStatus(err, http.StatusForbidden) || !strings.Contains(err.Error(), "may not run "+tc.command) {
			t.Errorf("%s runs %s: %v, want 403", tc.a.Role, tc.command, err)
		}
	}
	if e, ok := ta.audit.find(api.ActCommandRun, "denied"); !ok || e.User != viewer.User || e.Target != "probe" {
		t.Errorf("audit of the refused run: %+v %v", e, ok)
	}
	// A role that is none of the three never reaches the catalog.
	forged := Actor{User: "mallory", Role: "root", Source: "192.0.2.66"}
	if code, _ := raw(t, ta.socket, "POST", "/v1/commands/look/runs", &forged, `{}`); code != http.StatusBadRequest {
		t.Errorf("role root: %d, want 400", code)
	}
	if page, err := ta.srv.cfg.Commands.history.List(ctx, commands.Filter{}); err != nil || page.Total != 0 {
		t.Errorf("refused runs were recorded: %d %v", page.Total, err)
	}

	// Allowed, each by a role the command lists.
	for _, tc := range []struct {
		a       Actor
		command string
	}{{viewer, "look"}, {operator, "ops-only"}, {admin, "reboot"}} {
		st, err := c.StartRun(ctx, tc.a, tc.command, nil)
		if err != nil {
			t.Fatalf("%s runs %s: %v", tc.a.Role, tc.command, err)
		}
		if _, res := follow(t, ta, tc.a, st.RunID); res.Status != api.RunOK {
			t.Errorf("%s's run of %s: %+v", tc.a.Role, tc.command, res)
		}
	}
}

// 409 names the run to follow; 429 says why in a sentence; who sees
// which runs; cancel; every start and end audited.
func TestCommandLimits(t *testing.T) {
	block := testutil.Script(t, "echo started; exec sleep 30")
	ta, _ := startCommands(t, []config.Command{cmd("block", operators, block)}, func(o *commandsOptions) { o.MaxRuns = 2 })
	ctx := context.Background()
	c := ta.client
	oscar2 := Actor{User: "olga", Role: auth.Operator, Source: "192.0.2.53"}

	first, err := c.StartRun(ctx, operator, "block", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.StartRun(ctx, operator, "block", nil)
	if e, ok := api.AsError(err); !ok || e.Status != http.StatusConflict || e.RunID != first.RunID || !strings.Contains(e.Message, "already running for you") {
		t.Errorf("second run by the same user: %v (run %d), want 409 naming run %d", err, e.RunID, first.RunID)
	}
	second, err := c.StartRun(ctx, oscar2, "block", nil)
	if err != nil {
		t.Fatalf("another user's run: %v", err)
	}
	_, err = c.StartRun(ctx, admin, "block", nil)
	if e, ok := api.AsError(err); !ok || e.Status != http.StatusTooManyRequests || e.Message != "2 commands are running, the most that may run at once; try again when one has ended" {
		t.Errorf("a third run at once: %v, want 429 with the sentence", err)
	}

	// An operator sees their own runs only; an admin every run.
	if _, err := c.Run(ctx, oscar2, first.RunID); !IsStatus(err, http.StatusNotFound) {
		t.Errorf("another operator's run: %v, want 404", err)
	}
	if _, err := c.CancelRun(ctx, oscar2, first.RunID); !IsStatus(err, http.StatusNotFound) {
		t.Errorf("cancelling another operator's run: %v, want 404", err)
	}
	if r, err := c.Run(ctx, admin, first.RunID); err != nil || r.User != operator.User || r.Status != api.RunRunning || r.ExitCode != -1 {
		t.Errorf("admin reads the run: %+v %v", r, err)
	}
	if l, err := c.Runs(ctx, operator, api.RunQuery{}); err != nil || l.Total != 1 || l.Runs[0].ID != first.RunID {
		t.Errorf("operator's list: %+v %v", l, err)
	}
	if _, err := c.Runs(ctx, operator, api.RunQuery{User: oscar2.User}); !IsStatus(err, http.StatusForbidden) {
		t.Errorf("operator lists another's runs: %v, want 403", err)
	}
	if l, err := c.Runs(ctx, admin, api.RunQuery{Status: api.RunRunning}); err != nil || l.Total != 2 || l.Runs[0].ID != second.RunID {
		t.Errorf("admin's list of the running: %+v %v", l, err)
	}
	for _, q := range []string{"status=done", "limit=0", "limit=501", "offset=-1", "limit=x"} {
		if code, e := raw(t, ta.socket, "GET", "/v1/runs?"+q, &admin, ""); code != http.StatusBadRequest || e.Field == "" {
			t.Errorf("GET /v1/runs?%s = %d %+v, want 400 naming the field", q, code, e)
		}
	}

	// Cancel: the run ends as canceled, and both are audited.
	r, err := c.CancelRun(ctx, operator, first.RunID)
	if err != nil || r.Status != api.RunCanceled || r.Error != "canceled by "+operator.User {
		t.Errorf("cancel: %+v %v", r, err)
	}
	if _, err := c.CancelRun(ctx, operator, first.RunID); !IsStatus(err, http.StatusConflict) {
		t.Errorf("cancelling an ended run: %v, want 409", err)
	}
	if r, err := c.CancelRun(ctx, admin, second.RunID); err != nil || r.Status != api.RunCanceled {
		t.Errorf("admin cancels another's run: %+v %v", r, err)
	}
	want := map[string]bool{}
	for _, e := range ta.audit.all() {
		if e.Action == api.ActCommandRun || e.Action == api.ActCommandCancel {
			want[fmt.Sprintf("%s %s %s %s", e.User, e.Action, e.Target, e.Result)] = true
			if e.Source == "" {
				t.Errorf("audit entry without its source: %+v", e)
			}
		}
	}
	for _, w := range []string{
		"oscar command.run block ok", "olga command.run block ok", // the starts
		"oscar command.run block invalid", "alice command.run block invalid", // 409 and 429: refused as they stood
		"oscar command.cancel block ok", "alice command.cancel block ok", "olga command.cancel run " + strconv.FormatInt(first.RunID, 10) + " invalid",
		"oscar command.run block failed", "olga command.run block failed", // the ends, cancelled
	} {
		if !want[w] {
			t.Errorf("no audit entry %q in %v", w, want)
		}
	}
	if e, ok := ta.audit.find(api.ActCommandRun, "failed"); !ok || !strings.Contains(e.Detail, "canceled by oscar") {
		t.Errorf("audit detail: %+v", e)
	}
}

// Parameters through the API: their types and bounds for forms, JSON
// numbers for ints, every bad value named at once, and a program that is
// not installed said in words.
func TestCommandParams(t *testing.T) {
	echo := testutil.Script(t, `for a; do echo "$a"; done`)
	typed := cmd("typed", operators, echo, "{mode}", "--count={count}", "{host}", "{iface}", "{lan}", "--name={text}")
	typed.Confirm = true
	typed.Params = config.Params{
		{Name: "mode", Type: config.ParamEnum, Title: "Mode", Values: []string{"fast", "slow"}, Default: "fast"},
		{Name: "count", Type: config.ParamInt, Min: i64(1), Max: i64(10)},
		{Name: "host", Type: config.ParamHostname},
		{Name: "iface", Type: config.ParamInterface},
		{Name: "lan", Type: config.ParamInterface, LANOnly: true},
		{Name: "text", Type: config.ParamString, Pattern: "^[a-z]+$", MaxLength: 8},
	}
	gone := cmd("gone", operators, "/nonexistent/devmgr-test-program")
	ta, c := startCommands(t, []config.Command{typed, gone}, nil)
	ctx := context.Background()

	list, err := ta.client.Commands(ctx, operator)
	if err != nil || len(list) != 2 {
		t.Fatalf("commands: %+v %v", list, err)
	}
	want := api.Command{ID: "typed", Title: "Typed", Confirm: true, TimeoutSeconds: 30, Params: []api.CommandParam{
		{Name: "mode", Title: "Mode", Type: "enum", Default: "fast", Choices: []string{"fast", "slow"}},
		{Name: "count", Title: "count", Type: "int", Min: i64(1), Max: i64(10)},
		{Name: "host", Title: "host", Type: "hostname"},
		{Name: "iface", Title: "iface", Type: "interface", Choices: []string{"eth0", "eth1", "lo"}},
		{Name: "lan", Title: "lan", Type: "interface", LANOnly: true, Choices: []string{"eth1"}},
		{Name: "text", Title: "text", Type: "string", Pattern: "^[a-z]+$", MaxLength: 8},
	}}
	if diff := cmp.Diff(want, list[0]); diff != "" {
		t.Errorf("typed as listed (-want +got):\n%s", diff)
	}

	body := `{"params": {"count": 11, "host": "-x", "iface": "eth9", "lan": "eth0", "text": "ABC", "zone": "x"}}`
	code, e := raw(t, ta.socket, "POST", "/v1/commands/typed/runs", &operator, body)
	var got []string
	for _, f := range e.Fields {
		got = append(got, f.Field+": "+f.Message)
	}
	wantFields := []string{
		"params.count: 11 is outside 1..10",
		`params.host: "-x" must not start with -`,
		`params.iface: "eth9": the device has no such interface`,
		`params.lan: "eth0" is not a LAN interface (eth1)`,
		`params.text: "ABC" does not match ^[a-z]+$`,
		"params.zone: is not a parameter of typed",
	}
	if code != http.StatusBadRequest || e.Field != "params.count" || !slices.Equal(got, wantFields) {
		t.Errorf("bad params = %d %s %v, want 400 with\n%s", code, e.Field, got, strings.Join(wantFields, "\n"))
	}
	for _, tc := range []struct{ body, field string }{
		{`{"params": {"count": true}}`, "params.count"},
		{`{"params": {"count": 5.5}}`, "params.count"},
		{`{"params": {"count": "5"}, "extra": 1}`, "extra"},
		{`{"params": ["x"]}`, "params"},
	} {
		if code, e := raw(t, ta.socket, "POST", "/v1/commands/typed/runs", &operator, tc.body); code != http.StatusBadRequest || e.Field != tc.field {
			t.Errorf("%s = %d %+v, want 400 naming %s", tc.body, code, e, tc.field)
		}
	}
	if code, e := raw(t, ta.socket, "POST", "/v1/commands/nope/runs", &operator, ""); code != http.StatusNotFound || e.Field != "id" {
		t.Errorf("unknown command = %d %+v, want 404", code, e)
	}

	// A whole number as JSON, the rest as text; the defaults fill in.
	code, _ = raw(t, ta.socket, "POST", "/v1/commands/typed/runs", &operator,
		`{"params": {"count": 3, "host": "example.com", "iface": "lo", "lan": "eth1", "text": "abc", "mode": null}}`)
	if code != http.StatusCreated {
		t.Fatalf("good params = %d", code)
	}
	l, err := ta.client.Runs(ctx, operator, api.RunQuery{Command: "typed"})
	if err != nil || l.Total != 1 {
		t.Fatalf("runs of typed: %+v %v", l, err)
	}
	lines, res := follow(t, ta, operator, l.Runs[0].ID)
	if res.Status != api.RunOK || !slices.Equal(lines, []string{"fast", "--count=3", "example.com", "lo", "eth1", "--name=abc"}) {
		t.Errorf("typed ran with %q: %+v", lines, res)
	}
	r, err := ta.client.Run(ctx, operator, l.Runs[0].ID)
	if err != nil || r.Params["mode"] != "fast" || r.Params["count"] != "3" || len(r.Output) != 6 || r.Argv[0] != echo || r.Source != operator.Source {
		t.Errorf("the run as recorded: %+v %v", r, err)
	}
	if e, ok := ta.audit.find(api.ActCommandRun, "ok"); !ok || !strings.Contains(e.Detail, "count=3 host=example.com iface=lo lan=eth1 mode=fast text=abc") {
		t.Errorf("the start's audit entry %+v lacks the parameters", e)
	}

	// A program that has gone: said in words, recorded as failed.
	_, err = ta.client.StartRun(ctx, operator, "gone", nil)
	if !IsStatus(err, http.StatusServiceUnavailable) || !strings.Contains(err.Error(), "/nonexistent/devmgr-test-program is not installed") {
		t.Errorf("a missing program: %v, want 503 naming it", err)
	}
	if l, err := c.history.List(ctx, commands.Filter{Command: "gone"}); err != nil || l.Total != 1 || l.Runs[0].Status != commands.StatusFailed {
		t.Errorf("the missing program's run: %+v %v", l, err)
	}
}

// The injection corpus through the HTTP API, against every parameter
// type: each payload is refused with one field error naming the
// parameter, no run is recorded, and the canary shows that nothing ran.
// Then a valid value runs, so that the canary is known to work.
func TestCommandInjectionAPI(t *testing.T) {
	canary := filepath.Join(t.TempDir(), "canary")
	prog := testutil.Script(t, "touch "+canary)
	params, valid := injection.Params, injection.Valid
	var catalog []config.Command
	for _, p := range params {
		c := cmd("corpus-"+p.Name, operators, prog, "--value={"+p.Name+"}")
		c.Params = config.Params{p}
		catalog = append(catalog, c)
	}
	ta, c := startCommands(t, catalog, nil)
	ctx := context.Background()
	n := 0
	for _, p := range params {
		for _, inj := range injection.Payloads {
			payload := injection.Expand(inj, valid[p.Name], canary)
			_, err := ta.client.StartRun(ctx, operator, "corpus-"+p.Name, map[string]string{p.Name: payload})
			e, ok := api.AsError(err)
			switch {
			case !ok || e.Status != http.StatusBadRequest:
				t.Errorf("%s=%q: %v, want 400", p.Name, payload, err)
			case len(e.Fields) != 1 || e.Field != api.ParamsField+p.Name || e.Fields[0].Field != e.Field:
				t.Errorf("%s=%q: fields %+v, want one naming params.%s", p.Name, payload, e.Fields, p.Name)
			case strings.ContainsAny(e.Message, "\n\r\x00") || len(e.Message) > 300:
				t.Errorf("%s=%q: the message carries the payload raw: %q", p.Name, payload, e.Message)
			}
			n++
		}
	}
	if n < 100*len(params) {
		t.Fatalf("%d payloads sent", n)
	}
	if _, err := os.Stat(canary); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the canary exists (%v): a payload ran", err)
	}
	if page, err := c.history.List(ctx, commands.Filter{}); err != nil || page.Total != 0 {
		t.Fatalf("%d refused runs recorded (%v)", page.Total, err)
	}
	if e, ok := ta.audit.find(api.ActCommandRun, "invalid"); !ok || !strings.HasPrefix(e.Detail, "params.") {
		t.Errorf("a refusal's audit entry: %+v %v", e, ok)
	}
	for _, p := range params {
		st, err := ta.client.StartRun(ctx, operator, "corpus-"+p.Name, map[string]string{p.Name: valid[p.Name]})
		if err != nil {
			t.Fatalf("%s=%s: %v", p.Name, valid[p.Name], err)
		}
		if _, res := follow(t, ta, operator, st.RunID); res.Status != api.RunOK {
			t.Errorf("%s=%s: %+v", p.Name, valid[p.Name], res)
		}
	}
	if _, err := os.Stat(canary); err != nil {
		t.Errorf("valid values ran and the canary is missing: %v", err)
	}
}

// sse is a raw event-stream reader over the agent's socket.
type sse struct {
	t    *testing.T
	resp *http.Response
	sc   *bufio.Scanner
}

type sseEv struct {
	id, event, data string
}

func openSSE(t *testing.T, socket string, a Actor, id int64, lastID string) *sse {
	t.Helper()
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", socket)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	req, _ := http.NewRequest("GET", "http://agent/v1/runs/"+strconv.FormatInt(id, 10)+"/events", nil)
	req.Header.Set(HeaderUser, a.User)
	req.Header.Set(HeaderRole, string(a.Role))
	if lastID != "" {
		req.Header.Set(api.HeaderLastEventID, lastID)
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return &sse{t: t, resp: resp, sc: bufio.NewScanner(resp.Body)}
}

// next reads one event, skipping comments.
func (s *sse) next() sseEv {
	s.t.Helper()
	var ev sseEv
	var data []string
	for s.sc.Scan() {
		l := s.sc.Text()
		switch {
		case l == "" && (ev.event != "" || data != nil):
			ev.data = strings.Join(data, "\n")
			return ev
		case strings.HasPrefix(l, "id: "):
			ev.id = l[4:]
		case strings.HasPrefix(l, "event: "):
			ev.event = l[7:]
		case strings.HasPrefix(l, "data: "):
			data = append(data, l[6:])
		}
	}
	s.t.Fatalf("the event stream ended: %v", s.sc.Err())
	return ev
}

// The event stream: line by line as the command writes them, resumed
// after Last-Event-ID while it runs and after it has ended, a carriage
// return that cannot forge a field, and an end event with the result.
func TestCommandEvents(t *testing.T) {
	gate := filepath.Join(t.TempDir(), "gate")
	steps := testutil.Script(t, `printf 'one\rid: 99\n'; echo two; echo three
while [ ! -e `+gate+` ]; do sleep 0.02; done
echo four; echo five`)
	ta, _ := startCommands(t, []config.Command{cmd("steps", operators, steps)}, nil)
	st, err := ta.client.StartRun(context.Background(), operator, "steps", nil)
	if err != nil {
		t.Fatal(err)
	}
	s := openSSE(t, ta.socket, operator, st.RunID, "")
	if ct := s.resp.Header.Get("Content-Type"); s.resp.StatusCode != http.StatusOK || ct != "text/event-stream" {
		t.Fatalf("events: %d %q", s.resp.StatusCode, ct)
	}
	for i, want := range []sseEv{{"1", "line", "one\nid: 99"}, {"2", "line", "two"}, {"3", "line", "three"}} {
		if got := s.next(); got != want {
			t.Errorf("event %d = %+v, want %+v", i+1, got, want)
		}
	}
	s.resp.Body.Close() // the client goes; the run goes on

	// Resumed after line 2, while the command waits: three, then the rest.
	s = openSSE(t, ta.socket, operator, st.RunID, "2")
	if got := s.next(); got != (sseEv{"3", "line", "three"}) {
		t.Errorf("the first event after Last-Event-ID 2 = %+v", got)
	}
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, want := range []sseEv{{"4", "line", "four"}, {"5", "line", "five"}} {
		if got := s.next(); got != want {
			t.Errorf("event = %+v, want %+v", got, want)
		}
	}
	end := s.next()
	if end.event != "end" || !strings.Contains(end.data, `"status":"ok","exit_code":0`) || !strings.Contains(end.data, `"lines":5`) {
		t.Errorf("end event %+v", end)
	}

	// After the end: replayed from the history.
	s = openSSE(t, ta.socket, operator, st.RunID, "4")
	if got := s.next(); got != (sseEv{"5", "line", "five"}) {
		t.Errorf("the replay after 4 = %+v", got)
	}
	if got := s.next(); got.event != "end" || got.data != end.data {
		t.Errorf("the replay's end %+v, want %+v", got, end)
	}
	// The client resumes by itself and gets the lines with their numbers.
	var got []string
	res, err := ta.client.FollowRun(context.Background(), operator, st.RunID, 3, func(seq int64, s string) { got = append(got, fmt.Sprint(seq, " ", s)) })
	if err != nil || res.ExitCode != 0 || !slices.Equal(got, []string{"4 four", "5 five"}) {
		t.Errorf("FollowRun after 3: %q %+v %v", got, res, err)
	}
	for _, tc := range []struct {
		a      Actor
		lastID string
		code   int
	}{{operator, "x", http.StatusBadRequest}, {operator, "-1", http.StatusBadRequest}, {viewer, "", http.StatusNotFound}} {
		if s := openSSE(t, ta.socket, tc.a, st.RunID, tc.lastID); s.resp.StatusCode != tc.code {
			t.Errorf("events as %s with Last-Event-ID %q = %d, want %d", tc.a.Role, tc.lastID, s.resp.StatusCode, tc.code)
		}
	}
}

// Closing the commands stops what runs; each run is recorded and audited
// as interrupted before the history closes.
func TestCommandsClose(t *testing.T) {
	t.Parallel()
	audit := &auditLog{}
	dir := t.TempDir()
	c, err := openCommands(context.Background(), commandsOptions{
		Catalog: []config.Command{cmd("block", operators, testutil.Script(t, "exec sleep 30"))}, StateDir: dir,
		Retention: commands.Retention{KeepRuns: 100, MaxBytes: 1 << 20},
		Links:     func() ([]string, error) { return nil, nil }, Audit: audit, Log: discard(), Grace: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	run, err := c.runner.Start(context.Background(), commands.Request{Command: c.catalog[0], User: "oscar", Role: auth.Operator, Source: "cli"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if rec := run.Record(); rec.Status != commands.StatusInterrupted {
		t.Errorf("run after Close: %s", rec.Status)
	}
	if e, ok := audit.find(api.ActCommandRun, "failed"); !ok || !strings.Contains(e.Detail, "interrupted") || e.Source != "cli" {
		t.Errorf("the interrupted run's audit entry: %+v %v", e, ok)
	}
	h, err := commands.OpenHistory(context.Background(), dir, commands.Retention{KeepRuns: 100, MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if rec, err := h.Get(context.Background(), run.ID()); err != nil || rec.Status != commands.StatusInterrupted {
		t.Errorf("the history after Close: %+v %v", rec.Status, err)
	}
}
