package web

import (
	"fmt"
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
// changes the SSID, the page confirms the change and shows the new SSID;
// a client is blocked and allowed again; a viewer sees no controls.
// Screenshots go to testout/.
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
	screenshot("ap-desktop", 1280)
	screenshot("ap-375", 375)

	// A bad SSID is refused beside its field, and nothing changes.
	do("empty SSID",
		chromedp.Evaluate[chromedp.Void](`document.getElementById('ap-f-ssid').value = ''`),
		chromedp.Click(chromedp.ID("ap-apply")),
		chromedp.WaitVisible(chromedp.CSS("#ap-f-ssid.is-invalid")),
	)
	if s := text(`[data-error-for="ssid"]`); s == "" {
		t.Error("no message beside the SSID field")
	}
	if n := ac.dev.Hostapd.Count("RELOAD"); n != 0 {
		t.Errorf("a refused change reloaded hostapd %d times", n)
	}

	// The admin changes the SSID; the page confirms the change by itself.
	do("new SSID",
		chromedp.SetValue(chromedp.ID("ap-f-ssid"), "Workshop"),
		chromedp.Click(chromedp.ID("ap-apply")),
		chromedp.WaitVisible(chromedp.CSS("#ap-change-panel[data-change-id]")),
	)
	if !eval(`!document.getElementById('ap-f-ssid').classList.contains('is-invalid')`) {
		t.Error("the old field error stayed")
	}
	waitFor("the countdown shows", `/^\d+ s$/.test(document.querySelector('#ap-change-panel [data-role="countdown"]').textContent)`, 5*time.Second)
	screenshot("ap-pending-desktop", 1280)
	waitFor("the change is confirmed", `document.getElementById('ap-change-panel').getAttribute('data-status') === 'confirmed'`, 20*time.Second)
	waitFor("the page shows the new SSID", `document.getElementById('ap-ssid').textContent === 'Workshop'`, 10*time.Second)
	if s := ac.dev.Hostapd.SSID(); s != "Workshop" {
		t.Errorf("hostapd broadcasts %q", s)
	}
	id, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('ap-change-panel').getAttribute('data-change-id')`))
	if err != nil {
		t.Fatal(err)
	}
	if ch, err := ac.dev.Manager.Change(id); err != nil || ch.Status != "confirmed" {
		t.Errorf("change %s: %+v %v", id, ch, err)
	}
	if e, ok := ac.audit.find("ap.confirm", "ok"); !ok || e.User != "alice" {
		t.Errorf("the confirmation is not audited as alice's: %+v %v", e, ok)
	}
	screenshot("ap-confirmed-desktop", 1280)

	// A change that cuts this browser off (as a new SSID does to an admin
	// on the WiFi) cannot be confirmed, and rolls back by itself.
	do("another SSID",
		chromedp.SetValue(chromedp.ID("ap-f-ssid"), "Cutoff"),
		chromedp.Click(chromedp.ID("ap-apply")),
	)
	waitFor("the second change is pending", fmt.Sprintf(`(function(){var p=document.getElementById('ap-change-panel');return p.getAttribute('data-change-id')!==%q && !p.hasAttribute('data-status')})()`, id), 10*time.Second)
	cutID, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('ap-change-panel').getAttribute('data-change-id')`))
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
	waitFor("the page tells of the rollback", `document.getElementById('ap-change-panel').getAttribute('data-status') === 'rolled_back'`, 15*time.Second)
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

	// A viewer sees the AP and its clients, and no controls.
	do("logout", chromedp.Navigate(base+"/"), chromedp.Click(chromedp.ID("user-menu")), chromedp.WaitVisible(chromedp.ID("logout")),
		chromedp.Click(chromedp.ID("logout")), chromedp.WaitVisible(chromedp.ID("login-submit")))
	login("vera")
	do("viewer's AP page", chromedp.Navigate(base+"/ap"), chromedp.WaitVisible(chromedp.CSS(row("02:00:00:00:01:00"))))
	if exists("#ap-form") || exists("button[data-deny]") || exists("#ap-denied") {
		t.Error("the viewer sees admin controls")
	}
	if s := text("#ap-ssid"); s != "Workshop" {
		t.Errorf("viewer sees SSID %q", s)
	}
	screenshot("ap-viewer-375", 375)

	b.reportProblems()
}
