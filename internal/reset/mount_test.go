package reset

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/devmgr/devmgr/internal/agent/api"
	"github.com/devmgr/devmgr/internal/apmgr"
	"github.com/devmgr/devmgr/internal/backup"
	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/store"
	"github.com/devmgr/devmgr/internal/testing/testutil"
)

// The overlay's state before a reset: what the upper layer holds and how
// it differs from the factory layer, and the download of it.
func TestMountOverlayState(t *testing.T) {
	l := changedLab(t, config.ResetMount)
	if l == nil {
		return
	}
	r := l.resetter(nil)
	st := r.Overlay(context.Background())
	if !st.Mounted || st.Problem != "" || !slices.Contains(st.Options, "upperdir="+l.cfg.Reset.Upper) || !slices.Contains(st.Options, "nosuid") {
		t.Errorf("state %+v", st)
	}
	if st.Usage.Files < 8 || st.Usage.Bytes == 0 {
		t.Errorf("usage %+v", st.Usage)
	}
	groups := map[string]api.ChangeGroup{}
	for _, g := range st.Changes.Groups {
		groups[g.Dir] = g
	}
	want := map[string]api.ChangeGroup{
		"/bin":   {Dir: "/bin", Changed: []string{"bin/tool"}},
		"/data":  {Dir: "/data", Added: []string{"data/", "data/new.txt"}},
		"/share": {Dir: "/share", Deleted: []string{"share/doc/README", "share/doc/old/"}, Added: []string{"share/doc/old/fresh"}},
	}
	for dir, w := range want {
		if diff := cmp.Diff(w, groups[dir]); diff != "" {
			t.Errorf("group %s (-want +got):\n%s", dir, diff)
		}
	}
	if g := groups["/etc"]; !slices.Contains(g.Changed, "etc/app.conf") || !slices.Contains(g.Added, "etc/extra.conf") ||
		!slices.Contains(g.Changed, "etc/devmgr/devmgr.yaml") {
		t.Errorf("group /etc: %+v", g)
	}
	var buf bytes.Buffer
	must(t, r.WriteChanges(context.Background(), &buf))
	entries := testutil.TarGz(t, buf.Bytes())
	for name, want := range map[string]string{
		"share/doc/README": "char 0:0",
		"share/doc/old/":   "dir opaque",
		"etc/app.conf":     "file changed setting\n",
		"data/new.txt":     "file added\n",
	} {
		if got := entries[name]; got != want {
			t.Errorf("changes archive: %s is %q, want %q", name, got, want)
		}
	}
}

// A reset that keeps the settings: the merged view is the factory's again
// but for the kept settings, which are back (the config as it was edited,
// the console's admin, token and TLS pair, the agent's settings); the
// upper layer holds them and nothing else, the work directory nothing;
// the overlay is mounted again with its options and flags; the services
// were stopped, then started and found running.
func TestMountResetKeepingSettings(t *testing.T) {
	l := changedLab(t, config.ResetMount)
	if l == nil {
		return
	}
	cfgBefore, err := os.ReadFile(l.cfgPath)
	must(t, err)
	certBefore, err := os.ReadFile(filepath.Join(backup.TLSDir(l.cfg), "cert.pem"))
	must(t, err)
	r := l.resetter(nil)
	run, err := r.Run(context.Background(), Request{Confirm: "TestDevice", KeepSettings: true, User: "root"})
	if err != nil {
		t.Fatalf("Run: %v\n%+v", err, run)
	}
	checkDone(t, run, []string{api.PhaseChecking, api.PhaseStopping, api.PhaseSaving, api.PhaseUnmount, api.PhaseWiping,
		api.PhaseRemount, api.PhaseSettings, api.PhaseVerifying, api.PhaseStarting})
	if diff := cmp.Diff([]string{"stopped devmgr-web.service", "stopped app.service", "running app.service", "running devmgr-web.service"},
		l.svc.log()); diff != "" {
		t.Errorf("services (-want +got):\n%s", diff)
	}
	m := l.cfg.Reset.Merged
	got, factory := tree(t, m), tree(t, l.cfg.Reset.Lower)
	for p, w := range factory {
		if strings.HasPrefix(p, "etc/devmgr") || strings.HasPrefix(p, "var/lib") {
			continue
		}
		if got[p] != w {
			t.Errorf("%s is %q, the factory's %q", p, got[p], w)
		}
	}
	for _, p := range []string{"data", "etc/extra.conf", "share/doc/old/fresh"} {
		if _, ok := got[p]; ok {
			t.Errorf("%s survived the reset", p)
		}
	}
	if b, err := os.ReadFile(l.cfgPath); err != nil || !bytes.Equal(b, cfgBefore) {
		t.Errorf("the config is not the edited one: %v\n%s", err, b)
	}
	if b, err := os.ReadFile(filepath.Join(backup.TLSDir(l.cfg), "cert.pem")); err != nil || !bytes.Equal(b, certBefore) {
		t.Errorf("the TLS certificate is not the kept one: %v", err)
	}
	db, err := store.Open(context.Background(), l.cfg.DataDir, testLog(t))
	must(t, err)
	if u, err := db.UserByName(context.Background(), "alice"); err != nil || u.Role != "admin" {
		t.Errorf("alice: %+v, %v", u, err)
	}
	must(t, db.Close())
	ap, err := apmgr.ReadState(l.cfg.Agent.StateDir, filepath.Join(l.dir, "deny"))
	must(t, err)
	if ap.Settings == nil || ap.Settings.SSID != "Kept" || !slices.Equal(ap.Deny, []string{"02:00:00:00:00:01"}) {
		t.Errorf("the agent's settings: %+v", ap)
	}
	for p := range tree(t, l.cfg.Reset.Upper) {
		if p != "." && !within(p, "etc/devmgr/devmgr.yaml") && !within(p, "var/lib/devmgr") && !slices.Contains([]string{"etc", "etc/devmgr", "var", "var/lib"}, p) {
			t.Errorf("the upper layer holds %s", p)
		}
	}
	if diff := cmp.Diff([]string{"work"}, names(t, l.cfg.Reset.Work)); diff != "" {
		t.Errorf("work directory (-want +got):\n%s", diff)
	}
	if !mounted(t, m) {
		t.Error("the overlay is not mounted again")
	}
	if _, err := os.Lstat(filepath.Join(l.cfg.ResetDir(), keepFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the kept settings stay in the reset's directory: %v", err)
	}
	// The journal read back by a new Resetter (a restarted agent) is the run.
	again, ok := l.resetter(nil).Current()
	if !ok || again.ID != run.ID || again.Status != api.ResetDone || again.Verification == nil || !again.Verification.OK {
		t.Errorf("journal read back: %+v", again)
	}
}

// A reset without the settings: the merged view is the factory's whole
// (the config file the factory's, the console's database gone: it starts
// afresh), the agent's settings emptied, the upper layer empty.
func TestMountResetToFirstStart(t *testing.T) {
	l := changedLab(t, config.ResetMount)
	if l == nil {
		return
	}
	run, err := l.resetter(nil).Run(context.Background(), Request{Confirm: hostname, User: "alice"})
	if err != nil {
		t.Fatalf("Run: %v\n%+v", err, run)
	}
	checkDone(t, run, nil)
	if p := phaseOf(run, api.PhaseSaving); p.State != api.PhaseSkipped {
		t.Errorf("saving: %+v", p)
	}
	if diff := cmp.Diff(tree(t, l.cfg.Reset.Lower), tree(t, l.cfg.Reset.Merged)); diff != "" {
		t.Errorf("merged differs from lower (-lower +merged):\n%s", diff)
	}
	if n := names(t, l.cfg.Reset.Upper); len(n) != 0 {
		t.Errorf("the upper layer holds %q", n)
	}
	if _, err := os.Lstat(filepath.Join(l.cfg.DataDir, store.FileName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the console's database is there: %v", err)
	}
	ap, err := apmgr.ReadState(l.cfg.Agent.StateDir, filepath.Join(l.dir, "deny"))
	must(t, err)
	if ap.Settings != nil || len(ap.Deny) != 0 {
		t.Errorf("the agent's settings: %+v", ap)
	}
	if v := run.Verification; v == nil || len(v.Checks) != 6 {
		t.Errorf("verification %+v", v)
	}
}

// A process holding a file open in the merged view: the reset is refused
// naming it, nothing is wiped, the overlay stays mounted and the services
// are started again.
func TestMountResetRefusedWhileBusy(t *testing.T) {
	l := changedLab(t, config.ResetMount)
	if l == nil {
		return
	}
	f, err := os.Open(filepath.Join(l.cfg.Reset.Merged, "etc/app.conf"))
	must(t, err)
	holder := exec.Command("sleep", "600")
	holder.ExtraFiles = []*os.File{f}
	must(t, holder.Start())
	f.Close()
	t.Cleanup(func() { holder.Process.Kill(); holder.Wait() })
	upper := tree(t, l.cfg.Reset.Upper)

	run, err := l.resetter(nil).Run(context.Background(), Request{Confirm: hostname, KeepSettings: true, User: "root"})
	pid := strconv.Itoa(holder.Process.Pid)
	if err == nil || !strings.Contains(err.Error(), "sleep (pid "+pid+": fd 3: "+filepath.Join(l.cfg.Reset.Merged, "etc/app.conf")) ||
		!strings.Contains(err.Error(), "nothing was wiped") {
		t.Fatalf("Run = %v", err)
	}
	if run.Status != api.ResetFailed || run.Phase != api.PhaseUnmount || len(run.Holders) != 1 || run.Holders[0].Command != "sleep" || run.Hint == "" {
		t.Errorf("run %+v", run)
	}
	if diff := cmp.Diff(upper, tree(t, l.cfg.Reset.Upper)); diff != "" {
		t.Errorf("the upper layer changed (-before +after):\n%s", diff)
	}
	if !mounted(t, l.cfg.Reset.Merged) {
		t.Error("the overlay is not mounted")
	}
	if got := l.svc.log(); !slices.Equal(got[len(got)-2:], []string{"running app.service", "running devmgr-web.service"}) {
		t.Errorf("services: %q", got)
	}
	if p := phaseOf(run, api.PhaseWiping); p.State != api.PhasePending {
		t.Errorf("wiping: %+v", p)
	}
}

// The process killed between wiping and remounting (the run stopped
// there): a new start refuses a new reset, Resume finishes this one and
// verifies.
func TestMountResetResumesAfterWipe(t *testing.T) {
	l := changedLab(t, config.ResetMount)
	if l == nil {
		return
	}
	r := l.resetter(func(c *Config) { c.Interrupt = func(phase string) bool { return phase == api.PhaseWiping } })
	run, err := r.Run(context.Background(), Request{Confirm: hostname, KeepSettings: true, User: "root"})
	if err != nil || run.Status != api.ResetRunning || run.Phase != api.PhaseWiping {
		t.Fatalf("interrupted run: %v, %+v", err, run)
	}
	if mounted(t, l.cfg.Reset.Merged) || len(names(t, l.cfg.Reset.Upper)) != 0 {
		t.Fatal("not stopped between the wipe and the remount")
	}

	if _, err := l.resetter(nil).Start(context.Background(), Request{Confirm: hostname, User: "root"}); !errors.Is(err, ErrUnfinished) {
		t.Errorf("a new reset while one is unfinished: %v", err)
	}
	// Killed again, resumed, before its wipe ran again: still carried on.
	again := l.resetter(func(c *Config) { c.Interrupt = func(phase string) bool { return phase == api.PhaseUnmount } })
	if run, ok, err := again.Resume(context.Background()); err != nil || !ok || run.Status != api.ResetRunning || phaseOf(run, api.PhaseWiping).State != api.PhasePending {
		t.Fatalf("Resume, stopped after unmounting: %v, %v, %+v", ok, err, run)
	}
	done, ok, err := l.resetter(nil).Resume(context.Background()) // the next start
	if err != nil || !ok {
		t.Fatalf("Resume: %v, %v\n%+v", ok, err, done)
	}
	checkDone(t, done, nil)
	if done.ID != run.ID || !strings.Contains(eventText(done), "resuming the reset, which stopped in phase wiping") ||
		!strings.Contains(eventText(done), "resuming the reset, which stopped in phase unmounting") {
		t.Errorf("resumed run %s: %s", done.ID, eventText(done))
	}
	if !mounted(t, l.cfg.Reset.Merged) {
		t.Error("not mounted after Resume")
	}
	if b, err := os.ReadFile(filepath.Join(l.cfg.Reset.Merged, "etc/app.conf")); err != nil || string(b) != factory["etc/app.conf"] {
		t.Errorf("etc/app.conf: %q, %v", b, err)
	}
	db, err := store.Open(context.Background(), l.cfg.DataDir, testLog(t))
	must(t, err)
	if _, err := db.UserByName(context.Background(), "alice"); err != nil {
		t.Errorf("the kept admin: %v", err)
	}
	db.Close()
	if _, ok, err := l.resetter(nil).Resume(context.Background()); ok || err != nil {
		t.Errorf("a second Resume: %v, %v", ok, err)
	}
}

// Killed before the wipe began (after the services stopped): Resume puts
// the device back (the overlay mounted, the services started) and records
// the run as failed; nothing was wiped.
func TestMountResetResumesBeforeWipe(t *testing.T) {
	l := changedLab(t, config.ResetMount)
	if l == nil {
		return
	}
	upper := tree(t, l.cfg.Reset.Upper)
	r := l.resetter(func(c *Config) { c.Interrupt = func(phase string) bool { return phase == api.PhaseStopping } })
	if run, err := r.Run(context.Background(), Request{Confirm: hostname, User: "root"}); err != nil || run.Status != api.ResetRunning {
		t.Fatalf("interrupted run: %v, %+v", err, run)
	}
	run, ok, err := l.resetter(nil).Resume(context.Background())
	if err == nil || !ok || run.Status != api.ResetFailed || !strings.Contains(run.Error, "before anything was wiped") {
		t.Fatalf("Resume: %v, %v, %+v", ok, err, run)
	}
	if diff := cmp.Diff(upper, tree(t, l.cfg.Reset.Upper)); diff != "" {
		t.Errorf("the upper layer changed (-before +after):\n%s", diff)
	}
	if !mounted(t, l.cfg.Reset.Merged) {
		t.Error("not mounted")
	}
	if got := l.svc.log(); !slices.Equal(got[len(got)-2:], []string{"running app.service", "running devmgr-web.service"}) {
		t.Errorf("services: %q", got)
	}
}

// Requests refused before anything is touched: a wrong host name, a
// second reset while one runs (in this process, and in another), a
// change of the agent pending, a service the device lacks.
func TestMountResetRefusals(t *testing.T) {
	l := changedLab(t, config.ResetMount)
	if l == nil {
		return
	}
	upper := tree(t, l.cfg.Reset.Upper)
	untouched := func(what string) {
		t.Helper()
		if diff := cmp.Diff(upper, tree(t, l.cfg.Reset.Upper)); diff != "" {
			t.Errorf("%s: the upper layer changed (-before +after):\n%s", what, diff)
		}
		if !mounted(t, l.cfg.Reset.Merged) {
			t.Errorf("%s: not mounted", what)
		}
	}
	ctx := context.Background()
	r := l.resetter(nil)

	_, err := r.Start(ctx, Request{Confirm: "otherdevice", KeepSettings: true})
	if !errors.Is(err, ErrConfirm) || !strings.Contains(err.Error(), `"otherdevice" was typed; type testdevice`) {
		t.Errorf("wrong host name: %v", err)
	}
	if _, ok := r.Current(); ok {
		t.Error("a refused request left a run")
	}
	untouched("wrong host name")

	changes := filepath.Join(l.cfg.Agent.StateDir, "changes")
	write(t, filepath.Join(changes, "pending.json"), "{}\n", 0o600)
	if _, err := r.Start(ctx, Request{Confirm: hostname}); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "waits for its confirmation") {
		t.Errorf("pending change: %v", err)
	}
	must(t, os.RemoveAll(changes))
	untouched("pending change")

	odd := l.resetter(func(c *Config) { c.ServiceNames = []string{"nope.service"} })
	if _, err := odd.Start(ctx, Request{Confirm: hostname}); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "nope.service is not a service") {
		t.Errorf("unknown service: %v", err)
	}
	untouched("unknown service")

	if l.svc.log() != nil {
		t.Errorf("services were touched: %q", l.svc.log())
	}
	l.svc.block = make(chan struct{})
	first, err := r.Start(ctx, Request{Confirm: hostname, User: "alice"})
	must(t, err)
	_, err = r.Start(ctx, Request{Confirm: hostname})
	if !errors.Is(err, ErrRunning) || !strings.Contains(err.Error(), "reset "+first.ID) || !strings.Contains(err.Error(), "by alice") {
		t.Errorf("second reset, same process: %v", err)
	}
	other := l.resetter(nil) // another process's: the lock says no
	if _, err := other.Start(ctx, Request{Confirm: hostname}); !errors.Is(err, ErrRunning) || !strings.Contains(err.Error(), "another process") {
		t.Errorf("second reset, other process: %v", err)
	}
	if _, _, err := other.Resume(ctx); !errors.Is(err, ErrRunning) {
		t.Errorf("Resume while a reset runs: %v", err)
	}
	close(l.svc.block)
	if run, err := r.Wait(ctx); err != nil || run.Status != api.ResetDone {
		t.Errorf("the first reset: %v, %+v", err, run)
	}
}

func checkDone(t *testing.T, run api.ResetRun, phases []string) {
	t.Helper()
	if run.Status != api.ResetDone || run.Percent != 100 || run.FinishedAt == nil || run.Error != "" {
		t.Errorf("run %s: status %s, %d%%, error %q", run.ID, run.Status, run.Percent, run.Error)
	}
	var got []string
	for _, p := range run.Phases {
		got = append(got, p.Name)
		if p.State != api.PhaseDone && p.State != api.PhaseSkipped {
			t.Errorf("phase %s: %s (%s)", p.Name, p.State, p.Detail)
		}
	}
	if phases != nil {
		if diff := cmp.Diff(phases, got); diff != "" {
			t.Errorf("phases (-want +got):\n%s", diff)
		}
	}
	v := run.Verification
	if v == nil || !v.OK {
		t.Fatalf("verification %+v", v)
	}
	for _, c := range v.Checks {
		t.Logf("check %s: %s", c.Name, c.Detail)
	}
	seqs := make([]int, len(run.Events))
	for i, e := range run.Events {
		seqs[i] = e.Seq
	}
	if len(seqs) == 0 || !slices.IsSorted(seqs) || run.Events[len(run.Events)-1].Percent != 100 {
		t.Errorf("events %v", seqs)
	}
}

func phaseOf(run api.ResetRun, name string) api.ResetPhase {
	for _, p := range run.Phases {
		if p.Name == name {
			return p
		}
	}
	return api.ResetPhase{}
}

func eventText(run api.ResetRun) string {
	var b strings.Builder
	for _, e := range run.Events {
		b.WriteString(e.Phase + " " + e.State + ": " + e.Message + "\n")
	}
	return b.String()
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	must(t, err)
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// The agent's way: Queue checks and journals the run, and refuses
// another; devmgr-reset.service's Resume runs it whole. A queued run whose
// device no longer passes the checks ends failed with nothing touched.
func TestMountResetQueued(t *testing.T) {
	l := changedLab(t, config.ResetMount)
	if l == nil {
		return
	}
	ctx := context.Background()
	agent := l.resetter(nil)
	q, err := agent.Queue(ctx, Request{Confirm: hostname, KeepSettings: true, User: "alice"})
	if err != nil || q.Status != api.ResetQueued || !agent.Unfinished() {
		t.Fatalf("Queue: %v, %+v", err, q)
	}
	if l.svc.log() != nil || !mounted(t, l.cfg.Reset.Merged) {
		t.Errorf("Queue touched the device: %q", l.svc.log())
	}
	for _, try := range []func() error{
		func() error { _, err := agent.Queue(ctx, Request{Confirm: hostname}); return err },
		func() error { _, err := l.resetter(nil).Start(ctx, Request{Confirm: hostname}); return err },
	} {
		if err := try(); !errors.Is(err, ErrUnfinished) || !strings.Contains(err.Error(), "reset "+q.ID+", asked for by alice, is queued") {
			t.Errorf("a second reset: %v", err)
		}
	}
	run, ok, err := l.resetter(nil).Resume(ctx) // devmgr-reset.service
	if err != nil || !ok {
		t.Fatalf("Resume: %v, %v, %+v", ok, err, run)
	}
	checkDone(t, run, nil)
	if run.ID != q.ID || run.User != "alice" || !strings.Contains(eventText(run), "the queued reset runs; checked again") {
		t.Errorf("run %+v:\n%s", run, eventText(run))
	}

	write(t, filepath.Join(l.cfg.Reset.Merged, "etc/app.conf"), "changed again\n", 0o644)
	q, err = agent.Queue(ctx, Request{Confirm: hostname, User: "alice"})
	must(t, err)
	upper := tree(t, l.cfg.Reset.Upper)
	write(t, filepath.Join(l.cfg.Agent.StateDir, "changes", "pending.json"), "{}\n", 0o600)
	run, ok, err = l.resetter(nil).Resume(ctx)
	if !errors.Is(err, ErrRefused) || !ok || run.Status != api.ResetFailed || !strings.Contains(run.Error, "waits for its confirmation") {
		t.Errorf("Resume of a queued run the device no longer allows: %v, %v, %+v", ok, err, run)
	}
	if diff := cmp.Diff(upper, tree(t, l.cfg.Reset.Upper)); diff != "" {
		t.Errorf("the upper layer changed (-before +after):\n%s", diff)
	}
	if l.resetter(nil).Unfinished() {
		t.Error("a refused queued run waits for Resume")
	}
}
