package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// Snapshot writes a consistent copy of the database to path, while others
// go on reading and writing it: VACUUM INTO runs in one read transaction,
// so the copy holds every transaction committed before it began and none
// after (never a copy of the live file, whose WAL may hold the newest
// pages). path must not exist; it is created 0600 (the copy holds password
// hashes) without following a symlink.
func (db *DB) Snapshot(ctx context.Context, path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, dbMode)
	if err != nil {
		return fmt.Errorf("creating database snapshot %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("creating database snapshot %s: %w", path, err)
	}
	// VACUUM INTO accepts an empty file in its place.
	if _, err := db.sql.ExecContext(ctx, `VACUUM INTO ?`, path); err != nil {
		os.Remove(path)
		return fmt.Errorf("writing database snapshot %s: %w", path, err)
	}
	return nil
}

// Check runs SQLite's integrity check and returns its findings as an
// error, or nil.
func (db *DB) Check(ctx context.Context) error {
	rows, err := db.sql.QueryContext(ctx, `PRAGMA integrity_check(20)`)
	if err != nil {
		return fmt.Errorf("checking database integrity: %w", err)
	}
	defer rows.Close()
	var found []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return fmt.Errorf("checking database integrity: %w", err)
		}
		if s != "ok" {
			found = append(found, s)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("checking database integrity: %w", err)
	}
	if len(found) > 0 {
		return fmt.Errorf("database integrity check failed: %s", strings.Join(found, "; "))
	}
	return nil
}

// The accounts RestoreAccounts copies, column by column (a test keeps
// these lists equal to the tables' columns).
var (
	restoredUserColumns  = []string{"id", "name", "role", "password_hash", "must_change_password", "session_epoch", "created_at", "updated_at"}
	restoredTokenColumns = []string{"id", "name", "role", "hash", "created_at", "last_used_at", "revoked_at", "expires_at"}
)

// ErrNoAdmin refuses accounts to restore that have no admin: nobody could
// manage the console afterwards.
var ErrNoAdmin = errors.New("the accounts to restore have no admin")

// Restored says what RestoreAccounts put in place.
type Restored struct {
	Users, Tokens int
}

// RestoreAccounts replaces the users and API tokens with those of the
// database at path (a Snapshot that Open has brought to this devmgr's
// schema, and that is not open elsewhere), and ends every session, all in
// one write transaction: a request sees the old accounts or the new ones,
// never a mix, and the console keeps running. No session survives, so
// none of a user the restore removes (or whose password it changes) is
// left. The audit log, the login throttle's records and the user ID
// sequence stay this database's own: the log keeps what happened, and an
// ID is never handed out twice. Accounts without an admin are refused
// (ErrNoAdmin), as is a database of another schema version.
func (db *DB) RestoreAccounts(ctx context.Context, path string) (res Restored, err error) {
	// Whatever came of it, nothing cached of the accounts before is kept.
	err = db.cache.write(func() (err error) {
		res, err = db.restoreAccounts(ctx, path)
		return err
	}, func(error) { db.cache.clear() })
	return res, err
}

func (db *DB) restoreAccounts(ctx context.Context, path string) (Restored, error) {
	var res Restored
	conn, err := db.sql.Conn(ctx)
	if err != nil {
		return res, fmt.Errorf("restoring accounts: %w", err)
	}
	defer conn.Close()
	// ATTACH belongs to the connection, not to a transaction.
	if _, err := conn.ExecContext(ctx, `ATTACH DATABASE ? AS restored`, "file:"+(&url.URL{Path: path}).EscapedPath()+"?mode=ro"); err != nil {
		return res, fmt.Errorf("restoring accounts: opening %s: %w", path, err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `DETACH DATABASE restored`)
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return res, fmt.Errorf("restoring accounts: %w", err)
	}
	defer tx.Rollback()
	if err := sameSchema(ctx, tx); err != nil {
		return res, fmt.Errorf("restoring accounts from %s: %w", path, err)
	}
	var admins int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM restored.users WHERE role = 'admin'`).Scan(&admins); err != nil {
		return res, fmt.Errorf("restoring accounts: counting admins: %w", err)
	}
	if admins == 0 {
		return res, fmt.Errorf("restoring accounts from %s: %w", path, ErrNoAdmin)
	}
	// Every session from before the restore must stay ended, also one that
	// a request in flight writes back after it: the restored users' session
	// epochs start above every epoch this database has handed out, so such
	// a session's epoch never matches its user's again.
	var epochs int64
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(session_epoch), 0) + 1 FROM main.users`).Scan(&epochs); err != nil {
		return res, fmt.Errorf("restoring accounts: reading session epochs: %w", err)
	}
	users, tokens := strings.Join(restoredUserColumns, ", "), strings.Join(restoredTokenColumns, ", ")
	for _, q := range []string{
		`DELETE FROM sessions`,
		`DELETE FROM api_tokens`,
		`DELETE FROM users`,
		`INSERT INTO users (` + users + `) SELECT ` + users + ` FROM restored.users`,
		`INSERT INTO api_tokens (` + tokens + `) SELECT ` + tokens + ` FROM restored.api_tokens`,
		`UPDATE users SET session_epoch = session_epoch + ` + strconv.FormatInt(epochs, 10),
		// AUTOINCREMENT's high-water mark: the larger of the two, so that
		// an ID used on either side is never used again.
		`UPDATE sqlite_sequence SET seq = max(seq, coalesce((SELECT max(id) FROM users), 0),
			coalesce((SELECT seq FROM restored.sqlite_sequence WHERE name = 'users'), 0)) WHERE name = 'users'`,
		`INSERT INTO sqlite_sequence (name, seq) SELECT 'users', coalesce((SELECT max(id) FROM users), 0)
			WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'users')`,
	} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return res, fmt.Errorf("restoring accounts: %w", err)
		}
	}
	if err := tx.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM api_tokens)`).Scan(&res.Users, &res.Tokens); err != nil {
		return res, fmt.Errorf("restoring accounts: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return res, fmt.Errorf("restoring accounts: committing: %w", err)
	}
	return res, nil
}

// sameSchema refuses an attached database whose schema version differs.
func sameSchema(ctx context.Context, tx *sql.Tx) error {
	var ours, theirs sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT max(version) FROM main.schema_migrations`).Scan(&ours); err != nil {
		return fmt.Errorf("reading schema version: %w", err)
	}
	if err := tx.QueryRowContext(ctx, `SELECT max(version) FROM restored.schema_migrations`).Scan(&theirs); err != nil {
		return fmt.Errorf("reading schema version of the accounts to restore: %w", err)
	}
	if ours != theirs {
		return fmt.Errorf("schema version %d, this database has %d: open it with store.Open first", theirs.Int64, ours.Int64)
	}
	return nil
}
