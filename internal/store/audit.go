package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/devmgr/devmgr/internal/auditlog"
)

// AuditEntry is one line of the audit log (the type is auditlog's: the
// agent keeps a log of its own with the same entries).
type AuditEntry = auditlog.Entry

// AuditFilter selects audit entries (auditlog.Filter).
type AuditFilter = auditlog.Filter

// Audit limits.
const (
	DefaultAuditLimit = auditlog.DefaultLimit
	MaxAuditLimit     = auditlog.MaxLimit
	MaxAuditField     = auditlog.MaxField  // User, Source, Action, Target, Result
	MaxAuditDetail    = auditlog.MaxDetail // Detail
)

// Audit retention defaults, as config's audit.keep and audit.max_rows.
const (
	DefaultAuditKeep    = 90 * 24 * time.Hour
	DefaultAuditMaxRows = 100_000
)

// Audit appends e to the audit log; a zero Time means now. Fields longer
// than MaxAuditField (MaxAuditDetail for Detail) are clipped.
func (db *DB) Audit(ctx context.Context, e AuditEntry) error {
	if e.Time.IsZero() {
		e.Time = db.now()
	}
	return auditlog.Insert(ctx, db.sql, e)
}

// AuditRepeat records e like Audit unless an entry with the same Source,
// Action and Result was written at or after since: then that entry counts
// one more attempt instead ("throttled (37 attempts)") and keeps its time,
// user and target. A flood of refused attempts from one source thus costs
// one row per window, not a row each.
func (db *DB) AuditRepeat(ctx context.Context, e AuditEntry, since time.Time) error {
	if e.Time.IsZero() {
		e.Time = db.now()
	}
	e = e.Clipped()
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var id int64
		err := tx.QueryRowContext(ctx, `SELECT id FROM audit WHERE source = ? AND action = ? AND result = ? AND time >= ?
			ORDER BY time DESC, id DESC LIMIT 1`, e.Source, e.Action, e.Result, toNanos(since)).Scan(&id)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return auditlog.Insert(ctx, tx, e)
		case err != nil:
			return err
		}
		// In SET, repeats is the old value on both sides.
		_, err = tx.ExecContext(ctx, `UPDATE audit SET repeats = repeats + 1,
			detail = ? || ' (' || (repeats + 1) || ' attempts)' WHERE id = ?`, auditlog.Clip(e.Detail, MaxAuditDetail-32), id)
		return err
	})
	if err != nil {
		return fmt.Errorf("writing audit entry %s %s: %w", e.Action, e.Target, err)
	}
	return nil
}

// AuditRetention sets how long audit entries are kept and how many at
// most (config's audit.keep and audit.max_rows); the cleanup loop removes
// the rest, oldest first. Zero or less means no limit of that kind.
// Without it Open keeps DefaultAuditKeep and DefaultAuditMaxRows.
func AuditRetention(keep time.Duration, maxRows int) Option {
	return func(db *DB) { db.auditKeep, db.auditMaxRows = keep, maxRows }
}

func (db *DB) pruneAudit(ctx context.Context, now time.Time) error {
	_, err := auditlog.Prune(ctx, db.sql, auditlog.Retention{Keep: db.auditKeep, MaxRows: db.auditMaxRows}, now)
	return err
}

// ListAudit returns the entries f selects, newest first.
func (db *DB) ListAudit(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	return auditlog.List(ctx, db.sql, f)
}
