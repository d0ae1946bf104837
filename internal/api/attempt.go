package api

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// messageAttemptOut is Svix's MessageAttemptOut.
type messageAttemptOut struct {
	ID                 string    `json:"id"`
	MsgID              string    `json:"msgId"`
	EndpointID         string    `json:"endpointId"`
	URL                string    `json:"url"`
	Response           string    `json:"response"`
	ResponseStatusCode int       `json:"responseStatusCode"`
	ResponseDurationMs int64     `json:"responseDurationMs"`
	Status             int       `json:"status"`
	StatusText         string    `json:"statusText,omitempty"` // empty for legacyGoSDK
	TriggerType        int       `json:"triggerType"`
	Timestamp          time.Time `json:"timestamp"`
}

func toAttemptOut(a *herald.Attempt, withContent, legacyGoSDK bool) messageAttemptOut {
	out := messageAttemptOut{
		ID:                 a.ID,
		MsgID:              a.MsgID,
		EndpointID:         a.EndpointID,
		URL:                a.URL,
		ResponseStatusCode: a.StatusCode,
		ResponseDurationMs: a.Duration.Milliseconds(),
		Status:             svixStatus(a.Status),
		TriggerType:        svixTrigger(a.Trigger),
		Timestamp:          a.CreatedAt.UTC(),
	}
	if !legacyGoSDK {
		out.StatusText = svixStatusText(a.Status)
	}
	if withContent {
		out.Response = a.ResponseBody
	}
	return out
}

// svixStatus maps a status to the four Svix knows: canceled shows as fail.
func svixStatus(s herald.MessageStatus) int {
	if s == herald.StatusCanceled {
		return int(herald.StatusFail)
	}
	return int(s)
}

// svixStatusText names svixStatus(s), as Svix's statusText does.
func svixStatusText(s herald.MessageStatus) string {
	return herald.MessageStatus(svixStatus(s)).String()
}

// svixTrigger maps a trigger to the two Svix knows: recovery attempts are
// scheduled by the system, so they show as scheduled.
func svixTrigger(t herald.Trigger) int {
	if t == herald.TriggerManual {
		return int(herald.TriggerManual)
	}
	return int(herald.TriggerScheduled)
}

// parseAttemptFilter reads the query of attempt lists.
func parseAttemptFilter(q url.Values) (pageQuery, store.AttemptFilter, bool, error) {
	var f store.AttemptFilter
	p, err := parsePage(q)
	if err != nil {
		return p, f, false, err
	}
	if f.Status, err = parseStatus(q); err != nil {
		return p, f, false, err
	}
	if v := q.Get("status_code_class"); v != "" {
		n, err := strconv.Atoi(v)
		switch {
		case err != nil || n%100 != 0 || n < 0 || n > 500:
			return p, f, false, invalidQuery("status_code_class", "status_code_class must be 0, 100, 200, 300, 400 or 500")
		case n == 0:
			f.StatusCodeClass = -1 // Svix's CodeNone: no response
		default:
			f.StatusCodeClass = n
		}
	}
	l, err := parseListQuery(q, &p)
	if err != nil {
		return p, f, false, err
	}
	f.Page = p.storePage()
	f.Channel, f.EventTypes, f.Before, f.After = l.channel, l.eventTypes, l.before, l.after
	return p, f, l.withContent, nil
}

// parseStatus reads the status filter (a Svix MessageStatus, 0 to 3).
func parseStatus(q url.Values) (*herald.MessageStatus, error) {
	v := q.Get("status")
	if v == "" {
		return nil, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 3 {
		return nil, invalidQuery("status", "status must be 0 (success), 1 (pending), 2 (fail) or 3 (sending)")
	}
	st := herald.MessageStatus(n)
	return &st, nil
}

func (s *Server) listAttempts(c *call, f store.AttemptFilter, p pageQuery, withContent bool) error {
	atts, err := s.store.ListAttempts(c.ctx, c.app.ID, f)
	if err != nil {
		return err
	}
	legacy := c.legacyGoSDK()
	out := func(a *herald.Attempt) messageAttemptOut { return toAttemptOut(a, withContent, legacy) }
	return c.json(http.StatusOK, listPage(p, atts, func(a *herald.Attempt) string { return a.ID }, out, true))
}

func (s *Server) listAttemptsByMsg(c *call) error {
	q := c.r.URL.Query()
	p, f, withContent, err := parseAttemptFilter(q)
	if err != nil {
		return err
	}
	msg, err := s.message(c)
	if err != nil {
		return err
	}
	f.MsgID = msg.ID
	if id := q.Get("endpoint_id"); id != "" {
		ep, err := s.store.GetEndpoint(c.ctx, c.app.ID, id)
		if errors.Is(err, herald.ErrNotFound) {
			return invalidQuery("endpoint_id", "Endpoint %q not found", id)
		}
		if err != nil {
			return err
		}
		f.EndpointID = ep.ID
	}
	return s.listAttempts(c, f, p, withContent)
}

func (s *Server) listAttemptsByEndpoint(c *call) error {
	p, f, withContent, err := parseAttemptFilter(c.r.URL.Query())
	if err != nil {
		return err
	}
	ep, err := s.endpoint(c)
	if err != nil {
		return err
	}
	f.EndpointID = ep.ID
	return s.listAttempts(c, f, p, withContent)
}

func (s *Server) attempt(c *call) (*herald.Attempt, error) {
	msg, err := s.message(c)
	if err != nil {
		return nil, err
	}
	id := c.path("attempt_id")
	a, err := s.store.GetAttempt(c.ctx, c.app.ID, msg.ID, id)
	if errors.Is(err, herald.ErrNotFound) {
		return nil, herald.Errorf(herald.ENOTFOUND, "Attempt %q not found", id)
	}
	return a, err
}

func (s *Server) getAttempt(c *call) error {
	a, err := s.attempt(c)
	if err != nil {
		return err
	}
	return c.json(http.StatusOK, toAttemptOut(a, true, c.legacyGoSDK()))
}

func (s *Server) expungeAttempt(c *call) error {
	a, err := s.attempt(c)
	if err != nil {
		return err
	}
	if err := s.store.ExpungeAttemptContent(c.ctx, c.app.ID, a.MsgID, a.ID); err != nil {
		return err
	}
	return c.noContent(http.StatusNoContent)
}

// messageEndpointOut is Svix's MessageEndpointOut: an endpoint (without
// its metadata, which that shape lacks) and the state of one message's
// delivery to it.
type messageEndpointOut struct {
	ID          string   `json:"id"`
	UID         *string  `json:"uid,omitempty"`
	URL         string   `json:"url"`
	Version     int      `json:"version"`
	Description string   `json:"description"`
	Disabled    bool     `json:"disabled"`
	FilterTypes []string `json:"filterTypes,omitempty"`
	// EventTypes, ThrottleRate and StatusText are left empty for
	// legacyGoSDK, as in endpointOut.
	EventTypes   []string   `json:"eventTypes,omitempty"`
	Channels     []string   `json:"channels,omitempty"`
	RateLimit    *int       `json:"rateLimit,omitempty"`
	ThrottleRate *int       `json:"throttleRate,omitempty"`
	Status       int        `json:"status"`
	StatusText   string     `json:"statusText,omitempty"`
	NextAttempt  *time.Time `json:"nextAttempt,omitempty"`
	CreatedAt    time.Time  `json:"createdAt"`
	UpdatedAt    time.Time  `json:"updatedAt"`
}

func toMessageEndpointOut(d *store.MessageDestination, legacyGoSDK bool) messageEndpointOut {
	e := toEndpointOut(&d.Endpoint, legacyGoSDK)
	out := messageEndpointOut{
		ID: e.ID, UID: e.UID, URL: e.URL, Version: e.Version, Description: e.Description,
		Disabled: e.Disabled, FilterTypes: e.FilterTypes, EventTypes: e.EventTypes, Channels: e.Channels,
		RateLimit: e.RateLimit, ThrottleRate: e.ThrottleRate,
		Status: svixStatus(d.Status), NextAttempt: nextAttempt(d.NextAttemptAt),
		CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt,
	}
	if !legacyGoSDK {
		out.StatusText = svixStatusText(d.Status)
	}
	return out
}

// listAttemptedDestinations lists the endpoints a message went to, by
// endpoint ID, oldest first as Svix's list_attempted_destinations does
// since deliveries left its messagedestination table (before, it went
// newest first).
func (s *Server) listAttemptedDestinations(c *call) error {
	p, err := parsePage(c.r.URL.Query())
	if err != nil {
		return err
	}
	msg, err := s.message(c)
	if err != nil {
		return err
	}
	dests, err := s.store.ListMessageDestinations(c.ctx, c.app.ID, msg.ID, p.storePage())
	if err != nil {
		return err
	}
	legacy := c.legacyGoSDK()
	out := func(d *store.MessageDestination) messageEndpointOut { return toMessageEndpointOut(d, legacy) }
	return c.json(http.StatusOK, listPage(p, dests, func(d *store.MessageDestination) string { return d.Endpoint.ID }, out, true))
}

func nextAttempt(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// endpointMessageOut is Svix's EndpointMessageOut: a message and the state
// of its delivery to one endpoint.
type endpointMessageOut struct {
	m           *store.EndpointMessage
	withContent bool
	legacyGoSDK bool // leaves statusText out
}

// MarshalJSON encodes the message by hand, like messageOut.
func (o endpointMessageOut) MarshalJSON() ([]byte, error) {
	b := append([]byte(nil), `{"id":`...)
	b = appendString(b, o.m.Message.ID)
	b = appendMessageFields(b, &o.m.Message, o.withContent)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(svixStatus(o.m.Status)), 10)
	if !o.legacyGoSDK {
		b = append(b, `,"statusText":"`...)
		b = append(b, svixStatusText(o.m.Status)...)
		b = append(b, '"')
	}
	if !o.m.NextAttemptAt.IsZero() {
		b = append(b, `,"nextAttempt":`...)
		b = appendTime(b, o.m.NextAttemptAt)
	}
	return append(b, '}'), nil
}

// listAttemptedMessages lists the messages sent to an endpoint.
func (s *Server) listAttemptedMessages(c *call) error {
	q := c.r.URL.Query()
	p, f, withContent, err := parseMessageFilter(q)
	if err != nil {
		return err
	}
	if f.Status, err = parseStatus(q); err != nil {
		return err
	}
	ep, err := s.endpoint(c)
	if err != nil {
		return err
	}
	msgs, err := s.store.ListEndpointMessages(c.ctx, c.app.ID, ep.ID, f)
	if err != nil {
		return err
	}
	legacy := c.legacyGoSDK()
	out := func(m *store.EndpointMessage) endpointMessageOut {
		return endpointMessageOut{m: m, withContent: withContent, legacyGoSDK: legacy}
	}
	return c.json(http.StatusOK, listPage(p, msgs, func(m *store.EndpointMessage) string { return m.Message.ID }, out, true))
}
