package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/alexedwards/scs/v2"
)

// SessionStore keeps scs sessions in the sessions table, so that they
// survive a restart of the server. A row is keyed by the SHA-256 of the
// session's token, never the token: a copy of the database (a backup, a
// stolen file) holds no cookie that signs anyone in. It therefore cannot
// list sessions by token (scs.IterableCtxStore).
type SessionStore struct {
	db *DB
}

var (
	_ scs.Store    = (*SessionStore)(nil)
	_ scs.CtxStore = (*SessionStore)(nil)
)

// sessionKey is the stored form of a session token. The token carries 256
// random bits (scs), so a fast hash suffices.
func sessionKey(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// SessionStore returns the scs store backed by this database. Expired
// sessions are removed in the background until Close.
func (db *DB) SessionStore() *SessionStore { return db.sessions }

// FindCtx returns the data of an unexpired session.
func (s *SessionStore) FindCtx(ctx context.Context, token string) ([]byte, bool, error) {
	var b []byte
	err := s.db.sql.QueryRowContext(ctx, `SELECT data FROM sessions WHERE hash = ? AND expiry > ?`,
		sessionKey(token), toNanos(s.db.now())).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("finding session: %w", err)
	}
	return b, true, nil
}

// CommitCtx stores a session's data and expiry, replacing any earlier.
func (s *SessionStore) CommitCtx(ctx context.Context, token string, b []byte, expiry time.Time) error {
	if b == nil {
		b = []byte{} // data is NOT NULL
	}
	_, err := s.db.sql.ExecContext(ctx, `INSERT INTO sessions (hash, data, expiry) VALUES (?, ?, ?)
		ON CONFLICT (hash) DO UPDATE SET data = excluded.data, expiry = excluded.expiry`,
		sessionKey(token), b, toNanos(expiry))
	if err != nil {
		return fmt.Errorf("storing session: %w", err)
	}
	return nil
}

// DeleteCtx removes a session; a missing one is not an error.
func (s *SessionStore) DeleteCtx(ctx context.Context, token string) error {
	if _, err := s.db.sql.ExecContext(ctx, `DELETE FROM sessions WHERE hash = ?`, sessionKey(token)); err != nil {
		return fmt.Errorf("deleting session: %w", err)
	}
	return nil
}

// Find is FindCtx without a context, for scs.Store.
func (s *SessionStore) Find(token string) ([]byte, bool, error) {
	return s.FindCtx(context.Background(), token)
}

// Commit is CommitCtx without a context, for scs.Store.
func (s *SessionStore) Commit(token string, b []byte, expiry time.Time) error {
	return s.CommitCtx(context.Background(), token, b, expiry)
}

// Delete is DeleteCtx without a context, for scs.Store.
func (s *SessionStore) Delete(token string) error {
	return s.DeleteCtx(context.Background(), token)
}

func (s *SessionStore) deleteExpired(ctx context.Context, now time.Time) error {
	_, err := s.db.sql.ExecContext(ctx, `DELETE FROM sessions WHERE expiry <= ?`, toNanos(now))
	return err
}
