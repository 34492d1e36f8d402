package web

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/devmgr/devmgr/internal/agent/api"
	"github.com/devmgr/devmgr/internal/auth"
	"github.com/devmgr/devmgr/internal/testing/lab"
	"github.com/devmgr/devmgr/internal/testing/testutil"
)

// TestBrowserBackups drives System → Backups in headless Chromium against
// the real agent in the lab: an admin makes a backup, downloads it,
// uploads it again, sees what restoring it would change, types the
// password again and restores; the page confirms the restore's change as
// soon as it reaches the device, everybody is signed out, and the device
// is as backed up (carol, added since, is gone; eth1 has its address
// again). Screenshots go to testout/.
func TestBrowserBackups(t *testing.T) {
	testutil.SkipShort(t, "drives Chromium")
	bc := startBackupConsole(t, time.Minute)
	h := bc.harness
	h.addUser("alice", auth.Admin, userPassword)
	addr, _, _ := serveReal(t, h, false)
	testutil.Eventually(t, 30*time.Second, func() bool {
		_, err := os.Stat(filepath.Join(bc.dataDir, "tls", "key.pem"))
		return err == nil
	}, "the console made no TLS pair")
	bc.giveToConsole(t) // the TLS pair the console just made
	api0 := h.newClient()
	api0.mustLogin("alice", userPassword)
	setLAN(t, api0, lab.LANDeviceAddr)

	b := startBrowser(t, "https://"+addr)
	b.stepTimeout = time.Minute
	downloads := t.TempDir()
	if _, err := chromedp.CallBrowser(b.ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
		Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads}); err != nil {
		t.Fatal(err)
	}
	b.login("alice", userPassword,
		chromedp.WaitVisible(chromedp.ID("interfaces")),
		chromedp.Click(chromedp.ID("nav-system")),
		chromedp.WaitVisible(chromedp.ID("tab-backups")),
		chromedp.Click(chromedp.ID("tab-backups")),
		chromedp.WaitVisible(chromedp.ID("backup-create-submit")),
	)
	b.do("make a backup", chromedp.Click(chromedp.ID("backup-create-submit")), chromedp.WaitVisible(chromedp.CSS("#backups [data-download]")))
	if s := b.text("main"); !strings.Contains(s, "It is not encrypted: it holds the WiFi passphrase and the password hashes.") {
		t.Errorf("no warning for the unencrypted backup made now:\n%s", s)
	}
	b.screenshot("backups-desktop", 1280)
	b.screenshot("backups-375", 375)

	// Since the backup: carol, and another address on eth1.
	h.addUser("carol", auth.Admin, userPassword)
	setLAN(t, api0, "203.0.113.9/24")

	b.do("download", chromedp.Click(chromedp.CSS("#backups [data-download]")))
	var file string
	testutil.Eventually(t, 30*time.Second, func() bool {
		es, _ := os.ReadDir(downloads)
		for _, e := range es {
			if strings.HasSuffix(e.Name(), ".tar.gz") {
				file = filepath.Join(downloads, e.Name())
				return true
			}
		}
		return false
	}, "the download did not arrive")

	b.do("upload", chromedp.SetUploadFiles(chromedp.ID("upload-file"), []string{file}),
		chromedp.Click(chromedp.ID("upload-submit")),
		chromedp.WaitVisible(chromedp.ID("restore-plan")))
	if !strings.HasPrefix(b.location(), "/system/backups/restore/") || !strings.HasSuffix(b.location(), "-uploaded.tar.gz") {
		t.Errorf("after the upload: %s", b.location())
	}
	plan := b.text("#restore-plan")
	for _, want := range []string{"carol", "removed", "eth1", "203.0.113.9/24", "203.0.113.1/24", "Every session ends"} {
		if !strings.Contains(plan, want) {
			t.Errorf("the preview does not say %q:\n%s", want, plan)
		}
	}
	b.screenshot("backups-restore-375", 375)
	b.screenshot("backups-restore-desktop", 1280)

	b.do("restore", chromedp.SendKeys(chromedp.ID("restore-password"), userPassword), chromedp.Click(chromedp.ID("restore-submit")))
	// The page confirms the change once it reaches the device; the restore
	// then ends every session, this one's too.
	b.waitFor("the sign-in page after the confirmed restore", `location.pathname === '/login'`, 45*time.Second)
	users, _ := h.db.ListUsers(t.Context())
	var names []string
	for _, u := range users {
		names = append(names, u.Name)
	}
	if !slices.Equal(names, []string{"alice"}) && !slices.Equal(names, []string{"admin", "alice"}) {
		t.Errorf("users after the restore: %v", names)
	}
	eth1, err := bc.client.Interface(t.Context(), api.Actor{User: "test", Role: auth.Viewer}, "eth1")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(eth1.Addresses, lab.LANDeviceAddr) {
		t.Errorf("eth1 after the restore: %v", eth1.Addresses)
	}
	if !bc.audited("alice", "backup.restore.confirm", "ok") {
		t.Error("no confirmed restore by alice in the agent's audit log")
	}
	b.login("alice", userPassword, chromedp.WaitVisible(chromedp.ID("interfaces")))
	b.do("backups again", chromedp.Click(chromedp.ID("nav-system")), chromedp.WaitVisible(chromedp.ID("tab-backups")),
		chromedp.Click(chromedp.ID("tab-backups")), chromedp.WaitVisible(chromedp.ID("backups")))
	if n := b.evalString(`String(document.querySelectorAll('#backups tr[data-backup]').length)`); n != "3" {
		t.Errorf("%s backups after the restore, want 3: made, uploaded, before the restore", n)
	}
	b.reportProblems()
}
