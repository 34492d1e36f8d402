package web

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/devmgr/devmgr/internal/agent/api"
	"github.com/devmgr/devmgr/internal/auth"
)

// The fake agent's command catalog: what each role may run, as the agent
// would list it.
func fakeCommands(role auth.Role) []api.Command {
	one, ten := int64(1), int64(10)
	cmds := []api.Command{{ID: "uptime", Title: "Uptime", Description: "How long the device has run.", TimeoutSeconds: 30, Params: []api.CommandParam{}}}
	if role.AtLeast(auth.Operator) {
		cmds = append(cmds, api.Command{ID: "ping", Title: "Ping", TimeoutSeconds: 30, Params: []api.CommandParam{
			{Name: "count", Title: "Count", Type: "int", Min: &one, Max: &ten, Default: "4"},
			{Name: "host", Title: "Host", Type: "hostname"},
		}}, api.Command{ID: "journal", Title: "Service log", TimeoutSeconds: 30, Params: []api.CommandParam{
			{Name: "unit", Title: "Service", Type: "enum", Choices: []string{"a.service", "b.service"}, Default: "a.service"},
			{Name: "iface", Title: "Interface", Type: "interface", Choices: []string{"eth0", "eth1"}},
			{Name: "text", Title: "Text", Type: "string", Pattern: "^[a-z]+$", MaxLength: 8},
		}})
	}
	if role.AtLeast(auth.Admin) {
		cmds = append(cmds, api.Command{ID: "reboot", Title: "Reboot", Description: "Restarts the device.", Confirm: true, TimeoutSeconds: 30, Params: []api.CommandParam{}})
	}
	return cmds
}

func (f *fakeAgent) Commands(_ context.Context, a api.Actor) ([]api.Command, error) {
	f.record("commands " + a.User)
	return fakeCommands(a.Role), nil
}

// StartRun refuses count 11 (two bad fields), host "taken" (running
// already as run 5) and host "busy" (too many runs); anything else is
// run 42.
func (f *fakeAgent) StartRun(_ context.Context, a api.Actor, id string, params map[string]string) (api.RunStarted, error) {
	f.record(fmt.Sprintf("run %s %s %v", id, a.User, params))
	switch {
	case params["count"] == "11":
		return api.RunStarted{}, &api.Error{Status: http.StatusBadRequest, Field: "params.count", Message: "11 is outside 1..10",
			Fields: []api.FieldProblem{{Field: "params.count", Message: "11 is outside 1..10"}, {Field: "params.host", Message: "is required"}}}
	case params["host"] == "taken":
		return api.RunStarted{}, &api.Error{Status: http.StatusConflict, Message: "ping is already running for you (run 5); wait for it to end or cancel it", RunID: 5}
	case params["host"] == "busy":
		return api.RunStarted{}, &api.Error{Status: http.StatusTooManyRequests, Message: "4 commands are running, the most that may run at once; try again when one has ended"}
	}
	return api.RunStarted{RunID: 42}, nil
}

// fakeRun is run 5, running, or run 404, not there; any other is a ping
// that has ended.
func fakeRun(id int64, a api.Actor) (api.Run, error) {
	started := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	switch id {
	case 404:
		return api.Run{}, &api.Error{Status: http.StatusNotFound, Field: "id", Message: fmt.Sprintf("no such run: %d", id)}
	case 5:
		return api.Run{ID: 5, Command: "ping", User: a.User, Role: a.Role, Params: map[string]string{}, Status: api.RunRunning, ExitCode: -1, Started: started}, nil
	}
	return api.Run{ID: id, Command: "ping", User: a.User, Role: a.Role, Source: "192.0.2.7", Params: map[string]string{"count": "2", "host": "example.com"},
		Argv: []string{"/usr/bin/ping", "-c", "2", "example.com"}, Status: api.RunOK, ExitCode: 0, Started: started, DurationMS: 1250, OutputSize: 60,
		Output: []string{"PING example.com", "64 bytes from example.com", "<b>not markup</b>"}}, nil
}

func (f *fakeAgent) Run(_ context.Context, a api.Actor, id int64) (api.Run, error) {
	f.record(fmt.Sprintf("get run %d %s", id, a.User))
	return fakeRun(id, a)
}

func (f *fakeAgent) Runs(_ context.Context, a api.Actor, q api.RunQuery) (api.RunList, error) {
	f.record(fmt.Sprintf("runs %s %+v", a.User, q))
	r42, _ := fakeRun(42, a)
	r42.Output = nil
	return api.RunList{Runs: []api.Run{r42}, Total: 120, Limit: q.Limit, Offset: q.Offset}, nil
}

// commandHandlers serve the fake's command routes for the proxy: run 42's
// events are its three lines and its end.
func (f *fakeAgent) commandHandlers(actor func(*http.Request) api.Actor, reply func(http.ResponseWriter, int, any, error),
	bad func(http.ResponseWriter, *http.Request, any) bool) map[string]http.HandlerFunc {
	runOf := func(r *http.Request) (api.Run, error) {
		id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
		return fakeRun(id, actor(r))
	}
	return map[string]http.HandlerFunc{
		"GET /v1/commands": func(w http.ResponseWriter, r *http.Request) {
			l, err := f.Commands(r.Context(), actor(r))
			reply(w, 200, l, err)
		},
		"POST /v1/commands/{id}/runs": func(w http.ResponseWriter, r *http.Request) {
			var req api.RunRequest
			if r.ContentLength != 0 && bad(w, r, &req) {
				return
			}
			st, err := f.StartRun(r.Context(), actor(r), r.PathValue("id"), req.Params)
			reply(w, 201, st, err)
		},
		"GET /v1/runs": func(w http.ResponseWriter, r *http.Request) {
			l, err := f.Runs(r.Context(), actor(r), api.RunQuery{})
			reply(w, 200, l, err)
		},
		"GET /v1/runs/{id}": func(w http.ResponseWriter, r *http.Request) {
			run, err := runOf(r)
			reply(w, 200, run, err)
		},
		"POST /v1/runs/{id}/cancel": func(w http.ResponseWriter, r *http.Request) {
			run, err := runOf(r)
			run.Status = api.RunCanceled
			reply(w, 200, run, err)
		},
		"GET /v1/runs/{id}/events": func(w http.ResponseWriter, r *http.Request) {
			run, err := runOf(r)
			if err != nil {
				reply(w, 0, nil, err)
				return
			}
			w.Header().Set("Content-Type", "text/event-stream")
			after, _ := strconv.Atoi(r.Header.Get(api.HeaderLastEventID))
			for i, l := range run.Output {
				if i+1 > after {
					fmt.Fprintf(w, "id: %d\nevent: line\ndata: %s\n\n", i+1, l)
				}
			}
			fmt.Fprintf(w, "event: end\ndata: {\"run_id\":%d,\"status\":%q}\n\n", run.ID, run.Status)
		},
	}
}
