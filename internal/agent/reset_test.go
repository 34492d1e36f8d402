package agent

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/devmgr/devmgr/internal/agent/api"
	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/reset"
	"github.com/devmgr/devmgr/internal/service"
	"github.com/devmgr/devmgr/internal/testing/mountns"
	"github.com/devmgr/devmgr/internal/testing/testutil"
)

// resetHost is the test device's host name: a request confirms it.
const resetHost = "testdevice"

// resetServices knows one service; Stop waits for hold to be closed.
type resetServices struct {
	mu    sync.Mutex
	state service.State
	hold  chan struct{}
}

func (f *resetServices) set(st service.State) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.state = st
}

func (f *resetServices) Stop(context.Context, string) error {
	<-f.hold
	f.set(service.StateStopped)
	return nil
}

func (f *resetServices) Start(context.Context, string) error {
	f.set(service.StateRunning)
	return nil
}

func (f *resetServices) Status(_ context.Context, name string) (service.Status, error) {
	if name != "app.service" {
		return service.Status{}, &service.ErrUnknown{Name: name}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return service.Status{Name: name, State: f.state}, nil
}

// plainSettings keeps nothing of devmgr's own: the settings are the
// backup archive's business, tested in internal/reset.
type plainSettings struct{}

func (plainSettings) Save(_ context.Context, w io.Writer) error {
	_, err := w.Write([]byte("kept"))
	return err
}
func (plainSettings) Restore(context.Context, io.Reader) (string, error) {
	return "nothing to put back", nil
}
func (plainSettings) Clear(context.Context) (string, error) { return "nothing to clear", nil }
func (plainSettings) Paths() []string                       { return nil }

// resetDevice is a mount mode overlay in dir, mounted and changed.
func resetDevice(t *testing.T, dir string) config.Reset {
	t.Helper()
	rc := config.Reset{Mode: config.ResetMount, Lower: filepath.Join(dir, "lower"), Upper: filepath.Join(dir, "layers/upper"),
		Work: filepath.Join(dir, "layers/work"), Merged: filepath.Join(dir, "merged"), Options: []string{"index=off"},
		Services: []string{"app.service"}}
	for _, d := range []string{rc.Lower + "/etc", rc.Upper, rc.Work, rc.Merged} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(rc.Lower+"/etc/app.conf", []byte("factory\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("overlay", rc.Merged, "overlay", 0, rc.MountOptions()); err != nil {
		t.Fatalf("mounting the overlay: %v", err)
	}
	for p, content := range map[string]string{"etc/app.conf": "changed\n", "data/new.txt": "added\n"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(rc.Merged, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(rc.Merged, p), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return rc
}

// TestResetRoutes drives the reset's routes against a real overlay in a
// mount namespace of the test's own: the agent's Resetter queues, a
// second one (the stand-in of devmgr-reset.service, started by
// LaunchReset) runs the reset, and the agent reads its progress from the
// journal. Bad requests are refused with what to do and touch nothing.
func TestResetRoutes(t *testing.T) {
	dir, child := mountns.Private(t)
	if !child {
		return
	}
	rc := resetDevice(t, dir)
	svc := &resetServices{state: service.StateRunning, hold: make(chan struct{})}
	newResetter := func() *reset.Resetter {
		r, err := reset.New(reset.Config{Reset: rc, Dir: filepath.Join(dir, "state/reset"), Settings: plainSettings{},
			Services: svc, ServiceNames: rc.Services, ServiceWait: time.Second,
			Hostname: func() (string, error) { return resetHost, nil }, Log: discard()})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	res, runner := newResetter(), newResetter()
	gate := make(chan struct{})
	launches := make(chan struct{}, 4)
	ran := make(chan error, 1)
	ta := startAgent(t, func(c *Config) {
		c.Reset = res
		c.LaunchReset = func(context.Context) error {
			launches <- struct{}{}
			go func() {
				<-gate
				_, _, err := runner.Resume(context.Background())
				ran <- err
			}()
			return nil
		}
	})
	t.Cleanup(func() {
		select { // a failed test may leave the run waiting
		case <-gate:
		default:
			close(gate)
		}
		select {
		case <-svc.hold:
		default:
			close(svc.hold)
		}
	})
	ctx := context.Background()
	c := ta.client

	info, err := c.SystemReset(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode != config.ResetMount || info.Hostname != resetHost || !info.Overlay.Mounted || info.Run != nil ||
		info.Overlay.Changes.Added != 2 || info.Overlay.Changes.Changed != 1 {
		t.Fatalf("GET /v1/system/reset = %+v", info)
	}
	if _, err := c.SystemReset(ctx, operator); !api.IsStatus(err, http.StatusForbidden) {
		t.Errorf("an operator reads the reset: %v", err)
	}
	var tgz bytes.Buffer
	if err := c.ResetChanges(ctx, admin, &tgz); err != nil {
		t.Fatal(err)
	}
	if got := testutil.TarGz(t, tgz.Bytes()); got["data/new.txt"] != "file added\n" || got["etc/app.conf"] != "file changed\n" {
		t.Errorf("the changes' archive holds %q", got)
	}

	yes := true
	for name, tc := range map[string]struct {
		who    Actor
		req    api.ResetRequest
		status int
		field  string
		msg    string
	}{
		"a password":        {admin, api.ResetRequest{Password: "secret", Confirm: resetHost}, 400, "password", "the agent takes no password"},
		"no host name":      {admin, api.ResetRequest{Confirm: " "}, 400, "confirm", "type the device's host name"},
		"another host name": {admin, api.ResetRequest{Confirm: "otherdevice", KeepSettings: &yes}, 400, "confirm", `"otherdevice" was typed; type testdevice`},
		"an operator":       {operator, api.ResetRequest{Confirm: resetHost}, 403, "", "role operator may not do this (needs admin)"},
	} {
		_, err := c.StartReset(ctx, tc.who, tc.req)
		e, ok := api.AsError(err)
		if !ok || e.Status != tc.status || e.Field != tc.field || !strings.Contains(e.Message, tc.msg) {
			t.Errorf("%s: %v, want %d %s %q", name, err, tc.status, tc.field, tc.msg)
		}
	}
	if _, ok := res.Current(); ok || len(launches) > 0 {
		t.Fatalf("a refused request was journaled or launched (%d)", len(launches))
	}
	if _, err := os.Lstat(filepath.Join(dir, "state/reset/journal.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused request wrote a journal: %v", err)
	}
	for _, want := range []string{"invalid password: the agent takes no password", "invalid confirm: the confirmation is not", "denied role operator"} {
		if !slices.ContainsFunc(ta.audit.all(), func(e AuditEntry) bool {
			return e.Action == api.ActReset && strings.Contains(e.Result+" "+e.Detail, want)
		}) {
			t.Errorf("no audit entry %q in %+v", want, ta.audit.all())
		}
	}

	run, err := c.StartReset(ctx, admin, api.ResetRequest{Confirm: strings.ToUpper(resetHost)})
	if err != nil {
		t.Fatal(err)
	}
	if run.Status != api.ResetQueued || run.User != admin.User || run.KeepSettings {
		t.Errorf("the queued run: %+v", run)
	}
	<-launches
	if e, ok := ta.audit.find(api.ActReset, "ok"); !ok || e.Detail != "reset "+run.ID+" queued (keep settings: no)" {
		t.Errorf("the queued reset's audit entry: %+v", e)
	}
	events := make(chan []api.ResetEvent, 1)
	go func() {
		var got []api.ResetEvent
		_, err := c.ResetEvents(ctx, admin, 0, func(e api.ResetEvent) { got = append(got, e) })
		if err != nil {
			t.Errorf("following the events: %v", err)
		}
		events <- got
	}()

	// A second request, while the first is queued and then while it runs.
	busy := func(want string) {
		t.Helper()
		_, err := c.StartReset(ctx, admin, api.ResetRequest{Confirm: resetHost})
		if e, ok := api.AsError(err); !ok || e.Status != http.StatusConflict ||
			!strings.Contains(e.Message, "a factory reset is already running: reset "+run.ID+", asked for by alice") ||
			!strings.Contains(e.Message, want) {
			t.Errorf("a second reset: %v, want 409 saying %q", err, want)
		}
	}
	busy("is queued")
	close(gate)
	testutil.Eventually(t, 10*time.Second, func() bool {
		info, err := c.SystemReset(ctx, admin)
		return err == nil && info.Run != nil && info.Run.Phase == api.PhaseStopping
	}, func() string { return "the run did not reach its stopping phase" })
	busy("is running (phase stopping services")
	close(svc.hold)
	if err := <-ran; err != nil {
		t.Fatalf("the reset: %v", err)
	}
	if len(launches) > 0 {
		t.Error("a refused request launched a reset")
	}

	got := <-events
	if len(got) == 0 || got[len(got)-1].Percent != 100 {
		t.Fatalf("events: %+v", got)
	}
	for i, e := range got {
		if e.Seq != i+1 {
			t.Fatalf("event %d has sequence number %d: %+v", i, e.Seq, got)
		}
	}
	var again []api.ResetEvent
	if _, err := c.ResetEvents(ctx, admin, 3, func(e api.ResetEvent) { again = append(again, e) }); err != nil {
		t.Fatal(err)
	}
	if len(again) != len(got)-3 || again[0].Seq != 4 {
		t.Errorf("the events after 3: %+v", again)
	}
	info, err = c.SystemReset(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	if r := info.Run; r == nil || r.ID != run.ID || r.Status != api.ResetDone || r.Verification == nil || !r.Verification.OK {
		t.Fatalf("the run after it ended: %+v", info.Run)
	}
	if !info.Overlay.Mounted || info.Overlay.Changes.Added+info.Overlay.Changes.Changed+info.Overlay.Changes.Deleted != 0 {
		t.Errorf("the overlay after the reset: %+v", info.Overlay)
	}
	if _, err := c.StartReset(ctx, admin, api.ResetRequest{Confirm: resetHost, KeepSettings: &yes}); err != nil {
		t.Fatalf("a reset after the last one ended: %v", err)
	}
	if err := <-ran; err != nil {
		t.Errorf("the second reset: %v", err)
	}
}

// An agent without the reset answers its routes with 503.
func TestResetUnavailable(t *testing.T) {
	ta := startAgent(t, nil)
	ctx := context.Background()
	if _, err := ta.client.SystemReset(ctx, admin); !api.IsStatus(err, http.StatusServiceUnavailable) {
		t.Errorf("GET: %v", err)
	}
	if _, err := ta.client.StartReset(ctx, admin, api.ResetRequest{Confirm: resetHost}); !api.IsStatus(err, http.StatusServiceUnavailable) {
		t.Errorf("POST: %v", err)
	}
}
