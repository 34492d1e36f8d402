package web

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/devmgr/devmgr/internal/agent/api"
	"github.com/devmgr/devmgr/internal/auth"
)

// backupsHarness is a console on the fake agent, with a viewer and an
// admin signed in.
func backupsHarness(t *testing.T) (*harness, *fakeAgent, *client, *client) {
	t.Helper()
	fa := newFakeAgent(t)
	h := startHarnessAgent(t, testConfig(t.TempDir()), newFakeClock(), fakeSys{}, fa)
	h.addUser("vera", auth.Viewer, userPassword)
	h.addUser("alice", auth.Admin, userPassword)
	viewer, admin := h.newClient(), h.newClient()
	viewer.mustLogin("vera", userPassword)
	admin.mustLogin("alice", userPassword)
	return h, fa, viewer, admin
}

func (f *fakeAgent) called(prefix string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		if strings.HasPrefix(c, prefix) {
			out = append(out, c)
		}
	}
	return out
}

// The page lists the backups, warns what an unencrypted one holds, links
// each download to the agent's route and each restore to its page; the
// nav's System entry is an admin's only.
func TestBackupsPage(t *testing.T) {
	t.Parallel()
	_, fa, viewer, admin := backupsHarness(t)
	r := admin.get("/system/backups")
	if r.status != http.StatusOK {
		t.Fatalf("GET /system/backups: %d", r.status)
	}
	for _, want := range []string{`id="nav-system"`, `data-backup="` + fakePlain + `"`, `id="backup-secrets"`, "holds the WiFi passphrase and the password hashes",
		`href="/api/v1/backups/` + fakePlain + `"`, `href="/system/backups/restore/` + fakeEncrypted + `"`, "by devmgr-backup.timer",
		"The last backup was made at 2030-01-03 03:04:05 UTC (scheduler)", `aria-current="page" href="/system"`, `aria-current="page" href="/system/backups" id="tab-backups"`} {
		if !strings.Contains(r.body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if r := viewer.get("/"); strings.Contains(r.body, `id="nav-system"`) {
		t.Error("a viewer's nav shows System")
	}
	// The download is the agent's, through the proxy, as it sends it.
	r = admin.get("/api/v1/backups/" + fakePlain)
	if r.status != http.StatusOK || r.body != "the archive" || !strings.Contains(r.header.Get("Content-Disposition"), fakePlain) {
		t.Errorf("download: %d %q %q", r.status, r.header.Get("Content-Disposition"), r.body)
	}
	if got := fa.called("download"); !slices.Equal(got, []string{"download " + fakePlain + " alice"}) {
		t.Errorf("agent calls %q", got)
	}
	// A failed last backup: on the page and on the dashboard, an admin's.
	fa.mu.Lock()
	fa.backups.lastFailed = true
	fa.mu.Unlock()
	if r := admin.get("/system/backups"); !strings.Contains(r.body, "The last backup failed at 2030-01-04 00:00:00 UTC (scheduler): reading the config: no such file") {
		t.Error("the page does not say the last backup failed")
	}
	for _, p := range []string{"/", "/dashboard/live"} {
		if r := admin.get(p); !strings.Contains(r.body, `id="backup-failed"`) || !strings.Contains(r.body, "2030-01-04 00:00:00 UTC: reading the config: no such file") {
			t.Errorf("%s does not show the failed backup to an admin", p)
		}
		if r := viewer.get(p); strings.Contains(r.body, `id="backup-failed"`) {
			t.Errorf("%s shows the failed backup to a viewer", p)
		}
	}
	if got := fa.called("backups vera"); len(got) != 0 {
		t.Errorf("the console asked the agent for backups as a viewer: %q", got)
	}
}

// Make a backup now: the passphrase's problems are named beside their
// fields, and nothing is asked of the agent then; made, the page says so
// after a redirect (a reload makes no second one).
func TestBackupCreateForm(t *testing.T) {
	t.Parallel()
	_, fa, _, admin := backupsHarness(t)
	admin.get("/system/backups")
	r := admin.post("/system/backups/create", url.Values{"encrypt": {"1"}, "passphrase": {"short"}, "confirm": {"short"}})
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, `id="backup-passphrase-error" data-error-for="passphrase">Enter a passphrase of at least 12 characters.`) {
		t.Errorf("short passphrase: %d\n%s", r.status, r.body)
	}
	r = admin.post("/system/backups/create", url.Values{"encrypt": {"1"}, "passphrase": {"a long enough passphrase"}, "confirm": {"another one"}})
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, `data-error-for="confirm">The two passphrases differ.`) ||
		!strings.Contains(r.body, `id="backup-encrypt" checked`) {
		t.Errorf("passphrases differ: %d", r.status)
	}
	if got := fa.called("create"); len(got) != 0 {
		t.Fatalf("a refused form reached the agent: %q", got)
	}
	r = admin.post("/system/backups/create", url.Values{"encrypt": {"1"}, "passphrase": {"a long enough passphrase"}, "confirm": {"a long enough passphrase"}})
	if r.status != http.StatusSeeOther || r.location() != "/system/backups" {
		t.Fatalf("create: %d %q", r.status, r.location())
	}
	if r := admin.get("/system/backups"); !strings.Contains(r.body, "Made devmgr-dev-20300105T000000Z-manual.tar.gz") {
		t.Error("the page does not say the backup was made")
	}
	admin.post("/system/backups/create", url.Values{"passphrase": {"ignored without encrypt"}})
	if r := admin.get("/system/backups"); !strings.Contains(r.body, "It is not encrypted: it holds the WiFi passphrase and the password hashes.") {
		t.Error("an unencrypted backup made now is not warned about")
	}
	if got := fa.called("create"); !slices.Equal(got, []string{"create alice encrypted=true", "create alice encrypted=false"}) {
		t.Errorf("agent calls %q", got)
	}
}

// multipartUpload is the upload form as a browser (htmx) sends it.
func multipartUpload(t testing.TB, passphrase string, file []byte) (io.Reader, string) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	w.WriteField("passphrase", passphrase)
	fw, err := w.CreateFormFile("file", "backup.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(file)
	w.Close()
	return &b, w.FormDataContentType()
}

func (c *client) upload(passphrase string, file []byte) response {
	c.t.Helper()
	body, ct := multipartUpload(c.t, passphrase, file)
	return c.request(http.MethodPost, "/system/backups/upload", body, map[string]string{"Content-Type": ct, "X-CSRF-Token": c.csrf, "HX-Request": "true"})
}

// An upload goes on to the agent as it comes, with its passphrase; kept,
// the browser goes to what restoring it would change; refused, the form
// says why beside the file or the passphrase. The API takes the file as
// the body.
func TestBackupUpload(t *testing.T) {
	t.Parallel()
	h, fa, _, admin := backupsHarness(t)
	admin.get("/system/backups")
	r := admin.upload("", []byte("an archive"))
	if r.status != http.StatusNoContent || r.header.Get("HX-Redirect") != "/system/backups/restore/devmgr-dev-20300102T030405Z-uploaded.tar.gz" {
		t.Errorf("upload: %d %q", r.status, r.header.Get("HX-Redirect"))
	}
	r = admin.upload("", []byte("bad"))
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, `data-error-for="file">The upload was refused, and nothing was kept: not a devmgr backup`) ||
		strings.Contains(r.body, "<html") {
		t.Errorf("refused upload: %d\n%s", r.status, r.body)
	}
	r = admin.upload("wrong", []byte("an archive"))
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, `data-error-for="passphrase">The upload was refused, and nothing was kept: wrong passphrase`) {
		t.Errorf("wrong passphrase: %d\n%s", r.status, r.body)
	}
	body, ct := multipartUpload(t, "", nil)
	_ = body
	r = admin.request(http.MethodPost, "/system/backups/upload", strings.NewReader("--x--\r\n"), map[string]string{"Content-Type": ct, "X-CSRF-Token": admin.csrf})
	if r.status != http.StatusBadRequest && r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "data-error-for=\"file\">") {
		t.Errorf("no file: %d\n%s", r.status, r.body)
	}
	big := bytes.Repeat([]byte{0}, api.MaxBackupUpload+128<<10)
	r = admin.upload("", big)
	if r.status != http.StatusRequestEntityTooLarge || !strings.Contains(r.body, "The file is larger than 64.0 MiB, the most a backup may be.") {
		t.Errorf("too large: %d\n%s", r.status, r.body)
	}
	if got := fa.called("upload"); len(got) != 3 || got[0] != `upload alice 10 bytes passphrase=""` || got[2] != `upload alice 10 bytes passphrase="wrong"` {
		t.Errorf("agent calls %q", got)
	}

	// The API: the archive as the body, its passphrase in a header.
	h.addToken("ci", auth.Admin, "dmt_admin_token_backups")
	c := h.newClient()
	r = c.request(http.MethodPost, "/api/v1/backups/upload", strings.NewReader("from the API"),
		map[string]string{"Authorization": "Bearer dmt_admin_token_backups", "Content-Type": "application/octet-stream", api.HeaderBackupPassphrase: "its passphrase"})
	if r.status != http.StatusCreated || !strings.Contains(r.body, `"kind": "uploaded"`) {
		t.Errorf("API upload: %d %s", r.status, r.body)
	}
	if got := fa.called("upload"); got[len(got)-1] != `upload token:ci 12 bytes passphrase="its passphrase"` {
		t.Errorf("agent calls %q", got)
	}
}

// The agent's refusal for room (507: past api.MaxKeptByHand, or without
// free space) reaches the admin as it says it: beside the page's forms
// and in the API's answers, with its status.
func TestBackupsFull(t *testing.T) {
	t.Parallel()
	h, fa, _, admin := backupsHarness(t)
	fa.mu.Lock()
	fa.backups.full = true
	fa.mu.Unlock()
	want := "There are 50 backups made or uploaded by hand, and at most 50 are kept; nothing was written: delete old backups first."
	admin.get("/system/backups")
	if r := admin.post("/system/backups/create", url.Values{}); !strings.Contains(r.body, `id="backup-create-error">`+want+"<") {
		t.Errorf("create: %d\n%s", r.status, r.body)
	}
	if r := admin.upload("", []byte("an archive")); !strings.Contains(r.body, `data-error-for="file">`+want+"<") {
		t.Errorf("upload: %d\n%s", r.status, r.body)
	}
	h.addToken("ci", auth.Admin, "dmt_admin_token_full")
	c := h.newClient()
	for _, r := range []struct{ path, ct, body string }{
		{"/api/v1/backups", "application/json", "{}"},
		{"/api/v1/backups/upload", "application/octet-stream", "an archive"},
	} {
		got := c.request(http.MethodPost, r.path, strings.NewReader(r.body), map[string]string{"Authorization": "Bearer dmt_admin_token_full", "Content-Type": r.ct})
		if got.status != http.StatusInsufficientStorage || !strings.Contains(got.body, errFakeFull.Message) {
			t.Errorf("POST %s: %d %s, want 507 saying %q", r.path, got.status, got.body, errFakeFull.Message)
		}
	}
}

// readRecorder is a request body that records whether it was read.
type readRecorder struct {
	read atomic.Bool
	r    io.Reader
}

func (b *readRecorder) Read(p []byte) (int, error) {
	b.read.Store(true)
	return b.r.Read(p)
}

func (b *readRecorder) Close() error { return nil }

// Uploads from anybody but an admin are refused before their body is
// read: anonymous ones, a viewer's (with and without the form token),
// and an API token's of a lesser role.
func TestBackupUploadRefusedUnread(t *testing.T) {
	t.Parallel()
	h, fa, viewer, _ := backupsHarness(t)
	viewer.get("/")
	h.addToken("ci", auth.Viewer, "dmt_viewer_token_backups")
	cookie := viewer.sessionCookie()
	for _, tc := range []struct {
		name, path, ct string
		hdr            map[string]string
		want           int
	}{
		{"anonymous page", "/system/backups/upload", "multipart/form-data; boundary=x", nil, http.StatusForbidden},
		{"anonymous API", "/api/v1/backups/upload", "application/octet-stream", nil, http.StatusUnauthorized},
		{"viewer page", "/system/backups/upload", "multipart/form-data; boundary=x", map[string]string{"X-CSRF-Token": viewer.csrf, "Cookie": cookie.Name + "=" + cookie.Value}, http.StatusForbidden},
		{"viewer page without the form token", "/system/backups/upload", "multipart/form-data; boundary=x", map[string]string{"Cookie": cookie.Name + "=" + cookie.Value}, http.StatusForbidden},
		{"viewer API", "/api/v1/backups/upload", "application/octet-stream", map[string]string{"X-CSRF-Token": viewer.csrf, "Cookie": cookie.Name + "=" + cookie.Value}, http.StatusForbidden},
		{"viewer token", "/api/v1/backups/upload", "application/octet-stream", map[string]string{"Authorization": "Bearer dmt_viewer_token_backups"}, http.StatusForbidden},
	} {
		body := &readRecorder{r: strings.NewReader("--x\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\nanything\r\n--x--\r\n")}
		req := httptest.NewRequest(http.MethodPost, "https://device"+tc.path, body)
		req.Header.Set("Content-Type", tc.ct)
		for k, v := range tc.hdr {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		h.srv.Handler().ServeHTTP(rec, req)
		if rec.Code != tc.want || body.read.Load() {
			t.Errorf("%s: %d (body read: %v), want %d unread", tc.name, rec.Code, body.read.Load(), tc.want)
		}
	}
	if got := fa.called("upload"); len(got) != 0 {
		t.Errorf("a refused upload reached the agent: %q", got)
	}
}

// The restore page shows what restoring changes; the restore needs the
// password typed again, which the console checks and never sends on;
// wrong, it is named beside its field and nothing is asked of the agent.
// A restore whose change waits goes to the Backups page, which confirms
// it as soon as it reaches the device; one done at once ends the session.
func TestRestoreForm(t *testing.T) {
	t.Parallel()
	h, fa, _, admin := backupsHarness(t)
	r := admin.get("/system/backups/restore/" + fakePlain)
	for _, want := range []string{`data-user="carol"`, "removed", `id="restore-ap"`, "02:00:00:00:00:01", `data-lan="eth1"`, "203.0.113.1/24",
		"sudo devmgr backup restore FILE", `id="restore-submit">`} {
		if !strings.Contains(r.body, want) {
			t.Errorf("the restore page lacks %q", want)
		}
	}
	if r := admin.get("/system/backups/restore/nope.tar.gz"); r.status != http.StatusNotFound {
		t.Errorf("a backup that is not listed: %d", r.status)
	}
	// Encrypted: the plan after the passphrase, which is not sent back.
	r = admin.get("/system/backups/restore/" + fakeEncrypted)
	if strings.Contains(r.body, `id="restore-plan"`) || !strings.Contains(r.body, `id="restore-submit" disabled`) || !strings.Contains(r.body, `id="restore-passphrase"`) {
		t.Errorf("an encrypted backup's page before its passphrase:\n%s", r.body)
	}
	r = admin.post("/system/backups/preview/"+fakeEncrypted, url.Values{"passphrase": {"not it"}})
	if r.status != http.StatusBadRequest && r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, `data-error-for="passphrase">Wrong passphrase`) {
		t.Errorf("wrong passphrase: %d", r.status)
	}
	r = admin.post("/system/backups/preview/"+fakeEncrypted, url.Values{"passphrase": {"a long enough passphrase"}})
	if r.status != http.StatusOK || !strings.Contains(r.body, `id="restore-plan"`) || strings.Contains(r.body, "a long enough passphrase") ||
		!strings.Contains(r.body, "Type it again: it is not sent back to the browser.") {
		t.Errorf("preview with the passphrase: %d", r.status)
	}

	admin.get("/system/backups/restore/" + fakePlain)
	r = admin.post("/system/backups/restore/"+fakePlain, url.Values{"password": {"not my password"}})
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, `data-error-for="password">This is not your current password.`) ||
		!strings.Contains(r.body, `id="restore-plan"`) {
		t.Errorf("wrong password: %d\n%s", r.status, r.body)
	}
	if got := fa.called("restore"); len(got) != 0 {
		t.Fatalf("a wrong password reached the agent: %q", got)
	}
	r = admin.post("/system/backups/restore/"+fakePlain, url.Values{"password": {userPassword}})
	if r.status != http.StatusSeeOther || r.location() != "/system/backups?restore="+fakeRestoreID {
		t.Fatalf("restore: %d %q\n%s", r.status, r.location(), r.body)
	}
	if got := fa.called("restore"); !slices.Equal(got, []string{"restore " + fakePlain + ` alice passphrase="" password=""`}) {
		t.Errorf("agent calls %q", got)
	}
	r = admin.get(r.location())
	for _, want := range []string{`id="change-panel"`, `data-auto="1"`, `data-url="/api/v1/backups/restores/` + fakeRestoreID + `"`,
		`data-panel="/system/backups/changes/` + fakeRestoreID + `"`, "eth1: Addresses", "Access point: Network name"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("the Backups page after the restore lacks %q", want)
		}
	}
	// The page's script confirms: the console's own route, which ends
	// this session (every session ended with the restore).
	r = admin.api(http.MethodPost, "/api/v1/backups/restores/"+fakeRestoreID+"/confirm", nil)
	if r.status != http.StatusOK || !strings.Contains(r.body, `"status": "confirmed"`) {
		t.Errorf("confirm: %d %s", r.status, r.body)
	}
	if r := admin.get("/system/backups"); r.status != http.StatusSeeOther || !strings.HasPrefix(r.location(), "/login") {
		t.Errorf("the session survived the confirmed restore: %d %q", r.status, r.location())
	}

	// Done at once: the session ends, the login page says why.
	fa.mu.Lock()
	fa.backups.doneAtOnce = true
	fa.mu.Unlock()
	admin = h.newClient()
	admin.mustLogin("alice", userPassword)
	admin.get("/system/backups/restore/" + fakePlain)
	r = admin.post("/system/backups/restore/"+fakePlain, url.Values{"password": {userPassword}})
	if r.status != http.StatusSeeOther || r.location() != "/login" {
		t.Fatalf("restore done at once: %d %q", r.status, r.location())
	}
	if r := admin.get("/login"); !strings.Contains(r.body, "Restored "+fakePlain+": restored 2 users and 0 tokens.") || !strings.Contains(r.body, "sign in again") {
		t.Errorf("the login page does not say what happened:\n%s", r.body)
	}
}

// The API's restore checks the password too and never sends it on; an
// API token, which has none, cannot restore.
func TestRestoreAPI(t *testing.T) {
	t.Parallel()
	h, fa, _, admin := backupsHarness(t)
	admin.get("/")
	r := admin.api(http.MethodPost, "/api/v1/backups/"+fakePlain+"/restore", api.RestoreRequest{Password: "wrong"})
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, `"field": "password"`) {
		t.Errorf("wrong password: %d %s", r.status, r.body)
	}
	h.addToken("ci", auth.Admin, "dmt_admin_token_restore")
	c := h.newClient()
	r = c.sendJSON(http.MethodPost, "/api/v1/backups/"+fakePlain+"/restore", api.RestoreRequest{Password: userPassword},
		map[string]string{"Authorization": "Bearer dmt_admin_token_restore"})
	if r.status != http.StatusForbidden || !strings.Contains(r.body, "An API token cannot restore a backup") {
		t.Errorf("token: %d %s", r.status, r.body)
	}
	if got := fa.called("restore"); len(got) != 0 {
		t.Fatalf("refused restores reached the agent: %q", got)
	}
	r = admin.api(http.MethodPost, "/api/v1/backups/"+fakePlain+"/restore", api.RestoreRequest{Password: userPassword, Maps: map[string]string{"eth1": "eth2"}})
	if r.status != http.StatusAccepted || !strings.Contains(r.body, fakeRestoreID) {
		t.Errorf("restore: %d %s", r.status, r.body)
	}
	if got := fa.called("restore"); !slices.Equal(got, []string{"restore " + fakePlain + ` alice passphrase="" password=""`}) {
		t.Errorf("agent calls %q", got)
	}
}
