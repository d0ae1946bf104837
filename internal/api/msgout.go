package api

import (
	"encoding/json"
	"time"

	"github.com/heraldhq/herald/internal/herald"
)

// messageOut is Svix's MessageOut. It is encoded by hand: the publish path
// answers with it, and the payload is copied as stored, never re-encoded.
type messageOut struct {
	m           *herald.Message
	withContent bool
}

// MarshalJSON encodes the message as Svix's MessageOut.
func (o messageOut) MarshalJSON() ([]byte, error) {
	return appendMessageOut(nil, o.m, o.withContent), nil
}

// appendMessageOut appends m as Svix's MessageOut. Without content, or
// after the content was expunged, payload is {} (the SDKs require it).
func appendMessageOut(b []byte, m *herald.Message, withContent bool) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, m.ID)
	b = appendMessageFields(b, m, withContent)
	return append(b, '}')
}

// appendMessageFields appends the fields every message shape shares,
// each preceded by a comma.
func appendMessageFields(b []byte, m *herald.Message, withContent bool) []byte {
	b = append(b, `,"eventType":`...)
	b = appendString(b, m.EventType)
	if m.EventID != "" {
		b = append(b, `,"eventId":`...)
		b = appendString(b, m.EventID)
	}
	if len(m.Channels) > 0 {
		b = append(b, `,"channels":[`...)
		for i, ch := range m.Channels {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, ch)
		}
		b = append(b, ']')
	}
	b = append(b, `,"payload":`...)
	switch {
	case withContent && len(m.Payload) > 0 && m.ContentType != "" && !json.Valid(m.Payload):
		// A forwarded inbound event's body need not be JSON (a form, say):
		// it is shown as a string so the response stays JSON.
		q, _ := json.Marshal(string(m.Payload))
		b = append(b, q...)
	case withContent && len(m.Payload) > 0:
		b = append(b, m.Payload...)
	default:
		b = append(b, `{}`...)
	}
	b = append(b, `,"timestamp":`...)
	return appendTime(b, m.CreatedAt)
}

// appendString appends s as a JSON string. Identifiers (the common case)
// need no escaping; anything else goes through encoding/json.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if !nameChar(s[i]) {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}
