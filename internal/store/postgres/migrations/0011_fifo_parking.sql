-- A delivery to an ordered endpoint that waits behind an earlier one is
-- parked (next_attempt_at far in the future, fifo.go) so that claims do not
-- walk past it. Claims find ordered endpoints' heads through this index.
CREATE INDEX endpoints_ordered ON endpoints (id) WHERE ordered;

-- Park what already waits.
UPDATE deliveries d SET next_attempt_at = 253402300799999
WHERE d.status = 1 AND d.lease_owner IS NULL
    AND d.endpoint_id IN (SELECT id FROM endpoints WHERE ordered)
    AND (d.created_at, d.msg_id) > (SELECT head.created_at, head.msg_id FROM deliveries head
        WHERE head.status IN (1, 3) AND head.endpoint_id = d.endpoint_id
        ORDER BY head.created_at, head.msg_id LIMIT 1);
