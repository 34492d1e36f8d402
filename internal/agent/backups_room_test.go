package agent

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/devmgr/devmgr/internal/agent/api"
	"github.com/devmgr/devmgr/internal/auditlog"
	"github.com/devmgr/devmgr/internal/backup"
	"github.com/devmgr/devmgr/internal/testing/mountns"
	"github.com/devmgr/devmgr/internal/testing/testutil"
)

// makeArchive makes a real backup of kind into dir, made at at.
func (ba *backupAgent) makeArchive(dir, kind string, at time.Time) backup.Info {
	ba.t.Helper()
	o := ba.b.createOptions(kind, "")
	o.Dir, o.Now = dir, func() time.Time { return at }
	info, err := backup.Create(context.Background(), o)
	if err != nil {
		ba.t.Fatal(err)
	}
	return info
}

// refused checks that err is a 507 saying want, and that the last entry
// audited of action is its failure, saying it too.
func (ba *backupAgent) refused(what, action string, err error, want string) {
	ba.t.Helper()
	e, ok := api.AsError(err)
	if !ok || e.Status != http.StatusInsufficientStorage || !strings.Contains(e.Message, want) {
		ba.t.Errorf("%s: %v, want 507 saying %q", what, err, want)
	}
	es := ba.entries(action)
	if len(es) == 0 || es[len(es)-1].Result != auditlog.ResultFailed || !strings.Contains(es[len(es)-1].Detail, want) {
		ba.t.Errorf("%s: the audit log of %s is %+v, want the refusal last", what, action, es)
	}
}

// An admin cannot make backups accumulate: with api.MaxKeptByHand manual
// and uploaded backups in backup.dir (scheduled and pre-restore ones do
// not count), a backup and an upload through the API are refused with
// 507, saying so, audited, and nothing is written; once some are deleted,
// the next ones are made. The archives are real ones, each made at its
// own time (names go by the second).
func TestBackupKeptByHand(t *testing.T) {
	ba := newBackupAgent(t, nil)
	ctx := context.Background()
	c := ba.client
	dir, elsewhere := ba.cfg.Backup.Dir, t.TempDir()
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range api.MaxKeptByHand - 1 {
		at = at.Add(time.Minute)
		if i%2 == 0 {
			ba.makeArchive(dir, backup.KindManual, at)
			continue
		}
		f, err := os.Open(ba.makeArchive(elsewhere, backup.KindManual, at).Path)
		if err != nil {
			t.Fatal(err)
		}
		_, err = backup.Upload(ctx, f, backup.UploadOptions{Dir: dir, TempDir: ba.b.cfg.Sources.TempDir})
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	ba.makeArchive(dir, backup.KindScheduled, at.Add(time.Minute))
	ba.makeArchive(dir, backup.KindPreRestore, at.Add(2*time.Minute))
	upload, err := os.ReadFile(ba.makeArchive(elsewhere, backup.KindManual, at.Add(3*time.Minute)).Path)
	if err != nil {
		t.Fatal(err)
	}

	last, err := c.CreateBackup(ctx, admin, "")
	if err != nil {
		t.Fatalf("backup %d: %v", api.MaxKeptByHand, err)
	}
	before := testutil.Files(t, dir)
	want := fmt.Sprintf("there are %d backups made or uploaded by hand, and at most %[1]d are kept; nothing was written: delete old backups first", api.MaxKeptByHand)
	_, err = c.CreateBackup(ctx, admin, "")
	ba.refused("a backup past the cap", api.ActBackupCreate, err, want)
	_, err = c.UploadBackup(ctx, admin, "", bytes.NewReader(upload))
	ba.refused("an upload past the cap", api.ActBackupUpload, err, want)
	// Refused before its body is read, a large upload still gets the answer.
	_, err = c.UploadBackup(ctx, admin, "", bytes.NewReader(make([]byte, 32<<20)))
	ba.refused("a large upload past the cap", api.ActBackupUpload, err, want)
	if diff := cmp.Diff(before, testutil.Files(t, dir)); diff != "" {
		t.Errorf("refusals changed backup.dir (-before +after):\n%s", diff)
	}
	if l, err := c.Backups(ctx, admin); err != nil || !l.Last.Failed() || !strings.Contains(l.Last.Detail, want) {
		t.Errorf("the last backup shows as %+v (%v), want the refusal", l.Last, err)
	}

	list, err := backup.List(dir)
	if err != nil {
		t.Fatal(err)
	}
	oldest := list[len(list)-1] // the first made
	for _, name := range []string{last.Name, oldest.Name} {
		if _, err := c.DeleteBackup(ctx, admin, name); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.CreateBackup(ctx, admin, ""); err != nil {
		t.Errorf("a backup once two were deleted: %v", err)
	}
	if _, err := c.UploadBackup(ctx, admin, "", bytes.NewReader(upload)); err != nil {
		t.Errorf("an upload once two were deleted: %v", err)
	}
	if _, err := c.CreateBackup(ctx, admin, ""); !IsStatus(err, http.StatusInsufficientStorage) {
		t.Errorf("a backup at the cap again: %v, want 507", err)
	}
}

// Where backup.dir's filesystem has no room (a tmpfs of 16 MiB, in a
// mount namespace of the test's own), a backup, an upload and a restore
// (its pre-restore backup) through the API are refused with 507 saying
// what is free and where to free space, audited; nothing is written.
func TestBackupNoRoom(t *testing.T) {
	root, child := mountns.Private(t)
	if !child {
		return
	}
	ba := newBackupAgent(t, nil)
	ctx := context.Background()
	c := ba.client
	archive := ba.makeArchive(t.TempDir(), backup.KindManual, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	b, err := os.ReadFile(archive.Path)
	if err != nil {
		t.Fatal(err)
	}
	small := filepath.Join(root, "backups")
	if err := os.Mkdir(small, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", small, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0700,size=16m"); err != nil {
		t.Fatal(err)
	}
	ba.b.dir = small
	// An archive to restore, put there as a copy would be.
	if err := os.WriteFile(filepath.Join(small, archive.Name), b, 0o600); err != nil {
		t.Fatal(err)
	}
	before := testutil.Files(t, small)
	want := "delete old backups or free space on " + small

	_, err = c.CreateBackup(ctx, admin, "")
	ba.refused("a backup", api.ActBackupCreate, err, want)
	_, err = c.UploadBackup(ctx, admin, "", bytes.NewReader(b))
	ba.refused("an upload", api.ActBackupUpload, err, want)
	_, err = c.RestoreBackup(ctx, admin, archive.Name, api.RestoreRequest{})
	ba.refused("a restore", api.ActBackupRestore, err, want)
	if diff := cmp.Diff(before, testutil.Files(t, small)); diff != "" {
		t.Errorf("refusals changed backup.dir (-before +after):\n%s", diff)
	}
}
