package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/heraldhq/herald/internal/delivery"
	"github.com/heraldhq/herald/internal/herald"
)

// endpointStatsOut is Svix's EndpointStats, which counts canceled
// deliveries apart from failed ones. For legacyGoSDK, which has no
// canceled, Canceled is nil and canceled deliveries count as fail.
type endpointStatsOut struct {
	Success  int64  `json:"success"`
	Pending  int64  `json:"pending"`
	Sending  int64  `json:"sending"`
	Fail     int64  `json:"fail"`
	Canceled *int64 `json:"canceled,omitempty"`
}

// endpointStats counts the endpoint's deliveries created in [since, until);
// by default the last 28 days.
func (s *Server) endpointStats(c *call) error {
	q := c.r.URL.Query()
	since, err := parseTime(q, "since")
	if err != nil {
		return err
	}
	until, err := parseTime(q, "until")
	if err != nil {
		return err
	}
	if until.IsZero() {
		until = c.now.Add(time.Minute)
	}
	if since.IsZero() {
		since = c.now.Add(-28 * 24 * time.Hour)
	}
	if !since.Before(until) {
		return invalidQuery("since", "since must be before until")
	}
	ep, err := s.endpoint(c)
	if err != nil {
		return err
	}
	st, err := s.store.EndpointStats(c.ctx, c.app.ID, ep.ID, since, until)
	if err != nil {
		return err
	}
	out := endpointStatsOut{Success: st.Success, Pending: st.Pending, Sending: st.Sending, Fail: st.Fail}
	if c.legacyGoSDK() {
		out.Fail += st.Canceled
	} else {
		out.Canceled = &st.Canceled
	}
	return c.json(http.StatusOK, out)
}

type eventExampleIn struct {
	EventType    string `json:"eventType"`
	ExampleIndex *int   `json:"exampleIndex"`
}

// sendExample sends one example message to one endpoint: the example from
// the event type's newest schema when it has one, else a small default.
func (s *Server) sendExample(c *call) error {
	var in eventExampleIn
	if err := c.body(&in); err != nil {
		return err
	}
	if err := checkName("eventType", in.EventType, 256); err != nil {
		return err
	}
	idx := 0
	if in.ExampleIndex != nil {
		if idx = *in.ExampleIndex; idx < 0 {
			return invalidBody("exampleIndex", "exampleIndex must not be negative")
		}
	}
	ep, err := s.endpoint(c)
	if err != nil {
		return err
	}
	if ep.Disabled {
		return herald.Errorf(herald.ECONFLICT, "Endpoint %q is disabled", ep.ID)
	}
	payload, err := s.examplePayload(c, in.EventType, idx)
	if err != nil {
		return err
	}
	msg := &herald.Message{
		ID:        herald.NewID(herald.PrefixMessage, c.now),
		AppID:     c.app.ID,
		EventType: in.EventType,
		Payload:   payload,
		CreatedAt: c.now,
		ExpiresAt: c.now.Add(defaultRetention),
	}
	if err := s.pub.PublishTo(c.ctx, msg, ep.ID); err != nil {
		return publishError(err, msg)
	}
	writeRaw(c.w, http.StatusOK, appendMessageOut(nil, msg, true))
	return nil
}

// examplePayload returns example number idx of the event type's newest
// schema version, or a default payload naming the event type.
func (s *Server) examplePayload(c *call, eventType string, idx int) (json.RawMessage, error) {
	def := json.RawMessage(`{"eventType":` + string(appendString(nil, eventType)) + `,"example":true}`)
	et, err := s.store.GetEventType(c.ctx, eventType)
	if errors.Is(err, herald.ErrNotFound) {
		return def, nil
	}
	if err != nil {
		return nil, err
	}
	var schemas map[string]struct {
		Examples []json.RawMessage `json:"examples"`
	}
	if len(et.Schemas) == 0 || json.Unmarshal(et.Schemas, &schemas) != nil || len(schemas) == 0 {
		return def, nil
	}
	versions := make([]string, 0, len(schemas))
	for v := range schemas {
		versions = append(versions, v)
	}
	examples := schemas[herald.NewestSchemaVersion(versions)].Examples
	if len(examples) == 0 {
		return def, nil
	}
	if idx >= len(examples) {
		return nil, invalidBody("exampleIndex", "The event type has %d example(s)", len(examples))
	}
	ex := examples[idx]
	if len(ex) == 0 || ex[0] != '{' {
		return def, nil
	}
	return ex, nil
}

type recoverIn struct {
	Since *time.Time `json:"since"`
	Until *time.Time `json:"until"`
}

// recoverOut is Svix's RecoverOut. UpdatedAt is zero, and left out, for
// legacyGoSDK.
type recoverOut struct {
	ID        string    `json:"id"`
	Status    string    `json:"status"`
	Task      string    `json:"task"`
	UpdatedAt time.Time `json:"updatedAt,omitzero"`
}

// recoverEndpoint schedules a new attempt for the endpoint's failed
// deliveries in [since, until). The task is reported running, the one
// status Svix's RecoverOut has: the attempts it queued are still to come.
func (s *Server) recoverEndpoint(c *call) error {
	var in recoverIn
	if err := c.body(&in); err != nil {
		return err
	}
	if in.Since == nil {
		return invalidBody("since", "since is required")
	}
	until := c.now
	if in.Until != nil {
		until = *in.Until
	}
	if !in.Since.Before(until) {
		return invalidBody("since", "since must be before until")
	}
	ep, err := s.sendingEndpoint(c)
	if err != nil {
		return err
	}
	if _, err := s.store.Recover(c.ctx, c.app.ID, ep.ID, *in.Since, until, c.now); err != nil {
		return err
	}
	s.pub.Wake()
	out := recoverOut{ID: herald.NewID(herald.PrefixTask, c.now), Status: "running", Task: "endpoint.recover"}
	if !c.legacyGoSDK() {
		out.UpdatedAt = c.now.UTC()
	}
	return c.json(http.StatusAccepted, out)
}

// resend schedules a manual attempt of a message to an endpoint now, and
// answers Svix's EmptyResponse. A message whose payload was expunged has
// nothing to send: Svix refuses it with 400 missing_payload.
func (s *Server) resend(c *call) error {
	msg, err := s.message(c)
	if err != nil {
		return err
	}
	if msg.Payload == nil {
		return herald.Errorf(codeMissingPayload, "Unable to resend message. Payload is missing (probably expired).")
	}
	ep, err := s.sendingEndpoint(c)
	if err != nil {
		return err
	}
	if err := s.store.Resend(c.ctx, c.app.ID, msg.ID, ep.ID, c.now); err != nil {
		return err
	}
	s.pub.Wake()
	return c.json(http.StatusAccepted, struct{}{})
}

// sendingEndpoint is s.endpoint for routes that send to it: a polling
// endpoint is read by its consumers and never sent to, so resend and
// recover refuse it instead of queueing requests that cannot be made.
func (s *Server) sendingEndpoint(c *call) (*herald.Endpoint, error) {
	ep, err := s.endpoint(c)
	if err != nil {
		return nil, err
	}
	if delivery.IsPollURL(ep.URL) {
		return nil, herald.Errorf(herald.EINVALID, "Endpoint %q is a polling endpoint: its consumers read messages through the poller API, nothing is sent to it", ep.ID)
	}
	return ep, nil
}
