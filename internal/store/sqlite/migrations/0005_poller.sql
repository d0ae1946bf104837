-- Pull delivery. seq orders messages by commit: the single writer assigns
-- MAX(seq)+1 inside its transaction, so a poller reading seq > n never
-- skips a message committed later. Existing messages are numbered by rowid,
-- which is their insertion order.
ALTER TABLE messages ADD COLUMN seq INTEGER;
UPDATE messages SET seq = rowid;
CREATE UNIQUE INDEX messages_seq ON messages (seq);
CREATE INDEX messages_app_seq ON messages (app_id, seq);

-- Each consumer of a polling endpoint has its position kept here.
CREATE TABLE poller_consumers (
    endpoint_id TEXT NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
    consumer_id TEXT NOT NULL,
    app_id      TEXT NOT NULL,
    position    INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (endpoint_id, consumer_id)
) WITHOUT ROWID;
