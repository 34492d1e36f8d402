package web

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/devmgr/devmgr/internal/accounts"
	"github.com/devmgr/devmgr/internal/testing/testutil"
)

// TestBrowser drives headless Chromium through the first start, the
// dashboard, the Users page and a viewer's view of the console, against the
// real server on a real TLS listener. Screenshots go to testout/.
func TestBrowser(t *testing.T) {
	testutil.SkipShort(t, "drives Chromium")
	cfg := testConfig(t.TempDir())
	h := startHarnessWith(t, cfg, newFakeClock(), HostSysInfo{DiskPath: cfg.DataDir})
	addr, _, _ := serveReal(t, h, false)
	base := "https://" + addr
	// Every CSP violation or script error fails the test; 4xx answers (wrong
	// password, a form error, the viewer's 403) are expected.
	b := startBrowser(t, base)
	ctx := b.ctx
	do, text, location, exists, screenshot, login := b.do, b.text, b.location, b.exists, b.screenshot, b.login

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
	if !strings.Contains(text("#first-start-hint"), accounts.InitialPasswordFile) {
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
	if _, err := os.Stat(filepath.Join(cfg.DataDir, accounts.InitialPasswordFile)); err == nil {
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
	testutil.Eventually(t, 10*time.Second, func() bool { return text("#system p.small") != before },
		"dashboard to refresh (still %q)", before)
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
	// Open once Bootstrap's collapse has ended (#nav.show): a viewport
	// changed during its 0.35 s transition left the link clipped to a
	// height being animated, and the desktop click on it missed.
	do("open the menu", chromedp.Click(chromedp.CSS(".navbar-toggler")), chromedp.WaitVisible(chromedp.ID("nav-users")),
		chromedp.WaitReady(chromedp.CSS("#nav.show:not(.collapsing)")))
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

	b.reportProblems()
}
