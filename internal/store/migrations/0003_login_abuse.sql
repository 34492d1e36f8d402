-- 0003: login abuse. Repeated throttled attempts from one source share an
-- audit row (repeats counts them); the throttle asks per (user, source)
-- and remembers the sources that logged in successfully.

ALTER TABLE audit ADD COLUMN repeats INTEGER NOT NULL DEFAULT 1;
CREATE INDEX audit_source ON audit (source, action, time);

CREATE INDEX login_failures_user_source ON login_failures (username, source, at);

-- A source (an IPv4 address or an IPv6 /64) and its last successful login.
CREATE TABLE login_successes (
	source TEXT    PRIMARY KEY,
	at     INTEGER NOT NULL
) STRICT;
