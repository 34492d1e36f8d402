package web

import (
	"context"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/sys/unix"

	"github.com/devmgr/devmgr/internal/agent/api"
	agentclient "github.com/devmgr/devmgr/internal/agent/client"
	"github.com/devmgr/devmgr/internal/auth"
	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/testing/agentproc"
	"github.com/devmgr/devmgr/internal/testing/lab"
	"github.com/devmgr/devmgr/internal/testing/mountns"
	"github.com/devmgr/devmgr/internal/testing/testutil"
)

// TestSystemResetBrowser: an admin resets the device from the System page,
// keeping the settings. Everything is real: an overlay in a mount
// namespace of the test's own, devmgr agent in a lab's device namespace
// (which queues the reset and, without systemd, runs devmgr reset
// --resume as its child), the console, Chromium. The page shows the run
// as it goes; restoring the kept accounts ends every session, so the page
// goes to the sign-in form and back; then the progress bar is at its end
// and the verification report is shown. Screenshots: testout/.
func TestSystemResetBrowser(t *testing.T) {
	testutil.SkipShort(t, "drives Chromium")
	dir, child := mountns.Private(t)
	if !child {
		return
	}
	testutil.RequireBinary(t, "ip")
	l := lab.NewT(t, lab.Options{NoServers: true})
	cfg := l.Config(filepath.Join(dir, "data"))
	cfg.Agent.Socket = filepath.Join(dir, "run", "agent.sock")
	cfg.Agent.StateDir = filepath.Join(dir, "state")
	cfg.Web.User = "nobody" // the console's part of the kept settings runs as web.user, never root
	cfg.Reset = config.Reset{Mode: config.ResetMount, Lower: filepath.Join(dir, "lower"), Upper: filepath.Join(dir, "layers", "upper"),
		Work: filepath.Join(dir, "layers", "work"), Merged: filepath.Join(dir, "merged"), Options: []string{"index=off"}, KeepSettings: true}
	rc := cfg.Reset
	for _, d := range []string{rc.Lower + "/etc", rc.Lower + "/share/doc", rc.Upper, rc.Work, rc.Merged, cfg.DataDir, filepath.Dir(cfg.Agent.Socket)} {
		mustDo(t, os.MkdirAll(d, 0o755))
	}
	mustDo(t, os.Mkdir(cfg.Agent.StateDir, 0o700))
	mustDo(t, os.Chmod(filepath.Dir(dir), 0o755)) // t.TempDir's, for web.user to reach data_dir
	mustDo(t, os.WriteFile(rc.Lower+"/etc/app.conf", []byte("factory setting\n"), 0o644))
	mustDo(t, os.WriteFile(rc.Lower+"/share/doc/README", []byte("read me\n"), 0o644))
	mustDo(t, unix.Mount("overlay", rc.Merged, "overlay", unix.MS_NOSUID, rc.MountOptions()))
	mustDo(t, os.WriteFile(rc.Merged+"/etc/app.conf", []byte("changed setting\n"), 0o644))
	mustDo(t, os.MkdirAll(rc.Merged+"/data", 0o755))
	mustDo(t, os.WriteFile(rc.Merged+"/data/new.txt", []byte("added\n"), 0o644))
	mustDo(t, os.Remove(rc.Merged+"/share/doc/README"))

	// The agent's mount namespace (ip netns exec makes one) gets the
	// overlay; this one lets go of it, so that the agent's is the only
	// one that uses the layers, as on a device.
	agentproc.Start(t, agentproc.Options{Config: cfg, NS: l.NS(lab.Device)})
	mustDo(t, unix.Unmount(rc.Merged, 0))
	ac := agentclient.New(cfg.Agent.Socket)
	t.Cleanup(ac.Close)
	wcfg := cfg
	wcfg.Web.Listen = "127.0.0.1:0"
	h := newAgentHarness(t, wcfg, ac)
	h.addUser("alice", auth.Admin, userPassword)
	addr, _, _ := serveReal(t, h, false)
	b := startBrowser(t, "https://"+addr)
	b.stepTimeout = time.Minute

	b.login("alice", userPassword, chromedp.WaitVisible(chromedp.ID("nav-system")))
	b.do("the System page", chromedp.Click(chromedp.ID("nav-system")), chromedp.WaitVisible(chromedp.ID("reset-form")))
	if s := b.text("#overlay-state"); s != "mounted" {
		t.Errorf("the overlay is %q", s)
	}
	if s := b.text("#changes-summary"); !strings.HasPrefix(s, "2 added, 1 changed, 1 deleted") {
		t.Errorf("the changes: %q", s)
	}
	for _, dir := range []string{"/data", "/etc", "/share"} {
		if !b.exists(fmt.Sprintf(`#changes-table tr[data-dir=%q]`, dir)) {
			t.Errorf("no changes listed under %s", dir)
		}
	}
	b.screenshot("system-before-reset", 1280)
	b.screenshot("system-before-reset-phone", 375)
	host, err := os.Hostname()
	mustDo(t, err)
	if !b.evalBool(`document.getElementById('reset-keep').checked`) {
		t.Error("keep settings is not checked, as reset.keep_settings says")
	}
	// The console's files are web.user's, as on a device (the test's
	// console runs as root): the reset saves and puts them back as it.
	giveTree(t, cfg.DataDir, cfg.Web.User)

	b.do("reset", chromedp.SendKeys(chromedp.ID("reset-password"), userPassword), chromedp.SendKeys(chromedp.ID("reset-confirm"), host),
		chromedp.Click(chromedp.ID("reset-submit")), chromedp.WaitVisible(chromedp.ID("reset-run")))
	if st := b.evalString(`document.getElementById('reset-run')?.dataset.status || location.pathname`); st != "queued" && st != "running" && st != "/login" {
		t.Errorf("after the request the page shows %q", st)
	}
	// Putting the kept accounts back ends every session: the page's poll
	// is answered 401 and goes to the sign-in form, to come back.
	b.waitFor("the sign-in form, or the end of the reset",
		`location.pathname === '/login' || document.querySelector('#reset-run[data-status="done"], #reset-run[data-status="failed"]') !== null`, 2*time.Minute)
	if b.location() != "/system" {
		if !strings.HasPrefix(b.location(), "/login?expired=1&next=%2Fsystem") {
			t.Errorf("the page went to %s", b.location())
		}
		b.login("alice", userPassword, chromedp.WaitVisible(chromedp.ID("nav-system")))
		b.do("the System page again", chromedp.Navigate(b.base+"/system"), chromedp.WaitVisible(chromedp.ID("reset-run")))
	}
	b.waitFor("the end of the reset", `document.querySelector('#reset-run[data-status="done"], #reset-run[data-status="failed"]') !== null`, 2*time.Minute)
	if st := b.text("#reset-status"); st != api.ResetDone {
		t.Fatalf("the reset ended %s: %s\n%s", st, b.text("#reset-run"), agentRun(t, ac))
	}
	if v := b.evalString(`String(document.getElementById('reset-progress').value)`); v != "100" || b.text("#reset-percent") != "100%" {
		t.Errorf("the progress bar is at %s (%s)", v, b.text("#reset-percent"))
	}
	if !b.exists(`#verification[data-ok="true"]`) {
		t.Errorf("no verification report that passed: %s", b.text("#reset-run"))
	}
	for _, c := range []string{"mounted", "upper", "work", "tree", "settings"} {
		if !b.exists(fmt.Sprintf(`#verification tr[data-check=%q] .text-bg-success`, c)) {
			t.Errorf("the check %s is not shown as passed", c)
		}
	}
	if s := b.text("#changes-summary"); !strings.HasPrefix(s, "Nothing differs from the factory layer") {
		t.Errorf("after the reset the changes are %q", s)
	}
	if !b.exists("#reset-form") {
		t.Error("no reset form once the reset has ended")
	}
	b.screenshot("system-reset-done", 1280)
	b.screenshot("system-reset-done-phone", 375)
	b.do("a phone", chromedp.EmulateViewport(375, 812, chromedp.EmulateMobile), chromedp.Sleep(200*time.Millisecond))
	if b.evalBool(`document.documentElement.scrollWidth > window.innerWidth + 1`) {
		t.Errorf("the page with the run's report scrolls sideways on a phone: %s px wide", b.evalString(`String(document.documentElement.scrollWidth)`))
	}
	b.do("a desktop", chromedp.EmulateReset(), chromedp.EmulateViewport(1280, 900))
	b.reportProblems()

	// The agent saw it the same way: the layers are the factory's again.
	ents, err := os.ReadDir(rc.Upper)
	mustDo(t, err)
	if len(ents) != 0 {
		t.Errorf("the upper layer holds %d entries after the reset", len(ents))
	}
}

// agentRun is the agent's last reset, its events a line each.
func agentRun(t *testing.T, ac *agentclient.Client) string {
	t.Helper()
	info, err := ac.SystemReset(context.Background(), api.Actor{User: "alice", Role: auth.Admin, Source: "test"})
	if err != nil || info.Run == nil {
		return fmt.Sprintf("no run (%v)", err)
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s %s: %s (%s)\n", info.Run.Status, info.Run.Phase, info.Run.Error, info.Run.Hint)
	for _, e := range info.Run.Events {
		fmt.Fprintf(&sb, "%d %s %s: %s\n", e.Seq, e.Phase, e.State, e.Message)
	}
	return sb.String()
}

// giveTree makes dir and everything in it name's.
func giveTree(t *testing.T, dir, name string) {
	t.Helper()
	u, err := user.Lookup(name)
	mustDo(t, err)
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	mustDo(t, filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	}))
}

func mustDo(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestSystemPageSurvivesRestart: while a reset runs, the console that
// serves the page goes away (a reset stops it) and comes back on the same
// address: the page says it is restarting, polls on, and shows the run's
// end once the console answers again.
func TestSystemPageSurvivesRestart(t *testing.T) {
	var done atomic.Bool
	ag := resetAgent{fakeAgent: newFakeAgent(t), info: func(i *api.SystemReset) {
		if !done.Load() {
			i.Run.Status, i.Run.Phase, i.Run.Percent = api.ResetRunning, api.PhaseStopping, 22
		}
	}}
	h := newResetHarness(t, ag)
	addr, _, stop := serveReal(t, h, false)
	b := startBrowser(t, "https://"+addr, "net::ERR_CONNECTION_REFUSED", "Failed to load resource")
	b.stepTimeout = time.Minute
	b.login("alice", userPassword, chromedp.WaitVisible(chromedp.ID("nav-system")))
	b.do("the System page", chromedp.Navigate(b.base+"/system"), chromedp.WaitVisible(chromedp.CSS(`#reset-run[data-status="running"]`)))
	if b.exists("#reset-form") || !b.exists("#system-offline.d-none") {
		t.Fatal("a running reset's page has a form, or no hidden restarting note")
	}

	mustDo(t, stop())
	b.waitFor("the restarting note", `!document.getElementById('system-offline').classList.contains('d-none')`, 30*time.Second)
	if s := b.text("#system-offline"); !strings.HasPrefix(s, "The console is restarting") {
		t.Errorf("the note says %q", s)
	}
	b.screenshot("system-restarting", 1280)

	done.Store(true)
	ln, err := net.Listen("tcp", addr)
	mustDo(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- h.srv.Serve(ctx, ln, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("serving again: %v", err)
		}
	})
	b.waitFor("the run's end", `document.querySelector('#reset-run[data-status="done"]') !== null`, 30*time.Second)
	if !b.exists("#reset-form") || b.exists("#system-offline") || b.exists("#system-body[hx-trigger]") {
		t.Error("after the run's end the page has no form, or still the restarting note, or still polls")
	}
	b.reportProblems()
}
