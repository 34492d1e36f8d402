package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// The login throttle's failures and the sources that logged in. The policy
// is auth.Throttle's; the rows live here so that a restart does not forgive
// them. A source is whatever key the throttle uses (an IPv4 address, an
// IPv6 /64).

// AddLoginFailure records a failed login for username from source.
func (db *DB) AddLoginFailure(ctx context.Context, username, source string, at time.Time) error {
	_, err := db.sql.ExecContext(ctx, `INSERT INTO login_failures (username, source, at) VALUES (?, ?, ?)`,
		username, source, toNanos(at))
	if err != nil {
		return fmt.Errorf("recording login failure: %w", err)
	}
	return nil
}

// LoginFailures returns the times of failures after since for username
// from source and for source whatever the username, each oldest first.
func (db *DB) LoginFailures(ctx context.Context, username, source string, since time.Time) (byUserSource, bySource []time.Time, err error) {
	byUserSource, err = db.failureTimes(ctx, `SELECT at FROM login_failures WHERE username = ? AND source = ? AND at > ? ORDER BY at, id`,
		username, source, toNanos(since))
	if err != nil {
		return nil, nil, fmt.Errorf("reading login failures of user from source: %w", err)
	}
	bySource, err = db.failureTimes(ctx, `SELECT at FROM login_failures WHERE source = ? AND at > ? ORDER BY at, id`,
		source, toNanos(since))
	if err != nil {
		return nil, nil, fmt.Errorf("reading login failures of source: %w", err)
	}
	return byUserSource, bySource, nil
}

func (db *DB) failureTimes(ctx context.Context, query string, args ...any) ([]time.Time, error) {
	rows, err := db.sql.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ts []time.Time
	for rows.Next() {
		var n int64
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		ts = append(ts, fromNanos(n))
	}
	return ts, rows.Err()
}

// CountLoginFailures counts the failures after since for username from
// every source; an empty username counts every failure.
func (db *DB) CountLoginFailures(ctx context.Context, username string, since time.Time) (int, error) {
	var n int
	var err error
	if username == "" {
		err = db.sql.QueryRowContext(ctx, `SELECT count(*) FROM login_failures WHERE at > ?`, toNanos(since)).Scan(&n)
	} else {
		err = db.sql.QueryRowContext(ctx, `SELECT count(*) FROM login_failures WHERE username = ? AND at > ?`,
			username, toNanos(since)).Scan(&n)
	}
	if err != nil {
		return 0, fmt.Errorf("counting login failures: %w", err)
	}
	return n, nil
}

// ClearLoginFailures forgets every failure of username, from every source:
// an unlock, or a password set by an admin.
func (db *DB) ClearLoginFailures(ctx context.Context, username string) error {
	if _, err := db.sql.ExecContext(ctx, `DELETE FROM login_failures WHERE username = ?`, username); err != nil {
		return fmt.Errorf("clearing login failures of %q: %w", username, err)
	}
	return nil
}

// ClearLoginFailuresFrom forgets username's failures from source, after
// it logged in from there. Its failures from elsewhere stay.
func (db *DB) ClearLoginFailuresFrom(ctx context.Context, username, source string) error {
	if _, err := db.sql.ExecContext(ctx, `DELETE FROM login_failures WHERE username = ? AND source = ?`, username, source); err != nil {
		return fmt.Errorf("clearing login failures of %q from %s: %w", username, source, err)
	}
	return nil
}

// AddLoginSuccess remembers that someone logged in from source at at.
func (db *DB) AddLoginSuccess(ctx context.Context, source string, at time.Time) error {
	_, err := db.sql.ExecContext(ctx, `INSERT INTO login_successes (source, at) VALUES (?, ?)
		ON CONFLICT (source) DO UPDATE SET at = max(at, excluded.at)`, source, toNanos(at))
	if err != nil {
		return fmt.Errorf("recording login success from %s: %w", source, err)
	}
	return nil
}

// LastLoginSuccess is the time of source's last successful login; the
// zero time when none is remembered.
func (db *DB) LastLoginSuccess(ctx context.Context, source string) (time.Time, error) {
	var n int64
	err := db.sql.QueryRowContext(ctx, `SELECT at FROM login_successes WHERE source = ?`, source).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("reading last login success from %s: %w", source, err)
	}
	return fromNanos(n), nil
}

func (db *DB) pruneLoginFailures(ctx context.Context, before time.Time) error {
	_, err := db.sql.ExecContext(ctx, `DELETE FROM login_failures WHERE at < ?`, toNanos(before))
	return err
}

func (db *DB) pruneLoginSuccesses(ctx context.Context, before time.Time) error {
	_, err := db.sql.ExecContext(ctx, `DELETE FROM login_successes WHERE at < ?`, toNanos(before))
	return err
}
