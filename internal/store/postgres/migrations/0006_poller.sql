-- Pull delivery. seq orders messages by commit: a publish assigns it at the
-- end of its transaction under one transaction-level advisory lock, which
-- is released only after the commit is visible, so seq order is commit
-- order and a poller reading seq > n never skips a later commit.
CREATE SEQUENCE messages_seq_seq;
ALTER TABLE messages ADD COLUMN seq bigint;
UPDATE messages SET seq = s.n FROM (
    SELECT id, nextval('messages_seq_seq') AS n FROM (SELECT id FROM messages ORDER BY id) AS o
) AS s WHERE messages.id = s.id;
CREATE INDEX messages_app_seq ON messages (app_id, seq) WHERE seq IS NOT NULL;

-- Each consumer of a polling endpoint has its position kept here.
CREATE TABLE poller_consumers (
    endpoint_id text NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
    consumer_id text NOT NULL,
    app_id      text NOT NULL,
    position    bigint NOT NULL,
    updated_at  bigint NOT NULL,
    PRIMARY KEY (endpoint_id, consumer_id)
);
