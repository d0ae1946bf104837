-- The receiving side: sources providers post to, and the inbound events
-- they posted, kept byte for byte for replay. Forwarded messages carry the
-- provider's content type and signature headers.

ALTER TABLE messages ADD COLUMN content_type TEXT;
ALTER TABLE messages ADD COLUMN headers TEXT;

CREATE TABLE sources (
    id             TEXT PRIMARY KEY,
    uid            TEXT UNIQUE,
    app_id         TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    verifier       TEXT NOT NULL,
    event_type     TEXT NOT NULL DEFAULT '',
    dedupe_window  INTEGER NOT NULL,
    allowed_ips    TEXT,
    max_body_bytes INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);
CREATE INDEX sources_app ON sources (app_id);

-- Status: 'accepted' (became msg_id) or 'duplicate' (of duplicate_of).
CREATE TABLE inbound_events (
    id           TEXT PRIMARY KEY,
    source_id    TEXT NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    received_at  INTEGER NOT NULL,
    dedupe_key   TEXT,
    dedupe_until INTEGER,
    event_type   TEXT NOT NULL DEFAULT '',
    status       TEXT NOT NULL,
    msg_id       TEXT,
    duplicate_of TEXT,
    body         BLOB NOT NULL,
    headers      TEXT NOT NULL,
    remote_addr  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX inbound_events_source ON inbound_events (source_id, id);
-- Finds the accepted event whose window a new request's key falls in.
CREATE INDEX inbound_events_dedupe ON inbound_events (source_id, dedupe_key, dedupe_until)
    WHERE status = 'accepted' AND dedupe_key IS NOT NULL;
