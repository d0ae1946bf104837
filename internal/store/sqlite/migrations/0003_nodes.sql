-- Live nodes, so per-endpoint limits can be split between them.
CREATE TABLE nodes (
	id      TEXT PRIMARY KEY,
	seen_at INTEGER NOT NULL
) WITHOUT ROWID;
