// Package herald holds Herald's domain: applications, endpoints, messages,
// deliveries and attempts, the delivery state machine and the retry
// schedule. It is pure: no I/O, no clocks of its own, no globals. Every other
// package speaks in these types.
package herald
