// Package sqlitefile opens the agent's own SQLite databases (its audit log,
// its command history) in agent.state_dir: a 0600 file that must not be a
// symlink, WAL, a busy timeout, and a schema brought up to date by
// numbered migrations kept in PRAGMA user_version.
package sqlitefile

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"syscall"

	_ "modernc.org/sqlite" // the database/sql driver "sqlite"
)

// Open opens (creating it 0600 if needed) the database at path and applies
// the migrations it has not had yet, each in a transaction: migrations[0]
// is version 1. The directory must exist; path must not be a symlink. what
// names the database in errors ("audit log").
func Open(ctx context.Context, path, what string, migrations []string) (*sql.DB, error) {
	if err := createExclusive(path, what); err != nil {
		return nil, err
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("opening %s %s: %w", what, path, err)
	}
	if err := migrate(ctx, db, migrations); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening %s %s: %w", what, path, err)
	}
	return db, nil
}

func migrate(ctx context.Context, db *sql.DB, migrations []string) error {
	var version int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("reading the schema version: %w", err)
	}
	if version > len(migrations) {
		return fmt.Errorf("the schema version is %d, newer than this devmgr's %d", version, len(migrations))
	}
	for v := version + 1; v <= len(migrations); v++ {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, migrations[v-1]); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %d: %w", v, err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %d: %w", v, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migration %d: %w", v, err)
		}
	}
	return nil
}

// createExclusive makes path an empty 0600 file unless a regular file is
// there already; a symlink or anything else is refused.
func createExclusive(path, what string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err == nil {
		return f.Close()
	}
	if !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("creating %s %s: %w", what, path, err)
	}
	st, err := os.Lstat(path)
	if err != nil {
		return fmt.Errorf("checking %s %s: %w", what, path, err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s %s is not a regular file (%s); refusing to open it", what, path, st.Mode().Type())
	}
	return nil
}
