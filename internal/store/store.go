// Package store is devmgr's SQLite database: users, sessions, the login
// throttle's failures, API tokens and the audit log. Open applies the
// embedded, numbered migrations; each table has its own file.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Errors the store's methods return (wrapped); test with errors.Is.
var (
	ErrNotFound  = errors.New("not found")
	ErrExists    = errors.New("already exists")
	ErrLastAdmin = errors.New("it is the last admin")
	ErrTooNew    = errors.New("database is newer than this devmgr")
)

// FileName is the database's name inside the data directory.
const FileName = "devmgr.db"

// cleanupInterval is how often expired sessions, old login failures and
// audit entries beyond the retention go.
const cleanupInterval = 5 * time.Minute

// failureRetention is how long login failures are kept: far longer than
// the throttle's window, short enough that the table stays small.
const failureRetention = 24 * time.Hour

// successRetention is how long a source's successful login is remembered:
// while the global failure budget is spent, sources remembered here are
// not slowed down.
const successRetention = 30 * 24 * time.Hour

//go:embed migrations/*.sql
var migrationFS embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// DB is the open database. It is safe for concurrent use.
type DB struct {
	sql      *sql.DB
	log      *slog.Logger
	now      func() time.Time
	sessions *SessionStore
	cache    *cache

	auditKeep    time.Duration
	auditMaxRows int

	stop      context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// Open opens (creating if needed) dataDir/devmgr.db, creating dataDir with
// mode 0700, and brings its schema up to date. The database and its -wal
// and -shm files are 0600; one that is a symlink or not a regular file is
// refused (see prepareFiles). A database written by a
// newer devmgr is refused with ErrTooNew and left untouched. Expired
// sessions and old login failures are removed in the background until
// ctx is done or Close is called.
func Open(ctx context.Context, dataDir string, log *slog.Logger, opts ...Option) (*DB, error) {
	return open(ctx, dataDir, log, time.Now, opts...)
}

// Option changes a default of Open.
type Option func(*DB)

// open is Open with a clock, for tests.
func open(ctx context.Context, dataDir string, log *slog.Logger, now func() time.Time, opts ...Option) (*DB, error) {
	if log == nil {
		return nil, errors.New("store: logger is required")
	}
	if dataDir == "" {
		return nil, errors.New("store: data directory is required")
	}
	migs, err := loadMigrations()
	if err != nil {
		return nil, err
	}
	latest := migs[len(migs)-1].version

	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating data directory: %w", err)
	}
	path := filepath.Join(dataDir, FileName)
	created, err := prepareFiles(path)
	if err != nil {
		return nil, err
	}
	existed := !created

	// Look at an existing database read-only first: switching it to WAL or
	// migrating it would write to a file a newer devmgr owns.
	if existed {
		if err := checkVersion(ctx, path, latest); err != nil {
			return nil, err
		}
	}

	sdb, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		return nil, fmt.Errorf("opening database %s: %w", path, err)
	}
	if err := sdb.PingContext(ctx); err != nil {
		sdb.Close()
		return nil, fmt.Errorf("opening database %s: %w", path, err)
	}
	db := &DB{sql: sdb, log: log, now: now, done: make(chan struct{}),
		auditKeep: DefaultAuditKeep, auditMaxRows: DefaultAuditMaxRows}
	for _, o := range opts {
		o(db)
	}
	if err := db.migrate(ctx, migs); err != nil {
		sdb.Close()
		return nil, fmt.Errorf("migrating database %s: %w", path, err)
	}
	if err := db.openCache(ctx); err != nil {
		sdb.Close()
		return nil, fmt.Errorf("opening database %s: %w", path, err)
	}
	db.sessions = &SessionStore{db: db}

	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	db.stop = cancel
	go func() {
		// Stop with Open's context as well as with Close.
		select {
		case <-ctx.Done():
			cancel()
		case <-cctx.Done():
		}
	}()
	go db.cleanupLoop(cctx)
	return db, nil
}

// dsn builds the modernc.org/sqlite data source name. Write transactions
// take the lock at BEGIN (_txlock=immediate) so that two writers wait on
// busy_timeout instead of one failing when it upgrades its read lock.
func dsn(path string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(5000)")
	if readOnly {
		q.Set("mode", "ro")
	} else {
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "foreign_keys(ON)")
		q.Add("_pragma", "synchronous(NORMAL)")
		q.Set("_txlock", "immediate")
	}
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// checkVersion refuses a database whose recorded schema is newer than latest.
func checkVersion(ctx context.Context, path string, latest int) error {
	ro, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		return fmt.Errorf("opening database %s: %w", path, err)
	}
	defer ro.Close()
	v, err := schemaVersion(ctx, ro)
	if err != nil {
		return fmt.Errorf("reading schema version of %s: %w", path, err)
	}
	if v > latest {
		return fmt.Errorf("database %s has schema version %d, this devmgr knows versions up to %d (upgrade devmgr): %w", path, v, latest, ErrTooNew)
	}
	return nil
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// schemaVersion is the highest recorded migration, 0 for a new database.
func schemaVersion(ctx context.Context, q querier) (int, error) {
	var n int
	err := q.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&n)
	if err != nil || n == 0 {
		return 0, err
	}
	var v sql.NullInt64
	if err := q.QueryRowContext(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, err
	}
	return int(v.Int64), nil
}

func loadMigrations() ([]migration, error) {
	ents, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		return nil, fmt.Errorf("reading embedded migrations: %w", err)
	}
	var migs []migration
	for _, e := range ents {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("embedded migration %q is not named NNNN_name.sql", e.Name())
		}
		b, err := migrationFS.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, fmt.Errorf("reading embedded migration %s: %w", e.Name(), err)
		}
		migs = append(migs, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(migs, func(i, j int) bool { return migs[i].version < migs[j].version })
	for i, m := range migs {
		if m.version != i+1 {
			return nil, fmt.Errorf("embedded migrations are not numbered 1, 2, 3...: %s", m.name)
		}
	}
	if len(migs) == 0 {
		return nil, errors.New("no embedded migrations")
	}
	return migs, nil
}

// migrate applies the migrations the database lacks, each in its own
// transaction together with its schema_migrations row.
func (db *DB) migrate(ctx context.Context, migs []migration) error {
	if _, err := db.sql.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT    NOT NULL,
		applied_at INTEGER NOT NULL
	)`); err != nil {
		return fmt.Errorf("creating schema_migrations: %w", err)
	}
	latest := migs[len(migs)-1].version
	for _, m := range migs {
		err := db.tx(ctx, func(tx *sql.Tx) error {
			// Read inside the write transaction: another process may have
			// migrated since we looked.
			v, err := schemaVersion(ctx, tx)
			if err != nil {
				return fmt.Errorf("reading schema version: %w", err)
			}
			if v > latest {
				return fmt.Errorf("database has schema version %d, this devmgr knows versions up to %d (upgrade devmgr): %w", v, latest, ErrTooNew)
			}
			if v >= m.version {
				return nil
			}
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return fmt.Errorf("applying %s: %w", m.name, err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
				m.version, m.name, db.now().UnixNano()); err != nil {
				return fmt.Errorf("recording %s: %w", m.name, err)
			}
			db.log.Info("applied database migration", "version", m.version, "name", m.name)
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Close stops the background cleanup and closes the database.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		db.stop()
		<-db.done
		db.closeErr = errors.Join(db.closeCache(), db.sql.Close())
	})
	return db.closeErr
}

// SQL is the underlying database, for the odd query of a package that
// owns no table here yet; prefer adding a method. What is written through
// it bypasses the cache of sessions, users and tokens: from then on the
// cache asks SQLite before every lookup whether anything changed.
func (db *DB) SQL() *sql.DB {
	db.cache.always.Store(true)
	return db.sql
}

func (db *DB) cleanupLoop(ctx context.Context) {
	defer close(db.done)
	t := time.NewTicker(cleanupInterval)
	defer t.Stop()
	for {
		db.cleanup(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (db *DB) cleanup(ctx context.Context) {
	now := db.now()
	if err := db.sessions.deleteExpired(ctx, now); err != nil && ctx.Err() == nil {
		db.log.Warn("removing expired sessions", "err", err)
	}
	if err := db.pruneLoginFailures(ctx, now.Add(-failureRetention)); err != nil && ctx.Err() == nil {
		db.log.Warn("removing old login failures", "err", err)
	}
	if err := db.pruneLoginSuccesses(ctx, now.Add(-successRetention)); err != nil && ctx.Err() == nil {
		db.log.Warn("removing old login successes", "err", err)
	}
	if err := db.pruneAudit(ctx, now); err != nil && ctx.Err() == nil {
		db.log.Warn("pruning audit log", "err", err)
	}
}

// tx runs fn in a write transaction, committing if fn returns nil.
func (db *DB) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("beginning transaction: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing transaction: %w", err)
	}
	return nil
}

// isUnique reports whether err is a UNIQUE or PRIMARY KEY violation.
func isUnique(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

// Times are stored as Unix nanoseconds; read back in UTC.
func toNanos(t time.Time) int64 { return t.UnixNano() }

func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
