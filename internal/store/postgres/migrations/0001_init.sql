-- Herald's schema. Times are Unix milliseconds (bigint); payloads and other
-- exact bytes are bytea; lists and maps are JSON text, except message
-- channels, which are jsonb so lists can filter on them.

CREATE TABLE applications (
	id            text PRIMARY KEY,
	uid           text,
	name          text NOT NULL,
	throttle_rate integer NOT NULL DEFAULT 0,
	metadata      text,
	created_at    bigint NOT NULL,
	updated_at    bigint NOT NULL
);
CREATE UNIQUE INDEX applications_uid ON applications (uid) WHERE uid IS NOT NULL;

CREATE TABLE event_types (
	name         text PRIMARY KEY,
	description  text NOT NULL DEFAULT '',
	archived     boolean NOT NULL DEFAULT false,
	deprecated   boolean NOT NULL DEFAULT false,
	feature_flag text NOT NULL DEFAULT '',
	schemas      bytea,
	created_at   bigint NOT NULL,
	updated_at   bigint NOT NULL
);

CREATE TABLE endpoints (
	id            text PRIMARY KEY,
	app_id        text NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
	uid           text,
	url           text NOT NULL,
	description   text NOT NULL DEFAULT '',
	disabled      boolean NOT NULL DEFAULT false,
	event_types   text,
	channels      text,
	throttle_rate integer NOT NULL DEFAULT 0,
	metadata      text,
	headers       text,
	secrets       text,
	failing_since bigint,
	created_at    bigint NOT NULL,
	updated_at    bigint NOT NULL
);
CREATE UNIQUE INDEX endpoints_app_uid ON endpoints (app_id, uid) WHERE uid IS NOT NULL;
CREATE INDEX endpoints_app ON endpoints (app_id, id);

-- No foreign keys on the hot tables: a key check per row would lock the
-- parent rows of every publish. DeleteApplication deletes children itself,
-- reaching deliveries and attempts through their messages, so the hot
-- tables carry no app_id index to maintain.
CREATE TABLE messages (
	id         text PRIMARY KEY,
	app_id     text NOT NULL,
	event_id   text,
	event_type text NOT NULL,
	channels   jsonb,
	payload    bytea,
	created_at bigint NOT NULL,
	expires_at bigint
);
CREATE INDEX messages_app ON messages (app_id, id);
CREATE INDEX messages_event_id ON messages (app_id, event_id, created_at) WHERE event_id IS NOT NULL;

-- The queue. While a node holds a row under a lease, next_attempt_at is the
-- lease's expiry and leased_at when it was taken.
CREATE TABLE deliveries (
	msg_id          text NOT NULL,
	endpoint_id     text NOT NULL,
	app_id          text NOT NULL,
	status          smallint NOT NULL,
	attempts        integer NOT NULL DEFAULT 0,
	next_attempt_at bigint,
	trigger         smallint NOT NULL DEFAULT 0,
	lease_owner     text,
	leased_at       bigint,
	created_at      bigint NOT NULL,
	updated_at      bigint NOT NULL,
	PRIMARY KEY (msg_id, endpoint_id)
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status IN (1, 3);
CREATE INDEX deliveries_endpoint ON deliveries (endpoint_id, created_at);
CREATE INDEX deliveries_lease ON deliveries (lease_owner) WHERE lease_owner IS NOT NULL;

CREATE TABLE attempts (
	id               text PRIMARY KEY,
	msg_id           text NOT NULL,
	endpoint_id      text NOT NULL,
	app_id           text NOT NULL,
	url              text NOT NULL,
	status           smallint NOT NULL,
	status_code      integer NOT NULL DEFAULT 0,
	response_body    bytea,
	response_headers text,
	request_headers  text,
	duration_ns      bigint NOT NULL DEFAULT 0,
	error_class      text NOT NULL DEFAULT '',
	trigger          smallint NOT NULL DEFAULT 0,
	created_at       bigint NOT NULL
);
CREATE INDEX attempts_msg ON attempts (msg_id, id);
CREATE INDEX attempts_endpoint ON attempts (endpoint_id, id);

CREATE TABLE idempotency_keys (
	key         text PRIMARY KEY,
	status_code integer,
	body        bytea,
	created_at  bigint NOT NULL,
	expires_at  bigint NOT NULL
);

CREATE TABLE tokens (
	hash       bytea PRIMARY KEY,
	app_id     text,
	kind       text NOT NULL,
	created_at bigint NOT NULL,
	expires_at bigint
);
CREATE INDEX tokens_app ON tokens (app_id) WHERE app_id IS NOT NULL;
