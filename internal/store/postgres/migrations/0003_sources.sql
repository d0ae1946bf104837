-- The receiving side: sources providers post to, and the inbound events
-- they posted, kept byte for byte for replay. Forwarded messages carry the
-- provider's content type and signature headers (JSON text).

ALTER TABLE messages ADD COLUMN content_type text;
ALTER TABLE messages ADD COLUMN headers text;

CREATE TABLE sources (
	id             text PRIMARY KEY,
	uid            text,
	app_id         text NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
	name           text NOT NULL,
	verifier       text NOT NULL,
	event_type     text NOT NULL DEFAULT '',
	dedupe_window  bigint NOT NULL,
	allowed_ips    text,
	max_body_bytes bigint NOT NULL,
	created_at     bigint NOT NULL,
	updated_at     bigint NOT NULL
);
CREATE UNIQUE INDEX sources_uid ON sources (uid) WHERE uid IS NOT NULL;
CREATE INDEX sources_app ON sources (app_id);

-- Status: 'accepted' (became msg_id) or 'duplicate' (of duplicate_of).
CREATE TABLE inbound_events (
	id           text PRIMARY KEY,
	source_id    text NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
	received_at  bigint NOT NULL,
	dedupe_key   text,
	dedupe_until bigint,
	event_type   text NOT NULL DEFAULT '',
	status       text NOT NULL,
	msg_id       text,
	duplicate_of text,
	body         bytea NOT NULL,
	headers      text NOT NULL,
	remote_addr  text NOT NULL DEFAULT ''
);
CREATE INDEX inbound_events_source ON inbound_events (source_id, id);
-- Finds the accepted event whose window a new request's key falls in.
CREATE INDEX inbound_events_dedupe ON inbound_events (source_id, dedupe_key, dedupe_until)
	WHERE status = 'accepted' AND dedupe_key IS NOT NULL;
