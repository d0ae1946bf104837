package store

import (
	"context"
	"time"

	"github.com/heraldhq/herald/internal/herald"
)

// Circuits keeps endpoints' circuit breakers in the database, so an
// endpoint one node found broken is held back on every node: Claim skips
// deliveries of an endpoint whose circuit blocks at its now. Each method
// returns herald.ErrNotFound when the endpoint does not exist.
//
// So that claims stay O(log n) however large a held-back backlog grows,
// the endpoint's waiting deliveries are not left due while it blocks:
// opening the circuit (or granting its probe) moves those due before
// RetryAt to RetryAt, ReleaseLeases, Resend, Recover and Expedite make a
// delivery of a blocked endpoint due at RetryAt at the earliest, and
// closing makes the held deliveries due at once. A large backlog is moved
// in chunks: the first with the circuit change, the rest in the store's
// Background, each committed on its own, so neither the caller (who may
// hold the endpoint's queue) nor other writers wait seconds for a million
// rows. Claim's filter still holds back any row not moved yet.
type Circuits interface {
	// OpenCircuit opens the endpoint's circuit for cooldown from now, if it
	// is in state from (closed: it just tripped; half-open: its probe
	// failed). It returns the circuit as stored afterwards, changed or not.
	OpenCircuit(ctx context.Context, endpointID string, from herald.CircuitState, now time.Time, cooldown time.Duration) (herald.Circuit, error)
	// ProbeCircuit makes the circuit half-open until now+hold if it is not
	// closed and its RetryAt has passed. won reports whether this call
	// changed it: only the winner sends the probe, so a cluster sends one.
	ProbeCircuit(ctx context.Context, endpointID string, now time.Time, hold time.Duration) (c herald.Circuit, won bool, err error)
	// CloseCircuit closes the endpoint's circuit (a probe succeeded, or an
	// operator reset it) and makes the deliveries it held back due at now.
	// Deliveries waiting for a retry of their own later than the circuit's
	// RetryAt keep it.
	CloseCircuit(ctx context.Context, endpointID string, now time.Time) error
}
