package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"

	"github.com/devmgr/devmgr/internal/agent/api"
	agentclient "github.com/devmgr/devmgr/internal/agent/client"
	"github.com/devmgr/devmgr/internal/auth"
)

// fakeCommandsAgent answers `devmgr commands` with canned data; a call it
// does not expect fails the test.
type fakeCommandsAgent struct {
	t        *testing.T
	startErr error
	lines    []string
	result   api.RunResult
	follow   func(ctx context.Context) error // before the lines; nil: none
	params   map[string]string
	actor    api.Actor
	canceled bool
}

func (f *fakeCommandsAgent) Commands(_ context.Context, a api.Actor) ([]api.Command, error) {
	f.actor = a
	if f.startErr != nil {
		return nil, f.startErr
	}
	ten, hundred := int64(10), int64(500)
	return []api.Command{
		{ID: "uptime", Title: "Uptime", Params: []api.CommandParam{}},
		{ID: "journal", Title: "Service log", Params: []api.CommandParam{
			{Name: "unit", Type: "enum", Choices: []string{"a.service", "b.service"}, Default: "a.service"},
			{Name: "lines", Type: "int", Min: &ten, Max: &hundred, Default: "100"},
		}},
		{ID: "reboot", Title: "Reboot", Confirm: true, Params: []api.CommandParam{}},
	}, nil
}

func (f *fakeCommandsAgent) StartRun(_ context.Context, a api.Actor, id string, params map[string]string) (api.RunStarted, error) {
	f.actor, f.params = a, params
	return api.RunStarted{RunID: 7}, f.startErr
}

func (f *fakeCommandsAgent) FollowRun(ctx context.Context, _ api.Actor, id, after int64, line func(int64, string)) (api.RunResult, error) {
	if id != 7 || after != 0 {
		f.t.Errorf("FollowRun(%d, %d)", id, after)
	}
	if f.follow != nil {
		if err := f.follow(ctx); err != nil {
			return api.RunResult{}, err
		}
	}
	for i, l := range f.lines {
		line(int64(i+1), l)
	}
	return f.result, nil
}

func (f *fakeCommandsAgent) CancelRun(_ context.Context, _ api.Actor, id int64) (api.Run, error) {
	f.canceled = true
	return api.Run{ID: id, Status: api.RunCanceled}, nil
}

func TestCommandsList(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	f := &fakeCommandsAgent{t: t}
	if err := runCommandsList(context.Background(), &out, f, cliActor(), "/run/devmgr/agent.sock"); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"ID       TITLE                            PARAMETERS",
		"uptime   Uptime",
		"journal  Service log                      unit=<enum: a.service|b.service, default a.service> lines=<int 10..500, default 100>",
		"reboot   Reboot (asks first on the page)",
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
		got = append(got, strings.TrimRight(l, " "))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if f.actor.Role != auth.Admin || !strings.HasPrefix(f.actor.User, "cli:") || f.actor.Source != "cli" {
		t.Errorf("actor %+v", f.actor)
	}
}

func TestCommandsRun(t *testing.T) {
	t.Parallel()
	run := func(f *fakeCommandsAgent, args ...string) (string, string, error) {
		var out, errOut bytes.Buffer
		err := runCommandsRun(context.Background(), &out, &errOut, f, cliActor(), "/run/devmgr/agent.sock", args[0], args[1:])
		return out.String(), errOut.String(), err
	}
	// Lines as they come, parameters as given, exit 0.
	f := &fakeCommandsAgent{t: t, lines: []string{"one", "two"}, result: api.RunResult{RunID: 7, Status: api.RunOK}}
	out, _, err := run(f, "journal", "unit=b.service", "lines=20")
	if err != nil || out != "one\ntwo\n" || f.params["unit"] != "b.service" || f.params["lines"] != "20" {
		t.Errorf("run: %q %v %v", out, f.params, err)
	}
	// The program's exit code is devmgr's.
	f = &fakeCommandsAgent{t: t, result: api.RunResult{RunID: 7, Status: api.RunFailed, ExitCode: 3, Truncated: true}}
	_, errOut, err := run(f, "uptime")
	var ec exitCode
	if !errors.As(err, &ec) || ec != 3 || !strings.Contains(errOut, "output truncated") {
		t.Errorf("exit 3: %v, stderr %q", err, errOut)
	}
	f = &fakeCommandsAgent{t: t, result: api.RunResult{RunID: 7, Status: api.RunTimeout, ExitCode: -1, Error: "timed out after 30s"}}
	if _, _, err := run(f, "uptime"); err == nil || err.Error() != "run 7 of uptime: timed out after 30s" {
		t.Errorf("timeout: %v", err)
	}
	// Ctrl-C cancels the run.
	ctx, cancel := context.WithCancel(context.Background())
	f = &fakeCommandsAgent{t: t, follow: func(context.Context) error { cancel(); return context.Canceled }}
	var errOut2 bytes.Buffer
	err = runCommandsRun(ctx, &bytes.Buffer{}, &errOut2, f, cliActor(), "s", "uptime", nil)
	if !errors.As(err, &ec) || ec != 130 || !f.canceled || !strings.Contains(errOut2.String(), "run 7 of uptime canceled") {
		t.Errorf("interrupted: %v canceled=%v %q", err, f.canceled, errOut2.String())
	}

	// Refusals in words.
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&api.Error{Status: 400, Field: "params.lines", Message: "11 is outside 10..500", Fields: []api.FieldProblem{
			{Field: "params.lines", Message: "11 is outside 10..500"}, {Field: "params.unit", Message: `"x" is not one of a, b`}}},
			"running journal: lines: 11 is outside 10..500\n  unit: \"x\" is not one of a, b"},
		{&api.Error{Status: 409, Message: "journal is already running for you (run 3); wait for it to end or cancel it", RunID: 3},
			"running journal: journal is already running for you (run 3); wait for it to end or cancel it"},
		{&api.Error{Status: 403, Message: "uid 1000 may not use the agent (only root and the web user \"devmgr\")"},
			"running journal: the agent's socket /run/devmgr/agent.sock is for root and the console's user (web.user) only: run this as root (sudo)"},
		{fmt.Errorf("%w: %w", agentclient.ErrUnavailable, syscall.EACCES),
			"running journal: the agent's socket /run/devmgr/agent.sock is for root and the console's user (web.user) only: run this as root (sudo)"},
		{fmt.Errorf("%w: %w", agentclient.ErrUnavailable, syscall.ENOENT),
			"running journal: the devmgr agent is not running (no answer on /run/devmgr/agent.sock): start it (systemctl start devmgr-agent)"},
	} {
		f := &fakeCommandsAgent{t: t, startErr: tc.err}
		if _, _, err := run(f, "journal", "lines=11"); err == nil || err.Error() != tc.want {
			t.Errorf("refused with %v:\n got %v\nwant %s", tc.err, err, tc.want)
		}
	}
	if _, _, err := run(&fakeCommandsAgent{t: t}, "journal", "lines"); err == nil || !strings.Contains(err.Error(), `"lines" is not NAME=VALUE`) {
		t.Errorf("a bad argument: %v", err)
	}
	if f := (&fakeCommandsAgent{t: t, startErr: &api.Error{Status: http.StatusForbidden, Message: "uid 5 may not use the agent"}}); runCommandsList(context.Background(), &bytes.Buffer{}, f, cliActor(), "s") == nil {
		t.Errorf("list with the agent refusing: no error")
	}
}
