-- 0002: user IDs are never reused. A session names its user by ID; with a
-- plain INTEGER PRIMARY KEY, SQLite gives a new user the ID of a deleted
-- one with the highest ID, and the deleted user's live sessions (same
-- session epoch) would become the new user's.

CREATE TABLE users_new (
	id                   INTEGER PRIMARY KEY AUTOINCREMENT,
	name                 TEXT    NOT NULL UNIQUE,
	role                 TEXT    NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
	password_hash        TEXT    NOT NULL,
	must_change_password INTEGER NOT NULL DEFAULT 0,
	session_epoch        INTEGER NOT NULL DEFAULT 1,
	created_at           INTEGER NOT NULL,
	updated_at           INTEGER NOT NULL
) STRICT;
INSERT INTO users_new (id, name, role, password_hash, must_change_password, session_epoch, created_at, updated_at)
	SELECT id, name, role, password_hash, must_change_password, session_epoch, created_at, updated_at FROM users;
DROP TABLE users;
ALTER TABLE users_new RENAME TO users;

-- IDs deleted before this migration may still be handed out once more:
-- end every session, so none of a deleted user can be waiting for one.
DELETE FROM sessions;
