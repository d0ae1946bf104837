-- A delivery to an ordered endpoint that waits behind an earlier one is
-- parked (next_attempt_at far in the future, fifo.go) so that claims do not
-- walk past it. Claims find ordered endpoints' heads through this index.
CREATE INDEX endpoints_ordered ON endpoints (id) WHERE ordered = 1;

-- Park what already waits.
UPDATE deliveries SET next_attempt_at = 253402300799999
WHERE status = 1 AND lease_owner IS NULL
    AND endpoint_id IN (SELECT id FROM endpoints WHERE ordered = 1)
    AND (created_at, msg_id) > (SELECT p.created_at, p.msg_id FROM deliveries p
        WHERE p.endpoint_id = deliveries.endpoint_id AND p.status IN (1, 3)
        ORDER BY p.created_at, p.msg_id LIMIT 1);
