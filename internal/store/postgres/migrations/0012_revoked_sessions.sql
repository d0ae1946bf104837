-- Dashboard sessions are signed cookies; logging out records the session
-- here (by a hash of its nonce) so a copy of its cookie is refused on every
-- node. Retention deletes a row once the session would have expired anyway.
CREATE TABLE revoked_sessions (
	id         bytea PRIMARY KEY,
	expires_at bigint NOT NULL
);
CREATE INDEX revoked_sessions_expires ON revoked_sessions (expires_at);
