package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/devmgr/devmgr/internal/auth"
)

// User is a console user.
type User struct {
	ID                 int64
	Name               string
	Role               auth.Role
	PasswordHash       string
	MustChangePassword bool
	// SessionEpoch grows with every password or role change. A session
	// records the epoch it started in and is void once they differ, which
	// ends a user's other sessions without finding them.
	SessionEpoch int64
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

const userColumns = `id, name, role, password_hash, must_change_password, session_epoch, created_at, updated_at`

type scanner interface{ Scan(dest ...any) error }

func scanUser(s scanner) (User, error) {
	var u User
	var role string
	var created, updated int64
	if err := s.Scan(&u.ID, &u.Name, &role, &u.PasswordHash, &u.MustChangePassword, &u.SessionEpoch, &created, &updated); err != nil {
		return User{}, err
	}
	u.Role = auth.Role(role)
	u.CreatedAt, u.UpdatedAt = fromNanos(created), fromNanos(updated)
	return u, nil
}

// CreateUser adds a user; ErrExists if the name is taken. The name and
// password policy are the caller's (auth.CheckUsername, auth.CheckPassword).
func (db *DB) CreateUser(ctx context.Context, name string, role auth.Role, passwordHash string, mustChange bool) (User, error) {
	if !role.Valid() {
		return User{}, fmt.Errorf("creating user %q: invalid role %q", name, role)
	}
	now := toNanos(db.now())
	var u User
	err := db.cache.write(func() (err error) {
		u, err = scanUser(db.sql.QueryRowContext(ctx, `INSERT INTO users (name, role, password_hash, must_change_password, session_epoch, created_at, updated_at)
		VALUES (?, ?, ?, ?, 1, ?, ?) RETURNING `+userColumns,
			name, string(role), passwordHash, boolInt(mustChange), now, now))
		return err
	}, db.cache.putUser(0, &u))
	if isUnique(err) {
		return User{}, fmt.Errorf("creating user %q: user %w", name, ErrExists)
	}
	if err != nil {
		return User{}, fmt.Errorf("creating user %q: %w", name, err)
	}
	return u, nil
}

// UserByName finds a user by name; ErrNotFound if there is none.
func (db *DB) UserByName(ctx context.Context, name string) (User, error) {
	u, err := scanUser(db.sql.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, fmt.Errorf("user %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return User{}, fmt.Errorf("looking up user %q: %w", name, err)
	}
	return u, nil
}

// UserByID finds a user by ID; ErrNotFound if there is none. Every
// signed-in request asks, so the user comes from memory when the cache
// has it.
func (db *DB) UserByID(ctx context.Context, id int64) (User, error) {
	db.fresh(ctx)
	if u, ok := db.cache.user(id); ok {
		return u, nil
	}
	gen := db.cache.generation()
	u, err := userByID(ctx, db.sql, id)
	if err == nil {
		db.cache.keepUser(gen, u)
	}
	return u, err
}

func userByID(ctx context.Context, q querier, id int64) (User, error) {
	u, err := scanUser(q.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, fmt.Errorf("user %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return User{}, fmt.Errorf("looking up user %d: %w", id, err)
	}
	return u, nil
}

// ListUsers returns every user ordered by name.
func (db *DB) ListUsers(ctx context.Context) ([]User, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT `+userColumns+` FROM users ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("listing users: %w", err)
	}
	defer rows.Close()
	users := []User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("listing users: %w", err)
		}
		users = append(users, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing users: %w", err)
	}
	return users, nil
}

// CountUsers returns how many users there are.
func (db *DB) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := db.sql.QueryRowContext(ctx, `SELECT count(*) FROM users`).Scan(&n); err != nil {
		return 0, fmt.Errorf("counting users: %w", err)
	}
	return n, nil
}

// SetPassword replaces a user's password hash and must-change flag and
// bumps the session epoch, which ends the user's other sessions.
func (db *DB) SetPassword(ctx context.Context, id int64, passwordHash string, mustChange bool) (User, error) {
	var u User
	err := db.cache.write(func() (err error) {
		u, err = scanUser(db.sql.QueryRowContext(ctx, `UPDATE users SET password_hash = ?, must_change_password = ?,
		session_epoch = session_epoch + 1, updated_at = ? WHERE id = ? RETURNING `+userColumns,
			passwordHash, boolInt(mustChange), toNanos(db.now()), id))
		return err
	}, db.cache.putUser(id, &u))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, fmt.Errorf("setting password of user %d: user %w", id, ErrNotFound)
	}
	if err != nil {
		return User{}, fmt.Errorf("setting password of user %d: %w", id, err)
	}
	return u, nil
}

// SetRole changes a user's role and bumps the session epoch. Demoting the
// last admin is refused with ErrLastAdmin.
func (db *DB) SetRole(ctx context.Context, id int64, role auth.Role) (User, error) {
	if !role.Valid() {
		return User{}, fmt.Errorf("setting role of user %d: invalid role %q", id, role)
	}
	var u User
	err := db.cache.write(func() error {
		return db.tx(ctx, func(tx *sql.Tx) error {
			return setRole(ctx, tx, id, role, db.now(), &u)
		})
	}, db.cache.putUser(id, &u))
	if err != nil {
		return User{}, fmt.Errorf("setting role of user %d to %s: %w", id, role, err)
	}
	return u, nil
}

func setRole(ctx context.Context, tx *sql.Tx, id int64, role auth.Role, now time.Time, u *User) error {
	old, err := userByID(ctx, tx, id)
	if err != nil {
		return err
	}
	if old.Role == auth.Admin && role != auth.Admin {
		if err := lastAdminCheck(ctx, tx, id); err != nil {
			return err
		}
	}
	*u, err = scanUser(tx.QueryRowContext(ctx, `UPDATE users SET role = ?, session_epoch = session_epoch + 1, updated_at = ?
		WHERE id = ? RETURNING `+userColumns, string(role), toNanos(now), id))
	return err
}

// DeleteUser removes a user. Deleting the last admin is refused with
// ErrLastAdmin: the console would have nobody left to manage it.
func (db *DB) DeleteUser(ctx context.Context, id int64) error {
	err := db.cache.write(func() error { return db.tx(ctx, func(tx *sql.Tx) error { return deleteUser(ctx, tx, id) }) },
		func(error) { delete(db.cache.users, id) })
	if err != nil {
		return fmt.Errorf("deleting user %d: %w", id, err)
	}
	return nil
}

func deleteUser(ctx context.Context, tx *sql.Tx, id int64) error {
	u, err := userByID(ctx, tx, id)
	if err != nil {
		return err
	}
	if u.Role == auth.Admin {
		if err := lastAdminCheck(ctx, tx, id); err != nil {
			return err
		}
	}
	_, err = tx.ExecContext(ctx, `DELETE FROM users WHERE id = ?`, id)
	return err
}

// lastAdminCheck returns ErrLastAdmin if no admin but id would remain.
// It runs inside the write transaction, so two concurrent demotions
// cannot both pass.
func lastAdminCheck(ctx context.Context, tx *sql.Tx, id int64) error {
	var others int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM users WHERE role = 'admin' AND id != ?`, id).Scan(&others); err != nil {
		return fmt.Errorf("counting admins: %w", err)
	}
	if others == 0 {
		return ErrLastAdmin
	}
	return nil
}
