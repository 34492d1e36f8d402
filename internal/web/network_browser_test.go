package web

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/devmgr/devmgr/internal/agent"
	"github.com/devmgr/devmgr/internal/auth"
	"github.com/devmgr/devmgr/internal/lab"
	"github.com/devmgr/devmgr/internal/testutil"
)

// TestBrowserNetwork drives the Network and Diagnostics pages in headless
// Chromium against the real agent in the lab: live rates, a field error
// beside its field, a static address on eth1 counted down and confirmed by
// the page itself, another confirmed with "Confirm now", and a ping whose
// lines arrive while it runs. Screenshots go to testout/.
func TestBrowserNetwork(t *testing.T) {
	chromium := testutil.RequireBinary(t, "chromium")
	lc := startLabConsole(t, time.Minute)
	h := lc.harness
	h.addUser("alice", auth.Admin, userPassword)
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

	var mu sync.Mutex
	var problems []string
	if err := chromedp.Listen(ctx, func(ev any) {
		var msg string
		switch ev := ev.(type) {
		case *log.EventEntryAdded:
			// The field error below is a 400, expected.
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

	// dump reports what the page shows and what the browser said, on failure.
	dump := func() {
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		state, _ := chromedp.Run(dctx, chromedp.Evaluate[string](`[...document.querySelectorAll('.alert:not(.d-none), .invalid-feedback, .diag-status')].map(e => e.id + ': ' + e.textContent.trim()).join('\n')`))
		t.Logf("page state:\n%s", state)
		mu.Lock()
		defer mu.Unlock()
		for _, p := range problems {
			t.Logf("browser reported %s", p)
		}
	}
	// clear empties an input (chromedp.Clear and SetValue "" leave it as it was).
	clear := func(id string) chromedp.Action[chromedp.Void] {
		return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(document.getElementById(%q).value = '', true)`, id))
	}
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, steps...); err != nil {
			dump()
			t.Fatalf("%s: %v", what, err)
		}
	}
	eval := func(js string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("evaluating %s: %v", js, err)
		}
		return s
	}
	waitFor := func(what, js string, timeout time.Duration) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](js, chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(timeout))); err != nil {
			dump()
			t.Fatalf("waiting for %s (%s): %v", what, js, err)
		}
	}
	screenshot := func(name string, width int64) {
		t.Helper()
		if width < 500 {
			do("emulate phone", chromedp.EmulateViewport(width, 812, chromedp.EmulateMobile))
		} else {
			do("resize", chromedp.EmulateViewport(width, 900))
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

	do("login",
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), "alice"),
		chromedp.SendKeys(chromedp.ID("password"), userPassword),
		chromedp.Click(chromedp.ID("login-submit")),
		chromedp.WaitVisible(chromedp.ID("interfaces")),
		chromedp.Click(chromedp.ID("nav-network")),
		chromedp.WaitVisible(chromedp.ID("form-eth1")),
	)

	// Every interface, marked from the config, with live rates and a sparkline.
	got := eval(`[...document.querySelectorAll('.iface[data-iface]')].map(e => e.dataset.iface).sort().join(' ')`)
	if got != "eth0 eth1 lo wlan0" {
		t.Errorf("interfaces on the page: %q", got)
	}
	if eval(`(document.querySelector('[data-iface="wlan0"] [data-mark="ap"]') !== null) + ' ' + (document.querySelector('[data-iface="eth0"] [data-mark="uplink"]') !== null)`) != "true true" {
		t.Errorf("the AP interface or the uplink is not marked")
	}
	if eval(`String(document.querySelector('#form-wlan0') === null && document.querySelector('#form-eth0') === null)`) != "true" {
		t.Errorf("a form for a non-LAN interface")
	}
	if _, err := lc.lab.Exec(ctx, lab.Device, "ping", "-n", "-c", "3", "-i", "0.2", "192.0.2.11"); err != nil {
		t.Logf("traffic on wlan0: %v", err) // only for the rates; no client namespace answers without servers
	}
	waitFor("three polls and a sparkline",
		`+document.getElementById('network').dataset.polled >= 3 && document.querySelector('[data-iface="wlan0"] .spark svg polyline.rx') !== null`, 20*time.Second)
	if rate := eval(`document.querySelector('[data-iface="wlan0"] [data-field="rx-rate"]').textContent`); !regexp.MustCompile(`^[\d.]+ [kMGT]?bit/s$`).MatchString(rate) {
		t.Errorf("wlan0 receive rate %q", rate)
	}
	screenshot("network-desktop", 1280)

	// A bad address: the agent's message appears beside the field.
	do("bad address",
		chromedp.SetValue(chromedp.ID("mode-eth1"), "static"),
		clear("addresses-eth1"),
		chromedp.SendKeys(chromedp.ID("addresses-eth1"), "203.0.113.0/24"),
		chromedp.Click(chromedp.ID("apply-eth1")),
		chromedp.WaitVisible(chromedp.CSS("#addresses-eth1.is-invalid")),
	)
	if fb := eval(`document.querySelector('#form-eth1 [data-error-for="addresses"]').textContent`); !strings.Contains(fb, "network address") {
		t.Errorf("field error %q, want the agent's message", fb)
	}

	// A static address: the countdown shows, the page confirms by itself.
	do("static address",
		clear("addresses-eth1"),
		chromedp.SendKeys(chromedp.ID("addresses-eth1"), lab.LANDeviceAddr),
		chromedp.Click(chromedp.ID("apply-eth1")),
		chromedp.WaitVisible(chromedp.ID("change-countdown")),
	)
	waitFor("the countdown", `/^\d+ s$/.test(document.getElementById('change-countdown').textContent)`, 5*time.Second)
	if s := eval(`document.getElementById('change-countdown').textContent`); s != "60 s" && s != "59 s" && s != "58 s" {
		t.Errorf("countdown %q right after the change, want about 60 s", s)
	}
	if s := eval(`document.getElementById('change-status').textContent`); !strings.Contains(s, "waiting for confirmation") {
		t.Errorf("change status %q", s)
	}
	screenshot("network-countdown-375", 375)
	waitFor("the automatic confirmation", `document.getElementById('change-panel').dataset.status === 'confirmed'`, 20*time.Second)
	if s := eval(`document.getElementById('change-status').textContent`); !strings.Contains(s, "confirmed") {
		t.Errorf("change status %q, want confirmed", s)
	}
	if out, err := lc.lab.Exec(ctx, lab.Device, "ping", "-n", "-c", "1", "-W", "2", lab.LANHostIP); err != nil {
		t.Errorf("LAN host unreachable after the confirmed change: %v\n%s", err, out)
	}

	// Another change, kept with "Confirm now" before the page would.
	do("mtu with confirm now",
		clear("mtu-eth1"),
		chromedp.SendKeys(chromedp.ID("mtu-eth1"), "1400"),
		chromedp.Click(chromedp.ID("apply-eth1")),
		chromedp.WaitVisible(chromedp.ID("confirm-now")),
		chromedp.Click(chromedp.ID("confirm-now")),
	)
	waitFor("the confirmation", `document.getElementById('change-panel').dataset.status === 'confirmed'`, 20*time.Second)
	cl := agent.NewClient(lc.socket)
	defer cl.Close()
	eth1, err := cl.Interface(ctx, agent.Actor{User: "test", Role: auth.Viewer}, "eth1")
	if err != nil {
		t.Fatal(err)
	}
	if eth1.MTU != 1400 || eth1.Mode != "static" || !slices.Contains(eth1.Addresses, lab.LANDeviceAddr) {
		t.Errorf("eth1 after the changes: mode %q mtu %d addresses %v", eth1.Mode, eth1.MTU, eth1.Addresses)
	}
	if !lc.audit.has("alice", "network.confirm", "ok") {
		t.Errorf("no confirm by alice in the agent's audit")
	}
	waitFor("the page showing the new state", `document.querySelector('[data-iface="eth1"] [data-field="mode"]').textContent === 'static' &&
		document.querySelector('[data-iface="eth1"] [data-field="mtu"]').textContent === '1400' &&
		document.querySelector('[data-iface="eth1"] [data-field="addresses"]').textContent.includes('203.0.113.1/24')`, 10*time.Second)
	screenshot("network-confirmed-desktop", 1280)
	screenshot("network-375", 375)

	// Diagnostics: ping lines arrive while ping runs.
	do("diagnostics",
		chromedp.Click(chromedp.ID("nav-diagnostics")),
		chromedp.WaitVisible(chromedp.ID("ping-form")),
		chromedp.SendKeys(chromedp.ID("ping-host"), "127.0.0.1"),
		chromedp.SetValue(chromedp.ID("ping-count"), "4"),
		chromedp.Click(chromedp.ID("ping-run")),
	)
	waitFor("the first reply", `document.getElementById('ping-output').textContent.includes('bytes from 127.0.0.1')`, 10*time.Second)
	if done := eval(`String(document.getElementById('ping-status').dataset.done || '')`); done != "" {
		t.Errorf("ping already finished when its first reply showed: output not streamed")
	}
	waitFor("the end of ping", `document.getElementById('ping-status').dataset.done === 'true'`, 20*time.Second)
	if out := eval(`document.getElementById('ping-output').textContent`); !strings.Contains(out, "4 packets transmitted, 4 received") || strings.Contains(out, "undefined") {
		t.Errorf("ping output:\n%s", out)
	}
	if s := eval(`document.getElementById('ping-status').textContent`); !strings.Contains(s, "exit code 0") {
		t.Errorf("ping status %q", s)
	}
	do("neighbours", chromedp.Click(chromedp.ID("neighbors-refresh")), chromedp.Sleep(300*time.Millisecond))
	screenshot("diagnostics-desktop", 1280)
	screenshot("diagnostics-375", 375)

	mu.Lock()
	defer mu.Unlock()
	for _, p := range problems {
		t.Errorf("browser reported %s", p)
	}
}
