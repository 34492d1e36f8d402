package store

import (
	"context"
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

// Audit appends e to the audit log; a zero Time means now.
func (db *DB) Audit(ctx context.Context, e AuditEntry) error {
	if e.Time.IsZero() {
		e.Time = db.now()
	}
	_, err := db.sql.ExecContext(ctx, `INSERT INTO audit (time, user, source, action, target, result, detail)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, toNanos(e.Time), e.User, e.Source, e.Action, e.Target, e.Result, e.Detail)
	if err != nil {
		return fmt.Errorf("writing audit entry %s %s: %w", e.Action, e.Target, err)
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
