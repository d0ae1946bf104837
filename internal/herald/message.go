package herald

import (
	"encoding/json"
	"time"
)

// Message is one published event. Its payload is stored and sent exactly as
// serialized once at publish time.
type Message struct {
	ID        string
	AppID     string
	EventID   string // caller's optional unique id
	EventType string
	Channels  []string
	Payload   json.RawMessage // nil after the content was expunged
	CreatedAt time.Time
	// ExpiresAt is when retention deletes the payload.
	ExpiresAt time.Time
	// Direct marks a message sent to one endpoint alone (an example event)
	// rather than published to its application. It gets no poll sequence
	// number, so polling endpoints, which read what the application
	// publishes, never see it. Only the publish reads it.
	Direct bool
	// ContentType, when set, is sent instead of application/json: a
	// forwarded inbound event keeps the provider's (form bodies, say).
	ContentType string
	// Headers are extra request headers sent with every attempt, after the
	// endpoint's own: a forwarded inbound event carries the provider's
	// signature headers. Herald's webhook-* headers are never overridden.
	// Nil for ordinary messages.
	Headers map[string]string
}

// MessageStatus is the status of a delivery or an attempt, numbered as in
// the Svix API.
type MessageStatus int

// The Svix MessageStatus values.
const (
	StatusSuccess MessageStatus = 0
	StatusPending MessageStatus = 1
	StatusFail    MessageStatus = 2
	StatusSending MessageStatus = 3 // attempted and failing, with a retry scheduled
)

// String returns the Svix statusText, or "canceled", which Svix does not
// have (its API shows canceled as fail).
func (s MessageStatus) String() string {
	switch s {
	case StatusCanceled:
		return "canceled"
	case StatusSuccess:
		return "success"
	case StatusPending:
		return "pending"
	case StatusFail:
		return "fail"
	case StatusSending:
		return "sending"
	}
	return "unknown"
}

// Trigger says why an attempt was made.
type Trigger int

// Attempt triggers. Scheduled and Manual are Svix's; Recovery marks attempts
// re-driven by recover or by a node's lease expiring.
const (
	TriggerScheduled Trigger = 0
	TriggerManual    Trigger = 1
	TriggerRecovery  Trigger = 2
)

// Attempt is one HTTP request to an endpoint and what came back.
type Attempt struct {
	ID              string
	MsgID           string
	EndpointID      string
	AppID           string
	URL             string
	Status          MessageStatus // StatusSuccess or StatusFail
	StatusCode      int           // 0 when no response arrived
	ResponseBody    string        // capped
	ResponseHeaders map[string]string
	RequestHeaders  map[string]string // without secrets
	Duration        time.Duration
	ErrorClass      ErrorClass // empty on an HTTP response
	Trigger         Trigger
	CreatedAt       time.Time
}

// ErrorClass names why an attempt got no HTTP response.
type ErrorClass string

// Attempt error classes.
const (
	ErrClassTimeout    ErrorClass = "timeout"
	ErrClassConnection ErrorClass = "connection"
	ErrClassTLS        ErrorClass = "tls"
	ErrClassDNS        ErrorClass = "dns"
	ErrClassForbidden  ErrorClass = "forbidden_address" // SSRF guard refused the address
	ErrClassRedirect   ErrorClass = "redirect"
)
