-- The dashboard scans creation-time ranges across every application. Rows
-- arrive in time order, so BRIN indexes serve those scans at almost no cost
-- to the inserts of the hot path.
CREATE INDEX messages_created_brin ON messages USING brin (created_at);
CREATE INDEX deliveries_created_brin ON deliveries USING brin (created_at);
CREATE INDEX attempts_created_brin ON attempts USING brin (created_at);
