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
func sessionKey(token string) [sha256.Size]byte {
	return sha256.Sum256([]byte(token))
}

// SessionStore returns the scs store backed by this database. Expired
// sessions are removed in the background until Close.
func (db *DB) SessionStore() *SessionStore { return db.sessions }

// FindCtx returns the data of an unexpired session, from memory when the
// cache has it.
func (s *SessionStore) FindCtx(ctx context.Context, token string) ([]byte, bool, error) {
	db, key, now := s.db, sessionKey(token), toNanos(s.db.now())
	db.fresh(ctx)
	if c, ok := db.cache.session(key); ok {
		if c.expiry <= now {
			return nil, false, nil
		}
		return c.data, true, nil
	}
	gen := db.cache.generation()
	var b []byte
	var expiry int64
	err := db.sql.QueryRowContext(ctx, `SELECT data, expiry FROM sessions WHERE hash = ? AND expiry > ?`,
		key[:], now).Scan(&b, &expiry)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("finding session: %w", err)
	}
	db.cache.keepSession(gen, key, cachedSession{data: b, expiry: expiry})
	return b, true, nil
}

// CommitCtx stores a session's data and expiry, replacing any earlier.
func (s *SessionStore) CommitCtx(ctx context.Context, token string, b []byte, expiry time.Time) error {
	if b == nil {
		b = []byte{} // data is NOT NULL
	}
	key := sessionKey(token)
	err := s.db.cache.write(func() error {
		_, err := s.db.sql.ExecContext(ctx, `INSERT INTO sessions (hash, data, expiry) VALUES (?, ?, ?)
		ON CONFLICT (hash) DO UPDATE SET data = excluded.data, expiry = excluded.expiry`,
			key[:], b, toNanos(expiry))
		return err
	}, func(err error) {
		delete(s.db.cache.sessions, key)
		if err == nil && len(s.db.cache.sessions) < maxCachedSessions {
			s.db.cache.sessions[key] = cachedSession{data: b, expiry: toNanos(expiry)}
		}
	})
	if err != nil {
		return fmt.Errorf("storing session: %w", err)
	}
	return nil
}

// DeleteCtx removes a session; a missing one is not an error.
func (s *SessionStore) DeleteCtx(ctx context.Context, token string) error {
	key := sessionKey(token)
	err := s.db.cache.write(func() error {
		_, err := s.db.sql.ExecContext(ctx, `DELETE FROM sessions WHERE hash = ?`, key[:])
		return err
	}, func(error) {
		delete(s.db.cache.sessions, key)
	})
	if err != nil {
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
	s.db.cache.dropExpired(toNanos(now))
	_, err := s.db.sql.ExecContext(ctx, `DELETE FROM sessions WHERE expiry <= ?`, toNanos(now))
	return err
}
