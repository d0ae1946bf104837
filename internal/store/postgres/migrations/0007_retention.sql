-- Retention finds expired messages by expires_at without a table scan.
CREATE INDEX messages_expires ON messages (expires_at) WHERE expires_at IS NOT NULL;
