-- Herald's first schema. Times are unix milliseconds; JSON-ish fields are
-- JSON text; message payloads are stored exactly as published.

CREATE TABLE applications (
    id            TEXT PRIMARY KEY,
    uid           TEXT UNIQUE,
    name          TEXT NOT NULL,
    throttle_rate INTEGER NOT NULL DEFAULT 0,
    metadata      TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

CREATE TABLE event_types (
    name         TEXT PRIMARY KEY,
    description  TEXT NOT NULL DEFAULT '',
    archived     INTEGER NOT NULL DEFAULT 0,
    deprecated   INTEGER NOT NULL DEFAULT 0,
    feature_flag TEXT NOT NULL DEFAULT '',
    schemas      TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE endpoints (
    id            TEXT PRIMARY KEY,
    app_id        TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    uid           TEXT,
    url           TEXT NOT NULL,
    description   TEXT NOT NULL DEFAULT '',
    disabled      INTEGER NOT NULL DEFAULT 0,
    event_types   TEXT,
    channels      TEXT,
    throttle_rate INTEGER NOT NULL DEFAULT 0,
    metadata      TEXT,
    headers       TEXT,
    secrets       TEXT,
    failing_since INTEGER,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX endpoints_app ON endpoints (app_id, id);
CREATE UNIQUE INDEX endpoints_app_uid ON endpoints (app_id, uid) WHERE uid IS NOT NULL;

CREATE TABLE messages (
    id         TEXT PRIMARY KEY,
    app_id     TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    event_id   TEXT,
    event_type TEXT NOT NULL,
    channels   TEXT,
    payload    BLOB,
    created_at INTEGER NOT NULL,
    expires_at INTEGER
);
CREATE INDEX messages_app ON messages (app_id, id);
CREATE INDEX messages_event_id ON messages (app_id, event_id, created_at) WHERE event_id IS NOT NULL;

-- deliveries is the queue: one row per message and endpoint. While a node
-- holds a row under lease, next_attempt_at is the lease's expiry, so the
-- one partial index below finds both due rows and abandoned leases.
-- Status: 0 success, 1 pending, 2 fail, 3 sending (retry scheduled), 4 canceled.
CREATE TABLE deliveries (
    msg_id          TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    endpoint_id     TEXT NOT NULL,
    app_id          TEXT NOT NULL,
    status          INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    trigger         INTEGER NOT NULL DEFAULT 0,
    lease_owner     TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    PRIMARY KEY (msg_id, endpoint_id)
) WITHOUT ROWID;
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status IN (1, 3);
CREATE INDEX deliveries_lease ON deliveries (lease_owner) WHERE lease_owner IS NOT NULL;
CREATE INDEX deliveries_endpoint ON deliveries (endpoint_id, msg_id);

-- Attempts are keyed by message, so a message's attempts sit together and
-- no separate index on the attempt ID is needed.
CREATE TABLE attempts (
    msg_id           TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    id               TEXT NOT NULL,
    endpoint_id      TEXT NOT NULL,
    app_id           TEXT NOT NULL,
    url              TEXT NOT NULL,
    status           INTEGER NOT NULL,
    status_code      INTEGER NOT NULL DEFAULT 0,
    response_body    TEXT,
    response_headers TEXT,
    request_headers  TEXT,
    duration_us      INTEGER NOT NULL DEFAULT 0,
    error_class      TEXT NOT NULL DEFAULT '',
    trigger          INTEGER NOT NULL DEFAULT 0,
    created_at       INTEGER NOT NULL,
    PRIMARY KEY (msg_id, id)
) WITHOUT ROWID;
CREATE INDEX attempts_endpoint ON attempts (endpoint_id, id);

-- An idempotency key is in flight while status_code is NULL.
CREATE TABLE idempotency_keys (
    key         TEXT PRIMARY KEY,
    status_code INTEGER,
    body        BLOB,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE tokens (
    hash       BLOB PRIMARY KEY,
    app_id     TEXT REFERENCES applications (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER
) WITHOUT ROWID;
CREATE INDEX tokens_app ON tokens (app_id) WHERE app_id IS NOT NULL;
