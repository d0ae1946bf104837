package herald

import "time"

// CircuitState is where an endpoint's circuit breaker stands.
type CircuitState int

// Circuit states. Closed lets requests through; Open holds the endpoint's
// deliveries back until its cool-down ends; HalfOpen lets exactly one probe
// request through, whose result closes or re-opens the circuit.
const (
	CircuitClosed CircuitState = iota
	CircuitOpen
	CircuitHalfOpen
)

// String returns the name the API shows: closed, open or halfOpen.
func (s CircuitState) String() string {
	switch s {
	case CircuitOpen:
		return "open"
	case CircuitHalfOpen:
		return "halfOpen"
	default:
		return "closed"
	}
}

// Circuit is an endpoint's circuit breaker as the store holds it, so every
// node honours an open circuit.
type Circuit struct {
	State CircuitState
	// OpenedAt is when the circuit last opened from closed.
	OpenedAt time.Time
	// RetryAt is, while open, when a probe may be sent; while half-open,
	// when the probe is given up for lost and another may be sent.
	RetryAt time.Time
	// Cooldown is the current open period; it doubles with every failed
	// probe.
	Cooldown time.Duration
}

// Blocks reports whether the circuit holds deliveries back at now.
func (c Circuit) Blocks(now time.Time) bool {
	return c.State != CircuitClosed && now.Before(c.RetryAt)
}
