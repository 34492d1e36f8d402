package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/devmgr/devmgr/internal/agent/api"
	"github.com/devmgr/devmgr/internal/auditlog"
	"github.com/devmgr/devmgr/internal/backup"
	"github.com/devmgr/devmgr/internal/change"
)

// BackupsConfig configures Backups.
type BackupsConfig struct {
	// Sources are where a backup's members come from, as for devmgr
	// backup: the config file, the console's part (on a device, a child
	// process as web.user: backup.ChildConsole), the deny list. Its
	// Config gives backup.dir, keep and schedule. Required.
	Sources backup.Sources
	// Changes is the agent's change engine and Restorer the restore's
	// module on it (backup.NewAgentRestorer); a nil Restorer refuses
	// restores (503).
	Changes  *change.Engine
	Restorer *backup.AgentRestorer
	// Audit records every backup made, uploaded, downloaded, restored
	// and deleted; AuditLog is read for the last backup made, which
	// devmgr-backup.timer records there too. Both required.
	Audit    Auditor
	AuditLog AuditLog
	// Scheduler says what makes the scheduled backups: "systemd" or
	// "agent" (Ticker).
	Scheduler string
	Version   string // this devmgr's, in the manifests
	// Interfaces lists the device's interfaces; nil: the namespace's.
	Interfaces func() ([]string, error)
	// WorkFactor is scrypt's for an encrypted backup; 0: the default
	// (tests lower it).
	WorkFactor int
	Log        *slog.Logger // nil: discard
}

// Backups are the agent's backups of the device (internal/backup): made
// on demand and by Ticker where systemd does not, listed, kept from an
// upload, streamed for download, deleted, and restored. A restore keeps
// the config file (root's: devmgr backup restore) and applies the rest in
// two steps: the agent's settings (AP settings, deny list, LAN configs)
// as one change of the change engine, rolled back unless confirmed in
// time, then, once it is confirmed, the console's accounts and TLS pair,
// so that an unconfirmed restore leaves the device as it was.
type Backups struct {
	cfg BackupsConfig
	dir string
	log *slog.Logger
	// op lets one task at a time work on backup.dir: a backup, an upload,
	// a preview, a restore, a deletion.
	op sync.Mutex
	mu sync.Mutex
	// pending is the restore whose change waits for its confirmation;
	// last the most recent restore's archive and pre-restore backup.
	pending *pendingRestore
	last    pendingRestore
}

// pendingRestore is a restore whose console part waits for its change's
// confirmation.
type pendingRestore struct {
	id, name, pre string
	staged        *backup.Staged
}

// NewBackups checks cfg.
func NewBackups(cfg BackupsConfig) (*Backups, error) {
	switch {
	case cfg.Sources.Console == nil || cfg.Sources.ConfigPath == "":
		return nil, errors.New("agent.NewBackups: Sources with Console and ConfigPath are required")
	case cfg.Sources.Config.Backup.Dir == "":
		return nil, errors.New("agent.NewBackups: backup.dir is required")
	case cfg.Changes == nil || cfg.Audit == nil || cfg.AuditLog == nil:
		return nil, errors.New("agent.NewBackups: Changes, Audit and AuditLog are required")
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Backups{cfg: cfg, dir: cfg.Sources.Config.Backup.Dir, log: log}, nil
}

// Close drops a restore that waits for its confirmation (its change rolls
// back when the agent starts again).
func (b *Backups) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.pending != nil {
		b.pending.staged.Close()
		b.pending = nil
	}
}

// ChangeFinished is for the change engine's OnFinish: a restore rolled
// back drops its console part. It never waits (the engine holds its locks).
func (b *Backups) ChangeFinished(ch change.Change) {
	if ch.Kind != backup.KindRestore || ch.Status != change.StatusRolledBack {
		return
	}
	go func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if p := b.pending; p != nil && p.id == ch.ID {
			p.staged.Close()
			b.pending = nil
		}
	}()
}

// createOptions are a backup's of kind, as devmgr backup create makes it.
func (b *Backups) createOptions(kind, passphrase string) backup.CreateOptions {
	return backup.CreateOptions{Sources: b.cfg.Sources, Dir: b.dir, Kind: kind, Passphrase: passphrase,
		WorkFactor: b.cfg.WorkFactor, Version: b.cfg.Version}
}

// auditor is the agent's audit log as backup.RunScheduled writes it.
func (b *Backups) auditor(ctx context.Context, e auditlog.Entry) error {
	return b.cfg.Audit.Audit(ctx, AuditEntry{User: e.User, Source: e.Source, Action: e.Action, Target: e.Target,
		Result: e.Result, Detail: e.Detail})
}

// Ticker makes the scheduled backups where systemd does not (no
// devmgr-backup.timer): backup.schedule, pruned to backup.keep, each
// result audited (a failure shows on the console's dashboard). now and
// after are the clock (time.Now, time.After).
func (b *Backups) Ticker(now func() time.Time, after func(time.Duration) <-chan time.Time) backup.Ticker {
	c := b.cfg.Sources.Config.Backup
	return backup.Ticker{Schedule: c.Schedule, Now: now, After: after,
		Last: func() (time.Time, bool) { return backup.LastScheduled(b.dir) },
		Run: func(ctx context.Context) {
			b.op.Lock()
			defer b.op.Unlock()
			o := b.createOptions(backup.KindScheduled, "")
			o.Now = now
			if err := backup.RunScheduled(ctx, o, c.Keep, b.auditor); err != nil {
				b.log.Error("making the scheduled backup", "err", err)
			}
		}}
}

// errBackupsOff answers the backup routes of an agent without backups.
var errBackupsOff = errorf(http.StatusServiceUnavailable, "", "backups are not available in this agent")

// errBackupBusy answers a task while another works on backup.dir.
var errBackupBusy = errorf(http.StatusConflict, "", "another backup task is running (a backup, an upload or a restore); try again when it is done")

// backups returns the agent's Backups and takes the lock of backup.dir,
// or says why not.
func (s *Server) backups() (*Backups, func(), error) {
	b := s.cfg.Backups
	if b == nil {
		return nil, nil, errBackupsOff
	}
	if !b.op.TryLock() {
		return nil, nil, errBackupBusy
	}
	return b, b.op.Unlock, nil
}

// backupFile finds the archive the path's {name} names among those List
// finds in backup.dir: a name of its form, never a path.
func (b *Backups) backupFile(name string) (backup.Info, error) {
	if !backup.ValidName(name) {
		return backup.Info{}, errorf(http.StatusNotFound, "name", "%q is not the name of a backup", clip(name))
	}
	list, err := backup.List(b.dir)
	if err != nil {
		return backup.Info{}, err
	}
	for _, i := range list {
		if i.Name == name {
			return i, nil
		}
	}
	return backup.Info{}, errorf(http.StatusNotFound, "name", "there is no backup %s", name)
}

func wireBackup(i backup.Info) api.BackupInfo {
	return api.BackupInfo{Name: i.Name, Size: i.Size, CreatedAt: i.CreatedAt, Kind: i.Kind, Encrypted: i.Encrypted,
		Version: i.Version, Hostname: i.Hostname, Problem: i.Problem}
}

// list is GET /v1/backups's answer.
func (b *Backups) list(ctx context.Context) (api.BackupList, error) {
	infos, err := backup.List(b.dir)
	if err != nil {
		return api.BackupList{}, err
	}
	c := b.cfg.Sources.Config.Backup
	out := api.BackupList{Backups: make([]api.BackupInfo, 0, len(infos)), Schedule: c.Schedule, Keep: c.Keep,
		Scheduler: b.cfg.Scheduler, MaxUpload: api.MaxBackupUpload}
	for _, i := range infos {
		out.Backups = append(out.Backups, wireBackup(i))
	}
	last, err := b.cfg.AuditLog.List(ctx, auditlog.Filter{Action: api.ActBackupCreate, Limit: 1})
	if err != nil {
		return api.BackupList{}, fmt.Errorf("reading the last backup from the audit log: %w", err)
	}
	if len(last) == 1 {
		e := last[0]
		r := &api.BackupResult{Time: e.Time, User: e.User, Result: e.Result, Detail: e.Detail}
		if e.Result == auditlog.ResultOK {
			r.Name = e.Target
		}
		out.Last = r
	}
	b.mu.Lock()
	p := b.pending
	b.mu.Unlock()
	if p != nil {
		if ch, err := b.cfg.Changes.GetOf(backup.KindRestore, p.id); err == nil && ch.Status == change.StatusPending {
			x := b.wireRestore(ch)
			out.Restore = &x
		}
	}
	return out, nil
}

func (s *Server) listBackups(w http.ResponseWriter, r *http.Request, _ Actor) error {
	b := s.cfg.Backups
	if b == nil {
		return errBackupsOff
	}
	out, err := b.list(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// keptByHand refuses (507) a backup or an upload through the API while
// backup.dir holds api.MaxKeptByHand manual and uploaded backups, which
// nothing prunes. The caller holds the lock of backup.dir, so that none
// is added between the count and the write.
func (b *Backups) keptByHand() error {
	list, err := backup.List(b.dir)
	if err != nil {
		return err
	}
	n := 0
	for _, i := range list {
		if i.Kind == backup.KindManual || i.Kind == backup.KindUploaded {
			n++
		}
	}
	if n >= api.MaxKeptByHand {
		return errorf(http.StatusInsufficientStorage, "", "there are %d backups made or uploaded by hand, and at most %d are kept; "+
			"nothing was written: delete old backups first", n, api.MaxKeptByHand)
	}
	return nil
}

// createBackup makes a manual backup now, as devmgr backup create does. A
// failure is audited with its reason: the dashboard shows it.
func (s *Server) createBackup(w http.ResponseWriter, r *http.Request, a Actor) error {
	var req api.BackupCreate
	if err := decode(r, &req); err != nil {
		return err
	}
	if n := len(req.Passphrase); n > 0 && n < api.MinBackupPassphrase {
		return errorf(http.StatusBadRequest, "passphrase", "has %d characters; a backup's needs at least %d", n, api.MinBackupPassphrase)
	}
	b, unlock, err := s.backups()
	if err != nil {
		return err
	}
	defer unlock()
	if err := b.keptByHand(); err != nil {
		s.auditErr(r, a, actBackupCreate, b.dir, err)
		return err
	}
	info, err := backup.Create(r.Context(), b.createOptions(backup.KindManual, req.Passphrase))
	if err != nil {
		s.audit(r.Context(), a, actBackupCreate, b.dir, auditlog.ResultFailed, err.Error())
		switch {
		case errors.Is(err, backup.ErrExists):
			return errorf(http.StatusConflict, "", "a backup was made this second; try again in a second")
		case errors.Is(err, backup.ErrNoRoom):
			return err // toError: 507, saying what is free and what to do
		}
		return errorf(http.StatusInternalServerError, "", "the backup could not be made: %v", err)
	}
	detail := fmt.Sprintf("%d bytes", info.Size)
	if info.Encrypted {
		detail += ", encrypted"
	}
	s.audit(r.Context(), a, actBackupCreate, info.Name, auditlog.ResultOK, detail)
	writeJSON(w, http.StatusCreated, wireBackup(info))
	return nil
}

// refusal is the answer to an archive refused: what is wrong with it.
func refusal(err error) (*Error, bool) {
	switch {
	case errors.Is(err, backup.ErrNeedPassphrase), errors.Is(err, backup.ErrPassphrase):
		return errorf(http.StatusBadRequest, "passphrase", "%s", err.Error()), true
	case errors.Is(err, backup.ErrTooLarge):
		return errorf(http.StatusRequestEntityTooLarge, "", "%s", err.Error()), true
	case errors.Is(err, backup.ErrPlan):
		return errorf(http.StatusBadRequest, "maps", "%s", err.Error()), true
	case errors.Is(err, backup.ErrExists):
		return errorf(http.StatusConflict, "", "%s", err.Error()), true
	}
	for _, e := range []error{backup.ErrNotBackup, backup.ErrDamaged, backup.ErrTampered, backup.ErrUnsafe, backup.ErrTooNew, backup.ErrInvalid} {
		if errors.Is(err, e) {
			return errorf(http.StatusUnprocessableEntity, "", "%s", err.Error()), true
		}
	}
	return nil, false
}

// uploadBackup keeps the archive in the body (at most MaxBackupUpload
// bytes) as an uploaded backup once it passes every check of a restore;
// a refused one leaves nothing behind. Past MaxKeptByHand, or without
// room for MaxBackupUpload bytes, the body is not read.
func (s *Server) uploadBackup(w http.ResponseWriter, r *http.Request, a Actor) error {
	b, unlock, err := s.backups()
	if err != nil {
		return err
	}
	defer unlock()
	if err := b.keptByHand(); err != nil {
		s.auditErr(r, a, actBackupUpload, "upload", err)
		return err
	}
	pass := r.Header.Get(api.HeaderBackupPassphrase)
	info, err := backup.Upload(r.Context(), r.Body, backup.UploadOptions{Dir: b.dir, Limits: backup.Limits{Archive: api.MaxBackupUpload},
		TempDir: b.cfg.Sources.TempDir, Log: b.log, Passphrase: func() (string, error) { return pass, nil }})
	var mb *http.MaxBytesError
	if errors.As(err, &mb) {
		err = errorf(http.StatusRequestEntityTooLarge, "", "the upload is larger than %d bytes, the most a backup may be; nothing was kept", mb.Limit)
	} else if e, ok := refusal(err); ok {
		e.Message = "the upload was refused, and nothing was kept: " + e.Message
		err = e
	}
	if err != nil {
		s.auditErr(r, a, actBackupUpload, "upload", err)
		return err
	}
	s.audit(r.Context(), a, actBackupUpload, info.Name, auditlog.ResultOK, fmt.Sprintf("%d bytes", info.Size))
	writeJSON(w, http.StatusCreated, wireBackup(info))
	return nil
}

// downloadBackup streams the archive.
func (s *Server) downloadBackup(w http.ResponseWriter, r *http.Request, a Actor) error {
	b := s.cfg.Backups
	if b == nil {
		return errBackupsOff
	}
	info, err := b.backupFile(r.PathValue("name"))
	if err != nil {
		return err
	}
	f, err := os.OpenFile(info.Path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return fmt.Errorf("opening backup: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return fmt.Errorf("backup %s is not a regular file (%v)", info.Name, err)
	}
	ct := "application/gzip"
	if info.Encrypted {
		ct = "application/octet-stream"
	}
	h := w.Header()
	h.Set("Content-Type", ct)
	h.Set("Content-Disposition", `attachment; filename="`+info.Name+`"`)
	h.Set("Content-Length", strconv.FormatInt(st.Size(), 10))
	h.Set("X-Content-Type-Options", "nosniff")
	s.audit(r.Context(), a, actBackupDownload, info.Name, auditlog.ResultOK, fmt.Sprintf("%d bytes", st.Size()))
	if _, err := io.Copy(w, f); err != nil {
		s.log.Warn("sending backup", "name", info.Name, "err", err)
	}
	return nil
}

// deleteBackup removes an archive; it answers the list as it is then.
func (s *Server) deleteBackup(w http.ResponseWriter, r *http.Request, a Actor) error {
	b, unlock, err := s.backups()
	if err != nil {
		return err
	}
	unlock = sync.OnceFunc(unlock) // let go before the answer, below
	defer unlock()
	info, err := b.backupFile(r.PathValue("name"))
	if err != nil {
		return err
	}
	if err := os.Remove(info.Path); err != nil {
		s.audit(r.Context(), a, actBackupDelete, info.Name, auditlog.ResultFailed, err.Error())
		return fmt.Errorf("removing backup: %w", err)
	}
	s.audit(r.Context(), a, actBackupDelete, info.Name, auditlog.ResultOK, "")
	out, err := b.list(r.Context())
	if err != nil {
		return err
	}
	// A list of many backups outgrows the server's buffer and reaches the
	// caller before this returns: its next task, a backup once one was
	// deleted to make room, must find backup.dir free.
	unlock()
	writeJSON(w, http.StatusOK, out)
	return nil
}

// stage reads, checks and plans the restore of the request's backup.
func (b *Backups) stage(ctx context.Context, name string, req api.RestoreRequest) (backup.Info, *backup.Staged, error) {
	if req.Password != "" {
		return backup.Info{}, nil, errorf(http.StatusBadRequest, "password", "the agent takes no password: the console checks it")
	}
	info, err := b.backupFile(name)
	if err != nil {
		return info, nil, err
	}
	f, err := os.OpenFile(info.Path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return info, nil, fmt.Errorf("opening backup: %w", err)
	}
	defer f.Close()
	st, err := backup.Stage(ctx, f, backup.RestoreOptions{Sources: b.cfg.Sources, KeepConfig: true, Maps: req.Maps,
		Passphrase: func() (string, error) { return req.Passphrase, nil }, Interfaces: b.cfg.Interfaces,
		Dir: b.dir, Version: b.cfg.Version})
	if e, ok := refusal(err); ok {
		return info, nil, e
	}
	if err != nil {
		return info, nil, fmt.Errorf("preparing the restore: %w", err)
	}
	return info, st, nil
}

// wirePlan is a restore's plan on the wire.
func (b *Backups) wirePlan(info backup.Info, st *backup.Staged) api.RestorePlan {
	p, m := st.Plan, st.Manifest
	accounts := func(cs []backup.AccountChange) []api.AccountChange {
		out := make([]api.AccountChange, 0, len(cs))
		for _, c := range cs {
			out = append(out, api.AccountChange{Name: c.Name, Change: c.Change, Role: c.Role, Detail: c.Detail})
		}
		return out
	}
	x := api.RestorePlan{Name: info.Name, Version: m.Version, Hostname: m.Hostname, CreatedAt: m.CreatedAt, Kind: m.Kind,
		Encrypted: info.Encrypted, ConfigKept: p.ConfigKept, ConfigDiff: p.ConfigDiff, Users: accounts(p.Users),
		Tokens: accounts(p.Tokens), TLS: p.TLS, AP: wireFieldChanges(p.AP), Denied: nonNil(p.Denied), Allowed: nonNil(p.Allowed),
		LAN: []api.LANChange{}, Maps: p.Maps, Candidates: slices.Clone(b.cfg.Sources.Config.LAN)}
	for _, l := range p.LAN {
		x.LAN = append(x.LAN, api.LANChange{Interface: l.Interface, Changes: wireFieldChanges(l.Changes)})
	}
	for _, mi := range p.Missing {
		x.Missing = append(x.Missing, api.MissingInterface{Name: mi.Name, Used: mi.Used, Suggest: mi.Suggest})
	}
	if err := p.Blocked(); err != nil {
		x.Blocked = "The backup has LAN configs of interfaces that are not LAN interfaces here: map each to one that is."
	}
	return x
}

func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// stageRequest stages the restore a request asks for (its body an
// api.RestoreRequest, its path the backup's name) with backup.dir locked
// until unlock; ready, when set, may refuse first. The caller closes st.
func (s *Server) stageRequest(r *http.Request, ready func(*Backups) error) (b *Backups, info backup.Info, st *backup.Staged, unlock func(), err error) {
	var req api.RestoreRequest
	if err := decode(r, &req); err != nil {
		return nil, info, nil, nil, err
	}
	b, unlock, err = s.backups()
	if err != nil {
		return nil, info, nil, nil, err
	}
	if ready != nil {
		err = ready(b)
	}
	if err == nil {
		info, st, err = b.stage(r.Context(), r.PathValue("name"), req)
	}
	if err != nil {
		unlock()
		return nil, info, nil, nil, err
	}
	return b, info, st, unlock, nil
}

// previewRestore answers what restoring the backup would change.
func (s *Server) previewRestore(w http.ResponseWriter, r *http.Request, _ Actor) error {
	b, info, st, unlock, err := s.stageRequest(r, nil)
	if err != nil {
		return err
	}
	defer unlock()
	defer st.Close()
	writeJSON(w, http.StatusOK, b.wirePlan(info, st))
	return nil
}

// restoreBackup restores the backup: the device's state is kept as a
// pre-restore backup, then the agent's settings change as one change that
// rolls back unless confirmed (202), and the console's part follows its
// confirmation; when the agent's settings are as the backup has them, the
// console's part is restored at once (200).
func (s *Server) restoreBackup(w http.ResponseWriter, r *http.Request, a Actor) error {
	name := r.PathValue("name")
	b, info, st, unlock, err := s.stageRequest(r, func(b *Backups) error {
		if b.cfg.Restorer == nil {
			return errorf(http.StatusServiceUnavailable, "", "restores are not available in this agent (the access point's or the network's module is not running)")
		}
		if ch, ok := b.cfg.Changes.Pending(); ok {
			return pendingError(&change.PendingError{Change: ch})
		}
		return nil
	})
	if err != nil {
		s.auditErr(r, a, actBackupRestore, name, err)
		return err
	}
	defer unlock()
	if err := st.Plan.Blocked(); err != nil {
		st.Close()
		e := errorf(http.StatusConflict, "maps", "%s", b.wirePlan(info, st).Blocked)
		s.auditErr(r, a, actBackupRestore, name, e)
		return e
	}
	handedOn := false // to the pending restore
	defer func() {
		if !handedOn {
			st.Close()
		}
	}()
	pre, err := st.KeepCurrent()
	if errors.Is(err, backup.ErrExists) {
		return errorf(http.StatusConflict, "", "a backup of the device was made this second; try again in a second")
	}
	if err != nil {
		s.audit(r.Context(), a, actBackupRestore, name, auditlog.ResultFailed, "keeping the device's state first: "+err.Error())
		return fmt.Errorf("nothing changed: keeping the device's state first: %w", err)
	}
	pre = filepath.Base(pre)
	ch, err := b.cfg.Restorer.Restore(r.Context(), st.Plan.Next.Agent)
	if errors.Is(err, backup.ErrNoChange) {
		if err := st.RestoreConsole(r.Context()); err != nil {
			e := consoleFailed(err, "the agent's settings are as the backup has them", pre)
			s.audit(r.Context(), a, actBackupRestore, name, auditlog.ResultFailed, e.Message)
			return e
		}
		detail := restoredDetail(st, pre)
		s.audit(r.Context(), a, actBackupRestore, name, auditlog.ResultOK, detail)
		b.mu.Lock()
		b.last = pendingRestore{name: name, pre: pre}
		b.mu.Unlock()
		writeJSON(w, http.StatusOK, api.RestoreResult{Done: true, PreRestore: pre, Detail: detail})
		return nil
	}
	if err != nil {
		s.auditErr(r, a, actBackupRestore, name, err)
		return err
	}
	handedOn = true
	b.mu.Lock()
	b.pending = &pendingRestore{id: ch.ID, name: name, pre: pre, staged: st}
	b.last = pendingRestore{id: ch.ID, name: name, pre: pre}
	b.mu.Unlock()
	s.audit(r.Context(), a, actBackupRestore, name, auditlog.ResultOK,
		fmt.Sprintf("the agent's settings are change %s, pending confirmation; the device's state before it is kept as %s", ch.ID, pre))
	x := b.wireRestore(ch)
	writeJSON(w, http.StatusAccepted, api.RestoreResult{PreRestore: pre, Change: &x})
	return nil
}

// consoleFailed is the answer to a restore whose console part failed.
func consoleFailed(err error, before, pre string) *Error {
	return errorf(http.StatusInternalServerError, "", "%s, but the console's accounts could not be restored: %v; "+
		"the device's state before the restore is kept as %s", before, err, pre)
}

// restoredDetail says what a restore did, for the audit log and the page.
func restoredDetail(st *backup.Staged, pre string) string {
	p := st.Plan
	s := fmt.Sprintf("restored %d users and %d tokens (every session ended)", len(p.Next.Users), len(p.Next.Tokens))
	if p.TLS {
		s += ", the TLS certificate (served from the console's next start)"
	}
	return s + "; the device's state before the restore is kept as " + pre
}

// wireRestore is a restore's change on the wire.
func (b *Backups) wireRestore(ch change.Change) api.BackupChange {
	x := api.BackupChange{ID: ch.ID, Status: ch.Status, User: ch.User, Changes: wireFieldChanges(ch.Changes),
		CreatedAt: ch.CreatedAt, RollbackAt: ch.RollbackAt, FinishedAt: ch.FinishedAt, Error: ch.Error}
	b.mu.Lock()
	if b.last.id == ch.ID {
		x.Backup, x.PreRestore = b.last.name, b.last.pre
	}
	b.mu.Unlock()
	return x
}

func (s *Server) getRestore(w http.ResponseWriter, r *http.Request, _ Actor) error {
	b := s.cfg.Backups
	if b == nil {
		return errBackupsOff
	}
	ch, err := b.cfg.Changes.GetOf(backup.KindRestore, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, b.wireRestore(ch))
	return nil
}

// confirmRestore keeps a restore's change, then restores the console's
// part: the users and tokens (every session ends) and the TLS pair.
func (s *Server) confirmRestore(w http.ResponseWriter, r *http.Request, a Actor) error {
	b := s.cfg.Backups
	if b == nil {
		return errBackupsOff
	}
	id := r.PathValue("id")
	ch, err := b.cfg.Changes.ConfirmOf(r.Context(), backup.KindRestore, id)
	if err != nil {
		s.auditErr(r, a, actBackupRestoreConfirm, id, err)
		return err
	}
	b.mu.Lock()
	p := b.pending
	if p != nil && p.id == id {
		b.pending = nil
	} else {
		p = nil
	}
	b.mu.Unlock()
	if p == nil {
		// The agent started again meanwhile: the change was rolled back then.
		s.audit(r.Context(), a, actBackupRestoreConfirm, id, auditlog.ResultFailed, "the console's part of the restore is gone")
		return errorf(http.StatusConflict, "", "the restore's console part is gone (the agent restarted); restore the backup again")
	}
	defer p.staged.Close()
	if err := p.staged.RestoreConsole(context.WithoutCancel(r.Context())); err != nil {
		e := consoleFailed(err, "the agent's settings are restored and kept", p.pre)
		s.audit(r.Context(), a, actBackupRestoreConfirm, p.name, auditlog.ResultFailed, e.Message)
		return e
	}
	s.audit(r.Context(), a, actBackupRestoreConfirm, p.name, auditlog.ResultOK, "change "+id+" kept; "+restoredDetail(p.staged, p.pre))
	writeJSON(w, http.StatusOK, b.wireRestore(ch))
	return nil
}
