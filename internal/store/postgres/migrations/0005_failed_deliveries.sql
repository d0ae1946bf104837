-- The failed-deliveries panel lists status = 2 (fail) newest first; without
-- this it walks the whole deliveries table when failures are rare.
CREATE INDEX deliveries_failed ON deliveries (msg_id DESC, endpoint_id DESC) WHERE status = 2;
