package webhook

import (
	"encoding/json"
	"net/http"
	"time"
)

// Event is a verified webhook as the Receiver hands it to the application.
type Event struct {
	// ID is the webhook-id: the same for every delivery attempt of one
	// message, which is what deduplication keys on.
	ID string
	// Timestamp is the signed webhook-timestamp.
	Timestamp time.Time
	// Type is the top-level "type" field of a JSON body, as Standard
	// Webhooks payloads carry it; empty when the body has none.
	Type string
	// Body is the raw request body, exactly as signed.
	Body []byte
	// Header is the request's headers.
	Header http.Header
}

// newEvent builds the Event of a request whose signature has been checked.
func newEvent(id string, ts int64, body []byte, h http.Header) *Event {
	return &Event{ID: id, Timestamp: time.Unix(ts, 0), Type: eventType(body), Body: body, Header: h}
}

// eventType returns the "type" field of a JSON object body, or "".
func eventType(body []byte) string {
	var envelope struct {
		Type json.RawMessage `json:"type"`
	}
	if json.Unmarshal(body, &envelope) != nil {
		return ""
	}
	var typ string
	if json.Unmarshal(envelope.Type, &typ) != nil {
		return ""
	}
	return typ
}
