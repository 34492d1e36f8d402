package web

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/devmgr/devmgr/internal/apmgr/apmgrtest"
	"github.com/devmgr/devmgr/internal/auth"
	"github.com/devmgr/devmgr/internal/hostapd/hostapdtest"
	"github.com/devmgr/devmgr/internal/testutil"
)

// TestAPBrowser drives headless Chromium through the Access point page of
// a console whose real agent runs the AP module on a temporary device: a
// fake hostapd on the control socket reports two stations, and the leases
// file names them. The page lists them and refreshes by itself; an admin
// changes the SSID, the page confirms the change and shows the new SSID;
// a client is blocked and allowed again; a viewer sees no controls.
// Screenshots go to testout/.
func TestAPBrowser(t *testing.T) {
	chromium := testutil.RequireBinary(t, "chromium")
	ac := startAPConsole(t, apmgrtest.Options{RollbackTimeout: 10 * time.Second, Leases: []string{
		"02:00:00:00:01:00 192.168.4.10 phone",
		"02:00:00:00:02:00 192.168.4.11 laptop",
		"02:00:00:00:03:00 192.168.4.12 tablet",
	}})
	ac.addUser("alice", auth.Admin, userPassword)
	ac.addUser("vera", auth.Viewer, userPassword)
	addr, _, _ := serveReal(t, ac.harness, false)
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
			// The field error's 400 and the requests while offline are expected.
			if ev.Entry.Level == log.EntryLevelError && !strings.Contains(ev.Entry.Text, "favicon") &&
				!strings.Contains(ev.Entry.Text, "the server responded with a status of 4") &&
				!strings.Contains(ev.Entry.Text, "ERR_INTERNET_DISCONNECTED") {
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
		return strings.TrimSpace(s)
	}
	eval := func(js string) bool {
		t.Helper()
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
		if err != nil {
			t.Fatalf("evaluating %s: %v", js, err)
		}
		return ok
	}
	exists := func(sel string) bool {
		t.Helper()
		return eval(fmt.Sprintf(`document.querySelector(%q) !== null`, sel))
	}
	waitFor := func(what, js string, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for !eval(js) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within %v", what, within)
			}
			time.Sleep(200 * time.Millisecond)
		}
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
	login := func(name string) {
		t.Helper()
		do("login as "+name,
			chromedp.Navigate(base+"/login"),
			chromedp.WaitVisible(chromedp.ID("username")),
			chromedp.SendKeys(chromedp.ID("username"), name),
			chromedp.SendKeys(chromedp.ID("password"), userPassword),
			chromedp.Click(chromedp.ID("login-submit")),
			chromedp.WaitVisible(chromedp.ID("nav-ap")),
		)
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
	deadline := time.Now().Add(30 * time.Second)
	for {
		ch, err := ac.dev.Manager.Change(cutID)
		if err != nil {
			t.Fatal(err)
		}
		if ch.Status == "rolled_back" {
			break
		}
		if ch.Status != "pending" || time.Now().After(deadline) {
			t.Fatalf("the change made offline is %s, want rolled_back", ch.Status)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if s := ac.dev.Hostapd.SSID(); s != "Workshop" {
		t.Errorf("after the rollback hostapd broadcasts %q", s)
	}
	offline(false)
	waitFor("the page tells of the rollback", `document.getElementById('ap-change-panel').getAttribute('data-status') === 'rolled_back'`, 15*time.Second)
	waitFor("the page shows the SSID in force", `document.getElementById('ap-ssid').textContent === 'Workshop'`, 10*time.Second)
	waitFor("the form holds the settings in force", `document.getElementById('ap-f-ssid').value === 'Workshop'`, 10*time.Second)
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

	mu.Lock()
	defer mu.Unlock()
	for _, p := range problems {
		t.Errorf("browser reported %s", p)
	}
}
