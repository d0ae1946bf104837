package store

import (
	"time"

	"github.com/heraldhq/herald/internal/herald"
)

// Page selects one page of a list ordered by ID. Iterator is the last ID of
// the previous page (exclusive); lists run oldest first unless Desc. Desc
// on a newest-first list (messages, attempts) reverses it to oldest first.
type Page struct {
	Limit    int // 1..250; callers validate
	Iterator string
	Desc     bool
}

// MessageFilter narrows message lists. Messages come newest first.
type MessageFilter struct {
	Page
	Channel    string
	EventTypes []string
	Before     time.Time // zero: no bound
	After      time.Time
	Status     *herald.MessageStatus // for endpoint message lists
}

// AttemptFilter narrows attempt lists. Set MsgID, EndpointID or both.
// Attempts come newest first.
type AttemptFilter struct {
	Page
	MsgID           string
	EndpointID      string
	Status          *herald.MessageStatus
	StatusCodeClass int // 0: any; 100, 200, 300, 400, 500: that class; -1: no response
	Channel         string
	EventTypes      []string
	Before          time.Time
	After           time.Time
}

// Job is one delivery ready to send, with what sending it needs.
type Job struct {
	Delivery herald.Delivery
	Message  *herald.Message
	Endpoint *herald.Endpoint
}

// DeliveryKey identifies one delivery.
type DeliveryKey struct {
	MsgID      string
	EndpointID string
}

// Deferral is a leased delivery given back to be due no earlier than
// NotBefore (see Queue.DeferLeases).
type Deferral struct {
	DeliveryKey
	NotBefore time.Time
}

// Result is one attempt and its consequence for the delivery.
type Result struct {
	Attempt herald.Attempt
	Outcome herald.Outcome
	// Attempts is the delivery's attempt count including this one, or
	// without it for an Interrupted send, which does not count.
	Attempts int
	// Owner is the node whose lease the attempt was made under, or ""
	// when the caller held none. The attempt is always logged; the
	// delivery takes the outcome only while it is still held so (or was
	// canceled meanwhile) with Attempts-1 attempts made. Otherwise a late
	// result, from a node whose lease lapsed and was claimed by another,
	// or a retried batch that had committed, would clear a live lease.
	Owner string
	// Ordered says the delivery's endpoint was ordered (strict FIFO) as
	// the sender last saw it: a final result then makes the next delivery
	// to the endpoint due in the same transaction (ParkedMS). A turn a
	// stale snapshot misses waits for the claims' sweep (UnparkSweep).
	Ordered bool
	// Interrupted says the send was cut off by the sending node's stop,
	// not ended by the endpoint. The attempt is logged, since the request
	// may have reached the endpoint, but it says nothing of the
	// endpoint's health, takes none of the delivery's scheduled attempts,
	// and leaves its trigger (a manual resend stays one).
	Interrupted bool
}

// Before is the attempt count the delivery has when the result applies:
// one less than Attempts, or Attempts itself for an interrupted send.
func (r *Result) Before() int {
	if r.Interrupted {
		return r.Attempts
	}
	return r.Attempts - 1
}

// EndpointMessage is a message as seen from one endpoint.
type EndpointMessage struct {
	Message       herald.Message
	Status        herald.MessageStatus
	NextAttemptAt time.Time // zero when final
}

// MessageDestination is an endpoint as seen from one message.
type MessageDestination struct {
	Endpoint      herald.Endpoint
	Status        herald.MessageStatus
	NextAttemptAt time.Time
}

// Stats counts deliveries by status.
type Stats struct {
	Success, Pending, Fail, Sending, Canceled int64
}

// Add counts n deliveries in status s.
func (st *Stats) Add(s herald.MessageStatus, n int64) {
	switch s {
	case herald.StatusSuccess:
		st.Success += n
	case herald.StatusPending:
		st.Pending += n
	case herald.StatusFail:
		st.Fail += n
	case herald.StatusSending:
		st.Sending += n
	case herald.StatusCanceled:
		st.Canceled += n
	}
}

// Token is an API credential. An empty AppID means an admin token.
type Token struct {
	Hash      []byte // SHA-256 of the secret; the secret itself is never stored
	AppID     string
	Kind      string // "admin", "app", TokenKindPortal or TokenKindPortalReadOnly
	CreatedAt time.Time
	ExpiresAt time.Time // zero: never
}

// Kinds of portal token, the API's and the dashboard's portal's shared
// vocabulary. A read-only portal token is a kind of its own, so code that
// knows only TokenKindPortal never mistakes it for a token that may write.
const (
	TokenKindPortal         = "portal"
	TokenKindPortalReadOnly = "portal-readonly"
)

// IdempotentResponse is a saved response replayed for a repeated key.
type IdempotentResponse struct {
	StatusCode int
	Body       []byte
}
