package web

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/devmgr/devmgr/internal/auth"
	"github.com/devmgr/devmgr/internal/store"
	"github.com/devmgr/devmgr/internal/testing/testutil"
)

// No page scrolls sideways on a phone (375 px) or on a desktop, even with
// an audit entry of the longest kind in the table.
func TestNoSidewaysScroll(t *testing.T) {
	testutil.SkipShort(t, "drives Chromium")
	cfg := testConfig(t.TempDir())
	h := startHarnessWith(t, cfg, newFakeClock(), HostSysInfo{DiskPath: cfg.DataDir})
	h.addUser("alice", auth.Admin, userPassword)
	long := strings.Repeat("x", 250)
	if err := h.db.Audit(context.Background(), store.AuditEntry{Time: h.clock.Now(), User: long, Source: long, Action: "network.config",
		Target: long, Result: "failed", Detail: strings.Repeat("a-very-long-token-without-spaces", 30)}); err != nil {
		t.Fatal(err)
	}
	addr, _, _ := serveReal(t, h, false)
	b := startBrowser(t, "https://"+addr)
	b.login("alice", userPassword, chromedp.WaitVisible(chromedp.ID("interfaces")))
	for _, width := range []int64{375, 1366} {
		b.do("viewport", chromedp.EmulateViewport(width, 800), chromedp.Sleep(100*time.Millisecond))
		for _, p := range []string{"/", "/network", "/diagnostics", "/ap", "/commands", "/commands/history", "/users", "/audit", "/account/password", "/system"} {
			b.do("open "+p, chromedp.Navigate(b.base+p), chromedp.WaitReady("body"))
			if b.evalBool(`document.documentElement.scrollWidth > window.innerWidth + 1`) {
				t.Errorf("%s scrolls sideways at %d px: %s px wide", p, width, b.evalString(`String(document.documentElement.scrollWidth)`))
			}
		}
	}
	// On a desktop the audit table fits its card: long values wrap.
	b.do("audit", chromedp.EmulateViewport(1366, 800), chromedp.Navigate(b.base+"/audit"), chromedp.WaitVisible(chromedp.ID("audit")))
	if b.evalBool(`document.getElementById('audit').scrollWidth > document.getElementById('audit').parentElement.clientWidth + 1`) {
		t.Errorf("the audit table is %s px wide in a %s px card", b.evalString(`String(document.getElementById('audit').scrollWidth)`),
			b.evalString(`String(document.getElementById('audit').parentElement.clientWidth)`))
	}
}
