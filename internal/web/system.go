package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/devmgr/devmgr/internal/agent/api"
	agentclient "github.com/devmgr/devmgr/internal/agent/client"
	"github.com/devmgr/devmgr/internal/config"
)

// The System page (/system, admins): the factory reset. The overlay as
// the agent reads it (mounted, layers, options, usage, what differs from
// the factory layer), a download of those changes, the form that starts
// a reset (the admin's password again, the host name typed, keep
// settings) and the running or last reset: its phases and progress, then
// its verification. While a reset runs the page polls /system/live every
// second; the reset may stop and start the console itself, which the
// page's script shows as "restarting" until the poll answers again. The
// JSON API's POST /api/v1/system/reset checks the password the same way;
// the rest of the reset's API is the agent's, through the proxy.

// resetFormFields are the reset form's inputs.
var resetFormFields = []string{"password", "confirm", "keep_settings"}

// Polls of the page's body: every second while a reset runs, every few
// while the agent does not answer (to show the device when it does).
const (
	resetPoll     = "every 1s"
	agentDownPoll = "every 3s"
)

// resetStartTimeout bounds the agent's answer to a reset request: the
// checks, the journal, starting the reset's process.
const resetStartTimeout = 30 * time.Second

// systemData is the page's body, in the page and as the part it polls
// and its form's answer.
type systemData struct {
	Agent agentState
	// Info is what the agent says; nil while it does not answer.
	Info    *api.SystemReset
	Overlay overlayView
	Run     *resetRunView // the running or last reset
	Form    *form         // the reset form; nil while a reset runs
	Poll    string        // the body's hx-trigger; "" polls not
	// Error is why a request was refused, where no form shows it (a
	// reset runs, or the device has none).
	Error string
	// ConfigPath is where reset.mode is set (the page of a device
	// without a reset says so).
	ConfigPath string
}

// overlayView is the overlay as the page shows it.
type overlayView struct {
	api.OverlayState
	Bytes string // the upper layer's
}

// Changed reports whether anything differs from the factory layer.
func (o overlayView) Changed() bool {
	c := o.Changes
	return c.Added+c.Changed+c.Deleted > 0
}

// resetRunView is a reset as the page shows it.
type resetRunView struct {
	api.ResetRun
	// Active: queued, running or rebooting: the page polls.
	Active bool
	Phases []phaseView
	State  string // what the run is doing, or how it ended, in words
	// Last is the latest event's message.
	Last string
}

// phaseView is one phase of a reset.
type phaseView struct {
	api.ResetPhase
	Title string
}

// phaseTitles name the phases as the page shows them.
var phaseTitles = map[string]string{
	api.PhaseChecking:  "Checking",
	api.PhaseStopping:  "Stopping the services",
	api.PhaseSaving:    "Saving the settings",
	api.PhaseUnmount:   "Unmounting the overlay",
	api.PhaseRebooting: "Rebooting",
	api.PhaseWiping:    "Wiping the upper layer",
	api.PhaseRemount:   "Mounting the overlay again",
	api.PhaseSettings:  "Putting the settings back, or clearing them",
	api.PhaseVerifying: "Verifying",
	api.PhaseStarting:  "Starting the services",
}

func phaseTitle(name string) string {
	if t, ok := phaseTitles[name]; ok {
		return t
	}
	return strings.ReplaceAll(name, "_", " ")
}

func newResetRunView(run api.ResetRun) *resetRunView {
	v := &resetRunView{ResetRun: run}
	switch run.Status {
	case api.ResetQueued:
		v.Active, v.State = true, "Queued: the reset starts in a moment."
	case api.ResetRunning:
		v.Active, v.State = true, "Running: "+phaseTitle(run.Phase)+"."
	case api.ResetRebooting:
		v.Active, v.State = true, "The device reboots; the reset is finished after the boot."
	case api.ResetDone:
		v.State = "Done: the device is back to its factory state."
	case api.ResetFailed:
		v.State = "Failed in phase " + strings.ToLower(phaseTitle(run.Phase)) + "."
	default:
		v.State = run.Status
	}
	for _, p := range run.Phases {
		v.Phases = append(v.Phases, phaseView{ResetPhase: p, Title: phaseTitle(p.Name)})
	}
	if n := len(run.Events); n > 0 {
		v.Last = run.Events[n-1].Message
	}
	return v
}

// loadSystem reads the page's body from the agent; f is the reset form
// to show (nil: a fresh one, unless a reset runs).
func (s *Server) loadSystem(r *http.Request, f *form) systemData {
	d := systemData{ConfigPath: config.Path("")}
	ctx, cancel := context.WithTimeout(r.Context(), agentReadTimeout)
	defer cancel()
	info, err := s.agent.SystemReset(ctx, s.actor(r))
	if err != nil {
		d.Agent = s.agentState(r, err)
		d.Poll = agentDownPoll
		return d
	}
	d.Info = &info
	d.Overlay = overlayView{OverlayState: info.Overlay, Bytes: humanBytes(uint64(max(info.Overlay.Usage.Bytes, 0)))}
	if info.Run != nil {
		d.Run = newResetRunView(*info.Run)
		if d.Run.Active {
			d.Poll = resetPoll
			return d // no form while a reset runs
		}
	}
	if info.Mode == config.ResetNone {
		return d
	}
	if f == nil {
		f = &form{Values: map[string]string{}, Errors: map[string]string{}}
		if info.KeepSettings {
			f.Values["keep_settings"] = "on"
		}
	}
	f.Values["password"] = "" // never sent back
	d.Form = f
	return d
}

func (s *Server) systemPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "system", "System", s.loadSystem(r, nil))
}

// systemLive is the page's body, for its poll.
func (s *Server) systemLive(w http.ResponseWriter, r *http.Request) {
	s.renderPart(w, r, http.StatusOK, "system", "system-body", s.loadSystem(r, nil))
}

// resetRefusal is a reset request refused, by the console or by the
// agent: the bad fields, or a message about the whole request.
type resetRefusal struct {
	Status     int
	Message    string // about the whole request ("" when only fields are bad)
	Fields     []api.FieldProblem
	RetryAfter time.Duration
}

// startReset checks a reset's request as the console must (the admin's
// own password, throttled as a login; the host name typed, against the
// agent's) and has the agent start it, without the password. A refusal
// touches nothing; the console's own are audited here, the agent's
// there.
func (s *Server) startReset(r *http.Request, password, confirm string, keep *bool) (api.ResetRun, *resetRefusal, error) {
	id := me(r)
	if id.Token {
		return api.ResetRun{}, &resetRefusal{Status: http.StatusForbidden,
			Message: "An API token has no password to type again: sign in as an admin to reset the device."}, nil
	}
	u, err := s.db.UserByID(r.Context(), id.UserID)
	if err != nil {
		return api.ResetRun{}, nil, fmt.Errorf("loading user %d: %w", id.UserID, err)
	}
	ref := &resetRefusal{Status: http.StatusBadRequest}
	problem, retry, err := s.checkOwnPassword(r, u, password, api.ActReset)
	switch {
	case err != nil:
		return api.ResetRun{}, nil, err
	case retry > 0:
		ref.Status, ref.RetryAfter = http.StatusTooManyRequests, retry
		ref.Fields = append(ref.Fields, api.FieldProblem{Field: "password", Message: problem})
		return api.ResetRun{}, ref, nil
	case problem != "":
		ref.Fields = append(ref.Fields, api.FieldProblem{Field: "password", Message: problem})
	}
	a := s.actor(r)
	ctx, cancel := context.WithTimeout(r.Context(), agentReadTimeout)
	info, err := s.agent.SystemReset(ctx, a)
	cancel()
	if err != nil {
		return api.ResetRun{}, s.resetAgentRefusal(r, ref, err), nil
	}
	confirm = strings.TrimSpace(confirm)
	switch {
	case info.Mode == config.ResetNone:
		ref.Status, ref.Message = http.StatusConflict, "This device has no factory reset: reset.mode is none."
	case confirm == "":
		ref.Fields = append(ref.Fields, api.FieldProblem{Field: "confirm", Message: "Type the device's host name, " + info.Hostname + ", to confirm."})
	case !strings.EqualFold(confirm, info.Hostname):
		ref.Fields = append(ref.Fields, api.FieldProblem{Field: "confirm",
			Message: fmt.Sprintf("This is not the device's host name: type %s.", info.Hostname)})
	}
	if ref.Message != "" || len(ref.Fields) > 0 {
		s.audit(r, "", api.ActReset, info.Hostname, resultFail, "refused: "+refusalText(ref))
		return api.ResetRun{}, ref, nil
	}
	ctx, cancel = context.WithTimeout(r.Context(), resetStartTimeout)
	defer cancel()
	run, err := s.agent.StartReset(ctx, a, api.ResetRequest{Confirm: confirm, KeepSettings: keep})
	if err != nil {
		return api.ResetRun{}, s.resetAgentRefusal(r, ref, err), nil
	}
	return run, nil, nil
}

// resetAgentRefusal adds what the agent refused (or that it does not
// answer) to ref.
func (s *Server) resetAgentRefusal(r *http.Request, ref *resetRefusal, err error) *resetRefusal {
	var ae *api.Error
	if !errors.As(err, &ae) {
		ref.Status, ref.Message = http.StatusServiceUnavailable, s.agentState(r, err).Message
		if agentclient.Unavailable(err) {
			ref.Message = agentDownMessage
		}
		return ref
	}
	ref.Status = ae.Status
	problems := ae.Fields
	if len(problems) == 0 && ae.Field != "" {
		problems = []api.FieldProblem{{Field: ae.Field, Message: ae.Message}}
	}
	if len(problems) == 0 {
		ref.Message = sentence(errors.New(ae.Message))
	}
	for _, p := range problems {
		ref.Fields = append(ref.Fields, api.FieldProblem{Field: p.Field, Message: sentence(errors.New(p.Message))})
	}
	return ref
}

// refusalText is a refusal in one line, for the audit log.
func refusalText(ref *resetRefusal) string {
	var parts []string
	if ref.Message != "" {
		parts = append(parts, ref.Message)
	}
	for _, f := range ref.Fields {
		parts = append(parts, f.Field+": "+f.Message)
	}
	return strings.Join(parts, "; ")
}

// systemReset is the page's reset form: the body again, with the run
// that started, or with the form and what was wrong. Without htmx a
// reset that started is a redirect to the page.
func (s *Server) systemReset(w http.ResponseWriter, r *http.Request) {
	f := newForm(r, resetFormFields...)
	keep := f.Get("keep_settings") != ""
	_, ref, err := s.startReset(r, f.Get("password"), f.Get("confirm"), &keep)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	htmx := r.Header.Get("HX-Request") != ""
	status := http.StatusOK
	if ref == nil {
		f = nil
		if !htmx {
			http.Redirect(w, r, "/system", http.StatusSeeOther)
			return
		}
	} else {
		status = http.StatusUnprocessableEntity
		if ref.Status == http.StatusConflict || ref.Status == http.StatusServiceUnavailable || ref.Status == http.StatusTooManyRequests {
			status = ref.Status
		}
		if ref.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(retrySeconds(ref.RetryAfter)))
		}
		for _, p := range ref.Fields {
			if _, ok := f.Values[p.Field]; ok {
				f.fail(p.Field, p.Message)
			} else {
				f.Error = p.Field + ": " + p.Message
			}
		}
		if ref.Message != "" {
			f.Error = ref.Message
		}
	}
	d := s.loadSystem(r, f)
	if f != nil && d.Form == nil && f.Error != d.Agent.Message {
		d.Error = f.Error
	}
	if !htmx {
		s.render(w, r, status, "system", "System", d)
		return
	}
	s.renderPart(w, r, status, "system", "system-body", d)
}

// resetAPIRequest is the body of the console's POST /api/v1/system/reset.
type resetAPIRequest struct {
	Password     string `json:"password"`
	Confirm      string `json:"confirm"`
	KeepSettings *bool  `json:"keep_settings"`
}

// apiStartReset is POST /api/v1/system/reset: 202 and the queued run, or
// the error with every bad field.
func (s *Server) apiStartReset(w http.ResponseWriter, r *http.Request) {
	var req resetAPIRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	run, ref, err := s.startReset(r, req.Password, req.Confirm, req.KeepSettings)
	switch {
	case err != nil:
		s.serverError(w, r, err)
	case ref != nil:
		if ref.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(retrySeconds(ref.RetryAfter)))
		}
		e := apiError{Error: ref.Message, Fields: ref.Fields}
		if len(ref.Fields) > 0 {
			e.Field = ref.Fields[0].Field
			if e.Error == "" {
				e.Error = ref.Fields[0].Message
			}
		}
		writeJSON(w, ref.Status, e)
	default:
		writeJSON(w, http.StatusAccepted, run)
	}
}
