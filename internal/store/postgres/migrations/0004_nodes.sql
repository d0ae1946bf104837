-- Live nodes, so per-endpoint limits can be split between them.
CREATE TABLE nodes (
	id      text PRIMARY KEY,
	seen_at bigint NOT NULL
);
