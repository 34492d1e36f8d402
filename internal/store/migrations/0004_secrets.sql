-- 0004: session tokens are stored hashed; API tokens may expire.

-- The sessions table held raw session tokens: anyone who read the
-- database could sign in as any signed-in user. It now holds the SHA-256
-- of each token, as api_tokens does. A hash cannot be made from a stored
-- row's token usefully (the rows themselves are the secret), so every
-- session ends: users sign in again.
DROP TABLE sessions;
CREATE TABLE sessions (
	hash   BLOB    PRIMARY KEY,
	data   BLOB    NOT NULL,
	expiry INTEGER NOT NULL
) STRICT;
CREATE INDEX sessions_expiry ON sessions (expiry);

-- NULL: the token never expires.
ALTER TABLE api_tokens ADD COLUMN expires_at INTEGER;
