package web

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/devmgr/devmgr/internal/auth"
	"github.com/devmgr/devmgr/internal/testing/testutil"
)

// TestBrowserDiagnostics drives the Diagnostics page in Chromium against
// the real agent in the lab: the agent's refusals beside their fields in
// its own words (a count of 0 like one of 99), the fields beside a refused
// one staying in line, ping output arriving while ping runs, and the DNS
// form answered by the server.
func TestBrowserDiagnostics(t *testing.T) {
	testutil.SkipShort(t, "drives Chromium")
	lc := startLabConsole(t, time.Minute)
	h := lc.harness
	h.addUser("olga", auth.Operator, userPassword)
	addr, _, _ := serveReal(t, h, false)
	b := startBrowser(t, "https://"+addr) // the refusals are 400s and a 422, expected
	b.stepTimeout = 30 * time.Second
	do, eval := b.do, b.evalString
	set := func(id, v string) chromedp.Action[chromedp.Void] {
		return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(document.getElementById(%q).value = %q, true)`, id, v))
	}
	waitFor := func(what, js string) { t.Helper(); b.waitFor(what, js, 20*time.Second) }
	feedback := func(form, field string) string {
		return eval(fmt.Sprintf(`document.querySelector('#%s-form [data-error-for="%s"]').textContent`, form, field))
	}
	// refused submits form with host and number and waits for the refusal
	// of field.
	refused := func(form, number, host, value, field string) string {
		t.Helper()
		do("submit "+form+" "+host+" "+value, set(form+"-host", host), set(form+"-"+number, value),
			chromedp.Evaluate[chromedp.Void](`document.querySelectorAll('.is-invalid').forEach(e => e.classList.remove('is-invalid')), true`),
			chromedp.Click(chromedp.ID(form+"-run")))
		waitFor(field+" marked", fmt.Sprintf(`document.querySelector('#%s-form [name="%s"]').classList.contains('is-invalid')`, form, field))
		return feedback(form, field)
	}

	b.login("olga", userPassword, chromedp.WaitVisible(chromedp.ID("interfaces")),
		chromedp.Navigate(b.base+"/diagnostics"), chromedp.WaitVisible(chromedp.CSS("#ping-form[data-ready]")), chromedp.WaitVisible(chromedp.CSS("#traceroute-form[data-ready]")))

	// A bad host: its sentence beside it, Count's label and input still in
	// line with the host's, on a desktop and on a phone.
	for _, width := range []int64{1366, 375} {
		do("viewport", chromedp.EmulateViewport(width, 900))
		if msg := refused("ping", "count", "-f", "4", "host"); msg != "Host or IP address must not start with -." {
			t.Errorf("host refused with %q", msg)
		}
		for _, sel := range []string{"label", "input"} {
			if got := eval(fmt.Sprintf(`[...document.querySelectorAll('#ping-form %s')].map(e => Math.round(e.getBoundingClientRect().top)).join(' ')`, sel)); len(strings.Fields(got)) != 2 || strings.Fields(got)[0] != strings.Fields(got)[1] {
				t.Errorf("at %d px with the host refused, the %ss are not in line: tops %s", width, sel, got)
			}
		}
	}
	b.screenshot("diagnostics-host-error-375", 375)
	do("desktop", chromedp.EmulateViewport(1366, 900))

	// A count of 0 is refused like 99, beside Count, in the same words.
	for _, n := range []string{"0", "99"} {
		if msg := refused("ping", "count", "127.0.0.1", n, "count"); msg != "Count must be from 1 to 10." {
			t.Errorf("count %s refused with %q", n, msg)
		}
		if eval(`String(document.getElementById('ping-host').classList.contains('is-invalid'))`) != "false" {
			t.Errorf("count %s: the host is still marked", n)
		}
	}
	if msg := refused("ping", "count", "127.0.0.1", "two", "count"); msg != "Count must be a whole number." {
		t.Errorf("count two refused with %q", msg)
	}
	if msg := refused("traceroute", "max_hops", "127.0.0.1", "0", "max_hops"); msg != "Max hops must be from 1 to 30." {
		t.Errorf("max hops 0 refused with %q", msg)
	}

	// Ping lines arrive while ping runs.
	do("ping", set("ping-host", "127.0.0.1"), set("ping-count", "3"), chromedp.Click(chromedp.ID("ping-run")))
	waitFor("the first reply", `document.getElementById('ping-output').textContent.includes('bytes from 127.0.0.1')`)
	if done := eval(`String(document.getElementById('ping-status').dataset.done || '')`); done != "" {
		t.Errorf("ping already finished when its first reply showed: output not streamed")
	}
	waitFor("the end of ping", `document.getElementById('ping-status').dataset.done === 'true'`)
	if out := eval(`document.getElementById('ping-output').textContent`); !strings.Contains(out, "3 packets transmitted, 3 received") || strings.Contains(out, "undefined") {
		t.Errorf("ping output:\n%s", out)
	}
	if s := eval(`document.getElementById('ping-status').textContent`); !strings.Contains(s, "exit code 0") || eval(`String(document.getElementById('ping-count').classList.contains('is-invalid'))`) != "false" {
		t.Errorf("ping status %q, or Count still marked", s)
	}

	// DNS: the server answers the form; a bad server is marked beside it.
	do("dns", set("dns-name", "example.com"), set("dns-server", "dns.example"), chromedp.Click(chromedp.ID("dns-run")),
		chromedp.WaitVisible(chromedp.CSS("#dns-server.is-invalid")))
	if msg := feedback("dns", "server"); msg != "Server must be an IP address, such as 192.0.2.53, or left empty." {
		t.Errorf("DNS server refused with %q", msg)
	}
	if v := eval(`document.getElementById('dns-name').value`); v != "example.com" {
		t.Errorf("the name typed is gone after the refusal: %q", v)
	}
	do("neighbours", chromedp.Click(chromedp.ID("neighbors-refresh")), chromedp.WaitVisible(chromedp.ID("neighbors")))
	b.screenshot("diagnostics-375", 375)
	b.reportProblems()
}
