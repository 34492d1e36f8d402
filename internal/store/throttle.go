package store

import (
	"context"
	"fmt"
	"time"
)

// The login throttle's failures. The policy is auth.Throttle's; the rows
// live here so that a restart does not forgive them.

// AddLoginFailure records a failed login for username from source.
func (db *DB) AddLoginFailure(ctx context.Context, username, source string, at time.Time) error {
	_, err := db.sql.ExecContext(ctx, `INSERT INTO login_failures (username, source, at) VALUES (?, ?, ?)`,
		username, source, toNanos(at))
	if err != nil {
		return fmt.Errorf("recording login failure: %w", err)
	}
	return nil
}

// LoginFailures returns the times of failures after since for username and
// for source, each oldest first.
func (db *DB) LoginFailures(ctx context.Context, username, source string, since time.Time) (byUser, bySource []time.Time, err error) {
	byUser, err = db.failureTimes(ctx, `SELECT at FROM login_failures WHERE username = ? AND at > ? ORDER BY at, id`, username, since)
	if err != nil {
		return nil, nil, fmt.Errorf("reading login failures of user: %w", err)
	}
	bySource, err = db.failureTimes(ctx, `SELECT at FROM login_failures WHERE source = ? AND at > ? ORDER BY at, id`, source, since)
	if err != nil {
		return nil, nil, fmt.Errorf("reading login failures of source: %w", err)
	}
	return byUser, bySource, nil
}

func (db *DB) failureTimes(ctx context.Context, query, key string, since time.Time) ([]time.Time, error) {
	rows, err := db.sql.QueryContext(ctx, query, key, toNanos(since))
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

// ClearLoginFailures forgets username's failures, after it logged in.
func (db *DB) ClearLoginFailures(ctx context.Context, username string) error {
	if _, err := db.sql.ExecContext(ctx, `DELETE FROM login_failures WHERE username = ?`, username); err != nil {
		return fmt.Errorf("clearing login failures: %w", err)
	}
	return nil
}

func (db *DB) pruneLoginFailures(ctx context.Context, before time.Time) error {
	_, err := db.sql.ExecContext(ctx, `DELETE FROM login_failures WHERE at < ?`, toNanos(before))
	return err
}
