-- 0001: users, sessions, login throttle, API tokens, audit log.
-- Times are INTEGER Unix nanoseconds (UTC): they sort and compare as numbers.

CREATE TABLE users (
	id                   INTEGER PRIMARY KEY,
	name                 TEXT    NOT NULL UNIQUE,
	role                 TEXT    NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
	password_hash        TEXT    NOT NULL,
	must_change_password INTEGER NOT NULL DEFAULT 0,
	session_epoch        INTEGER NOT NULL DEFAULT 1,
	created_at           INTEGER NOT NULL,
	updated_at           INTEGER NOT NULL
) STRICT;

-- scs session store.
CREATE TABLE sessions (
	token  TEXT    PRIMARY KEY,
	data   BLOB    NOT NULL,
	expiry INTEGER NOT NULL
) STRICT;
CREATE INDEX sessions_expiry ON sessions (expiry);

CREATE TABLE login_failures (
	id       INTEGER PRIMARY KEY,
	username TEXT    NOT NULL,
	source   TEXT    NOT NULL,
	at       INTEGER NOT NULL
) STRICT;
CREATE INDEX login_failures_username ON login_failures (username, at);
CREATE INDEX login_failures_source ON login_failures (source, at);
CREATE INDEX login_failures_at ON login_failures (at);

CREATE TABLE api_tokens (
	id           INTEGER PRIMARY KEY,
	name         TEXT    NOT NULL,
	role         TEXT    NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
	hash         BLOB    NOT NULL UNIQUE,
	created_at   INTEGER NOT NULL,
	last_used_at INTEGER,
	revoked_at   INTEGER
) STRICT;
-- A name is unique among live tokens; a revoked token's name may be reused.
CREATE UNIQUE INDEX api_tokens_live_name ON api_tokens (name) WHERE revoked_at IS NULL;

CREATE TABLE audit (
	id     INTEGER PRIMARY KEY,
	time   INTEGER NOT NULL,
	user   TEXT    NOT NULL,
	source TEXT    NOT NULL,
	action TEXT    NOT NULL,
	target TEXT    NOT NULL,
	result TEXT    NOT NULL,
	detail TEXT    NOT NULL
) STRICT;
CREATE INDEX audit_time ON audit (time);
CREATE INDEX audit_user ON audit (user, time);
