-- Retention deletes idempotency records once their key may be reused: the
-- table kept every key (with the answer it replays, a message's payload
-- included) for ever.
CREATE INDEX idempotency_keys_expires ON idempotency_keys (expires_at);
