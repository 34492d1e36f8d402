package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/devmgr/devmgr/internal/auth"
)

// Token is an API token. Only its SHA-256 hash is stored; the token
// itself is shown once, when it is made.
type Token struct {
	ID         int64
	Name       string
	Role       auth.Role
	CreatedAt  time.Time
	ExpiresAt  *time.Time // nil if it never expires
	LastUsedAt *time.Time // nil if never used
	Revoked    bool
}

// Expired reports whether the token has expired at now.
func (t Token) Expired(now time.Time) bool {
	return t.ExpiresAt != nil && !now.Before(*t.ExpiresAt)
}

const tokenColumns = `id, name, role, created_at, expires_at, last_used_at, revoked_at`

func scanToken(s scanner) (Token, error) {
	var t Token
	var role string
	var created int64
	var expires, used, revoked sql.NullInt64
	if err := s.Scan(&t.ID, &t.Name, &role, &created, &expires, &used, &revoked); err != nil {
		return Token{}, err
	}
	t.Role = auth.Role(role)
	t.CreatedAt = fromNanos(created)
	if expires.Valid {
		e := fromNanos(expires.Int64)
		t.ExpiresAt = &e
	}
	if used.Valid {
		u := fromNanos(used.Int64)
		t.LastUsedAt = &u
	}
	t.Revoked = revoked.Valid
	return t, nil
}

// CreateToken stores a new token's hash; it expires ttl after now, or
// never if ttl is 0. ErrExists if a live (unrevoked) token has the name,
// expired or not.
func (db *DB) CreateToken(ctx context.Context, name string, role auth.Role, hash []byte, ttl time.Duration) (Token, error) {
	if !role.Valid() {
		return Token{}, fmt.Errorf("creating token %q: invalid role %q", name, role)
	}
	if len(hash) == 0 {
		return Token{}, fmt.Errorf("creating token %q: empty hash", name)
	}
	if ttl < 0 {
		return Token{}, fmt.Errorf("creating token %q: negative lifetime %s", name, ttl)
	}
	now := db.now()
	var expires sql.NullInt64
	if ttl > 0 {
		expires = sql.NullInt64{Int64: toNanos(now.Add(ttl)), Valid: true}
	}
	var t Token
	err := db.cache.write(func() (err error) {
		t, err = scanToken(db.sql.QueryRowContext(ctx, `INSERT INTO api_tokens (name, role, hash, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?) RETURNING `+tokenColumns, name, string(role), hash, toNanos(now), expires))
		return err
	}, func(err error) {
		if k, ok := hashKey(hash); ok && err == nil {
			db.cache.tokens[k] = t.clone()
		}
	})
	if isUnique(err) {
		return Token{}, fmt.Errorf("creating token %q: token %w", name, ErrExists)
	}
	if err != nil {
		return Token{}, fmt.Errorf("creating token %q: %w", name, err)
	}
	return t, nil
}

// TokenByHash finds a live token by its hash; ErrNotFound if there is none,
// it was revoked or it has expired. Every request with a token asks, so a
// live token comes from memory when the cache has it.
func (db *DB) TokenByHash(ctx context.Context, hash []byte) (Token, error) {
	now := db.now()
	db.fresh(ctx)
	k, cacheable := hashKey(hash)
	if cacheable {
		if t, ok := db.cache.token(k); ok {
			if t.Expired(now) {
				return Token{}, fmt.Errorf("token: %w", ErrNotFound)
			}
			return t, nil
		}
	}
	gen := db.cache.generation()
	t, err := scanToken(db.sql.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM api_tokens
		WHERE hash = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)`, hash, toNanos(now)))
	if errors.Is(err, sql.ErrNoRows) {
		return Token{}, fmt.Errorf("token: %w", ErrNotFound)
	}
	if err != nil {
		return Token{}, fmt.Errorf("looking up token: %w", err)
	}
	if cacheable {
		db.cache.keepToken(gen, k, t)
	}
	return t, nil
}

// TouchToken records that a token was used at at.
func (db *DB) TouchToken(ctx context.Context, id int64, at time.Time) error {
	var res sql.Result
	err := db.cache.write(func() (err error) {
		res, err = db.sql.ExecContext(ctx, `UPDATE api_tokens SET last_used_at = ? WHERE id = ?`, toNanos(at), id)
		return err
	}, func(err error) {
		used := fromNanos(toNanos(at)) // as read back
		for k, t := range db.cache.tokens {
			switch {
			case t.ID != id:
			case err != nil:
				delete(db.cache.tokens, k)
			default:
				t.LastUsedAt = &used
				db.cache.tokens[k] = t
			}
		}
	})
	if err != nil {
		return fmt.Errorf("recording use of token %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("recording use of token %d: %w", id, ErrNotFound)
	}
	return nil
}

// ListTokens returns every token, revoked ones too, ordered by name, then
// newest first.
func (db *DB) ListTokens(ctx context.Context) ([]Token, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT `+tokenColumns+` FROM api_tokens ORDER BY name, id DESC`)
	if err != nil {
		return nil, fmt.Errorf("listing tokens: %w", err)
	}
	defer rows.Close()
	toks := []Token{}
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("listing tokens: %w", err)
		}
		toks = append(toks, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing tokens: %w", err)
	}
	return toks, nil
}

// RevokeToken revokes the live token called name; ErrNotFound if none.
func (db *DB) RevokeToken(ctx context.Context, name string) error {
	var res sql.Result
	err := db.cache.write(func() (err error) {
		res, err = db.sql.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL`,
			toNanos(db.now()), name)
		return err
	}, func(error) {
		for k, t := range db.cache.tokens {
			if t.Name == name {
				delete(db.cache.tokens, k)
			}
		}
	})
	if err != nil {
		return fmt.Errorf("revoking token %q: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("revoking token %q: token %w", name, ErrNotFound)
	}
	return nil
}
