package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/devmgr/devmgr/internal/agent/api"
	agentclient "github.com/devmgr/devmgr/internal/agent/client"
	"github.com/devmgr/devmgr/internal/auth"
	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/reset"
	"github.com/devmgr/devmgr/internal/testing/agentproc"
	"github.com/devmgr/devmgr/internal/testing/lab"
	"github.com/devmgr/devmgr/internal/testing/mountns"
	"github.com/devmgr/devmgr/internal/testing/testutil"
)

// resetEnv is a device whose config names a mount-mode reset of layers
// in its temporary directory (never mounted here: every command below
// is refused before).
func resetEnv(t *testing.T) *backupEnv {
	t.Helper()
	e := newBackupEnv(t)
	b, err := os.ReadFile(e.config)
	if err != nil {
		t.Fatal(err)
	}
	d := e.dir
	b = append(b, []byte("reset: {mode: mount, lower: "+d+"/lower, upper: "+d+"/layers/upper, work: "+d+"/layers/work, merged: "+d+"/merged}\n")...)
	if err := os.WriteFile(e.config, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

func TestResetCLIRefusesFlags(t *testing.T) {
	t.Parallel()
	e := newCLIEnv(t)
	e.fails("this device has no reset: reset.mode is none", "", "reset", "--yes", "--confirm", "x")
	e.fails("--yes and --confirm HOSTNAME go together", "", "reset", "--yes")
	e.fails("--yes and --confirm HOSTNAME go together", "", "reset", "--confirm", "x")
	e.fails("--resume finishes the interrupted reset as it was asked for", "", "reset", "--resume", "--keep-settings")
	if out := e.must("", "reset", "--resume"); !strings.Contains(out, "no reset to finish: reset.mode is none") {
		t.Errorf("--resume without a reset: %q", out)
	}
}

// As root: a running agent and a wrong host name are refused with what
// to do, and nothing is touched (the reset's directory is not even made).
func TestResetCLIRefusals(t *testing.T) {
	testutil.RequireRoot(t)
	e := resetEnv(t)
	ln, err := net.Listen("unix", filepath.Join(e.dir, "agent.sock"))
	if err != nil {
		t.Fatal(err)
	}
	e.fails("the agent is running ("+filepath.Join(e.dir, "agent.sock")+" answers): while it runs, the reset goes through it, from the console's System page",
		"", "reset", "--yes", "--confirm", "anything")
	ln.Close()
	host, _ := os.Hostname()
	out, _, err := e.run("", "reset", "--yes", "--confirm", "not-"+host)
	if err == nil || !strings.Contains(err.Error(), `the confirmation is not this device's host name: "not-`+host+`" was typed; type `+host) {
		t.Errorf("wrong host name: %v", err)
	}
	if !strings.Contains(out, "without --keep-settings, these go too:") && !strings.Contains(out, "kept across the reset:") {
		t.Errorf("what the reset would do is not said:\n%s", out)
	}
	if _, err := os.Lstat(filepath.Join(e.stateDir, "reset")); !os.IsNotExist(err) {
		t.Errorf("the reset's directory was made: %v", err)
	}
}

// TestLabResetFinishedAtStart: a reset whose process was killed between
// the wipe and the remount (the layers empty, the overlay not mounted) is
// finished by the next devmgr agent: at its start it runs devmgr reset
// --resume (here, without systemd, as its detached child), which mounts
// the overlay again, clears the settings and verifies; the run is
// audited. In a mount namespace of the test's own, with a lab's device
// namespace for the agent.
func TestLabResetFinishedAtStart(t *testing.T) {
	dir, child := mountns.Private(t)
	if !child {
		return
	}
	l, cfg, _ := labAgent(t, lab.Options{NoServers: true})
	cfg.Agent.Socket = filepath.Join(dir, "run", "agent.sock")
	cfg.Agent.StateDir = filepath.Join(dir, "state")
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.Web.User = "nobody"
	cfg.Reset = config.Reset{Mode: config.ResetMount, Lower: filepath.Join(dir, "lower"), Upper: filepath.Join(dir, "layers", "upper"),
		Work: filepath.Join(dir, "layers", "work"), Merged: filepath.Join(dir, "merged"), Options: []string{"index=off"}}
	rc := cfg.Reset
	for _, d := range []string{rc.Lower + "/etc", rc.Upper, rc.Work, rc.Merged, cfg.DataDir} {
		must(t, os.MkdirAll(d, 0o755))
	}
	must(t, os.Mkdir(cfg.Agent.StateDir, 0o700))
	must(t, os.WriteFile(rc.Lower+"/etc/app.conf", []byte("factory\n"), 0o644))
	must(t, unix.Mount("overlay", rc.Merged, "overlay", 0, rc.MountOptions()))
	must(t, os.WriteFile(rc.Merged+"/etc/app.conf", []byte("changed\n"), 0o644))
	must(t, os.WriteFile(rc.Merged+"/added", []byte("added\n"), 0o644))

	// The run's process "dies" once its wipe is done.
	host, err := os.Hostname()
	must(t, err)
	ctx := context.Background()
	r, err := reset.New(reset.Config{Reset: rc, Dir: cfg.ResetDir(), Settings: reset.BackupSettings{}, NoServices: "none in this test",
		Interrupt: func(phase string) bool { return phase == api.PhaseWiping }})
	must(t, err)
	if _, err := r.Start(ctx, reset.Request{Confirm: host, User: "alice"}); err != nil {
		t.Fatal(err)
	}
	cut, err := r.Wait(ctx)
	must(t, err)
	if cut.Status != api.ResetRunning || cut.Phase != api.PhaseWiping || !r.Unfinished() {
		t.Fatalf("the interrupted run: %s in %s", cut.Status, cut.Phase)
	}
	if ents, _ := os.ReadDir(rc.Upper); len(ents) != 0 {
		t.Fatalf("the upper layer was not wiped: %v", ents)
	}

	p := agentproc.Start(t, agentproc.Options{Config: cfg, NS: l.NS(lab.Device)})
	c := agentclient.New(cfg.Agent.Socket)
	defer c.Close()
	var info api.SystemReset
	testutil.Eventually(t, time.Minute, func() bool {
		info, err = c.SystemReset(ctx, agentAdmin)
		return err == nil && info.Run != nil && info.Run.Status != api.ResetRunning
	}, func() string {
		if info.Run == nil {
			return fmt.Sprintf("the agent shows no reset (%v):\n%s", err, p.Output())
		}
		return fmt.Sprintf("the reset was not finished: %s in %s\n%s\nagent:\n%s", info.Run.Status, info.Run.Phase, eventText(info.Run), p.Output())
	})
	run := info.Run
	if run.ID != cut.ID || run.Status != api.ResetDone || run.Verification == nil || !run.Verification.OK || run.Percent != 100 {
		t.Fatalf("the finished run: %s in %s (%s)\n%s\nagent:\n%s", run.Status, run.Phase, run.Error, eventText(run), p.Output())
	}
	var checks []string
	for _, c := range run.Verification.Checks {
		checks = append(checks, c.Name)
	}
	if diff := cmp.Diff([]string{"mounted", "upper", "work", "tree", "settings"}, checks); diff != "" {
		t.Errorf("the checks (-want +got):\n%s", diff)
	}
	if !strings.Contains(eventText(run), "resuming the reset, which stopped in phase wiping (running)") {
		t.Errorf("the run's events do not say it was resumed:\n%s", eventText(run))
	}
	if !info.Overlay.Mounted || info.Overlay.Changes.Added+info.Overlay.Changes.Changed+info.Overlay.Changes.Deleted != 0 {
		t.Errorf("the overlay in the agent's mount namespace: %+v", info.Overlay)
	}
	if out := p.Output(); !strings.Contains(out, "a factory reset waits to be finished; starting it") {
		t.Errorf("the agent does not say it finished the reset:\n%s", out)
	}
	root := api.Actor{User: "root", Role: auth.Admin, Source: "local"}
	testutil.Eventually(t, 10*time.Second, func() bool {
		got, err := c.Audit(ctx, root, api.AuditQuery{Action: api.ActReset})
		return err == nil && slices.ContainsFunc(got, func(e api.AuditRecord) bool {
			return e.User == "alice" && e.Result == "ok" && strings.Contains(e.Detail, "reset "+run.ID+": done (keep settings: no)")
		})
	}, "the finished reset is not in the agent's audit log")
}

// eventText is a run's events, a line each.
func eventText(run *api.ResetRun) string {
	var b strings.Builder
	for _, e := range run.Events {
		fmt.Fprintf(&b, "%d %s %s: %s\n", e.Seq, e.Phase, e.State, e.Message)
	}
	return b.String()
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
