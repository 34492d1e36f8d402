package api

import (
	"time"

	"github.com/devmgr/devmgr/internal/auth"
)

// The command catalog (config commands) as the agent serves it: what the
// caller's role may run (GET /v1/commands), a run started with typed
// parameters (POST /v1/commands/{id}/runs), followed line by line
// (GET /v1/runs/{id}/events), read back (GET /v1/runs/{id}, GET /v1/runs)
// and cancelled (POST /v1/runs/{id}/cancel).
//
// Who sees which runs: an admin sees and cancels every run; an operator
// or a viewer only their own (another user's run is 404 to them).

// CommandRole is the routes' least role: viewer, the least role a command
// may name. The agent checks every command's own roles again
// (config roles: only the roles a command lists may run it).
const CommandRole = auth.Viewer

// RunSeeAllRole sees and cancels every user's runs.
const RunSeeAllRole = auth.Admin

// Audit actions of the commands: command.run records a run's start
// (result ok), its end (ok when it exited 0, else failed) and a refused
// request (denied, invalid, failed); command.cancel a cancel. The target
// is the command's id.
const (
	ActCommandRun    = "command.run"
	ActCommandCancel = "command.cancel"
)

// Command is one command of GET /v1/commands.
type Command struct {
	ID          string `json:"id"`
	Title       string `json:"title"`
	Description string `json:"description,omitempty"`
	// Confirm: the page asks before running it.
	Confirm        bool           `json:"confirm,omitempty"`
	TimeoutSeconds int64          `json:"timeout_s"`
	Params         []CommandParam `json:"params"` // in the form's order; never null
}

// CommandParam is a typed parameter of a command, with what a form needs
// to offer it: the bounds of its type.
type CommandParam struct {
	Name    string `json:"name"`
	Title   string `json:"title"` // the form's label (the name when the config has none)
	Type    string `json:"type"`  // enum, int, hostname, ip, cidr, interface, string (config's)
	Default string `json:"default,omitempty"`
	// Choices are an enum's values, or the interfaces an interface
	// parameter may name now (only the LAN interfaces with LANOnly).
	Choices []string `json:"choices,omitempty"`
	Min     *int64   `json:"min,omitempty"` // int
	Max     *int64   `json:"max,omitempty"` // int
	// Pattern is a string's anchored regular expression (RE2), MaxLength
	// its most bytes.
	Pattern   string `json:"pattern,omitempty"`
	MaxLength int    `json:"max_length,omitempty"`
	LANOnly   bool   `json:"lan_only,omitempty"` // interface
}

// RunRequest is the body of POST /v1/commands/{id}/runs. A value is a
// JSON string, or a whole number for an int parameter. A bad value is a
// 400 whose fields are named "params.NAME", one per bad parameter (an
// unknown name that cannot be a parameter's is reported as "params").
type RunRequest struct {
	Params map[string]string `json:"params"`
}

// ParamsField is the prefix of a parameter's field in an error:
// "params.count".
const ParamsField = "params."

// RunStarted is the 201 answer of POST /v1/commands/{id}/runs.
type RunStarted struct {
	RunID int64 `json:"run_id"`
}

// Run statuses.
const (
	RunRunning     = "running"
	RunOK          = "ok"          // exit code 0
	RunFailed      = "failed"      // another exit code, or it could not start
	RunTimeout     = "timeout"     // killed at the command's timeout
	RunCanceled    = "canceled"    // killed on request
	RunInterrupted = "interrupted" // the agent stopped while it ran
)

// RunStatuses lists them in the order a filter offers them.
var RunStatuses = []string{RunRunning, RunOK, RunFailed, RunTimeout, RunCanceled, RunInterrupted}

// Run is a run of a command: GET /v1/runs/{id} (with its output), an
// entry of GET /v1/runs (without), the answer of a cancel.
type Run struct {
	ID      int64     `json:"run_id"`
	Command string    `json:"command"`
	User    string    `json:"user"`
	Role    auth.Role `json:"role"`
	Source  string    `json:"source"` // the client's address, or "cli"
	// Params are the values passed, defaults filled in, in canonical form.
	Params map[string]string `json:"params"`
	Argv   []string          `json:"argv"`
	Status string            `json:"status"`
	// ExitCode is the program's; -1 while it runs, when a signal ended it
	// or when it never started.
	ExitCode int `json:"exit_code"`
	// Error says why a run did not end by itself ("timed out after 30s",
	// "canceled by alice") or could not start.
	Error      string    `json:"error,omitempty"`
	Started    time.Time `json:"started"`
	DurationMS int64     `json:"duration_ms"` // so far, while it runs
	// Truncated: output beyond the command's limit was dropped, or a line
	// was cut.
	Truncated  bool `json:"truncated"`
	OutputSize int  `json:"output_size"` // bytes, newlines counted
	// Output is stdout and stderr merged, one entry a line; left out of
	// GET /v1/runs.
	Output []string `json:"output,omitempty"`
}

// RunQuery selects runs of GET /v1/runs: query parameters command, user,
// status, limit (1..MaxRunLimit, default DefaultRunLimit) and offset.
type RunQuery struct {
	Command, User, Status string
	Limit, Offset         int
}

// Page sizes of GET /v1/runs.
const (
	DefaultRunLimit = 50
	MaxRunLimit     = 500
)

// RunList is GET /v1/runs: a page of runs, newest first, and how many the
// filter selects in all.
type RunList struct {
	Runs   []Run `json:"runs"` // never null
	Total  int   `json:"total"`
	Limit  int   `json:"limit"`
	Offset int   `json:"offset"`
}

// GET /v1/runs/{id}/events is a stream of server-sent events
// (text/event-stream): an EventRunLine per output line, its id the line's
// sequence number (1, 2, ...) and its data the line's text (a carriage
// return in it becomes a new data line, so a client sees "\n"), then one
// EventRunEnd whose data is a RunResult (JSON). A client that reconnects
// with Last-Event-ID gets the lines after that one; a run that has ended
// is replayed from its history. Comment lines keep an idle stream open.
const (
	EventRunLine = "line"
	EventRunEnd  = "end"
	// HeaderLastEventID names the last line a client has.
	HeaderLastEventID = "Last-Event-ID"
)

// RunResult is the data of the end event: how the run ended.
type RunResult struct {
	RunID      int64  `json:"run_id"`
	Status     string `json:"status"`
	ExitCode   int    `json:"exit_code"`
	DurationMS int64  `json:"duration_ms"`
	Truncated  bool   `json:"truncated"`
	Error      string `json:"error,omitempty"`
	Lines      int64  `json:"lines"` // the last line's id
}
