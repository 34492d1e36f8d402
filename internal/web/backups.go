package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/devmgr/devmgr/internal/agent/api"
	"github.com/devmgr/devmgr/internal/store"
)

// System → Backups (/system/backups, admin): the backups the agent keeps
// in backup.dir, made now, downloaded (the agent's route, through the
// proxy), uploaded, restored after a preview and the password typed
// again, deleted. The agent makes, checks and restores them; the console
// checks the password itself and never sends it on.

// backupTaskTimeout bounds a call that makes, checks or restores a backup
// (the agent answers once done), and an upload's reading.
const backupTaskTimeout = 5 * time.Minute

// uploadPaths take an archive as their body: the page's form and the API.
var uploadPaths = []string{"/system/backups/upload", "/api/v1/backups/upload"}

// bodyLimit is the most a request's body may be: an archive for the
// uploads (and the few fields of the page's form), else a small form or
// JSON.
func bodyLimit(r *http.Request) int64 {
	if r.Method == http.MethodPost && slices.Contains(uploadPaths, r.URL.Path) {
		return api.MaxBackupUpload + 64<<10
	}
	return maxBodyBytes
}

// longTask gives a backup task's request time to be read and answered
// beyond the server's timeouts.
func longTask(w http.ResponseWriter) {
	rc := http.NewResponseController(w)
	deadline := time.Now().Add(backupTaskTimeout + time.Minute)
	_ = rc.SetReadDeadline(deadline)
	_ = rc.SetWriteDeadline(deadline)
}

// backupsData is the Backups page.
type backupsData struct {
	Agent agentState
	List  *api.BackupList // nil while the agent does not answer
	// Create and Upload are the forms' values and errors.
	Create, Upload *form
	// Restore is a restore waiting for its confirmation.
	Restore *changeView
}

// Unencrypted reports whether a backup of the list is not encrypted: the
// page warns what such a file holds.
func (d backupsData) Unencrypted() bool {
	return d.List != nil && slices.ContainsFunc(d.List.Backups, func(b api.BackupInfo) bool { return !b.Encrypted })
}

// KindLabel names a backup's kind on the page.
func (backupsData) KindLabel(k string) string {
	switch k {
	case "pre-restore":
		return "before a restore"
	case "pre-reset":
		return "before a reset"
	}
	return k
}

// Bytes shows a size.
func (backupsData) Bytes(n int64) string { return humanBytes(uint64(max(n, 0))) }

func (s *Server) backupsPage(w http.ResponseWriter, r *http.Request) {
	s.renderBackups(w, r, http.StatusOK, backupsData{Create: newForm(r), Upload: newForm(r)})
}

// renderBackups renders the page with d, filling in the list and the
// restore waiting for its confirmation (confirmed by this page as soon as
// it reaches the device, when it just made it: ?restore=ID).
func (s *Server) renderBackups(w http.ResponseWriter, r *http.Request, status int, d backupsData) {
	ctx, cancel := context.WithTimeout(r.Context(), agentReadTimeout)
	defer cancel()
	list, err := s.agent.Backups(ctx, s.actor(r))
	if err != nil {
		d.Agent = s.agentState(r, err)
	} else {
		d.List = &list
		if ch := list.Restore; ch != nil {
			d.Restore = s.restoreView(r, *ch, r.URL.Query().Get("restore") == ch.ID)
		}
	}
	s.render(w, r, status, "backups", "Backups", d)
}

// restoreView is a restore's change as the change panel shows it.
func (s *Server) restoreView(r *http.Request, ch api.BackupChange, auto bool) *changeView {
	v := pendingView(r, api.APChange{ID: ch.ID, Status: ch.Status, Error: ch.Error, User: ch.User, Changes: ch.Changes,
		CreatedAt: ch.CreatedAt, RollbackAt: ch.RollbackAt}, "/api/v1/backups/restores/", "/system/backups/changes/", auto)
	v.What = "the restored settings"
	return v
}

// backupCreate makes a backup now, encrypted with the passphrase typed
// twice when one is.
func (s *Server) backupCreate(w http.ResponseWriter, r *http.Request) {
	f := newForm(r, "encrypt")
	pass, confirm := r.PostFormValue("passphrase"), r.PostFormValue("confirm")
	if f.Get("encrypt") != "" {
		switch {
		case len(pass) < api.MinBackupPassphrase:
			f.fail("passphrase", fmt.Sprintf("Enter a passphrase of at least %d characters.", api.MinBackupPassphrase))
		case confirm != pass:
			f.fail("confirm", "The two passphrases differ.")
		}
	} else {
		pass = ""
	}
	if !f.ok() {
		s.renderBackups(w, r, http.StatusUnprocessableEntity, backupsData{Create: f, Upload: newForm(r)})
		return
	}
	longTask(w)
	ctx, cancel := context.WithTimeout(r.Context(), backupTaskTimeout)
	defer cancel()
	info, err := s.agent.CreateBackup(ctx, s.actor(r), pass)
	if err != nil {
		status := s.formAgentError(r, f, err, func(field string) (string, string) { return field, "" })
		sentences(f)
		s.renderBackups(w, r, status, backupsData{Create: f, Upload: newForm(r)})
		return
	}
	msg := fmt.Sprintf("Made %s (%s).", info.Name, humanBytes(uint64(info.Size)))
	if !info.Encrypted {
		msg += " It is not encrypted: it holds the WiFi passphrase and the password hashes."
	}
	s.setFlash(r, "success", msg)
	http.Redirect(w, r, "/system/backups", http.StatusSeeOther)
}

// backupDelete removes a backup.
func (s *Server) backupDelete(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	ctx, cancel := context.WithTimeout(r.Context(), agentReadTimeout)
	defer cancel()
	if _, err := s.agent.DeleteBackup(ctx, s.actor(r), name); err != nil {
		s.setFlash(r, "danger", "The backup was not deleted: "+s.agentState(r, err).Message)
	} else {
		s.setFlash(r, "success", "Deleted "+name+".")
	}
	http.Redirect(w, r, "/system/backups", http.StatusSeeOther)
}

// maxFormField bounds a field of the upload form read before the file.
const maxFormField = 1 << 10

// backupUpload takes the page's upload form (multipart, sent by htmx with
// the form token in its header: the body is read only once the caller is
// known to be an admin): the backup's passphrase, then the file, which
// goes on to the agent as it comes. Kept, it shows what restoring it
// would change; refused, the form says why beside its field.
func (s *Server) backupUpload(w http.ResponseWriter, r *http.Request) {
	f := newForm(r) // not newForm(r, fields...): that would read the body whole
	f.Values["passphrase"], f.Values["file"] = "", ""
	answer := func(status int) {
		s.renderPart(w, r, status, "backups", "upload-form-part", backupsData{Upload: f})
	}
	longTask(w)
	mr, err := r.MultipartReader()
	if err != nil {
		f.fail("file", "Choose a backup file to upload.")
		answer(http.StatusBadRequest)
		return
	}
	var pass string
	var info api.BackupInfo
	sent := false
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			f.fail("file", uploadReadError(err))
			answer(http.StatusBadRequest)
			return
		}
		switch p.FormName() {
		case "passphrase":
			b, _ := io.ReadAll(io.LimitReader(p, maxFormField))
			pass = string(b)
		case "file":
			if p.FileName() == "" {
				continue // none chosen
			}
			ctx, cancel := context.WithTimeout(r.Context(), backupTaskTimeout)
			info, err = s.agent.UploadBackup(ctx, s.actor(r), pass, p)
			cancel()
			sent = true
			if err != nil {
				var mb *http.MaxBytesError
				if errors.As(err, &mb) {
					f.fail("file", uploadReadError(err))
					answer(http.StatusRequestEntityTooLarge)
					return
				}
				status := s.formAgentError(r, f, err, func(field string) (string, string) {
					if field == "passphrase" {
						return "passphrase", ""
					}
					return "file", ""
				})
				if f.Error != "" && f.Errors["file"] == "" {
					f.fail("file", f.Error)
					f.Error = ""
				}
				sentences(f)
				answer(status)
				return
			}
		}
		p.Close()
	}
	if !sent {
		f.fail("file", "Choose a backup file to upload.")
		answer(http.StatusUnprocessableEntity)
		return
	}
	target := "/system/backups/restore/" + url.PathEscape(info.Name)
	s.setFlash(r, "success", "Uploaded and checked "+info.Name+": this is what restoring it would change.")
	if r.Header.Get("HX-Request") != "" {
		w.Header().Set("HX-Redirect", target)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// uploadReadError says why an upload could not be read.
func uploadReadError(err error) string {
	var mb *http.MaxBytesError
	if errors.As(err, &mb) {
		return fmt.Sprintf("The file is larger than %s, the most a backup may be.", humanBytes(api.MaxBackupUpload))
	}
	return "The upload could not be read; try again."
}

// apiBackupUpload is POST /api/v1/backups/upload: the archive as the
// body (application/octet-stream or application/gzip), an encrypted one's
// passphrase in X-Devmgr-Backup-Passphrase. 201 with the backup kept.
func (s *Server) apiBackupUpload(w http.ResponseWriter, r *http.Request) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/octet-stream" && mt != "application/gzip" {
		writeError(w, http.StatusUnsupportedMediaType, "The body must be the backup file (Content-Type: application/octet-stream).", "")
		return
	}
	longTask(w)
	ctx, cancel := context.WithTimeout(r.Context(), backupTaskTimeout)
	defer cancel()
	info, err := s.agent.UploadBackup(ctx, s.actor(r), r.Header.Get(api.HeaderBackupPassphrase), r.Body)
	var mb *http.MaxBytesError
	switch {
	case errors.As(err, &mb):
		writeError(w, http.StatusRequestEntityTooLarge, uploadReadError(err), "")
	case err != nil:
		s.agentError(w, r, err)
	default:
		writeJSON(w, http.StatusCreated, info)
	}
}

// restoreData is the restore page: the backup, what restoring it changes
// (once known), and the form that restores it.
type restoreData struct {
	Agent  agentState
	Backup api.BackupInfo
	Plan   *api.RestorePlan
	Form   *form
	// Maps are the interfaces mapped so far (the form's selects).
	Maps map[string]string
}

// Mapped is the interface the form maps name to.
func (d restoreData) Mapped(name, suggest string) string {
	if v, ok := d.Maps[name]; ok {
		return v
	}
	return suggest
}

// restoreMaps reads the form's interface map: map.NAME=NEW.
func restoreMaps(vals url.Values) map[string]string {
	out := map[string]string{}
	for k, v := range vals {
		if name, ok := strings.CutPrefix(k, "map."); ok && name != "" && len(v) > 0 && v[0] != "" {
			out[name] = v[0]
		}
	}
	return out
}

// restorePage shows a backup and what restoring it changes: at once for
// one that is not encrypted, after its passphrase for one that is.
func (s *Server) restorePage(w http.ResponseWriter, r *http.Request) {
	d, ok := s.restoreForm(w, r)
	if !ok {
		return
	}
	status := http.StatusOK
	if !d.Backup.Encrypted {
		status = s.preview(r, &d, "")
	}
	s.render(w, r, status, "restore", "Restore a backup", d)
}

// restorePreview shows what restoring an encrypted backup changes, with
// its passphrase (or any backup with the interfaces mapped otherwise).
func (s *Server) restorePreview(w http.ResponseWriter, r *http.Request) {
	d, ok := s.restoreForm(w, r)
	if !ok {
		return
	}
	status := s.preview(r, &d, r.PostFormValue("passphrase"))
	s.render(w, r, status, "restore", "Restore a backup", d)
}

// restoreForm is the restore page of the path's backup with the form as
// sent (the interface map from the query of a GET), or answers that the
// backup is not there.
func (s *Server) restoreForm(w http.ResponseWriter, r *http.Request) (restoreData, bool) {
	d, ok := s.restoreBackupInfo(w, r)
	if !ok {
		return d, false
	}
	d.Form = newForm(r, "passphrase", "password")
	vals := r.URL.Query()
	if r.Method == http.MethodPost {
		vals = r.PostForm // parsed by newForm
	}
	d.Maps = restoreMaps(vals)
	return d, true
}

// restoreBackupInfo finds the path's backup in the agent's list, or
// answers that it is not there.
func (s *Server) restoreBackupInfo(w http.ResponseWriter, r *http.Request) (restoreData, bool) {
	name := r.PathValue("name")
	ctx, cancel := context.WithTimeout(r.Context(), agentReadTimeout)
	defer cancel()
	list, err := s.agent.Backups(ctx, s.actor(r))
	if err != nil {
		s.render(w, r, http.StatusServiceUnavailable, "restore", "Restore a backup", restoreData{Agent: s.agentState(r, err), Form: newForm(r)})
		return restoreData{}, false
	}
	for _, b := range list.Backups {
		if b.Name == name {
			return restoreData{Backup: b}, true
		}
	}
	s.errorPage(w, r, http.StatusNotFound, "There is no backup "+name+" (any more): the Backups page lists those there are.")
	return restoreData{}, false
}

// preview asks the agent what restoring d's backup changes, into d; a
// refusal is marked on d.Form. It returns the status to answer with.
func (s *Server) preview(r *http.Request, d *restoreData, passphrase string) int {
	ctx, cancel := context.WithTimeout(r.Context(), backupTaskTimeout)
	defer cancel()
	plan, err := s.agent.PreviewRestore(ctx, s.actor(r), d.Backup.Name, api.RestoreRequest{Passphrase: passphrase, Maps: d.Maps})
	if err != nil {
		status := s.formAgentError(r, d.Form, err, restoreField)
		sentences(d.Form)
		return status
	}
	d.Plan = &plan
	return http.StatusOK
}

// restoreField is the form's input of an agent's field.
func restoreField(field string) (string, string) {
	switch field {
	case "passphrase", "password":
		return field, ""
	}
	return "", ""
}

// restoreSubmit restores a backup once the password typed again is
// right. The agent's settings change first and wait for their
// confirmation, which this page gives as soon as it reaches the device
// again; then the console's accounts are restored and every session ends.
// When the agent's settings stay as they are, that happens at once.
func (s *Server) restoreSubmit(w http.ResponseWriter, r *http.Request) {
	d, ok := s.restoreForm(w, r)
	if !ok {
		return
	}
	passphrase := r.PostFormValue("passphrase")
	again := func(status int) {
		if d.Plan == nil && (!d.Backup.Encrypted || passphrase != "") {
			form := d.Form
			d.Form = newForm(r, "passphrase", "password")
			s.preview(r, &d, passphrase)
			d.Form = form
		}
		sentences(d.Form)
		s.render(w, r, status, "restore", "Restore a backup", d)
	}
	u, problem, status, err := s.recheck(w, r, r.PostFormValue("password"))
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	if problem != "" {
		d.Form.fail("password", problem)
		again(status)
		return
	}
	longTask(w)
	ctx, cancel := context.WithTimeout(r.Context(), backupTaskTimeout)
	defer cancel()
	res, err := s.agent.RestoreBackup(ctx, s.actor(r), d.Backup.Name, api.RestoreRequest{Passphrase: passphrase, Maps: d.Maps})
	if err != nil {
		again(s.formAgentError(r, d.Form, err, restoreField))
		return
	}
	if res.Done {
		s.restored(w, r, u, "Restored "+d.Backup.Name+": "+res.Detail+".")
		return
	}
	http.Redirect(w, r, "/system/backups?restore="+url.QueryEscape(res.Change.ID), http.StatusSeeOther)
}

// recheck checks the password the caller typed again: an API token has
// none, and cannot.
func (s *Server) recheck(w http.ResponseWriter, r *http.Request, password string) (store.User, string, int, error) {
	id := me(r)
	if id.Token {
		return store.User{}, "An API token cannot restore a backup: it needs the password of a signed-in admin.", http.StatusForbidden, nil
	}
	u, err := s.db.UserByID(r.Context(), id.UserID)
	if err != nil {
		return u, "", 0, fmt.Errorf("loading user %d: %w", id.UserID, err)
	}
	problem, retry, err := s.checkOwnPassword(r, u, password, "backup.restore")
	switch {
	case err != nil:
		return u, "", 0, err
	case retry > 0:
		w.Header().Set("Retry-After", strconv.Itoa(retrySeconds(retry)))
		return u, problem, http.StatusTooManyRequests, nil
	case problem != "":
		return u, problem, http.StatusUnprocessableEntity, nil
	}
	return u, "", http.StatusOK, nil
}

// restored ends the caller's session after a restore replaced the
// accounts (every session ended; this request's must not be saved again)
// and sends them to sign in, with what happened.
func (s *Server) restored(w http.ResponseWriter, r *http.Request, u store.User, msg string) {
	s.db.Reread() // the accounts the agent's child restored, at once
	if err := s.endSession(r.Context(), msg+" Every session has ended: sign in again with the accounts of the backup."); err != nil {
		s.serverError(w, r, err)
		return
	}
	s.log.Info("restored a backup", "user", u.Name)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// apiBackupRestore is POST /api/v1/backups/{name}/restore:
// api.RestoreRequest with the caller's password, which the console checks
// and never sends on. 200 (done: the caller's session has ended) or 202
// with the change to confirm.
func (s *Server) apiBackupRestore(w http.ResponseWriter, r *http.Request) {
	var req api.RestoreRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	_, problem, status, err := s.recheck(w, r, req.Password)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	if problem != "" {
		writeError(w, status, problem, "password")
		return
	}
	req.Password = ""
	longTask(w)
	ctx, cancel := context.WithTimeout(r.Context(), backupTaskTimeout)
	defer cancel()
	res, err := s.agent.RestoreBackup(ctx, s.actor(r), r.PathValue("name"), req)
	switch {
	case err != nil:
		s.agentError(w, r, err)
	case !res.Done:
		writeJSON(w, http.StatusAccepted, res)
	default:
		s.sessionEnded(w, r, res)
	}
}

// sessionEnded answers v once a restore has ended every session: this
// request's is destroyed too, so that it is not saved again.
func (s *Server) sessionEnded(w http.ResponseWriter, r *http.Request, v any) {
	s.db.Reread() // the accounts the agent's child restored, at once
	if err := s.sessions.Destroy(r.Context()); err != nil {
		s.serverError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// apiRestoreConfirm is POST /api/v1/backups/restores/{id}/confirm: the
// agent keeps the restore's change and restores the console's accounts,
// which ends every session, this one too (it must not be saved again).
func (s *Server) apiRestoreConfirm(w http.ResponseWriter, r *http.Request) {
	longTask(w)
	ctx, cancel := context.WithTimeout(r.Context(), backupTaskTimeout)
	defer cancel()
	ch, err := s.agent.ConfirmRestore(ctx, s.actor(r), r.PathValue("id"))
	if err != nil {
		s.agentError(w, r, err)
		return
	}
	s.sessionEnded(w, r, ch)
}

// restoreChange is the change panel of a restore, for the page's script
// once the change has ended.
func (s *Server) restoreChange(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), agentReadTimeout)
	defer cancel()
	ch, err := s.agent.RestoreChange(ctx, s.actor(r), r.PathValue("id"))
	if err != nil {
		s.renderPart(w, r, http.StatusOK, "backups", "change-panel-part", &changeView{Status: "unknown", Error: s.agentState(r, err).Message})
		return
	}
	s.renderPart(w, r, http.StatusOK, "backups", "change-panel-part", s.restoreView(r, ch, false))
}
