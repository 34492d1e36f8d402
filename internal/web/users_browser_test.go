package web

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/devmgr/devmgr/internal/auth"
	"github.com/devmgr/devmgr/internal/store"
	"github.com/devmgr/devmgr/internal/testing/testutil"
)

// TestBrowserUsersAudit: on a phone (375 px) every action of the Users
// table and every column of the Audit table is on the screen, nothing
// scrolling sideways, the page or the table; an admin's actions leave the
// browser at /users, where a reload shows the page again (and a reset's
// one-time password no more).
func TestBrowserUsersAudit(t *testing.T) {
	testutil.SkipShort(t, "drives Chromium")
	h := startHarnessWith(t, testConfig(t.TempDir()), newFakeClock(), fakeSys{})
	h.addUser("alice", auth.Admin, userPassword)
	h.addUser("vera", auth.Viewer, userPassword)
	if err := h.db.Audit(context.Background(), store.AuditEntry{Time: h.clock.Now(), User: "alice", Source: "2001:db8::1234:5678", Action: "network.config",
		Target: "eth1", Result: "failed", Detail: strings.Repeat("a detail of some length ", 8)}); err != nil {
		t.Fatal(err)
	}
	addr, _, _ := serveReal(t, h, false)
	b := startBrowser(t, "https://"+addr)
	b.stepTimeout = 30 * time.Second
	b.login("alice", userPassword, chromedp.WaitVisible(chromedp.ID("interfaces")))

	// outOfReach lists the elements sel selects that are hidden or not
	// wholly on the screen, and the scroll boxes around them that scroll
	// sideways.
	outOfReach := func(sel string) string {
		t.Helper()
		return b.evalString(fmt.Sprintf(`(() => {
			const bad = [], els = [...document.querySelectorAll(%q)];
			if (!els.length) return 'nothing selected';
			for (const e of els) {
				const r = e.getBoundingClientRect();
				if (r.width === 0 || r.left < 0 || r.right > document.documentElement.clientWidth) bad.push((e.textContent.trim() || e.tagName) + ' at ' + Math.round(r.left) + '..' + Math.round(r.right));
				for (let p = e.parentElement; p; p = p.parentElement) {
					if (p.scrollWidth > p.clientWidth + 1 && getComputedStyle(p).overflowX !== 'visible') bad.push('a box ' + p.scrollWidth + ' px wide in ' + p.clientWidth + ' px around ' + e.tagName);
				}
			}
			return [...new Set(bad)].join('; ');
		})()`, sel))
	}
	b.do("phone", chromedp.EmulateViewport(375, 812, chromedp.EmulateMobile))
	b.do("users", chromedp.Navigate(b.base+"/users"), chromedp.WaitVisible(chromedp.ID("users")))
	for _, sel := range []string{`#users tr[data-user="vera"] button`, `#users tr[data-user="vera"] select`, `#users tr[data-user="vera"] td`} {
		if bad := outOfReach(sel); bad != "" {
			t.Errorf("users at 375 px: %s out of reach: %s", sel, bad)
		}
	}
	b.screenshot("users-375", 375)
	b.do("phone", chromedp.EmulateViewport(375, 812, chromedp.EmulateMobile))
	b.do("audit", chromedp.Navigate(b.base+"/audit"), chromedp.WaitVisible(chromedp.ID("audit")))
	if bad := outOfReach(`#audit tbody tr:first-child td`); bad != "" {
		t.Errorf("audit at 375 px: columns out of reach: %s", bad)
	}
	// Each stacked cell says which column it is.
	if got := b.evalString(`[...document.querySelectorAll('#audit tbody tr:first-child td')].map(td => getComputedStyle(td, '::before').content).join(' ')`); got != `"Time (UTC)" "User" "Source" "Action" "Target" "Result" "Detail"` {
		t.Errorf("audit cells at 375 px are led by %s", got)
	}
	b.screenshot("audit-375", 375)

	// A refused reset, a role change and a reset: back at /users each time.
	for _, step := range []struct {
		what string
		act  chromedp.Action[chromedp.Void]
		says string
	}{
		{"reset one's own password", chromedp.Evaluate[chromedp.Void](`(() => { window.confirm = () => true; document.querySelector('tr[data-user="alice"] form[action$="/reset"]').requestSubmit(); })()`), "Use Change password for your own account."},
		{"make vera operator", chromedp.Evaluate[chromedp.Void](`(() => { const f = document.querySelector('tr[data-user="vera"] form[action$="/role"]'); f.elements.role.value = 'operator'; f.requestSubmit(); })()`), "vera is now operator"},
		{"reset vera's password", chromedp.Evaluate[chromedp.Void](`(() => { window.confirm = () => true; document.querySelector('tr[data-user="vera"] form[action$="/reset"]').requestSubmit(); })()`), "New one-time password for vera"},
	} {
		b.do(step.what, chromedp.Navigate(b.base+"/users"), chromedp.WaitVisible(chromedp.ID("users")), step.act)
		b.waitFor(step.what+" answered", fmt.Sprintf(`document.body.textContent.includes(%q)`, step.says), 10*time.Second)
		if l := b.location(); l != "/users" {
			t.Errorf("after %s the browser is at %s, want /users", step.what, l)
		}
		b.do("reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("users")))
		if b.exists("#error-page") || b.exists("#one-time-password") || strings.Contains(b.text("main"), step.says) {
			t.Errorf("reloading after %s shows an error, or the same answer again", step.what)
		}
	}
	b.reportProblems()
}
