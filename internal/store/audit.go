package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// AuditEntry is one line of the audit log: who did what to what, from
// where, and how it ended.
type AuditEntry struct {
	ID     int64
	Time   time.Time
	User   string // user or token name; "cli" for the command line
	Source string // client address; "local" for the command line
	Action string // e.g. "login", "user.add", "token.revoke"
	Target string // e.g. the user or token acted on
	Result string // "ok", "denied", "failed"...
	Detail string
}

// Audit limits.
const (
	DefaultAuditLimit = 100
	MaxAuditLimit     = 1000
)

// Caps of an entry's fields, in bytes: whatever a caller passes (an
// anonymous login's username, an error text), a row stays small.
const (
	MaxAuditField  = 256  // User, Source, Action, Target, Result
	MaxAuditDetail = 1024 // Detail
)

// Audit retention defaults, as config's audit.keep and audit.max_rows.
const (
	DefaultAuditKeep    = 90 * 24 * time.Hour
	DefaultAuditMaxRows = 100_000
)

// clipped returns e with every field cut to its cap.
func (e AuditEntry) clipped() AuditEntry {
	e.User = clip(e.User, MaxAuditField)
	e.Source = clip(e.Source, MaxAuditField)
	e.Action = clip(e.Action, MaxAuditField)
	e.Target = clip(e.Target, MaxAuditField)
	e.Result = clip(e.Result, MaxAuditField)
	e.Detail = clip(e.Detail, MaxAuditDetail)
	return e
}

// clip cuts s to at most n bytes of valid UTF-8, ending in "…" when cut.
func clip(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	const ellipsis = "…"
	cut := n - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ellipsis
}

// Audit appends e to the audit log; a zero Time means now. Fields longer
// than MaxAuditField (MaxAuditDetail for Detail) are clipped.
func (db *DB) Audit(ctx context.Context, e AuditEntry) error {
	if e.Time.IsZero() {
		e.Time = db.now()
	}
	e = e.clipped()
	_, err := db.sql.ExecContext(ctx, `INSERT INTO audit (time, user, source, action, target, result, detail)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, toNanos(e.Time), e.User, e.Source, e.Action, e.Target, e.Result, e.Detail)
	if err != nil {
		return fmt.Errorf("writing audit entry %s %s: %w", e.Action, e.Target, err)
	}
	return nil
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
	e = e.clipped()
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var id int64
		err := tx.QueryRowContext(ctx, `SELECT id FROM audit WHERE source = ? AND action = ? AND result = ? AND time >= ?
			ORDER BY time DESC, id DESC LIMIT 1`, e.Source, e.Action, e.Result, toNanos(since)).Scan(&id)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			_, err = tx.ExecContext(ctx, `INSERT INTO audit (time, user, source, action, target, result, detail)
				VALUES (?, ?, ?, ?, ?, ?, ?)`, toNanos(e.Time), e.User, e.Source, e.Action, e.Target, e.Result, e.Detail)
			return err
		case err != nil:
			return err
		}
		// In SET, repeats is the old value on both sides.
		_, err = tx.ExecContext(ctx, `UPDATE audit SET repeats = repeats + 1,
			detail = ? || ' (' || (repeats + 1) || ' attempts)' WHERE id = ?`, clip(e.Detail, MaxAuditDetail-32), id)
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
	keep, maxRows := db.auditKeep, db.auditMaxRows
	if keep > 0 {
		if _, err := db.sql.ExecContext(ctx, `DELETE FROM audit WHERE time < ?`, toNanos(now.Add(-keep))); err != nil {
			return fmt.Errorf("removing audit entries older than %v: %w", keep, err)
		}
	}
	if maxRows > 0 {
		_, err := db.sql.ExecContext(ctx, `DELETE FROM audit WHERE id IN
			(SELECT id FROM audit ORDER BY time DESC, id DESC LIMIT -1 OFFSET ?)`, maxRows)
		if err != nil {
			return fmt.Errorf("removing audit entries beyond %d: %w", maxRows, err)
		}
	}
	return nil
}

// AuditFilter selects audit entries. Empty fields select everything;
// Action matches a prefix ("user." finds every user change); Since is
// inclusive, Until exclusive.
type AuditFilter struct {
	User, Action, Result string
	Since, Until         time.Time
	Limit, Offset        int // Limit 0 means DefaultAuditLimit; at most MaxAuditLimit
}

// ListAudit returns the entries f selects, newest first.
func (db *DB) ListAudit(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	var where []string
	var args []any
	if f.User != "" {
		where = append(where, "user = ?")
		args = append(args, f.User)
	}
	if f.Action != "" {
		// substr rather than LIKE: an action may contain _ or %.
		where = append(where, "substr(action, 1, ?) = ?")
		// substr counts characters, not bytes.
		args = append(args, utf8.RuneCountInString(f.Action), f.Action)
	}
	if f.Result != "" {
		where = append(where, "result = ?")
		args = append(args, f.Result)
	}
	if !f.Since.IsZero() {
		where = append(where, "time >= ?")
		args = append(args, toNanos(f.Since))
	}
	if !f.Until.IsZero() {
		where = append(where, "time < ?")
		args = append(args, toNanos(f.Until))
	}
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultAuditLimit
	}
	limit = min(limit, MaxAuditLimit)
	q := `SELECT id, time, user, source, action, target, result, detail FROM audit`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += ` ORDER BY time DESC, id DESC LIMIT ? OFFSET ?`
	args = append(args, limit, max(f.Offset, 0))

	rows, err := db.sql.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("listing audit log: %w", err)
	}
	defer rows.Close()
	entries := []AuditEntry{}
	for rows.Next() {
		var e AuditEntry
		var t int64
		if err := rows.Scan(&e.ID, &t, &e.User, &e.Source, &e.Action, &e.Target, &e.Result, &e.Detail); err != nil {
			return nil, fmt.Errorf("listing audit log: %w", err)
		}
		e.Time = fromNanos(t)
		entries = append(entries, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing audit log: %w", err)
	}
	return entries, nil
}
