package api

import "time"

// The factory reset's wire types (internal/reset produces them). Its
// routes (Routes), each for ResetRole:
//
//	GET  /v1/system/reset                    SystemReset: the overlay, what a reset keeps, the running or last reset
//	GET  /v1/system/reset/changes            the upper layer as a .tar.gz (what differs from the factory layer)
//	POST /v1/system/reset                    ResetRequest → 202 ResetRun (queued); audited as ActReset
//	GET  /v1/system/reset/events?after=SEQ   NDJSON ResetEvent lines until the run ends (resumes after a reload)
//
// The console's POST /api/v1/system/reset checks the password itself and
// forwards the request without it: the agent's POST is not forwarded.

// ResetRole may see and start a factory reset.
const ResetRole = ChangeRole

// ActReset is the audit action of a factory reset.
const ActReset = "system.reset"

// ResetRequest is the body of POST /api/v1/system/reset.
type ResetRequest struct {
	// Password is the admin's password, typed again: the console checks
	// it and clears it before it forwards the request; the agent refuses
	// a request that carries one.
	Password string `json:"password,omitempty"`
	// Confirm is the device's host name (SystemReset.Hostname), typed.
	Confirm string `json:"confirm"`
	// KeepSettings keeps the devmgr config, the console's users and
	// tokens, its TLS certificate and the agent's settings (AP settings,
	// deny list, LAN configs); nil is reset.keep_settings.
	KeepSettings *bool `json:"keep_settings,omitempty"`
}

// SystemReset is GET /v1/system/reset.
type SystemReset struct {
	// Mode is reset.mode: none (the device has no reset), mount or root.
	Mode string `json:"mode"`
	// Hostname is what ResetRequest.Confirm must be.
	Hostname string `json:"hostname"`
	// KeepSettings is reset.keep_settings, the form's default.
	KeepSettings bool `json:"keep_settings"`
	// Kept says in words what keeping the settings keeps, and Lost what a
	// reset without them loses (the page warns with it).
	Kept []string `json:"kept"`
	Lost []string `json:"lost"`
	// Overlay is the overlay now; Run the running or last reset (nil when
	// there has been none).
	Overlay OverlayState `json:"overlay"`
	Run     *ResetRun    `json:"run,omitempty"`
}

// OverlayState is the overlay a reset returns to its lower layer.
type OverlayState struct {
	Mode    string `json:"mode"`
	Mounted bool   `json:"mounted"`
	Lower   string `json:"lower"`
	Upper   string `json:"upper"`
	Work    string `json:"work"`
	Merged  string `json:"merged"`
	// Options are the mount's options as the kernel lists them; while it
	// is not mounted, those a mount would use.
	Options []string `json:"options"`
	// Usage is the upper layer's; Changes what differs from the lower.
	Usage   OverlayUsage   `json:"usage"`
	Changes OverlayChanges `json:"changes"`
	// Problem says why a part could not be read ("" when all could).
	Problem string `json:"problem,omitempty"`
}

// OverlayUsage is what the upper layer holds.
type OverlayUsage struct {
	Files int64 `json:"files"` // everything but directories, whiteouts included
	Dirs  int64 `json:"dirs"`
	Bytes int64 `json:"bytes"` // the regular files' sizes
}

// OverlayChanges is what differs from the factory (lower) layer: the
// counts, and the paths grouped by top-level directory.
type OverlayChanges struct {
	Added   int `json:"added"`
	Changed int `json:"changed"`
	Deleted int `json:"deleted"`
	// Groups are sorted by Dir; at most MaxListedChanges paths are listed
	// in all (Truncated), the counts are whole.
	Groups    []ChangeGroup `json:"groups"`
	Truncated bool          `json:"truncated,omitempty"`
}

// ChangeGroup is one top-level directory's changes. Paths are relative to
// the overlay's root, directories end in "/"; a deleted directory ending
// in "/" is an opaque one: everything the lower layer had below it is
// hidden.
type ChangeGroup struct {
	Dir     string   `json:"dir"` // "/etc"; "/" for entries at the top
	Added   []string `json:"added,omitempty"`
	Changed []string `json:"changed,omitempty"`
	Deleted []string `json:"deleted,omitempty"`
	// More counts the group's changes beyond those listed.
	More int `json:"more,omitempty"`
}

// MaxListedChanges bounds the paths OverlayChanges lists.
const MaxListedChanges = 1000

// ResetRun is a factory reset as its journal records it: the 202 answer
// of POST /v1/system/reset and SystemReset.Run.
type ResetRun struct {
	ID           string `json:"id"`
	Mode         string `json:"mode"`
	KeepSettings bool   `json:"keep_settings"`
	// User asked for it: the console's user, or "root" on the shell.
	User   string `json:"user"`
	Status string `json:"status"` // ResetQueued, ResetRunning, ResetRebooting, ResetDone or ResetFailed
	// Phase is the phase running now, or the last one; Percent how much
	// of the run is done.
	Phase      string       `json:"phase"`
	Percent    int          `json:"percent"`
	Phases     []ResetPhase `json:"phases"`
	StartedAt  time.Time    `json:"started_at"`
	FinishedAt *time.Time   `json:"finished_at,omitempty"`
	// Error says what failed, naming the phase; Hint what to do.
	Error string `json:"error,omitempty"`
	Hint  string `json:"hint,omitempty"`
	// Holders are the processes that kept the overlay busy when it would
	// not unmount.
	Holders      []ResetHolder      `json:"holders,omitempty"`
	Verification *ResetVerification `json:"verification,omitempty"`
	// Events are the run's progress, oldest first (the last
	// MaxResetEvents).
	Events []ResetEvent `json:"events"`
}

// Statuses of a reset.
const (
	// ResetQueued: the agent accepted the request and started
	// devmgr-reset.service, which runs it (the agent's own sandbox cannot
	// unmount or wipe the overlay).
	ResetQueued  = "queued"
	ResetRunning = "running"
	// ResetRebooting: the root mode's marker is written and the device
	// reboots; the next start finishes the run.
	ResetRebooting = "rebooting"
	ResetDone      = "done"
	ResetFailed    = "failed"
)

// Phases of a reset, in the order they run. The mount mode runs them all
// but rebooting; the root mode checks, saves the settings and reboots,
// and after the boot (whose early step wiped the upper layer) stops the
// services, restores or clears the settings, verifies and starts them.
const (
	PhaseChecking  = "checking"
	PhaseStopping  = "stopping_services"
	PhaseSaving    = "saving_settings"
	PhaseUnmount   = "unmounting"
	PhaseRebooting = "rebooting"
	PhaseWiping    = "wiping"
	PhaseRemount   = "remounting"
	PhaseSettings  = "settings" // the kept settings restored, or devmgr's own state cleared
	PhaseVerifying = "verifying"
	PhaseStarting  = "starting_services"
)

// ResetPhase is one phase of a run.
type ResetPhase struct {
	Name       string     `json:"name"`
	State      string     `json:"state"` // PhasePending, PhaseActive, PhaseDone, PhaseSkipped or PhaseFailed
	StartedAt  *time.Time `json:"started_at,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	Detail     string     `json:"detail,omitempty"`
}

// States of a phase.
const (
	PhasePending = "pending"
	PhaseActive  = "running"
	PhaseDone    = "done"
	PhaseSkipped = "skipped"
	PhaseFailed  = "failed"
)

// ResetEvent is one step of a run's progress: a line of GET
// /v1/system/reset/events, and of ResetRun.Events.
type ResetEvent struct {
	Seq     int       `json:"seq"`
	Time    time.Time `json:"time"`
	Phase   string    `json:"phase"`
	State   string    `json:"state"` // the phase's state after the event
	Message string    `json:"message"`
	Percent int       `json:"percent"`
}

// MaxResetEvents bounds the events a run keeps.
const MaxResetEvents = 200

// ResetHolder is a process that uses the overlay.
type ResetHolder struct {
	PID     int    `json:"pid"`
	Command string `json:"command"` // its comm
	// Uses says how: "cwd", "root", "exe", "fd 3: /mnt/merged/x",
	// "mapped: /mnt/merged/lib.so" (the first few).
	Uses []string `json:"uses"`
}

// ResetVerification is what a reset checked once the overlay was back.
type ResetVerification struct {
	OK     bool         `json:"ok"`
	At     time.Time    `json:"at"`
	Checks []ResetCheck `json:"checks"`
}

// ResetCheck is one check of a verification.
type ResetCheck struct {
	Name   string `json:"name"` // mounted, upper, work, tree, settings, services, early_boot
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}
