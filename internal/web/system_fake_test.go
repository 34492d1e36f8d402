package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/devmgr/devmgr/internal/agent/api"
)

// fakeResetHost is the fake agent's host name, which a reset confirms.
const fakeResetHost = "testhost"

// fakeSystemReset is the fake agent's overlay: mount mode, a few changes,
// and a last reset that is done and verified.
func fakeSystemReset() api.SystemReset {
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	run := &api.ResetRun{ID: "0123456789abcdef", Mode: "mount", User: "alice", Status: api.ResetDone, Phase: api.PhaseStarting,
		Percent: 100, StartedAt: at, FinishedAt: &at, KeepSettings: true,
		Verification: &api.ResetVerification{OK: true, At: at, Checks: []api.ResetCheck{
			{Name: "mounted", OK: true, Detail: "overlay at /mnt/merged: lowerdir /mnt/lower, upperdir /mnt/upper, workdir /mnt/work; rw,nosuid"},
			{Name: "tree", OK: true, Detail: "/mnt/merged equals /mnt/lower: compared by content (SHA-256), owner and mode"},
		}},
		Events: []api.ResetEvent{{Seq: 1, Time: at, Phase: api.PhaseStarting, State: api.PhaseDone, Message: "the reset is done", Percent: 100}}}
	for _, p := range []string{api.PhaseChecking, api.PhaseStopping, api.PhaseSaving, api.PhaseUnmount, api.PhaseWiping,
		api.PhaseRemount, api.PhaseSettings, api.PhaseVerifying, api.PhaseStarting} {
		run.Phases = append(run.Phases, api.ResetPhase{Name: p, State: api.PhaseDone, StartedAt: &at, FinishedAt: &at})
	}
	return api.SystemReset{Mode: "mount", Hostname: fakeResetHost, KeepSettings: true,
		Kept: []string{"the devmgr config", "the console's users and API tokens"},
		Lost: []string{"the console's users and API tokens: the console starts afresh"},
		Overlay: api.OverlayState{Mode: "mount", Mounted: true, Lower: "/mnt/lower", Upper: "/mnt/upper", Work: "/mnt/work",
			Merged: "/mnt/merged", Options: []string{"rw", "nosuid", "lowerdir=/mnt/lower", "upperdir=/mnt/upper", "workdir=/mnt/work"},
			Usage: api.OverlayUsage{Files: 3, Dirs: 2, Bytes: 2048},
			Changes: api.OverlayChanges{Added: 1, Changed: 1, Deleted: 1, Groups: []api.ChangeGroup{
				{Dir: "/etc", Changed: []string{"/etc/app.conf"}, Deleted: []string{"/etc/old.conf"}},
				{Dir: "/var", Added: []string{"/var/lib/app/state.db"}},
			}}},
		Run: run}
}

// SystemReset is fakeSystemReset, whose run is the one StartReset
// queued once there is one.
func (f *fakeAgent) SystemReset(_ context.Context, a api.Actor) (api.SystemReset, error) {
	info := fakeSystemReset()
	if len(f.startResets()) > 0 {
		run := fakeQueued(a)
		info.Run = &run
	}
	f.record("system reset " + a.User)
	return info, nil
}

// fakeQueued is the run StartReset queues.
func fakeQueued(a api.Actor) api.ResetRun {
	return api.ResetRun{ID: "fedcba9876543210", Mode: "mount", User: a.User, Status: api.ResetQueued, Phase: api.PhaseChecking,
		Percent: 11, StartedAt: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC), Events: []api.ResetEvent{},
		Phases: []api.ResetPhase{{Name: api.PhaseChecking, State: api.PhaseDone}, {Name: api.PhaseStopping, State: api.PhasePending}}}
}

// StartReset queues a reset; the request must come without a password.
func (f *fakeAgent) StartReset(_ context.Context, a api.Actor, req api.ResetRequest) (api.ResetRun, error) {
	keep := "default"
	if req.KeepSettings != nil {
		keep = fmt.Sprint(*req.KeepSettings)
	}
	f.record(fmt.Sprintf("start reset %s confirm=%s keep=%s password=%q", a.User, req.Confirm, keep, req.Password))
	return fakeQueued(a), nil
}

// resetHandlers serve the fake's reset routes for the proxy.
func (f *fakeAgent) resetHandlers(actor func(*http.Request) api.Actor, reply func(http.ResponseWriter, int, any, error)) map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"GET /v1/system/reset": func(w http.ResponseWriter, r *http.Request) {
			info, err := f.SystemReset(r.Context(), actor(r))
			reply(w, 200, info, err)
		},
		"GET /v1/system/reset/changes": func(w http.ResponseWriter, r *http.Request) {
			actor(r)
			w.Header().Set("Content-Type", "application/gzip")
			w.Header().Set("Content-Disposition", `attachment; filename="testhost-changes.tar.gz"`)
			w.Write([]byte("\x1f\x8bfake"))
		},
		"GET /v1/system/reset/events": func(w http.ResponseWriter, r *http.Request) {
			actor(r)
			w.Header().Set("Content-Type", "application/x-ndjson")
			enc := json.NewEncoder(w)
			for _, e := range fakeSystemReset().Run.Events {
				enc.Encode(e)
			}
		},
	}
}

// startResets are the fake agent's calls that started a reset.
func (f *fakeAgent) startResets() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		if strings.HasPrefix(c, "start reset ") {
			out = append(out, c)
		}
	}
	return out
}
