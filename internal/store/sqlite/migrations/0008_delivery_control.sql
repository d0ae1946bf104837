-- ordered makes an endpoint's delivery strictly first-in first-out.
ALTER TABLE endpoints ADD COLUMN ordered INTEGER NOT NULL DEFAULT 0;
-- The endpoint's circuit breaker: state 0 closed, 1 open, 2 half-open.
ALTER TABLE endpoints ADD COLUMN circuit_state INTEGER NOT NULL DEFAULT 0;
ALTER TABLE endpoints ADD COLUMN circuit_opened_at INTEGER;
ALTER TABLE endpoints ADD COLUMN circuit_retry_at INTEGER;
ALTER TABLE endpoints ADD COLUMN circuit_cooldown_ms INTEGER NOT NULL DEFAULT 0;
-- A claim of an ordered endpoint's delivery looks for an earlier
-- unfinished one.
CREATE INDEX deliveries_endpoint_open ON deliveries (endpoint_id, created_at, msg_id) WHERE status IN (1, 3);
