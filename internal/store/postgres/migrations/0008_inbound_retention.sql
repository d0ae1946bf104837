-- Retention finds inbound events past their retention period by
-- received_at without a table scan.
CREATE INDEX inbound_events_received ON inbound_events (received_at);
