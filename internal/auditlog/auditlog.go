// Package auditlog is devmgr's audit log: who did what to what, from where,
// and how it ended. The same table lives in two databases: the console's
// (internal/store) and the agent's own, in agent.state_dir, which the
// console account cannot write. Entries are clipped and pruned here, so
// neither log can be made to fill the disk.
package auditlog

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/devmgr/devmgr/internal/sqlitefile"
)

// Entry is one line of the audit log.
type Entry struct {
	ID     int64
	Time   time.Time
	User   string // user or token name; "cli" for the command line, "agent" for the agent itself
	Source string // client address; "local" for the command line
	Action string // e.g. "login", "user.add", "network.rollback"
	Target string // e.g. the user, token or interface acted on
	Result string // "ok", "denied", "failed"...
	Detail string
}

// Results, one vocabulary for both logs (the Audit page filters by them).
const (
	ResultOK        = "ok"
	ResultFailed    = "failed"    // tried and did not work
	ResultDenied    = "denied"    // the role may not do it
	ResultInvalid   = "invalid"   // the request was refused as it stood
	ResultThrottled = "throttled" // a login refused unchecked (one row counts a source's repeats)
)

// Results lists the results in the order a filter offers them.
var Results = []string{ResultOK, ResultFailed, ResultDenied, ResultInvalid, ResultThrottled}

// Limits.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
	// Caps of an entry's fields, in bytes: whatever a caller passes (an
	// anonymous login's username, an error text), a row stays small.
	MaxField  = 256  // User, Source, Action, Target, Result
	MaxDetail = 1024 // Detail
)

// Schema is the audit table; Open creates it in the agent's database, the
// console store's migration 0001 made the same table.
const Schema = `CREATE TABLE IF NOT EXISTS audit (
	id     INTEGER PRIMARY KEY,
	time   INTEGER NOT NULL,
	user   TEXT    NOT NULL,
	source TEXT    NOT NULL,
	action TEXT    NOT NULL,
	target TEXT    NOT NULL,
	result TEXT    NOT NULL,
	detail TEXT    NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS audit_time ON audit (time);
CREATE INDEX IF NOT EXISTS audit_user ON audit (user, time);`

// Clip cuts s to at most n bytes of valid UTF-8, ending in "…" when cut.
func Clip(s string, n int) string {
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

// Clipped returns e with every field cut to its cap.
func (e Entry) Clipped() Entry {
	e.User, e.Source = Clip(e.User, MaxField), Clip(e.Source, MaxField)
	e.Action, e.Target = Clip(e.Action, MaxField), Clip(e.Target, MaxField)
	e.Result, e.Detail = Clip(e.Result, MaxField), Clip(e.Detail, MaxDetail)
	return e
}

// Execer is a database or a transaction.
type Execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// Insert appends e to the audit table of db; its fields are clipped.
func Insert(ctx context.Context, db Execer, e Entry) error {
	e = e.Clipped()
	_, err := db.ExecContext(ctx, `INSERT INTO audit (time, user, source, action, target, result, detail)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, e.Time.UnixNano(), e.User, e.Source, e.Action, e.Target, e.Result, e.Detail)
	if err != nil {
		return fmt.Errorf("writing audit entry %s %s: %w", e.Action, e.Target, err)
	}
	return nil
}

// Filter selects entries. Empty fields select everything; Action matches
// a prefix ("user." finds every user change); Since is inclusive, Until
// exclusive.
type Filter struct {
	User, Action, Result string
	Since, Until         time.Time
	Limit, Offset        int // Limit 0 means DefaultLimit; at most MaxLimit
}

// List returns the entries f selects from db, newest first.
func List(ctx context.Context, db *sql.DB, f Filter) ([]Entry, error) {
	var where []string
	var args []any
	if f.User != "" {
		where = append(where, "user = ?")
		args = append(args, f.User)
	}
	if f.Action != "" {
		// substr rather than LIKE: an action may contain _ or %; it
		// counts characters, not bytes.
		where = append(where, "substr(action, 1, ?) = ?")
		args = append(args, utf8.RuneCountInString(f.Action), f.Action)
	}
	if f.Result != "" {
		where = append(where, "result = ?")
		args = append(args, f.Result)
	}
	if !f.Since.IsZero() {
		where = append(where, "time >= ?")
		args = append(args, f.Since.UnixNano())
	}
	if !f.Until.IsZero() {
		where = append(where, "time < ?")
		args = append(args, f.Until.UnixNano())
	}
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	q := `SELECT id, time, user, source, action, target, result, detail FROM audit`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += ` ORDER BY time DESC, id DESC LIMIT ? OFFSET ?`
	args = append(args, limit, max(f.Offset, 0))

	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("listing audit log: %w", err)
	}
	defer rows.Close()
	entries := []Entry{}
	for rows.Next() {
		var e Entry
		var t int64
		if err := rows.Scan(&e.ID, &t, &e.User, &e.Source, &e.Action, &e.Target, &e.Result, &e.Detail); err != nil {
			return nil, fmt.Errorf("listing audit log: %w", err)
		}
		e.Time = time.Unix(0, t).UTC()
		entries = append(entries, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing audit log: %w", err)
	}
	return entries, nil
}

// Retention is how long and how many entries a log keeps.
type Retention struct {
	Keep    time.Duration // entries older than this go; 0 keeps them
	MaxRows int           // at most this many stay, the newest; 0 is no cap
}

// Prune removes the entries r no longer keeps, oldest first, and reports
// how many.
func Prune(ctx context.Context, db Execer, r Retention, now time.Time) (int64, error) {
	var n int64
	if r.Keep > 0 {
		res, err := db.ExecContext(ctx, `DELETE FROM audit WHERE time < ?`, now.Add(-r.Keep).UnixNano())
		if err != nil {
			return 0, fmt.Errorf("removing old audit entries: %w", err)
		}
		k, _ := res.RowsAffected()
		n += k
	}
	if r.MaxRows > 0 {
		res, err := db.ExecContext(ctx, `DELETE FROM audit WHERE id IN
			(SELECT id FROM audit ORDER BY time DESC, id DESC LIMIT -1 OFFSET ?)`, r.MaxRows)
		if err != nil {
			return n, fmt.Errorf("capping the audit log at %d entries: %w", r.MaxRows, err)
		}
		k, _ := res.RowsAffected()
		n += k
	}
	return n, nil
}

// Log is an audit log of its own database file: the agent's.
type Log struct {
	db  *sql.DB
	ret Retention
	now func() time.Time

	mu       sync.Mutex
	pruned   time.Time
	appended int // since the last prune
}

// pruneEvery bounds how far past MaxRows a log can grow between prunes,
// however fast entries come.
const pruneEvery = 1000

// FileName is the agent's audit database inside agent.state_dir.
const FileName = "audit.db"

// Open opens (creating it 0600 if needed) the audit database at path. The
// directory must exist; path must not be a symlink.
func Open(ctx context.Context, path string, r Retention) (*Log, error) {
	db, err := sqlitefile.Open(ctx, path, "audit log", []string{Schema})
	if err != nil {
		return nil, err
	}
	l := &Log{db: db, ret: r, now: time.Now}
	if _, err := Prune(ctx, db, r, l.now()); err != nil {
		db.Close()
		return nil, err
	}
	l.pruned = l.now()
	return l, nil
}

// Path is the agent's audit database in stateDir.
func Path(stateDir string) string { return filepath.Join(stateDir, FileName) }

// Append writes e (a zero Time is now), pruning once an hour or every
// pruneEvery entries.
func (l *Log) Append(ctx context.Context, e Entry) error {
	if e.Time.IsZero() {
		e.Time = l.now()
	}
	if err := Insert(ctx, l.db, e); err != nil {
		return err
	}
	l.mu.Lock()
	l.appended++
	due := l.appended >= pruneEvery || l.now().Sub(l.pruned) > time.Hour
	if due {
		l.pruned, l.appended = l.now(), 0
	}
	l.mu.Unlock()
	if due {
		_, err := Prune(ctx, l.db, l.ret, l.now())
		return err
	}
	return nil
}

// List returns the entries f selects, newest first.
func (l *Log) List(ctx context.Context, f Filter) ([]Entry, error) { return List(ctx, l.db, f) }

// Close closes the database.
func (l *Log) Close() error { return l.db.Close() }
