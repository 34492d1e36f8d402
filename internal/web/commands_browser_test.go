package web

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/devmgr/devmgr/internal/agent"
	"github.com/devmgr/devmgr/internal/auth"
	"github.com/devmgr/devmgr/internal/config"
	"github.com/devmgr/devmgr/internal/netif"
	"github.com/devmgr/devmgr/internal/testing/testutil"
)

// pingCommand is the catalog's command of the browser test: a ping of an
// address, 1 to 10 packets.
func pingCommand() config.Command {
	one, ten := int64(1), int64(10)
	return config.Command{ID: "ping", Title: "Ping", Description: "Sends ICMP echo requests to an address.",
		Argv: []string{"/usr/bin/ping", "-n", "-c", "{count}", "{host}"}, Roles: []auth.Role{auth.Operator, auth.Admin},
		Params: config.Params{
			{Name: "count", Type: config.ParamInt, Title: "Count", Min: &one, Max: &ten, Default: "4"},
			{Name: "host", Type: config.ParamIP, Title: "Address"},
		}}
}

// startCommandsConsole runs the real agent in this process with catalog
// (its commands and history only: OpenCommands on this namespace's
// links) and a console on its socket. As root: the socket lets root in.
func startCommandsConsole(t *testing.T, catalog []config.Command) (*harness, *apAudit) {
	t.Helper()
	testutil.RequireRoot(t)
	cfg := testConfig(t.TempDir())
	cfg.Commands = catalog
	cfg.Agent.StateDir = filepath.Join(t.TempDir(), "agent")
	if err := os.Mkdir(cfg.Agent.StateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	links, err := netif.Open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { links.Close() })
	audit, alog := &apAudit{}, &syncBuffer{}
	log := slog.New(slog.NewTextHandler(alog, nil))
	cmds, err := agent.OpenCommands(context.Background(), cfg, links, audit, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // after the agent has stopped
		cmds.Close()
		if t.Failed() {
			t.Logf("agent log:\n%s", alog.String())
		}
	})
	ac := serveTestAgent(t, agent.Config{Diag: agent.Tools{}, Audit: audit, Log: log, Commands: cmds})
	return newAgentHarness(t, cfg, ac), audit
}

// TestBrowserCommands drives the Commands page in headless Chromium
// against the real agent: an operator pings 127.0.0.1 five times and sees
// the first reply while ping still runs, then the exit code and duration;
// cancels a longer ping; and finds the runs in the history, with their
// output on the run's page. Screenshots go to testout/.
func TestBrowserCommands(t *testing.T) {
	testutil.SkipShort(t, "drives Chromium")
	testutil.RequireBinary(t, "ping")
	h, audit := startCommandsConsole(t, []config.Command{pingCommand()})
	h.addUser("olga", auth.Operator, userPassword)
	addr, _, _ := serveReal(t, h, false)
	b := startBrowser(t, "https://"+addr)
	ctx := b.ctx
	dump := func() {
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		state, _ := chromedp.Run(dctx, chromedp.Evaluate[string](`[...document.querySelectorAll('.alert:not(.d-none), .invalid-feedback, pre, [data-end]')].map(e => e.id + ': ' + e.textContent.trim()).join('\n')`))
		t.Logf("page state:\n%s", state)
		b.logProblems()
	}
	b.stepTimeout, b.onFail = 30*time.Second, dump
	do, eval := b.do, b.evalString
	waitFor := func(what, js string, timeout time.Duration) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](js, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(timeout))); err != nil {
			dump()
			t.Fatalf("waiting for %s (%s): %v", what, js, err)
		}
	}
	setValue := func(id, v string) chromedp.Action[chromedp.Void] {
		return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(document.getElementById(%q).value = %q, true)`, id, v))
	}
	const output, end = `(document.querySelector('#part-ping [data-output]')?.textContent ?? '')`, `document.querySelector('#part-ping [data-end]')`

	b.login("olga", userPassword,
		chromedp.WaitVisible(chromedp.ID("nav-commands")),
		chromedp.Click(chromedp.ID("nav-commands")),
		chromedp.WaitVisible(chromedp.ID("form-ping")),
	)
	// A bad address: the agent's words beside the field.
	do("a bad address", setValue("ping-host", "localhost; id"), chromedp.Click(chromedp.ID("run-ping-submit")),
		chromedp.WaitVisible(chromedp.CSS("#ping-host.is-invalid")))
	if fb := eval(`document.querySelector('#part-ping [data-error-for="host"]').textContent`); !strings.HasPrefix(fb, `Address: "localhost; id" is not an IPv4 or IPv6 address`) {
		t.Errorf("field error %q", fb)
	}

	// Five pings: the first reply shows while ping still runs.
	do("ping 5", setValue("ping-host", "127.0.0.1"), setValue("ping-count", "5"), chromedp.Click(chromedp.ID("run-ping-submit")))
	waitFor("the first reply", output+`.includes('bytes from 127.0.0.1')`, 10*time.Second)
	if s := eval(end + `.textContent.trim()`); s != "Running…" {
		t.Errorf("ping had ended (%q) when its first reply showed: the output is not streamed", s)
	}
	if !b.exists(`#part-ping [data-cancel]`) {
		t.Errorf("no cancel button while it runs")
	}
	b.screenshot("commands-running-375", 375)
	waitFor("the end of ping", end+`?.querySelector('[data-status]') != null`, 20*time.Second)
	if s := eval(end + `.textContent`); !strings.Contains(s, "ok") || !strings.Contains(s, "exit code 0") || !strings.Contains(s, " s") {
		t.Errorf("end panel %q, want ok, exit code 0 and the duration", s)
	}
	if out := eval(output); !strings.Contains(out, "5 packets transmitted, 5 received") || strings.Count(out, "bytes from 127.0.0.1") != 5 {
		t.Errorf("ping output:\n%s", out)
	}
	if b.exists(`#part-ping [data-cancel]`) {
		t.Errorf("the cancel button stays after the end")
	}
	b.screenshot("commands-desktop", 1280)

	// Ten pings, cancelled after the first reply.
	first := eval(`document.querySelector('#part-ping [data-run]').dataset.run`)
	do("ping 10", setValue("ping-count", "10"), chromedp.Click(chromedp.ID("run-ping-submit")))
	waitFor("the new run", fmt.Sprintf(`document.querySelector('#part-ping [data-run]')?.dataset.run !== %q`, first), 10*time.Second)
	waitFor("the first reply", output+`.includes('bytes from 127.0.0.1')`, 10*time.Second)
	do("cancel", chromedp.Click(chromedp.CSS(`#part-ping [data-cancel]`)))
	waitFor("the cancelled end", end+`?.querySelector('[data-status="canceled"]') != null`, 15*time.Second)
	if e, ok := audit.find("command.cancel", "ok"); !ok || e.User != "olga" {
		t.Errorf("the cancel is not in the agent's audit log: %+v", e)
	}
	if e, ok := audit.find("command.run", "ok"); !ok || e.User != "olga" || !strings.Contains(e.Detail, "count=5 host=127.0.0.1") {
		t.Errorf("the run's start is not in the agent's audit log: %+v", e)
	}

	// The history has both; the first one's page shows its output.
	do("history", chromedp.Navigate(b.base+"/commands/history"), chromedp.WaitVisible(chromedp.ID("runs")))
	rows := eval(`[...document.querySelectorAll('#runs tbody tr')].map(r => r.textContent.replace(/\s+/g, ' ').trim()).join('\n')`)
	if !strings.Contains(rows, "ping olga") || !strings.Contains(rows, "count=5 host=127.0.0.1 ok 0") || !strings.Contains(rows, "count=10 host=127.0.0.1 canceled") {
		t.Errorf("history rows:\n%s", rows)
	}
	b.screenshot("commands-history-375", 375)
	do("the run's page", chromedp.Click(chromedp.CSS(`#runs tbody tr:last-child a`)), chromedp.WaitVisible(chromedp.ID("run-facts")))
	if out := eval(`document.querySelector('[data-output]').textContent`); !strings.Contains(out, "5 packets transmitted, 5 received") {
		t.Errorf("the run's page shows:\n%s", out)
	}
	for _, p := range []string{"/commands", "/commands/history", b.location()} {
		do("phone "+p, chromedp.EmulateViewport(375, 800), chromedp.Navigate(b.base+p), chromedp.WaitReady("body"), chromedp.Sleep(200*time.Millisecond))
		if b.evalBool(`document.documentElement.scrollWidth > window.innerWidth + 1`) {
			t.Errorf("%s scrolls sideways at 375 px", p)
		}
	}
	b.reportProblems()
}
