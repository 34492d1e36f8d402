package web

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/devmgr/devmgr/internal/agent/api"
)

// The fake agent's backups: two archives, one not encrypted; uploads
// named "bad" are refused, those with the passphrase "wrong" too; a
// restore of fakePending waits for its confirmation, any other is done.
const (
	fakePlain     = "devmgr-dev-20300102T030405Z-manual.tar.gz"
	fakeEncrypted = "devmgr-dev-20300103T030405Z-scheduled.devmgr-backup"
	fakePending   = fakePlain
	fakeRestoreID = "0123456789abcdef"
)

// fakeBackups is what the fake's list says; lastFailed makes its last
// backup a failed one, and noRestore leaves out the restore it waits for.
type fakeBackups struct {
	lastFailed bool
	uploaded   []byte // the last upload's bytes
	doneAtOnce bool   // a restore needs no confirmation
	restoring  bool   // a restore waits for its confirmation
	full       bool   // backups and uploads are refused: errFakeFull
}

// errFakeFull is the agent's refusal of a backup or an upload past
// api.MaxKeptByHand.
var errFakeFull = &api.Error{Status: http.StatusInsufficientStorage,
	Message: "there are 50 backups made or uploaded by hand, and at most 50 are kept; nothing was written: delete old backups first"}

func (f *fakeAgent) full() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.backups.full
}

func (f *fakeAgent) backupList() api.BackupList {
	l := api.BackupList{Schedule: "daily", Keep: 7, Scheduler: "systemd", MaxUpload: api.MaxBackupUpload, Backups: []api.BackupInfo{
		{Name: fakeEncrypted, Size: 4096, CreatedAt: time.Date(2030, 1, 3, 3, 4, 5, 0, time.UTC), Kind: "scheduled", Encrypted: true},
		{Name: fakePlain, Size: 2048, CreatedAt: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC), Kind: "manual", Version: "v1.2.3", Hostname: "dev"},
	}}
	l.Last = &api.BackupResult{Time: time.Date(2030, 1, 3, 3, 4, 5, 0, time.UTC), User: "scheduler", Result: "ok", Name: fakeEncrypted}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.backups.restoring {
		ch := fakeRestoreChange(api.StatusPending)
		l.Restore = &ch
	}
	if f.backups.lastFailed {
		l.Last = &api.BackupResult{Time: time.Date(2030, 1, 4, 0, 0, 0, 0, time.UTC), User: "scheduler", Result: "failed",
			Detail: "reading the config: no such file"}
	}
	return l
}

func (f *fakeAgent) Backups(_ context.Context, a api.Actor) (api.BackupList, error) {
	f.record("backups " + a.User)
	return f.backupList(), nil
}

func (f *fakeAgent) CreateBackup(_ context.Context, a api.Actor, passphrase string) (api.BackupInfo, error) {
	f.record(fmt.Sprintf("create %s encrypted=%v", a.User, passphrase != ""))
	if f.full() {
		return api.BackupInfo{}, errFakeFull
	}
	return api.BackupInfo{Name: "devmgr-dev-20300105T000000Z-manual.tar.gz", Size: 1234, Kind: "manual", Encrypted: passphrase != ""}, nil
}

func (f *fakeAgent) UploadBackup(_ context.Context, a api.Actor, passphrase string, r io.Reader) (api.BackupInfo, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return api.BackupInfo{}, err
	}
	f.record(fmt.Sprintf("upload %s %d bytes passphrase=%q", a.User, len(b), passphrase))
	f.mu.Lock()
	f.backups.uploaded = b
	f.mu.Unlock()
	switch {
	case f.full():
		return api.BackupInfo{}, errFakeFull
	case string(b) == "bad":
		return api.BackupInfo{}, &api.Error{Status: http.StatusUnprocessableEntity,
			Message: "the upload was refused, and nothing was kept: not a devmgr backup: it is neither a .tar.gz nor an encrypted .devmgr-backup"}
	case passphrase == "wrong":
		return api.BackupInfo{}, &api.Error{Status: http.StatusBadRequest, Field: "passphrase",
			Message: "the upload was refused, and nothing was kept: wrong passphrase, or not a backup encrypted with a passphrase"}
	}
	return api.BackupInfo{Name: "devmgr-dev-20300102T030405Z-uploaded.tar.gz", Size: int64(len(b)), Kind: "uploaded"}, nil
}

func (f *fakeAgent) DeleteBackup(_ context.Context, a api.Actor, name string) (api.BackupList, error) {
	f.record("delete " + name)
	if name != fakePlain && name != fakeEncrypted {
		return api.BackupList{}, &api.Error{Status: http.StatusNotFound, Field: "name", Message: "there is no backup " + name}
	}
	return f.backupList(), nil
}

func fakePlan(name string) api.RestorePlan {
	return api.RestorePlan{Name: name, Version: "v1.2.3", Hostname: "dev", CreatedAt: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC), Kind: "manual",
		ConfigKept: true, ConfigDiff: "-  ssid: Here\n+  ssid: There\n",
		Users:  []api.AccountChange{{Name: "bob", Change: "added", Role: "viewer"}, {Name: "carol", Change: "removed", Role: "admin"}},
		Tokens: []api.AccountChange{}, AP: []api.FieldChange{{Field: "ssid", Old: "Here", New: "There"}},
		Denied: []string{"02:00:00:00:00:01"}, Allowed: []string{},
		LAN: []api.LANChange{{Interface: "eth1", Changes: []api.FieldChange{{Field: "addresses", Old: "", New: "203.0.113.1/24"}}}}}
}

func (f *fakeAgent) PreviewRestore(_ context.Context, a api.Actor, name string, r api.RestoreRequest) (api.RestorePlan, error) {
	f.record(fmt.Sprintf("preview %s passphrase=%q password=%q", name, r.Passphrase, r.Password))
	if name == fakeEncrypted && r.Passphrase != "a long enough passphrase" {
		return api.RestorePlan{}, &api.Error{Status: http.StatusBadRequest, Field: "passphrase", Message: "wrong passphrase, or not a backup encrypted with a passphrase"}
	}
	return fakePlan(name), nil
}

func (f *fakeAgent) RestoreBackup(_ context.Context, a api.Actor, name string, r api.RestoreRequest) (api.RestoreResult, error) {
	f.record(fmt.Sprintf("restore %s %s passphrase=%q password=%q", name, a.User, r.Passphrase, r.Password))
	f.mu.Lock()
	done := f.backups.doneAtOnce
	f.backups.restoring = !done
	f.mu.Unlock()
	if done {
		return api.RestoreResult{Done: true, PreRestore: "devmgr-dev-20300105T000000Z-pre-restore.tar.gz", Detail: "restored 2 users and 0 tokens"}, nil
	}
	ch := fakeRestoreChange(api.StatusPending)
	return api.RestoreResult{PreRestore: "devmgr-dev-20300105T000000Z-pre-restore.tar.gz", Change: &ch}, nil
}

func fakeRestoreChange(status string) api.BackupChange {
	now := time.Now()
	return api.BackupChange{ID: fakeRestoreID, Status: status, User: "alice", CreatedAt: now, RollbackAt: now.Add(time.Minute),
		Changes: []api.FieldChange{{Field: "eth1_addresses", Old: "", New: "203.0.113.1/24"}, {Field: "ap_ssid", Old: "Here", New: "There"}}}
}

func (f *fakeAgent) RestoreChange(_ context.Context, a api.Actor, id string) (api.BackupChange, error) {
	return fakeRestoreChange(api.StatusPending), nil
}

func (f *fakeAgent) ConfirmRestore(_ context.Context, a api.Actor, id string) (api.BackupChange, error) {
	f.record("confirm restore " + id + " " + a.User)
	f.mu.Lock()
	f.backups.restoring = false
	f.mu.Unlock()
	return fakeRestoreChange(api.StatusConfirmed), nil
}

// backupHandlers serve the fake's backups over HTTP for the proxy.
func (f *fakeAgent) backupHandlers(actor func(*http.Request) api.Actor, reply func(http.ResponseWriter, int, any, error),
	bad func(http.ResponseWriter, *http.Request, any) bool) map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"GET /v1/backups": func(w http.ResponseWriter, r *http.Request) {
			l, err := f.Backups(r.Context(), actor(r))
			reply(w, 200, l, err)
		},
		"POST /v1/backups": func(w http.ResponseWriter, r *http.Request) {
			var req api.BackupCreate
			if bad(w, r, &req) {
				return
			}
			i, err := f.CreateBackup(r.Context(), actor(r), req.Passphrase)
			reply(w, 201, i, err)
		},
		"GET /v1/backups/{name}": func(w http.ResponseWriter, r *http.Request) {
			f.record("download " + r.PathValue("name") + " " + actor(r).User)
			w.Header().Set("Content-Type", "application/gzip")
			w.Header().Set("Content-Disposition", `attachment; filename="`+r.PathValue("name")+`"`)
			w.Write([]byte("the archive"))
		},
		"DELETE /v1/backups/{name}": func(w http.ResponseWriter, r *http.Request) {
			l, err := f.DeleteBackup(r.Context(), actor(r), r.PathValue("name"))
			reply(w, 200, l, err)
		},
		"POST /v1/backups/{name}/preview": func(w http.ResponseWriter, r *http.Request) {
			var req api.RestoreRequest
			if bad(w, r, &req) {
				return
			}
			p, err := f.PreviewRestore(r.Context(), actor(r), r.PathValue("name"), req)
			reply(w, 200, p, err)
		},
		"GET /v1/backups/restores/{id}": func(w http.ResponseWriter, r *http.Request) {
			ch, err := f.RestoreChange(r.Context(), actor(r), r.PathValue("id"))
			reply(w, 200, ch, err)
		},
	}
}
