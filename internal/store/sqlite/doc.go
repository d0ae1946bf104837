// Package sqlite is Herald's embedded store: one SQLite file in WAL mode,
// written by a single connection and read by a small pool of query-only
// connections. SQLite is the C library (github.com/mattn/go-sqlite3) when
// cgo is available and its pure-Go translation (modernc.org/sqlite) when
// it is not; see driver.go.
//
// Every write goes through one store.GroupCommit with one worker, so
// concurrent publishes, attempt results, claims and CRUD share
// transactions and one fsync, and SQLite never sees two writers. A batch
// first runs without savepoints; if one of its ops fails, it runs again
// with a savepoint around each op, so the failing op is undone alone.
//
// The schema lives in numbered migrations embedded from migrations/*.sql
// and recorded in schema_migrations; Open applies the missing ones. Times
// are unix milliseconds, list and map fields JSON text, and payloads are
// stored byte for byte as published.
//
// The deliveries table is the queue. A lease is expressed through
// next_attempt_at: a claimed or fast-path row is due again when its lease
// expires, so the one partial index deliveries_due (next_attempt_at, for
// pending and retrying rows) finds due retries and abandoned leases alike,
// in O(log n) however long the backlog.
package sqlite
