package opevent

import (
	"encoding/json"
	"time"
)

// The operational event types, named as Svix names them.
const (
	EndpointCreated  = "endpoint.created"
	EndpointUpdated  = "endpoint.updated"
	EndpointDeleted  = "endpoint.deleted"
	EndpointDisabled = "endpoint.disabled"
	AttemptFailing   = "message.attempt.failing"
	AttemptExhausted = "message.attempt.exhausted"
	AttemptRecovered = "message.attempt.recovered"
)

// Types lists every operational event type with the description it is
// created with.
var Types = []struct{ Name, Description string }{
	{EndpointCreated, "An endpoint was created."},
	{EndpointUpdated, "An endpoint was updated."},
	{EndpointDeleted, "An endpoint was deleted."},
	{EndpointDisabled, "An endpoint was disabled, by its failures (trigger automatic) or through the API (trigger manual)."},
	{AttemptFailing, "A message failed its fourth attempt to an endpoint and will be retried."},
	{AttemptExhausted, "A message will not be delivered to an endpoint: its last attempt failed."},
	{AttemptRecovered, "A message that had failed four attempts to an endpoint was delivered."},
}

// FailingAfter is the failed attempt of one delivery that sends
// message.attempt.failing (Svix sends it on the fourth). A success after
// it sends message.attempt.recovered.
const FailingAfter = 4

// Why an endpoint.disabled event was sent.
const (
	TriggerAutomatic = "automatic" // the endpoint answered 410 or failed for too long
	TriggerManual    = "manual"    // someone disabled it through the API
)

// event is one operational event waiting to be published. The sources
// fill in what they know; resolve looks up the rest.
type event struct {
	typ         string
	appID       string
	appUID      string
	endpointID  string
	endpointUID string
	msgID       string
	msgEventID  string
	attempt     lastAttempt
	failSince   time.Time
	trigger     string
	resolved    bool // the UIDs are known: no lookup needed
	// id is the operational message's ID, drawn once: a retry after a
	// commit the store could not confirm then conflicts with the first
	// try instead of publishing the event again under another ID.
	id string
}

// endpointData is the data of the endpoint.* events.
type endpointData struct {
	AppID       string     `json:"appId"`
	AppUID      string     `json:"appUid,omitempty"`
	EndpointID  string     `json:"endpointId"`
	EndpointUID string     `json:"endpointUid,omitempty"`
	FailSince   *time.Time `json:"failSince,omitempty"` // endpoint.disabled only
	Trigger     string     `json:"trigger,omitempty"`   // endpoint.disabled only
}

// attemptData is the data of the message.attempt.* events.
type attemptData struct {
	AppID       string      `json:"appId"`
	AppUID      string      `json:"appUid,omitempty"`
	MsgID       string      `json:"msgId"`
	MsgEventID  string      `json:"msgEventId,omitempty"`
	EndpointID  string      `json:"endpointId"`
	LastAttempt lastAttempt `json:"lastAttempt"`
}

type lastAttempt struct {
	ID                 string    `json:"id"`
	Timestamp          time.Time `json:"timestamp"`
	ResponseStatusCode int       `json:"responseStatusCode"`
}

// payload returns the message body Svix sends: {"type": ..., "data": ...}.
func (ev *event) payload() (json.RawMessage, error) {
	var data any
	if ev.msgID != "" {
		data = attemptData{
			AppID:       ev.appID,
			AppUID:      ev.appUID,
			MsgID:       ev.msgID,
			MsgEventID:  ev.msgEventID,
			EndpointID:  ev.endpointID,
			LastAttempt: ev.attempt,
		}
	} else {
		d := endpointData{AppID: ev.appID, AppUID: ev.appUID, EndpointID: ev.endpointID, EndpointUID: ev.endpointUID}
		if ev.typ == EndpointDisabled {
			d.Trigger = ev.trigger
			if !ev.failSince.IsZero() {
				t := ev.failSince.UTC()
				d.FailSince = &t
			}
		}
		data = d
	}
	return json.Marshal(struct {
		Type string `json:"type"`
		Data any    `json:"data"`
	}{ev.typ, data})
}
