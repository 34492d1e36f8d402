package api

import "time"

// The backups' wire types (internal/backup makes and reads the archives;
// the agent serves them). Every backup route is BackupRole's. A {name}
// is a name GET /v1/backups lists, never a path.
//
//	GET    /v1/backups                          BackupList: the archives in backup.dir, the last backup made, the schedule
//	POST   /v1/backups                          BackupCreate → 201 BackupInfo: a manual backup, now (ActBackupCreate);
//	                                            507 past MaxKeptByHand, or without free space (as the upload)
//	POST   /v1/backups/upload                   the archive as the body (application/octet-stream, at most MaxBackupUpload
//	                                            bytes; an encrypted one's passphrase in HeaderBackupPassphrase) → 201
//	                                            BackupInfo, kept as uploaded once it passes a restore's checks (ActBackupUpload)
//	GET    /v1/backups/{name}                   the archive itself (ActBackupDownload)
//	DELETE /v1/backups/{name}                   removes it (ActBackupDelete)
//	POST   /v1/backups/{name}/preview           RestoreRequest → RestorePlan: what a restore would change
//	POST   /v1/backups/{name}/restore           RestoreRequest → 200 or 202 RestoreResult (ActBackupRestore)
//	GET    /v1/backups/restores/{id}            BackupChange: a restore's change
//	POST   /v1/backups/restores/{id}/confirm    keeps it, then restores the console's part (ActBackupRestoreConfirm)
//
// The console forwards the others as they are; the upload, the restore
// and its confirmation are its own routes of the same paths under /api:
// it streams the page's upload form on, checks the password typed again
// for a restore (and sends none), and ends its session once a restore
// has ended every session.

// BackupRole may see, make, download, upload, restore and delete backups:
// an archive holds the WiFi passphrase and the password hashes.
const BackupRole = ChangeRole

// The backups' audit actions. A scheduled backup is audited as
// ActBackupCreate by the user "scheduler"; a restore the agent rolled back
// as ActBackupRestoreRollback.
const (
	ActBackupCreate          = "backup.create"
	ActBackupUpload          = "backup.upload"
	ActBackupDownload        = "backup.download"
	ActBackupDelete          = "backup.delete"
	ActBackupRestore         = "backup.restore"
	ActBackupRestoreConfirm  = "backup.restore.confirm"
	ActBackupRestoreRollback = "backup.restore.rollback"
)

// MaxBackupUpload bounds an uploaded archive: a device's backups are a
// few MiB (a database of 100 000 audit entries compresses to some 5).
const MaxBackupUpload = 64 << 20

// MaxKeptByHand bounds the manual and uploaded backups backup.dir may
// hold for POST /v1/backups and /v1/backups/upload: those are never
// pruned, and an account of the console, which may be compromised, must
// not make backups accumulate without end. Both answer 507 once it holds
// that many, until some are deleted; devmgr backup create (root) is not
// bounded by it. Whatever the count, no backup takes its filesystem's
// last free space (internal/backup, ErrNoRoom: 507 too).
const MaxKeptByHand = 50

// HeaderBackupPassphrase carries an uploaded encrypted archive's
// passphrase (needed to check it before it is kept).
const HeaderBackupPassphrase = "X-Devmgr-Backup-Passphrase"

// BackupInfo is one archive in backup.dir.
type BackupInfo struct {
	Name      string    `json:"name"`
	Size      int64     `json:"size"`
	CreatedAt time.Time `json:"created_at"`
	// Kind is manual, scheduled, pre-restore, pre-reset or uploaded.
	Kind      string `json:"kind"`
	Encrypted bool   `json:"encrypted"`
	// Version and Hostname are the manifest's: "" for an encrypted one
	// (its manifest needs the passphrase), or one that does not read
	// (Problem says why).
	Version  string `json:"devmgr_version,omitempty"`
	Hostname string `json:"hostname,omitempty"`
	Problem  string `json:"problem,omitempty"`
}

// BackupList is GET /v1/backups.
type BackupList struct {
	Backups []BackupInfo `json:"backups"`
	// Last is the last backup made, scheduled or on demand (from the
	// agent's audit log, where the timer's backups go too); nil when
	// none was.
	Last *BackupResult `json:"last,omitempty"`
	// Schedule and Keep are backup.schedule and backup.keep; Scheduler
	// says what makes the scheduled ones: "systemd" (devmgr-backup.timer)
	// or "agent".
	Schedule  string `json:"schedule"`
	Keep      int    `json:"keep"`
	Scheduler string `json:"scheduler"`
	// MaxUpload is the largest archive POST /v1/backups/upload takes.
	MaxUpload int64 `json:"max_upload"`
	// Restore is a restore waiting for its confirmation, if any.
	Restore *BackupChange `json:"restore,omitempty"`
}

// BackupResult is how the last backup went.
type BackupResult struct {
	Time time.Time `json:"time"`
	User string    `json:"user"` // "scheduler" for a scheduled one
	// Result is "ok" or "failed"; Name the archive made (ok), Detail its
	// size and what was pruned, or why it failed.
	Result string `json:"result"`
	Name   string `json:"name,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// Failed reports whether the last backup failed.
func (r *BackupResult) Failed() bool { return r != nil && r.Result == "failed" }

// BackupCreate is the body of POST /v1/backups.
type BackupCreate struct {
	// Passphrase, when set (at least MinBackupPassphrase characters),
	// encrypts the archive.
	Passphrase string `json:"passphrase,omitempty"`
}

// MinBackupPassphrase is the shortest passphrase of an encrypted backup.
const MinBackupPassphrase = 12

// RestoreRequest is the body of the restore and its preview.
type RestoreRequest struct {
	// Password is the admin's password, typed again for a restore: the
	// console checks it and clears it before it forwards the request; the
	// agent refuses a request that carries one.
	Password string `json:"password,omitempty"`
	// Passphrase opens an encrypted archive.
	Passphrase string `json:"passphrase,omitempty"`
	// Maps names this device's interface for each of the backup's that
	// it lacks (RestorePlan.Missing): backup's → this device's.
	Maps map[string]string `json:"maps,omitempty"`
}

// RestorePlan is what restoring a backup changes. A restore through the
// agent keeps the device's config file (ConfigKept): the config, with
// the command whitelist, is root's to change (devmgr backup restore on
// the device); ConfigDiff shows how the backup's differs.
type RestorePlan struct {
	Name string `json:"name"`
	// Made says which devmgr made the backup, where, when and as what.
	Version   string    `json:"devmgr_version"`
	Hostname  string    `json:"hostname"`
	CreatedAt time.Time `json:"created_at"`
	Kind      string    `json:"kind"`
	Encrypted bool      `json:"encrypted"`

	ConfigKept bool   `json:"config_kept"`
	ConfigDiff string `json:"config_diff,omitempty"`
	// Users and Tokens are the accounts added, removed or changed, by
	// name; every session ends either way.
	Users  []AccountChange `json:"users"`
	Tokens []AccountChange `json:"tokens"`
	// TLS: the console's certificate is replaced (served from its next
	// start).
	TLS bool `json:"tls"`
	// AP are the access point's settings that change (the passphrase's
	// new value is "changed", never shown).
	AP []FieldChange `json:"ap"`
	// Denied and Allowed are the stations the deny list gains and loses.
	Denied  []string    `json:"denied"`
	Allowed []string    `json:"allowed"`
	LAN     []LANChange `json:"lan"`
	// Maps are the interfaces mapped; Missing the backup's interfaces to
	// map before the restore can go (Blocked says so), each with a
	// suggestion, and Candidates the device's names to map them to.
	Maps       map[string]string  `json:"maps,omitempty"`
	Missing    []MissingInterface `json:"missing,omitempty"`
	Candidates []string           `json:"candidates,omitempty"`
	Blocked    string             `json:"blocked,omitempty"`
}

// AccountChange is a user or token a restore adds, removes or changes.
type AccountChange struct {
	Name   string `json:"name"`
	Change string `json:"change"` // added, removed, changed
	Role   string `json:"role"`
	Detail string `json:"detail,omitempty"` // for changed: "role viewer → admin, password"
}

// LANChange is a LAN interface whose config a restore changes.
type LANChange struct {
	Interface string        `json:"interface"`
	Changes   []FieldChange `json:"changes"`
}

// MissingInterface is an interface of the backup this device lacks.
type MissingInterface struct {
	Name    string   `json:"name"`
	Used    []string `json:"used"`
	Suggest string   `json:"suggest,omitempty"`
}

// RestoreResult is the answer to a restore: 202 with Change while the
// agent's settings wait for their confirmation (the console's accounts
// follow it), 200 with Done once everything is restored.
type RestoreResult struct {
	Done bool `json:"done"`
	// PreRestore is the backup of the device as it was, in backup.dir.
	PreRestore string        `json:"pre_restore"`
	Change     *BackupChange `json:"change,omitempty"`
	// Detail says what was restored (Done).
	Detail string `json:"detail,omitempty"`
}

// BackupChange is a restore's change of the agent's settings: the AP
// settings, the deny list and the LAN configs, rolled back unless
// confirmed by RollbackAt. Once confirmed, the console's part follows.
type BackupChange struct {
	ID     string `json:"change_id"`
	Status string `json:"status"` // pending, confirmed, rolled_back
	User   string `json:"user,omitempty"`
	// Changes is old → new per setting ("ap_ssid", "deny_list",
	// "eth1_addresses"); a passphrase's new value is "changed".
	Changes    []FieldChange `json:"changes,omitempty"`
	CreatedAt  time.Time     `json:"created_at"`
	RollbackAt time.Time     `json:"rollback_at"`
	FinishedAt *time.Time    `json:"finished_at,omitempty"`
	Error      string        `json:"error,omitempty"`
	// Backup is the archive restored; PreRestore the device as it was.
	Backup     string `json:"backup,omitempty"`
	PreRestore string `json:"pre_restore,omitempty"`
}
