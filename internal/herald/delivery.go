package herald

import "time"

// Delivery is the queue row for one message to one endpoint. Its life is a
// small state machine:
//
//	pending ──attempt──▶ success
//	   │                    ▲
//	   └─fail─▶ sending ────┘ (retry succeeded)
//	              │
//	              └─retries exhausted or 410─▶ fail
//
// and any non-final delivery becomes canceled when its endpoint is disabled
// or deleted before it is sent.
type Delivery struct {
	MsgID      string
	EndpointID string
	AppID      string
	Status     MessageStatus
	Attempts   int // attempts made so far
	// NextAttemptAt is when the delivery is next due. While a node holds the
	// delivery under a lease it is the lease's expiry instead, so one index on
	// this column finds both due retries and abandoned leases.
	NextAttemptAt time.Time
	Trigger       Trigger // why the next attempt will be made
	LeaseOwner    string  // node holding the lease; empty when unleased
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// StatusCanceled marks a delivery that will never be sent because its
// endpoint was disabled or deleted. The Svix API shows it as fail.
const StatusCanceled MessageStatus = 4

// Final reports whether no further attempt will be made.
func (s MessageStatus) Final() bool {
	return s == StatusSuccess || s == StatusFail || s == StatusCanceled
}

// Outcome is what one attempt's response or error means for its delivery.
type Outcome struct {
	Status        MessageStatus // StatusSuccess, StatusSending (retry) or StatusFail
	NextAttemptAt time.Time     // set when Status is StatusSending
	// DisableEndpoint is set on 410 Gone, and when the endpoint has been
	// failing for longer than the policy allows.
	DisableEndpoint bool
	// Throttled is set on 429, 502, 503 and 504: the endpoint asks us to slow
	// down, so the dispatcher backs off the whole endpoint, not just this row.
	Throttled bool
}

// Response is what the sender learned from one attempt.
type Response struct {
	StatusCode int           // 0 when no HTTP response arrived
	RetryAfter time.Duration // parsed Retry-After, 0 if absent
}

// Succeeded reports whether the attempt counts as delivered: any 2xx.
// Redirects are failures because they are never followed.
func (r Response) Succeeded() bool { return r.StatusCode >= 200 && r.StatusCode < 300 }
