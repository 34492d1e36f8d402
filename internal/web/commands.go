package web

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/devmgr/devmgr/internal/agent/api"
)

// The Commands page: a card per command the caller's role may run (the
// agent decides which), a form built from its parameters, and the run it
// started followed live (js/run.js reads the agent's event stream through
// the proxy, then asks for the end panel here). The history page lists
// the runs the agent lets the caller see: an admin every run, anyone else
// their own.

// commandCard is one command on the page: its form, and its run.
type commandCard struct {
	api.Command
	Params []paramView
	Error  string   // about the whole form: the agent's refusal
	Run    *runView // the run to follow below the form
}

// paramView is one input of a command's form.
type paramView struct {
	api.CommandParam
	Input string // the element id
	Value string
	Error string
}

// Hint says what the parameter takes, where the input cannot show it.
func (p paramView) Hint() string {
	switch {
	case len(p.Choices) > 0:
		return ""
	case p.Type == "int" && p.Min != nil && p.Max != nil:
		return fmt.Sprintf("A whole number from %d to %d.", *p.Min, *p.Max)
	case p.Type == "hostname":
		return "A host name, such as example.com."
	case p.Type == "ip":
		return "An IPv4 or IPv6 address."
	case p.Type == "cidr":
		return "An address with its prefix length, such as 192.168.4.0/24."
	case p.Type == "interface" && p.LANOnly:
		return "A LAN interface of the device, such as eth1."
	case p.Type == "interface":
		return "An interface of the device, such as eth0."
	case p.Type == "string" && p.MaxLength > 0:
		return fmt.Sprintf("Matches %s; at most %d characters.", p.Pattern, p.MaxLength)
	}
	return ""
}

// runView is a run as the pages show it: live while it runs (the script
// follows Events), else with its output and how it ended.
type runView struct {
	api.Run
	Running bool
	// Shown is the output on the page, at most maxShownLines of it;
	// Hidden counts the lines left out.
	Shown  []string
	Hidden int
}

// maxShownLines is how much of a run's output a page shows; the API has
// all the history keeps.
const maxShownLines = 5000

func newRunView(run api.Run) *runView {
	v := &runView{Run: run, Running: run.Status == api.RunRunning, Shown: run.Output}
	if n := len(run.Output); n > maxShownLines {
		v.Shown, v.Hidden = run.Output[:maxShownLines], n-maxShownLines
	}
	return v
}

// following is a run the page follows from its first line: just started.
func following(id int64, command string) *runView {
	return &runView{Run: api.Run{ID: id, Command: command, Status: api.RunRunning, ExitCode: -1}, Running: true}
}

// StatusClass is the badge colour of the run's status.
func (r runView) StatusClass() string {
	switch r.Status {
	case api.RunOK:
		return "text-bg-success"
	case api.RunRunning:
		return "text-bg-info"
	case api.RunCanceled, api.RunInterrupted:
		return "text-bg-warning"
	}
	return "text-bg-danger"
}

// ParamsText is the run's parameters, name=value, in name order.
func (r runView) ParamsText() string {
	keys := make([]string, 0, len(r.Params))
	for k := range r.Params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i, k := range keys {
		keys[i] = k + "=" + r.Params[k]
	}
	return strings.Join(keys, " ")
}

// OutputBytes is the size of its output, for a person.
func (r runView) OutputBytes() string { return humanBytes(uint64(max(r.OutputSize, 0))) }

// Duration is how long it ran, in words for a person.
func (r runView) Duration() string {
	d := time.Duration(r.DurationMS) * time.Millisecond
	if d < time.Second {
		return fmt.Sprintf("%d ms", r.DurationMS)
	}
	if d < time.Minute {
		return fmt.Sprintf("%.1f s", d.Seconds())
	}
	return d.Round(time.Second).String()
}

type commandsData struct {
	Agent agentState
	Cards []commandCard
}

func (s *Server) card(cmd api.Command, values map[string]string, errs map[string]string) commandCard {
	c := commandCard{Command: cmd}
	for _, p := range cmd.Params {
		v, ok := values[p.Name]
		if !ok {
			v = p.Default
		}
		c.Params = append(c.Params, paramView{CommandParam: p, Input: cmd.ID + "-" + p.Name, Value: v, Error: errs[p.Name]})
	}
	return c
}

func (s *Server) commandsPage(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), agentReadTimeout)
	defer cancel()
	a := s.actor(r)
	var d commandsData
	cmds, err := s.agent.Commands(ctx, a)
	if err != nil {
		d.Agent = s.agentState(r, err)
		s.render(w, r, http.StatusOK, "commands", "Commands", d)
		return
	}
	// What the caller runs now is followed again after a reload.
	running := map[string]int64{}
	if l, err := s.agent.Runs(ctx, a, api.RunQuery{User: a.User, Status: api.RunRunning, Limit: api.MaxRunLimit}); err == nil {
		for _, run := range l.Runs {
			running[run.Command] = max(running[run.Command], run.ID)
		}
	}
	for _, cmd := range cmds {
		c := s.card(cmd, nil, nil)
		if id, ok := running[cmd.ID]; ok {
			c.Run = following(id, cmd.ID)
		}
		d.Cards = append(d.Cards, c)
	}
	s.render(w, r, http.StatusOK, "commands", "Commands", d)
}

// commandRun takes a command's form (htmx): it answers the card's part
// again, following the run it started, or with every bad parameter
// marked; a refusal is said above the form, and a run of this command the
// caller has going already is followed instead.
func (s *Server) commandRun(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	a := s.actor(r)
	ctx, cancel := context.WithTimeout(r.Context(), agentReadTimeout)
	cmds, err := s.agent.Commands(ctx, a)
	cancel()
	i := slices.IndexFunc(cmds, func(c api.Command) bool { return c.ID == id })
	if err != nil || i < 0 {
		msg := s.agentState(r, err).Message
		if err == nil {
			msg = "There is no command " + id + " that you may run."
		}
		s.renderPart(w, r, http.StatusUnprocessableEntity, "commands", "command-part-answer", commandCard{Command: api.Command{ID: id}, Error: msg})
		return
	}
	cmd := cmds[i]
	f := newForm(r)
	params := map[string]string{}
	for _, p := range cmd.Params {
		v := strings.TrimSpace(r.PostFormValue(p.Name))
		f.Values[p.Name] = v
		if v != "" { // left empty: its default, or "is required"
			params[p.Name] = v
		}
	}
	st, err := s.agent.StartRun(r.Context(), a, id, params)
	if err != nil {
		status := s.formAgentError(r, f, err, func(field string) (string, string) {
			return strings.TrimPrefix(field, api.ParamsField), ""
		})
		c := s.card(cmd, f.Values, f.Errors)
		for i, p := range c.Params {
			if p.Error != "" {
				c.Params[i].Error = paramSentence(p.Title, p.Error)
			}
		}
		c.Error = f.Error
		if ae, ok := api.AsError(err); ok && ae.RunID != 0 {
			c.Run = following(ae.RunID, id) // the run already going
		}
		if api.IsStatus(err, http.StatusTooManyRequests) {
			status = http.StatusServiceUnavailable // try again later; htmx swaps it
		}
		s.renderPart(w, r, status, "commands", "command-part-answer", c)
		return
	}
	c := s.card(cmd, f.Values, nil)
	c.Run = following(st.RunID, id)
	s.renderPart(w, r, http.StatusOK, "commands", "command-part-answer", c)
}

// paramSentence puts the parameter's label before the agent's words
// about its value: "Count is required", "Count: 11 is outside 1..10".
func paramSentence(label, msg string) string {
	for _, verb := range []string{"is ", "must ", "contains "} {
		if strings.HasPrefix(msg, verb) {
			return capitalize(label) + " " + msg + "."
		}
	}
	return capitalize(label) + ": " + msg + "."
}

// runEnd is a run's end panel, for the script once its stream has ended.
func (s *Server) runEnd(w http.ResponseWriter, r *http.Request) {
	run, ok := s.loadRun(w, r)
	if !ok {
		return
	}
	s.renderPart(w, r, http.StatusOK, "run", "run-end-part", newRunView(run))
}

// loadRun reads the run of the route's {id}; it answers the request
// itself when it cannot.
func (s *Server) loadRun(w http.ResponseWriter, r *http.Request) (api.Run, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		s.notFound(w, r)
		return api.Run{}, false
	}
	ctx, cancel := context.WithTimeout(r.Context(), agentReadTimeout)
	defer cancel()
	run, err := s.agent.Run(ctx, s.actor(r), id)
	switch {
	case api.IsStatus(err, http.StatusNotFound):
		s.errorPage(w, r, http.StatusNotFound, fmt.Sprintf("There is no run %d that you may see.", id))
		return api.Run{}, false
	case err != nil:
		s.errorPage(w, r, http.StatusServiceUnavailable, s.agentState(r, err).Message)
		return api.Run{}, false
	}
	return run, true
}

// runPage is one run: who, when, from where, its parameters, how it
// ended and its output (followed live while it runs).
func (s *Server) runPage(w http.ResponseWriter, r *http.Request) {
	run, ok := s.loadRun(w, r)
	if !ok {
		return
	}
	s.render(w, r, http.StatusOK, "run", fmt.Sprintf("Run %d", run.ID), newRunView(run))
}

type runsData struct {
	Agent    agentState
	All      bool // the caller sees every user's runs
	Filter   api.RunQuery
	Commands []string
	Statuses []string
	Runs     []runView
	Total    int
	Page     int
	PrevURL  string
	NextURL  string
}

const runsPageSize = 50

// runsPage is the history: the runs the caller may see, newest first,
// filtered by command, user (admins) and status, a page at a time.
func (s *Server) runsPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	page := max(1, atoiOr(q.Get("page"), 1))
	d := runsData{All: me(r).Role.AtLeast(api.RunSeeAllRole), Statuses: api.RunStatuses, Page: page,
		Filter: api.RunQuery{Command: q.Get("command"), Status: q.Get("status"), Limit: runsPageSize, Offset: (page - 1) * runsPageSize}}
	if d.All {
		d.Filter.User = strings.TrimSpace(q.Get("user"))
	}
	ctx, cancel := context.WithTimeout(r.Context(), agentReadTimeout)
	defer cancel()
	a := s.actor(r)
	l, err := s.agent.Runs(ctx, a, d.Filter)
	if err != nil {
		d.Agent = s.agentState(r, err)
		s.render(w, r, http.StatusOK, "runs", "Command history", d)
		return
	}
	if cmds, err := s.agent.Commands(ctx, a); err == nil {
		for _, c := range cmds {
			d.Commands = append(d.Commands, c.ID)
		}
	}
	if c := d.Filter.Command; c != "" && !slices.Contains(d.Commands, c) {
		d.Commands = append(d.Commands, c) // one the caller no longer runs
	}
	for _, run := range l.Runs {
		d.Runs = append(d.Runs, *newRunView(run))
	}
	d.Total = l.Total
	if page > 1 {
		d.PrevURL = pageURL("/commands/history", q, page-1)
	}
	if page*runsPageSize < l.Total {
		d.NextURL = pageURL("/commands/history", q, page+1)
	}
	s.render(w, r, http.StatusOK, "runs", "Command history", d)
}

func atoiOr(s string, def int) int {
	if n, err := strconv.Atoi(s); err == nil {
		return n
	}
	return def
}
