// Package postgres is Herald's PostgreSQL store, for several Herald nodes
// sharing one database. It implements store.Store with pgx:
//
//   - Publish and Record are group-committed: concurrent calls share one
//     pipelined transaction, with multi-row inserts and updates over unnest
//     arrays.
//   - The deliveries table is the queue. Claim leases due rows with one
//     UPDATE over a FOR UPDATE SKIP LOCKED selection, so nodes never claim
//     the same row, and a lease is its row's next_attempt_at.
//   - LISTEN/NOTIFY on the herald_due channel wakes idle nodes when work
//     becomes due (store.Waker).
//   - A database that cannot be reached makes calls fail fast with an error
//     wrapping herald.ErrUnavailable; the pool reconnects by itself.
//
// Times are stored as bigint Unix milliseconds, payloads as bytea exactly as
// given. Migrations are numbered .sql files embedded in the binary and
// applied under an advisory lock.
package postgres
