package herald

import (
	"slices"
	"time"
)

// Endpoint is a URL that receives an application's messages.
type Endpoint struct {
	ID           string
	AppID        string
	UID          string
	URL          string
	Description  string
	Disabled     bool
	EventTypes   []string // empty: every event type
	Channels     []string // empty: every channel
	ThrottleRate int      // requests per second; 0 = unlimited
	Metadata     map[string]string
	Headers      map[string]string // custom headers sent with every request
	// Secrets signs requests. Secrets[0] is current; older ones carry an
	// expiry and keep signing until then, so consumers can rotate.
	Secrets []Secret
	// FailingSince is when the endpoint started failing without a success
	// since; zero when healthy. It drives auto-disable.
	FailingSince time.Time
	// Ordered makes delivery strictly first-in first-out: a message is not
	// sent until the previous one to this endpoint succeeded or failed for
	// good. Off by default.
	Ordered bool
	// Circuit is the endpoint's circuit breaker; the engine changes it,
	// never an endpoint update.
	Circuit   Circuit
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Secret is one signing key. Key is "whsec_" + base64 for HMAC (v1), or
// "whsk_" + base64 of an ed25519 private key (v1a).
type Secret struct {
	Key       string
	ExpiresAt time.Time // zero for the current secret
}

// SigningKeys returns the keys that sign a request at now: the current one
// and any rotated-out one still in its grace period.
func (e *Endpoint) SigningKeys(now time.Time) []string {
	keys := make([]string, 0, len(e.Secrets))
	for _, s := range e.Secrets {
		if s.ExpiresAt.IsZero() || now.Before(s.ExpiresAt) {
			keys = append(keys, s.Key)
		}
	}
	return keys
}

// Accepts reports whether a message with this event type and these channels
// goes to the endpoint. It ignores Disabled.
func (e *Endpoint) Accepts(eventType string, channels []string) bool {
	if len(e.EventTypes) > 0 && !slices.Contains(e.EventTypes, eventType) {
		return false
	}
	if len(e.Channels) == 0 {
		return true
	}
	for _, c := range channels {
		if slices.Contains(e.Channels, c) {
			return true
		}
	}
	return false
}
