-- Dashboard sessions are signed cookies; logging out records the session
-- here (by a hash of its nonce) so a copy of its cookie is refused too.
-- Retention deletes a row once the session would have expired anyway.
CREATE TABLE revoked_sessions (
    id         BLOB PRIMARY KEY,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX revoked_sessions_expires ON revoked_sessions (expires_at);
