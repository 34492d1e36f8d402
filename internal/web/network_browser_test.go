package web

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/devmgr/devmgr/internal/agent/api"
	agentclient "github.com/devmgr/devmgr/internal/agent/client"
	"github.com/devmgr/devmgr/internal/auth"
	"github.com/devmgr/devmgr/internal/testing/lab"
	"github.com/devmgr/devmgr/internal/testing/testutil"
)

// TestBrowserNetwork drives the Network and Diagnostics pages in headless
// Chromium against the real agent in the lab: live rates, a field error
// beside its field, a static address on eth1 counted down and confirmed by
// the page itself, another confirmed with "Confirm now", and a ping whose
// lines arrive while it runs. Screenshots go to testout/.
func TestBrowserNetwork(t *testing.T) {
	testutil.SkipShort(t, "drives Chromium")
	lc := startLabConsole(t, time.Minute)
	h := lc.harness
	h.addUser("alice", auth.Admin, userPassword)
	addr, _, _ := serveReal(t, h, false)
	// The field error below is a 400, expected.
	b := startBrowser(t, "https://"+addr)
	ctx := b.ctx
	// dump reports what the page shows and what the browser said, on failure.
	dump := func() {
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		state, _ := chromedp.Run(dctx, chromedp.Evaluate[string](`[...document.querySelectorAll('.alert:not(.d-none), .invalid-feedback, .diag-status')].map(e => e.id + ': ' + e.textContent.trim()).join('\n')`))
		t.Logf("page state:\n%s", state)
		b.logProblems()
	}
	b.stepTimeout, b.onFail = 30*time.Second, dump
	do, eval, screenshot := b.do, b.evalString, b.screenshot
	// clear empties an input (chromedp.Clear and SetValue "" leave it as it was).
	clear := func(id string) chromedp.Action[chromedp.Void] {
		return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(document.getElementById(%q).value = '', true)`, id))
	}
	waitFor := func(what, js string, timeout time.Duration) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](js, chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(timeout))); err != nil {
			dump()
			t.Fatalf("waiting for %s (%s): %v", what, js, err)
		}
	}

	b.login("alice", userPassword,
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
	// Rates and a sparkline from the agent's traffic history (a sample every 10 s).
	waitFor("rates and a sparkline",
		`document.querySelector('[data-iface="wlan0"] .spark svg polyline.rx') !== null`, 40*time.Second)
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
	// What changes, who, when: beside the countdown.
	if s := eval(`document.getElementById('change-diff').textContent + ' | ' + document.getElementById('change-who').textContent`); !strings.Contains(s, "Addresses") || !strings.Contains(s, lab.LANDeviceAddr) || !strings.Contains(s, "By alice") {
		t.Errorf("the pending change shows %q, want the addresses old → new and who made it", s)
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
	cl := agentclient.New(lc.socket)
	defer cl.Close()
	eth1, err := cl.Interface(ctx, api.Actor{User: "test", Role: auth.Viewer}, "eth1")
	if err != nil {
		t.Fatal(err)
	}
	if eth1.MTU != 1400 || eth1.Mode != "static" || !slices.Contains(eth1.Addresses, lab.LANDeviceAddr) {
		t.Errorf("eth1 after the changes: mode %q mtu %d addresses %v", eth1.Mode, eth1.MTU, eth1.Addresses)
	}
	if !lc.audited("alice", "network.confirm", "ok") {
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
		chromedp.WaitVisible(chromedp.CSS("#ping-form[data-ready]")), // its script has run
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

	b.reportProblems()
}
