package webhook

import (
	"errors"
	"fmt"
	"time"
)

// Errors returned by Verify and VerifyParts. Callers branch on them with
// errors.Is; the returned errors carry more detail in their text.
var (
	// ErrMissingHeaders means webhook-id, webhook-timestamp or
	// webhook-signature (or their svix-* equivalents) is absent or empty.
	ErrMissingHeaders = errors.New("webhook: missing required headers")
	// ErrInvalidTimestamp means webhook-timestamp is not a unix time in
	// whole seconds.
	ErrInvalidTimestamp = errors.New("webhook: invalid timestamp header")
	// ErrTimestamp means the timestamp is outside the tolerance, in either
	// direction. ErrTooOld and ErrTooNew say which.
	ErrTimestamp = errors.New("webhook: message timestamp outside tolerance")
	// ErrTooOld means the message was signed longer ago than the tolerance:
	// a replay, or a clock far behind.
	ErrTooOld = errors.New("webhook: message timestamp too old")
	// ErrTooNew means the timestamp is further in the future than the
	// tolerance: a clock far ahead.
	ErrTooNew = errors.New("webhook: message timestamp too new")
	// ErrNoMatch means no signature in the header matches any key.
	ErrNoMatch = errors.New("webhook: no matching signature")
)

// TimestampError reports a timestamp outside the tolerance, with the
// numbers needed to tell a replay from a skewed clock. errors.Is matches
// it against ErrTimestamp and against ErrTooOld or ErrTooNew.
type TimestampError struct {
	// Timestamp is the time from the webhook-timestamp header.
	Timestamp time.Time
	// Now is the verifier's clock when it checked.
	Now time.Time
	// Tolerance is the allowed distance in either direction.
	Tolerance time.Duration
}

// TooOld reports whether the timestamp lies in the past (as opposed to the
// future) beyond the tolerance.
func (e *TimestampError) TooOld() bool { return e.Now.After(e.Timestamp) }

// Error says which way the timestamp is off and by how much.
func (e *TimestampError) Error() string {
	if e.TooOld() {
		return fmt.Sprintf("%v: signed %v ago, tolerance %v",
			ErrTooOld, e.Now.Sub(e.Timestamp).Round(time.Second), e.Tolerance)
	}
	return fmt.Sprintf("%v: signed %v in the future, tolerance %v",
		ErrTooNew, e.Timestamp.Sub(e.Now).Round(time.Second), e.Tolerance)
}

// Is matches ErrTimestamp, and ErrTooOld or ErrTooNew as the case may be.
func (e *TimestampError) Is(target error) bool {
	switch target {
	case ErrTimestamp:
		return true
	case ErrTooOld:
		return e.TooOld()
	case ErrTooNew:
		return !e.TooOld()
	}
	return false
}
