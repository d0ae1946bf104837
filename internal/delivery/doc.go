// Package delivery sends published messages to their endpoints.
//
// The Engine has four parts:
//
//   - publish (publish.go): fans a message out to the application's active
//     endpoints, stores it with its deliveries already leased to this node,
//     and hands the deliveries to the dispatcher from memory;
//   - the dispatcher (dispatch.go): one in-memory queue per endpoint, each
//     with its own concurrency cap and throttle back-off, served by one
//     shared pool of workers, so a slow endpoint never delays another;
//   - the poller (poll.go): claims due deliveries (retries, recoveries,
//     leases other nodes abandoned) in batches, and keeps this node's leases
//     alive;
//   - the sender (send.go) and the recorder (record.go): one HTTP client
//     behind an SSRF guard (ssrf.go) that signs and posts each attempt, and a
//     recorder that writes results to the store in batches.
//
// The database is the queue: a delivery in memory is always leased to this
// node in the store, so a crash loses nothing; at worst a delivery is sent
// twice with the same webhook-id.
package delivery
