package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/devmgr/devmgr/internal/agent/api"
	"github.com/devmgr/devmgr/internal/commands"
	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/fielderr"
)

// The command routes' role is the least any command names (api.Routes);
// each command is checked against its own roles (commands.Allowed) with
// the role the console passes, so a role the console did not check is
// refused here. Who sees a run: api.RunSeeAllRole every run, anyone else
// their own; another's run is 404, as if it did not exist.

var errNoCommands = errorf(http.StatusServiceUnavailable, "", "commands are not available in this agent")

func (s *Server) commands() (*Commands, error) {
	if s.cfg.Commands == nil {
		return nil, errNoCommands
	}
	return s.cfg.Commands, nil
}

// canSee reports whether a may see (and cancel) a run of user.
func canSee(a Actor, user string) bool {
	return a.Role.AtLeast(api.RunSeeAllRole) || user == a.User
}

func (s *Server) listCommands(w http.ResponseWriter, _ *http.Request, a Actor) error {
	c, err := s.commands()
	if err != nil {
		return err
	}
	out := []api.Command{}
	for _, cmd := range commands.Permitted(c.catalog, a.Role) {
		out = append(out, c.wireCommand(cmd))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (c *Commands) wireCommand(cmd config.Command) api.Command {
	x := api.Command{ID: cmd.ID, Title: cmd.Title, Description: cmd.Description, Confirm: cmd.Confirm,
		TimeoutSeconds: int64(cmd.Timeout / time.Second), Params: make([]api.CommandParam, 0, len(cmd.Params))}
	for _, p := range cmd.Params {
		wp := api.CommandParam{Name: p.Name, Title: p.Label(), Type: p.Type, Default: p.Default, Min: p.Min, Max: p.Max,
			Pattern: p.Pattern, MaxLength: p.MaxLength, LANOnly: p.LANOnly}
		switch p.Type {
		case config.ParamEnum:
			wp.Choices = p.Values
		case config.ParamInterface:
			wp.Choices = c.env.choices(p.LANOnly)
		}
		x.Params = append(x.Params, wp)
	}
	return x
}

func (s *Server) startRun(w http.ResponseWriter, r *http.Request, a Actor) error {
	c, err := s.commands()
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	cmd, err := commands.Find(c.catalog, id)
	if err == nil && !commands.Allowed(cmd, a.Role) {
		err = errorf(http.StatusForbidden, "", "role %s may not run %s (%s)", a.Role, cmd.ID, rolesText(cmd))
	}
	var params map[string]string
	if err == nil {
		params, err = runParams(r, cmd)
	}
	var run *commands.Run
	if err == nil {
		run, err = c.runner.Start(r.Context(), commands.Request{Command: cmd, Params: params, User: a.User, Role: a.Role, Source: a.Source})
	}
	if err != nil {
		// A run that started is audited by the runner's recorder; these
		// are the refusals (a program that is not installed is both).
		s.auditErr(r, a, actCommandRun, clip(id), err)
		return err
	}
	writeJSON(w, http.StatusCreated, api.RunStarted{RunID: run.ID()})
	return nil
}

// rolesText says who may run cmd.
func rolesText(cmd config.Command) string {
	names := make([]string, len(cmd.Roles))
	for i, r := range cmd.Roles {
		names[i] = string(r)
	}
	if len(names) == 1 {
		return "only " + names[0] + " may"
	}
	return "only " + strings.Join(names, ", ") + " may"
}

// runParams reads the body of a run's request: {"params": {...}} whose
// values are strings, or whole numbers for int parameters (as the JSON
// wrote them; the type's check refuses 5.0 or 1e2). An empty body is no
// parameters.
func runParams(r *http.Request, cmd config.Command) (map[string]string, error) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, jsonError(err)
	}
	params := map[string]string{}
	if len(bytes.TrimSpace(b)) == 0 {
		return params, nil
	}
	var in struct {
		Params map[string]json.RawMessage `json:"params"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return nil, jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errorf(http.StatusBadRequest, "", "the body must be a single JSON object")
	}
	var errs fielderr.List
	for name, raw := range in.Params {
		raw = bytes.TrimSpace(raw)
		var s string
		switch {
		case bytes.Equal(raw, []byte("null")):
			continue // left out: its default
		case len(raw) > 0 && raw[0] == '"':
			if err := json.Unmarshal(raw, &s); err != nil {
				return nil, jsonError(err)
			}
		case len(raw) > 0 && (raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9'):
			s = string(raw)
		default:
			if _, ok := cmd.Params.Lookup(name); ok {
				errs.Add(api.ParamsField+name, "must be text or a whole number, not %s", clip(string(raw)))
				continue
			}
			s = "?" // an unknown parameter, refused as one
		}
		params[name] = s
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return params, nil
}

// findRun is the run of a run's route ({id}) as it stands: from the
// runner while it runs (run is set), else from the history; 404 for a
// run a may not see.
func (s *Server) findRun(r *http.Request, a Actor) (rec commands.Record, run *commands.Run, err error) {
	c, err := s.commands()
	if err != nil {
		return rec, nil, err
	}
	v := r.PathValue("id")
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id <= 0 {
		return rec, nil, errorf(http.StatusNotFound, "id", "%q is not a run id", clip(v))
	}
	if run, ok := c.runner.Get(id); ok {
		if rec := run.Record(); canSee(a, rec.User) {
			return rec, run, nil
		}
	} else if rec, err := c.history.Get(r.Context(), id); err == nil && canSee(a, rec.User) {
		return rec, nil, nil
	} else if err != nil && !errors.Is(err, commands.ErrNotFound) {
		return rec, nil, err
	}
	return rec, nil, fmt.Errorf("%w: %d", commands.ErrNotFound, id)
}

func (s *Server) getRun(w http.ResponseWriter, r *http.Request, a Actor) error {
	rec, _, err := s.findRun(r, a)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wireRun(rec, true))
	return nil
}

func (s *Server) listRuns(w http.ResponseWriter, r *http.Request, a Actor) error {
	c, err := s.commands()
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := commands.Filter{Command: q.Get("command"), User: q.Get("user"), Status: commands.Status(q.Get("status")), Limit: api.DefaultRunLimit}
	if f.Status != "" && !slices.Contains(commands.Statuses, f.Status) {
		return errorf(http.StatusBadRequest, "status", "%q is not one of %s", clip(string(f.Status)), strings.Join(api.RunStatuses, ", "))
	}
	for _, n := range []struct {
		name     string
		min, max int
		to       *int
	}{{"limit", 1, api.MaxRunLimit, &f.Limit}, {"offset", 0, 1 << 30, &f.Offset}} {
		if v := q.Get(n.name); v != "" {
			i, err := strconv.Atoi(v)
			if err != nil || i < n.min || i > n.max {
				return errorf(http.StatusBadRequest, n.name, "%q is not a number from %d to %d", clip(v), n.min, n.max)
			}
			*n.to = i
		}
	}
	if !a.Role.AtLeast(api.RunSeeAllRole) {
		if f.User != "" && f.User != a.User {
			return errorf(http.StatusForbidden, "user", "role %s sees only its own runs", a.Role)
		}
		f.User = a.User
	}
	page, err := c.history.List(r.Context(), f)
	if err != nil {
		return err
	}
	out := api.RunList{Runs: make([]api.Run, 0, len(page.Runs)), Total: page.Total, Limit: f.Limit, Offset: f.Offset}
	for _, rec := range page.Runs {
		if run, ok := c.runner.Get(rec.ID); ok && rec.Status == commands.StatusRunning {
			rec = run.Record() // its output so far, and the time it has run
		}
		out.Runs = append(out.Runs, wireRun(rec, false))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) cancelRun(w http.ResponseWriter, r *http.Request, a Actor) error {
	rec, run, err := s.findRun(r, a)
	if err == nil && run == nil {
		err = errorf(http.StatusConflict, "", "run %d of %s has ended already (%s)", rec.ID, rec.Command, rec.Status)
	}
	if err != nil {
		target := rec.Command
		if target == "" { // a run a may not see: only its number
			target = "run " + clip(r.PathValue("id"))
		}
		s.auditErr(r, a, actCommandCancel, target, err)
		return err
	}
	run.Cancel(a.User)
	s.audit(r.Context(), a, actCommandCancel, rec.Command, "ok", fmt.Sprintf("run %d of %s", rec.ID, rec.User))
	// The group gets SIGTERM now and SIGKILL after the grace: the answer
	// says how it ended, unless that takes longer than this.
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	if ended, err := run.Wait(ctx); err == nil {
		rec = ended
	} else {
		rec = run.Record()
	}
	writeJSON(w, http.StatusOK, wireRun(rec, false))
	return nil
}

// keepAlive is how often an idle event stream gets a comment, so that
// proxies on the way keep it open.
const keepAlive = 15 * time.Second

func (s *Server) runEvents(w http.ResponseWriter, r *http.Request, a Actor) error {
	rec, run, err := s.findRun(r, a)
	if err != nil {
		return err
	}
	var after int64
	if v := r.Header.Get(api.HeaderLastEventID); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return errorf(http.StatusBadRequest, api.HeaderLastEventID, "%q is not a line number", clip(v))
		}
		after = n
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Accel-Buffering", "no") // nginx passes each event on at once
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	var buf bytes.Buffer
	send := func() error {
		if buf.Len() == 0 {
			return nil
		}
		_, err := w.Write(buf.Bytes())
		buf.Reset()
		if err == nil {
			err = rc.Flush()
		}
		return err
	}
	if run == nil { // ended: replayed from the history
		writeLineEvents(&buf, linesAfter(rec.Output, after))
		writeEndEvent(&buf, rec)
		_ = send() // a client that has gone reads no answer
		return nil
	}
	tick := time.NewTicker(keepAlive)
	defer tick.Stop()
	for {
		lines, ended, more := run.Lines(after)
		writeLineEvents(&buf, lines)
		if n := len(lines); n > 0 {
			after = lines[n-1].Seq
		}
		if ended {
			// The run's result is set before its output ends.
			writeEndEvent(&buf, run.Record())
			_ = send()
			return nil
		}
		if err := send(); err != nil {
			return nil // the client has gone
		}
		select {
		case <-more:
		case <-tick.C:
			buf.WriteString(": keep-alive\n\n")
		case <-r.Context().Done():
			return nil
		}
	}
}

func linesAfter(lines []commands.Line, after int64) []commands.Line {
	for i, l := range lines {
		if l.Seq > after {
			return lines[i:]
		}
	}
	return nil
}

// writeLineEvents writes one event per line. A carriage return would end
// the data line for an event-stream parser (and let output forge fields),
// so the text is split there into data lines of their own.
func writeLineEvents(b *bytes.Buffer, lines []commands.Line) {
	for _, l := range lines {
		fmt.Fprintf(b, "id: %d\nevent: %s\n", l.Seq, api.EventRunLine)
		for _, part := range strings.Split(l.Text, "\r") {
			b.WriteString("data: ")
			b.WriteString(part)
			b.WriteByte('\n')
		}
		b.WriteByte('\n')
	}
}

func writeEndEvent(b *bytes.Buffer, rec commands.Record) {
	res, _ := json.Marshal(api.RunResult{RunID: rec.ID, Status: string(rec.Status), ExitCode: rec.ExitCode,
		DurationMS: rec.Duration.Milliseconds(), Truncated: rec.Truncated, Error: rec.Error, Lines: int64(len(rec.Output))})
	fmt.Fprintf(b, "event: %s\ndata: %s\n\n", api.EventRunEnd, res)
}

func wireRun(rec commands.Record, output bool) api.Run {
	x := api.Run{ID: rec.ID, Command: rec.Command, User: rec.User, Role: rec.Role, Source: rec.Source, Params: rec.Params,
		Argv: rec.Argv, Status: string(rec.Status), ExitCode: rec.ExitCode, Error: rec.Error, Started: rec.Started,
		DurationMS: rec.Duration.Milliseconds(), Truncated: rec.Truncated, OutputSize: rec.OutputSize}
	if x.Params == nil {
		x.Params = map[string]string{}
	}
	if rec.Status == commands.StatusRunning {
		x.DurationMS = time.Since(rec.Started).Milliseconds()
	}
	if output {
		x.Output = make([]string, len(rec.Output))
		for i, l := range rec.Output {
			x.Output[i] = l.Text
		}
	}
	return x
}
