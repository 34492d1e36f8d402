package web

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/devmgr/devmgr/internal/testutil"
)

// TestBrowser drives headless Chromium through the first start, the
// dashboard, the Users page and a viewer's view of the console, against the
// real server on a real TLS listener. Screenshots go to testout/.
func TestBrowser(t *testing.T) {
	chromium := testutil.RequireBinary(t, "chromium")
	cfg := testConfig(t.TempDir())
	h := startHarnessWith(t, cfg, newFakeClock(), HostSysInfo{DiskPath: cfg.DataDir})
	addr, _, _ := serveReal(t, h, false)
	base := "https://" + addr
	outDir := testOutDir(t)

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.IgnoreCertErrors,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("password-store", "basic"),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancelCtx := chromedp.NewContext(actx)
	defer cancelCtx()
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	defer cancelTimeout()

	// Every CSP violation or script error fails the test.
	var mu sync.Mutex
	var problems []string
	if err := chromedp.Listen(ctx, func(ev any) {
		var msg string
		switch ev := ev.(type) {
		case *log.EventEntryAdded:
			// 4xx answers (wrong password, a form error, the viewer's 403) are expected.
			if ev.Entry.Level == log.EntryLevelError && !strings.Contains(ev.Entry.Text, "favicon") &&
				!strings.Contains(ev.Entry.Text, "the server responded with a status of 4") {
				msg = "console: " + ev.Entry.Text
			}
		case *runtime.EventExceptionThrown:
			msg = "exception: " + ev.ExceptionDetails.Text
			if ev.ExceptionDetails.Exception != nil {
				msg += " " + ev.ExceptionDetails.Exception.Description
			}
		}
		if msg != "" {
			mu.Lock()
			problems = append(problems, msg)
			mu.Unlock()
		}
	}); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}

	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	location := func() string {
		t.Helper()
		l, err := chromedp.Run(ctx, chromedp.Location())
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimPrefix(l, base)
	}
	exists := func(sel string) bool {
		t.Helper()
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf(`document.querySelector(%q) !== null`, sel)))
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	screenshot := func(name string, width int64) {
		t.Helper()
		do("resize to "+name, chromedp.EmulateViewport(width, 900))
		if width < 500 {
			do("emulate phone", chromedp.EmulateViewport(width, 812, chromedp.EmulateMobile))
		}
		do("settle", chromedp.Sleep(300*time.Millisecond))
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		p := filepath.Join(outDir, name+".png")
		if err := os.WriteFile(p, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", p)
		do("back to desktop", chromedp.EmulateReset(), chromedp.EmulateViewport(1280, 900))
	}
	login := func(name, password string) {
		t.Helper()
		do("login as "+name,
			chromedp.Navigate(base+"/login"),
			chromedp.WaitVisible(chromedp.ID("username")),
			chromedp.SendKeys(chromedp.ID("username"), name),
			chromedp.SendKeys(chromedp.ID("password"), password),
			chromedp.Click(chromedp.ID("login-submit")),
		)
	}
	changePassword := func(current, next string) {
		t.Helper()
		do("forced change",
			chromedp.WaitVisible(chromedp.ID("must-change")),
			chromedp.SendKeys(chromedp.ID("current"), current),
			chromedp.SendKeys(chromedp.ID("new"), next),
			chromedp.SendKeys(chromedp.ID("confirm"), next),
			chromedp.Click(chromedp.ID("password-submit")),
			chromedp.WaitVisible(chromedp.ID("interfaces")),
		)
	}
	logout := func() {
		t.Helper()
		do("logout",
			chromedp.Click(chromedp.ID("user-menu")),
			chromedp.WaitVisible(chromedp.ID("logout")),
			chromedp.Click(chromedp.ID("logout")),
			chromedp.WaitVisible(chromedp.ID("login-submit")),
		)
		if l := location(); l != "/login" {
			t.Errorf("after logout at %s, want /login", l)
		}
	}

	// First start: the root redirects to the login page, which hints at the file.
	do("open", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.ID("login-submit")))
	if l := location(); l != "/login" {
		t.Errorf("/ went to %s, want /login", l)
	}
	if !strings.Contains(text("#first-start-hint"), InitialPasswordFile) {
		t.Errorf("login page does not point at the initial password file")
	}
	theme, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.getAttribute('data-bs-theme')`))
	if theme != "light" && theme != "dark" {
		t.Errorf("data-bs-theme = %q, want light or dark from theme.js", theme)
	}
	screenshot("login-desktop", 1280)
	screenshot("login-375", 375)

	// A wrong password shows the error.
	login("admin", "wrong password!")
	do("error shown", chromedp.WaitVisible(chromedp.ID("login-error")))

	initial := h.initialPassword()
	login("admin", initial)
	do("forced change page", chromedp.WaitVisible(chromedp.ID("must-change")))
	if l := location(); l != "/account/password" {
		t.Errorf("first login went to %s, want /account/password", l)
	}
	// Nothing else is served before the change.
	do("try the users page", chromedp.Navigate(base+"/users"), chromedp.WaitVisible(chromedp.ID("must-change")))
	const adminPW = "browser admin password 1"
	changePassword(initial, adminPW)
	if _, err := os.Stat(filepath.Join(cfg.DataDir, InitialPasswordFile)); err == nil {
		t.Errorf("initial password file still there after the change")
	}

	// The dashboard shows this machine's interfaces.
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, i := range ifs {
		want = append(want, i.Name)
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#interfaces tr[data-iface]')].map(r => r.dataset.iface)`))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(want, got) {
		t.Errorf("dashboard interfaces %v, want %v", got, want)
	}
	host, _ := os.Hostname()
	if h := text("#sys-hostname"); h != host {
		t.Errorf("hostname %q, want %q", h, host)
	}
	// htmx refreshes the fragment without a reload.
	do("mark the page", chromedp.Evaluate[chromedp.Void](`window.__notReloaded = true`))
	before := text("#system p.small")
	deadline := time.Now().Add(10 * time.Second)
	for text("#system p.small") == before {
		if time.Now().After(deadline) {
			t.Fatalf("dashboard did not refresh within 10 s (still %q)", before)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if ok, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__notReloaded === true`)); !ok {
		t.Errorf("the page reloaded instead of refreshing a fragment")
	}
	if !exists("#nav-users") || !exists("#nav-audit") {
		t.Errorf("admin has no Users/Audit links")
	}
	screenshot("dashboard-desktop", 1280)
	screenshot("dashboard-375", 375)

	// The navbar collapses on a phone and opens with the toggler.
	do("phone", chromedp.EmulateViewport(375, 812, chromedp.EmulateMobile), chromedp.Sleep(200*time.Millisecond))
	visible, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('#nav-users').offsetParent !== null`))
	if visible {
		t.Errorf("navbar not collapsed at 375 px")
	}
	do("open the menu", chromedp.Click(chromedp.CSS(".navbar-toggler")), chromedp.WaitVisible(chromedp.ID("nav-users")))
	do("back to desktop", chromedp.EmulateReset(), chromedp.EmulateViewport(1280, 900))

	// Add a viewer on the Users page.
	do("users page",
		chromedp.Click(chromedp.ID("nav-users")),
		chromedp.WaitVisible(chromedp.ID("add-user")),
		chromedp.SendKeys(chromedp.ID("name"), "vera"),
		chromedp.SetValue(chromedp.ID("role"), "viewer"),
		chromedp.SendKeys(chromedp.ID("password"), "short"),
		chromedp.SendKeys(chromedp.ID("confirm"), "short"),
		chromedp.Click(chromedp.ID("add-user-submit")),
		chromedp.WaitVisible(chromedp.CSS("#password.is-invalid")),
	)
	if v, _ := chromedp.Run(ctx, chromedp.Value(chromedp.ID("name"))); v != "vera" {
		t.Errorf("name not kept after an error: %q", v)
	}
	const veraInitial, veraPW = "vera first password", "vera own password 1"
	do("add vera",
		chromedp.SendKeys(chromedp.ID("password"), veraInitial),
		chromedp.SendKeys(chromedp.ID("confirm"), veraInitial),
		chromedp.Click(chromedp.ID("add-user-submit")),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-user="vera"]`)),
	)
	screenshot("users-desktop", 1280)
	logout()

	// The viewer changes the password at first login and sees no admin controls.
	login("vera", veraInitial)
	changePassword(veraInitial, veraPW)
	if exists("#nav-users") || exists("#nav-audit") || exists(`a[href="/users"]`) || exists(`a[href="/audit"]`) {
		t.Errorf("viewer sees admin links")
	}
	if !strings.Contains(text("#user-menu"), "viewer") {
		t.Errorf("user menu does not show the role")
	}
	do("viewer opens /users", chromedp.Navigate(base+"/users"), chromedp.WaitVisible(chromedp.ID("error-page")))
	if s := text("#error-page h1"); !strings.Contains(s, "403") {
		t.Errorf("viewer's /users shows %q, want 403", s)
	}
	do("back", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.ID("interfaces")))
	screenshot("dashboard-viewer-375", 375)

	// Dark mode follows the system.
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}},
	}); err != nil {
		t.Fatal(err)
	}
	do("reload", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.ID("interfaces")))
	if theme, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.getAttribute('data-bs-theme')`)); theme != "dark" {
		t.Errorf("with a dark system theme, data-bs-theme = %q", theme)
	}
	screenshot("dashboard-dark-desktop", 1280)
	logout()

	mu.Lock()
	defer mu.Unlock()
	for _, p := range problems {
		t.Errorf("browser reported %s", p)
	}
}

// testOutDir is testout/ at the repository root.
func testOutDir(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test directory")
		}
		dir = parent
	}
	out := filepath.Join(dir, "testout")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	return out
}
