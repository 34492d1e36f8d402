package web

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/devmgr/devmgr/internal/auth"
	"github.com/devmgr/devmgr/internal/testing/apmgrtest"
	"github.com/devmgr/devmgr/internal/testing/hostapdtest"
	"github.com/devmgr/devmgr/internal/testing/testutil"
)

// TestAPBrowser drives headless Chromium through the Access point page of
// a console whose real agent runs the AP module on a temporary device: a
// fake hostapd on the control socket reports two stations, and the leases
// file names them. The page lists them and refreshes by itself; an admin
// changes the SSID (at 375 px, where the countdown is brought into view),
// the page confirms the change and shows the new SSID; an SSID over 32
// bytes is counted as it is typed and refused beside its field; a client
// is blocked and allowed again, and a device blocked by its typed MAC
// address; the QR code to join is the admin's only; a viewer sees no
// controls. Screenshots go to testout/.
func TestAPBrowser(t *testing.T) {
	testutil.SkipShort(t, "drives Chromium")
	ac := startAPConsole(t, apmgrtest.Options{RollbackTimeout: 10 * time.Second, Leases: []string{
		"02:00:00:00:01:00 192.168.4.10 phone",
		"02:00:00:00:02:00 192.168.4.11 laptop",
		"02:00:00:00:03:00 192.168.4.12 tablet",
	}})
	ac.addUser("alice", auth.Admin, userPassword)
	ac.addUser("vera", auth.Viewer, userPassword)
	addr, _, _ := serveReal(t, ac.harness, false)
	base := "https://" + addr
	// Every CSP violation or script error fails the test; the field error's
	// 400 and the requests while offline are expected.
	b := startBrowser(t, base, "ERR_INTERNET_DISCONNECTED")
	ctx := b.ctx
	// dump reports what the page shows and what the browser said, on failure.
	b.stepTimeout, b.onFail = 30*time.Second, func() {
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		state, _ := chromedp.Run(dctx, chromedp.Evaluate[string](`[...document.querySelectorAll('.alert, .invalid-feedback, #change-panel')].map(e => e.id + ': ' + e.className + ': ' + e.textContent.trim()).join('\n')`))
		t.Logf("page state:\n%s", state)
		form, _ := chromedp.Run(dctx, chromedp.Evaluate[string](`JSON.stringify({ssid: document.getElementById('ap-f-ssid')?.value, fs: document.querySelector('#ap-form fieldset')?.disabled, cls: document.getElementById('ap-form')?.className, url: location.href, w: window.innerWidth})`))
		t.Logf("form: %s", form)
		b.logProblems()
	}
	do, eval, exists, screenshot := b.do, b.evalBool, b.exists, b.screenshot
	text := func(sel string) string {
		t.Helper()
		return strings.TrimSpace(b.text(sel))
	}
	waitFor := func(what, js string, within time.Duration) {
		t.Helper()
		testutil.Eventually(t, within, func() bool { return eval(js) }, "%s", what)
	}
	login := func(name string) {
		t.Helper()
		b.login(name, userPassword, chromedp.WaitVisible(chromedp.ID("nav-ap")))
	}
	row := func(mac string) string { return fmt.Sprintf(`#ap-clients tr[data-mac="%s"]`, mac) }
	// clear empties an input (chromedp.Clear and SetValue "" leave it as it was).
	clear := func(id string) chromedp.Action[chromedp.Void] {
		return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(document.getElementById(%q).value = '', true)`, id))
	}

	// The admin opens the page from the navbar: both stations, joined with their leases.
	login("alice")
	do("open the AP page", chromedp.Click(chromedp.ID("nav-ap")), chromedp.WaitVisible(chromedp.ID("ap-clients")))
	for mac, want := range map[string][]string{
		"02:00:00:00:01:00": {"phone", "192.168.4.10", "-38 dBm", "12m 34s"},
		"02:00:00:00:02:00": {"laptop", "192.168.4.11", "-71 dBm", "42s"},
	} {
		got := text(row(mac))
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Errorf("client row %s is %q, lacks %q", mac, got, w)
			}
		}
	}
	if s := text("#ap-ssid"); s != "DeviceManager" {
		t.Errorf("SSID %q", s)
	}
	if s := text("#ap-channel"); !strings.Contains(s, "6 · 2437 MHz") {
		t.Errorf("channel %q", s)
	}
	if s := text("#ap-state"); s != "broadcasting" {
		t.Errorf("state %q", s)
	}

	// Live: a third station joins and shows up without a reload.
	do("mark the page", chromedp.Evaluate[chromedp.Void](`window.__notReloaded = true`))
	ac.dev.Hostapd.SetStations(append(hostapdtest.TwoStations(), hostapdtest.Station{
		MAC: "02:00:00:00:03:00", Flags: "[AUTH][ASSOC][AUTHORIZED]", KeyMgmt: "SAE", Signal: -60, ConnectedTime: 3, RxBytes: 1000, TxBytes: 2000,
	}))
	waitFor("the joining station is listed", fmt.Sprintf(`document.querySelector(%q) !== null`, row("02:00:00:00:03:00")), 10*time.Second)
	if got := text(row("02:00:00:00:03:00")); !strings.Contains(got, "tablet") {
		t.Errorf("new row %q lacks its lease's hostname", got)
	}
	waitFor("the client count follows", `document.getElementById('ap-client-count').textContent === '3'`, 10*time.Second)
	if !eval(`window.__notReloaded === true`) {
		t.Error("the page reloaded instead of refreshing the table")
	}
	// Every device's lease, for everyone.
	if got := text(`#ap-leases tr[data-mac="02:00:00:00:03:00"]`); !strings.Contains(got, "tablet") || !strings.Contains(got, "192.168.4.12") {
		t.Errorf("tablet's lease %q", got)
	}
	screenshot("ap-desktop", 1280)
	screenshot("ap-375", 375)

	// The QR code to join, folded away until asked for; the passphrase is
	// in no text of the page.
	if eval(`document.getElementById('ap-qr').checkVisibility()`) {
		t.Error("the QR code shows before it is asked for")
	}
	do("show the QR code", chromedp.Click(chromedp.CSS("#ap-join-details summary")), chromedp.WaitVisible(chromedp.ID("ap-qr")))
	screenshot("ap-join-desktop", 1280)
	if eval(fmt.Sprintf(`document.documentElement.outerHTML.includes(%q)`, apmgrtest.Passphrase)) {
		t.Error("the admin's page holds the passphrase as text")
	}

	// The SSID counts its bytes as they are typed; over 32 it is marked,
	// sent whole (never cut) and refused beside the field.
	do("type a name with an accent",
		clear("ap-f-ssid"),
		chromedp.SendKeys(chromedp.ID("ap-f-ssid"), "Café"),
	)
	if s := text("#ap-ssid-count"); s != "5 of 32 bytes" {
		t.Errorf("byte count of Café: %q", s)
	}
	long := strings.Repeat("x", 40)
	do("type 40 characters", clear("ap-f-ssid"), chromedp.SendKeys(chromedp.ID("ap-f-ssid"), long))
	if s := text("#ap-ssid-count"); s != "40 of 32 bytes" || !eval(`document.getElementById('ap-ssid-count').classList.contains('text-danger')`) {
		t.Errorf("byte count of 40 characters: %q", s)
	}
	do("apply the long SSID", chromedp.Click(chromedp.ID("ap-apply")), chromedp.WaitVisible(chromedp.CSS("#ap-f-ssid.is-invalid")))
	if s := text(`[data-error-for="ssid"]`); s != "Network name: must be 1 to 32 bytes, and is 40." {
		t.Errorf("message beside the SSID: %q", s)
	}
	if v := b.evalString(`document.getElementById('ap-f-ssid').value`); v != long {
		t.Errorf("the SSID field holds %q after the refusal, want the 40 characters typed", v)
	}
	if n := ac.dev.Hostapd.Count("RELOAD"); n != 0 {
		t.Errorf("a refused change reloaded hostapd %d times", n)
	}

	// An empty SSID too.
	do("empty SSID",
		clear("ap-f-ssid"),
		chromedp.Click(chromedp.ID("ap-apply")),
		chromedp.WaitVisible(chromedp.CSS("#ap-f-ssid.is-invalid")),
		chromedp.Poll[chromedp.Void](`document.querySelector('[data-error-for="ssid"]').textContent === 'Enter a network name.'`, chromedp.WithPollingTimeout(5*time.Second)),
	)

	// On a phone the admin changes the SSID and submits from the keyboard
	// (the phone's Go key): the countdown is brought into view, and the page
	// confirms the change by itself. A tap is not used here: on a phone the
	// status and client cards above the form are swapped every 2 s, so a
	// point computed before a swap may miss the button after it.
	do("phone", chromedp.EmulateViewport(375, 812, chromedp.EmulateMobile))
	do("new SSID",
		chromedp.SendKeys(chromedp.ID("ap-f-ssid"), "Workshop\r"),
		chromedp.WaitVisible(chromedp.ID("change-countdown")),
	)
	waitFor("the countdown in view", `(() => { const r = document.getElementById('change-panel').getBoundingClientRect(); return r.top >= 0 && r.bottom <= window.innerHeight; })()`, 5*time.Second)
	if !eval(`!document.getElementById('ap-f-ssid').classList.contains('is-invalid')`) {
		t.Error("the old field error stayed")
	}
	if !eval(`document.querySelector('#ap-form fieldset').disabled`) {
		t.Error("the settings form is not locked while the change is pending")
	}
	waitFor("the countdown shows", `/^\d+ s$/.test(document.getElementById('change-countdown').textContent)`, 5*time.Second)
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(testOutDir(t), "ap-pending-375.png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
	do("desktop", chromedp.EmulateReset(), chromedp.EmulateViewport(1280, 900))
	waitFor("the change is confirmed", `document.getElementById('change-panel').dataset.status === 'confirmed'`, 20*time.Second)
	waitFor("the page shows the new SSID", `document.getElementById('ap-ssid').textContent === 'Workshop'`, 10*time.Second)
	if s := ac.dev.Hostapd.SSID(); s != "Workshop" {
		t.Errorf("hostapd broadcasts %q", s)
	}
	id, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('change-panel').dataset.changeId`))
	if err != nil {
		t.Fatal(err)
	}
	if ch, err := ac.dev.Manager.Change(id); err != nil || ch.Status != "confirmed" {
		t.Errorf("change %s: %+v %v", id, ch, err)
	}
	if e, ok := ac.audit.find("ap.confirm", "ok"); !ok || e.User != "alice" {
		t.Errorf("the confirmation is not audited as alice's: %+v %v", e, ok)
	}
	if eval(`document.querySelector('#ap-form fieldset').disabled`) {
		t.Error("the settings form stays locked after the change")
	}
	screenshot("ap-confirmed-desktop", 1280)

	// A change that cuts this browser off (as a new SSID does to an admin
	// on the WiFi) cannot be confirmed, and rolls back by itself.
	do("another SSID",
		chromedp.SetValue(chromedp.ID("ap-f-ssid"), "Cutoff"),
		chromedp.Click(chromedp.ID("ap-apply")),
	)
	waitFor("the second change is pending", fmt.Sprintf(`(() => { const p = document.getElementById('change-panel'); return p.dataset.changeId !== %q && p.dataset.seconds !== undefined; })()`, id), 10*time.Second)
	cutID, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('change-panel').dataset.changeId`))
	if err != nil {
		t.Fatal(err)
	}
	offline := func(off bool) {
		t.Helper()
		var conds []*network.Conditions
		if off {
			conds = []*network.Conditions{{Offline: true, DownloadThroughput: -1, UploadThroughput: -1}}
		}
		if _, err := chromedp.Call(ctx, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{MatchedNetworkConditions: conds}); err != nil {
			t.Fatalf("emulating offline=%v: %v", off, err)
		}
	}
	offline(true)
	var status string
	testutil.Eventually(t, 30*time.Second, func() bool {
		ch, err := ac.dev.Manager.Change(cutID)
		if err != nil {
			t.Fatal(err)
		}
		status = string(ch.Status)
		if status != "rolled_back" && status != "pending" {
			t.Fatalf("the change made offline is %s, want rolled_back", status)
		}
		return status == "rolled_back"
	}, func() string { return fmt.Sprintf("the change made offline is %s, want rolled_back", status) })
	if s := ac.dev.Hostapd.SSID(); s != "Workshop" {
		t.Errorf("after the rollback hostapd broadcasts %q", s)
	}
	offline(false)
	waitFor("the page tells of the rollback", `document.getElementById('change-panel').dataset.status === 'rolled_back'`, 15*time.Second)
	waitFor("the page shows the SSID in force", `document.getElementById('ap-ssid').textContent === 'Workshop'`, 10*time.Second)
	waitFor("the form holds the settings in force", `document.getElementById('ap-f-ssid').value === 'Workshop'`, 10*time.Second)
	// The agent audits a rollback as it does it.
	if e, ok := ac.audit.find("ap.rollback", "ok"); !ok || e.User != "agent" || !strings.Contains(e.Detail, cutID) {
		t.Errorf("the rollback is not audited: %+v %v", e, ok)
	}
	screenshot("ap-rolled-back-desktop", 1280)

	// Disconnect and block the laptop, then let it back in.
	do("block the laptop",
		chromedp.Click(chromedp.CSS(`button[data-deny="02:00:00:00:02:00"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#ap-denied li[data-mac="02:00:00:00:02:00"]`)),
	)
	waitFor("the laptop's row goes", fmt.Sprintf(`document.querySelector(%q) === null`, row("02:00:00:00:02:00")), 10*time.Second)
	if !strings.Contains(text("#ap-action-status"), "blocked") {
		t.Errorf("no word of the block: %q", text("#ap-action-status"))
	}
	if got := ac.dev.Manager.Denied(); len(got) != 1 || got[0] != "02:00:00:00:02:00" {
		t.Errorf("deny list %q", got)
	}
	screenshot("ap-blocked-375", 375)
	do("allow it again",
		chromedp.Click(chromedp.CSS(`button[data-allow="02:00:00:00:02:00"]`)),
		chromedp.WaitNotPresent(chromedp.CSS(`#ap-denied li[data-mac="02:00:00:00:02:00"]`)),
	)
	if got := ac.dev.Manager.Denied(); len(got) != 0 {
		t.Errorf("deny list after allow %q", got)
	}
	if s := text("#ap-action-status"); !strings.Contains(s, "may join again") {
		t.Errorf("no word of the allow: %q", s)
	}

	// A device not connected, blocked by the MAC address typed: a bad one
	// is refused beside the field in the agent's words.
	do("a bad MAC address",
		chromedp.SendKeys(chromedp.ID("ap-block-mac"), "02:00:00:00:09"),
		chromedp.Click(chromedp.ID("ap-block-submit")),
		chromedp.WaitVisible(chromedp.CSS("#ap-block-mac.is-invalid")),
	)
	if s := text(`#ap-block-form [data-error-for="mac"]`); s != `"02:00:00:00:09" is not a MAC address such as 02:00:00:00:01:00.` {
		t.Errorf("message beside the MAC address: %q", s)
	}
	do("the right one",
		clear("ap-block-mac"),
		chromedp.SendKeys(chromedp.ID("ap-block-mac"), "02:00:00:00:09:00"),
		chromedp.Click(chromedp.ID("ap-block-submit")),
		chromedp.WaitVisible(chromedp.CSS(`#ap-denied li[data-mac="02:00:00:00:09:00"]`)),
	)
	waitFor("the block form cleared", `!document.getElementById('ap-block-mac').classList.contains('is-invalid') && document.getElementById('ap-block-mac').value === ''`, 5*time.Second)
	if got := ac.dev.Manager.Denied(); len(got) != 1 || got[0] != "02:00:00:00:09:00" {
		t.Errorf("deny list %q", got)
	}

	// A viewer sees the AP and its clients, and no controls.
	do("logout", chromedp.Navigate(base+"/"), chromedp.Click(chromedp.ID("user-menu")), chromedp.WaitVisible(chromedp.ID("logout")),
		chromedp.Click(chromedp.ID("logout")), chromedp.WaitVisible(chromedp.ID("login-submit")))
	login("vera")
	do("viewer's AP page", chromedp.Navigate(base+"/ap"), chromedp.WaitVisible(chromedp.CSS(row("02:00:00:00:01:00"))))
	if exists("#ap-form") || exists("button[data-deny]") || exists("#ap-denied") || exists("#ap-qr") || exists("#confirm-now") {
		t.Error("the viewer sees admin controls")
	}
	if eval(fmt.Sprintf(`document.documentElement.outerHTML.includes(%q)`, apmgrtest.Passphrase)) {
		t.Error("the viewer's page holds the passphrase")
	}
	if got := text(`#ap-leases tr[data-mac="02:00:00:00:01:00"]`); !strings.Contains(got, "phone") {
		t.Errorf("the viewer's leases: %q", got)
	}
	if s := text("#ap-ssid"); s != "Workshop" {
		t.Errorf("viewer sees SSID %q", s)
	}
	screenshot("ap-viewer-375", 375)

	b.reportProblems()
}

// On a phone, a small window and a desktop the Access point page of an
// admin fits its width: each client's Block button is in sight (the table
// turns into a list of blocks, or its action column stays put while the
// table scrolls in its card) and the Security select shows its labels
// whole.
func TestAPLayout(t *testing.T) {
	testutil.SkipShort(t, "drives Chromium")
	h := newAgentHarness(t, testConfig(t.TempDir()), newAPFake(t))
	h.addUser("alice", auth.Admin, userPassword)
	addr, _, _ := serveReal(t, h, false)
	b := startBrowser(t, "https://"+addr)
	b.login("alice", userPassword, chromedp.WaitVisible(chromedp.ID("nav-ap")))
	for _, width := range []int64{375, 640, 900, 1366} {
		var opts []chromedp.EmulateViewportOption
		if width < 500 {
			opts = append(opts, chromedp.EmulateMobile)
		}
		b.do("viewport", chromedp.EmulateViewport(width, 800, opts...), chromedp.Navigate(b.base+"/ap"), chromedp.WaitVisible(chromedp.ID("ap-clients")))
		if b.evalBool(`document.documentElement.scrollWidth > window.innerWidth + 1`) {
			t.Errorf("/ap scrolls sideways at %d px: %s px wide", width, b.evalString(`String(document.documentElement.scrollWidth)`))
		}
		// Each Block button lies inside the part of the table one sees.
		hidden := b.evalString(`[...document.querySelectorAll('#ap-clients button[data-deny]')].filter(btn => {
			const r = btn.getBoundingClientRect(), box = btn.closest('.table-responsive').getBoundingClientRect();
			return r.width === 0 || r.left < box.left - 1 || r.right > box.right + 1 || r.right > window.innerWidth;
		}).map(btn => btn.dataset.deny).join(' ')`)
		if n := b.evalString(`String(document.querySelectorAll('#ap-clients button[data-deny]').length)`); n != "2" || hidden != "" {
			t.Errorf("at %d px, of %s Block buttons these are out of sight: %q", width, n, hidden)
		}
		// Every Security label fits its select (the arrow's room aside).
		clipped := b.evalString(`(() => {
			const s = document.getElementById('ap-f-security'), cs = getComputedStyle(s);
			const ctx = document.createElement('canvas').getContext('2d');
			ctx.font = cs.font;
			const room = s.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
			return [...s.options].filter(o => ctx.measureText(o.text).width > room).map(o => o.text).join(', ');
		})()`)
		if clipped != "" {
			t.Errorf("at %d px the Security select clips %q", width, clipped)
		}
		b.screenshot(fmt.Sprintf("ap-layout-%d", width), width)
	}
	b.reportProblems()
}
