package web

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/devmgr/devmgr/internal/auth"
	"github.com/devmgr/devmgr/internal/testing/testutil"
)

// axeViolation is one rule axe-core found broken on a page.
type axeViolation struct {
	ID      string   `json:"id"`
	Impact  string   `json:"impact"`
	Help    string   `json:"help"`
	Targets []string `json:"targets"`
}

// axeSource is axe-core as npm installs it (npm ci; package.json pins
// it). Without it the test is skipped on a laptop and fails under CI.
func axeSource(t *testing.T) string {
	t.Helper()
	p := filepath.Join(filepath.Dir(testOutDir(t)), "node_modules", "axe-core", "axe.min.js")
	b, err := os.ReadFile(p)
	if err != nil {
		testutil.Missing(t, "axe-core (run npm ci --no-audit --no-fund at the repository root): %v", err)
	}
	return string(b)
}

// axe runs axe-core on the page as it is and returns the violations of
// impact serious or critical. axe is injected through the DevTools
// protocol, as no script tag could be: the pages' CSP allows only the
// console's own scripts.
func (b *browser) axe(source string) []axeViolation {
	b.t.Helper()
	if !b.evalBool(`typeof axe !== 'undefined'`) {
		b.do("inject axe", chromedp.Evaluate[chromedp.Void](source+"\n;true"))
	}
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]axeViolation](`axe.run(document, {resultTypes: ['violations']}).then(r => r.violations
		.filter(v => v.impact === 'serious' || v.impact === 'critical')
		.map(v => ({id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map(n => n.target.join(' '))})))`, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("running axe: %v", err)
	}
	return v
}

// TestAccessibility runs axe-core on every page of the console, as an
// admin (the login page signed out), on a phone (375 px) and a desktop
// (1366 px), in the states a user meets (a form refused, a lookup
// answered), and fails on every violation of impact serious or critical,
// naming the rule, its impact, the elements and what to do.
func TestAccessibility(t *testing.T) {
	testutil.SkipShort(t, "drives Chromium")
	source := axeSource(t)
	cfg := testConfig(t.TempDir())
	cfg.AP.Interface, cfg.LAN, cfg.Uplinks = "wlan0", []string{"eth1"}, []string{"eth1"}
	h := startHarnessAgent(t, cfg, newFakeClock(), fakeSys{}, diagAgent{newFakeAgent(t)})
	h.addUser("alice", auth.Admin, userPassword)
	h.addUser("vera", auth.Viewer, userPassword)
	addr, _, _ := serveReal(t, h, false)
	b := startBrowser(t, "https://"+addr) // the refused forms are 4xx answers, expected
	b.stepTimeout = time.Minute

	type state struct {
		name string
		path string                           // opened first, unless ""
		then []chromedp.Action[chromedp.Void] // what the user does there
	}
	set := func(id, v string) chromedp.Action[chromedp.Void] {
		return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(document.getElementById(%q).value = %q, true)`, id, v))
	}
	states := []state{
		{"dashboard", "/", nil},
		{"network", "/network", nil},
		{"access point", "/ap", nil},
		{"diagnostics", "/diagnostics", nil},
		{"diagnostics, a lookup refused", "", []chromedp.Action[chromedp.Void]{set("dns-name", "example.com"), set("dns-server", "dns.example"),
			chromedp.Click(chromedp.ID("dns-run")), chromedp.WaitVisible(chromedp.CSS("#dns-server.is-invalid"))}},
		{"diagnostics, a lookup answered and a ping's output", "", []chromedp.Action[chromedp.Void]{set("dns-server", ""),
			chromedp.Click(chromedp.ID("dns-run")), chromedp.WaitVisible(chromedp.ID("dns-answers")),
			set("ping-host", "192.0.2.9"), chromedp.WaitVisible(chromedp.CSS("#ping-form[data-ready]")), chromedp.Click(chromedp.ID("ping-run")), chromedp.WaitVisible(chromedp.CSS(`#ping-status[data-done]`))}},
		{"commands", "/commands", nil},
		{"commands, a run refused", "", []chromedp.Action[chromedp.Void]{set("ping-count", "11"), chromedp.Click(chromedp.ID("run-ping-submit")),
			chromedp.WaitVisible(chromedp.CSS("#ping-count.is-invalid"))}},
		{"commands, a run's output and its end", "", []chromedp.Action[chromedp.Void]{set("ping-count", "2"), set("ping-host", "example.com"),
			chromedp.Click(chromedp.ID("run-ping-submit")), chromedp.WaitVisible(chromedp.CSS("#part-ping [data-status]"))}},
		{"command history", "/commands/history", nil},
		{"a command's run", "/commands/runs/42", nil},
		{"users", "/users", nil},
		{"users, a user refused", "", []chromedp.Action[chromedp.Void]{set("name", "Bad Name!"), chromedp.Click(chromedp.ID("add-user-submit")),
			chromedp.WaitVisible(chromedp.CSS("#name.is-invalid"))}},
		{"audit", "/audit", nil},
		{"backups", "/system/backups", nil},
		{"backups, a passphrase refused", "", []chromedp.Action[chromedp.Void]{chromedp.Click(chromedp.ID("backup-encrypt")), set("backup-passphrase", "short"),
			chromedp.Click(chromedp.ID("backup-create-submit")), chromedp.WaitVisible(chromedp.CSS("#backup-passphrase.is-invalid"))}},
		{"restore", "/system/backups/restore/" + fakePlain, nil},
		{"restore, a password refused", "", []chromedp.Action[chromedp.Void]{set("restore-password", "not it"),
			chromedp.Click(chromedp.ID("restore-submit")), chromedp.WaitVisible(chromedp.CSS("#restore-password.is-invalid"))}},
		{"restore of an encrypted backup", "/system/backups/restore/" + fakeEncrypted, nil},
		{"system", "/system", nil},
		{"system, a reset refused", "", []chromedp.Action[chromedp.Void]{set("reset-confirm", "otherhost"), chromedp.Click(chromedp.ID("reset-submit")),
			chromedp.WaitVisible(chromedp.CSS("#reset-confirm.is-invalid"))}},
		{"password", "/account/password", nil},
		{"not found", "/no/such/page", nil},
	}
	check := func(name string, width int64) {
		t.Helper()
		for _, v := range b.axe(source) {
			t.Errorf("%s at %d px: %s (%s) on %s: %s", name, width, v.ID, v.Impact, strings.Join(v.Targets, ", "), v.Help)
		}
	}
	for _, width := range []int64{375, 1366} {
		view := chromedp.EmulateViewport(width, 900)
		if width < 500 {
			view = chromedp.EmulateViewport(width, 812, chromedp.EmulateMobile)
		}
		if _, err := chromedp.Call(b.ctx, network.ClearBrowserCookies, cdp.Empty{}); err != nil { // signed out
			t.Fatal(err)
		}
		b.do("viewport", view)
		b.do("login page", chromedp.Navigate(b.base+"/login?next="+url.QueryEscape("/")), chromedp.WaitVisible(chromedp.ID("login-submit")))
		check("login", width)
		b.login("alice", userPassword, chromedp.WaitVisible(chromedp.ID("interfaces")))
		for _, st := range states {
			steps := st.then
			if st.path != "" {
				steps = append([]chromedp.Action[chromedp.Void]{chromedp.Navigate(b.base + st.path), chromedp.WaitReady("main")}, steps...)
			}
			b.do(st.name, steps...)
			check(st.name, width)
		}
	}
	b.reportProblems()
}
