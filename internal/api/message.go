package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// Payload retention bounds, as Svix has them.
const (
	defaultRetention = 90 * 24 * time.Hour
	minRetentionDays = 5
	maxRetentionDays = 90
	maxRetentionHrs  = 90 * 24
)

// messageIn is Svix's MessageIn. payload is kept as the exact bytes sent:
// it is stored and delivered without being serialized again.
type messageIn struct {
	EventType              string          `json:"eventType"`
	EventID                *string         `json:"eventId"`
	Payload                json.RawMessage `json:"payload"`
	Channels               []string        `json:"channels"`
	PayloadRetentionPeriod *int64          `json:"payloadRetentionPeriod"`
	PayloadRetentionHours  *int64          `json:"payloadRetentionHours"`
	Application            *applicationIn  `json:"application"`
	Tags                   []string        `json:"tags"`
	// TransformationsParams is sent by Svix SDKs; Herald has no
	// transformations, so it is accepted and ignored.
	TransformationsParams json.RawMessage `json:"transformationsParams"`
}

// validate checks in and returns how long the payload is kept.
func (in *messageIn) validate() (time.Duration, error) {
	if in.EventType == "" {
		return 0, invalidBody("eventType", "eventType is required")
	}
	if err := checkName("eventType", in.EventType, 256); err != nil {
		return 0, err
	}
	if in.EventID != nil {
		if err := checkName("eventId", *in.EventID, 256); err != nil {
			return 0, err
		}
	}
	p := bytes.TrimLeft(in.Payload, " \t\r\n")
	if len(p) == 0 || p[0] != '{' {
		return 0, invalidBody("payload", "payload is required and must be a JSON object")
	}
	if in.Channels != nil {
		if err := checkNames("channels", in.Channels, 128, 1, 5); err != nil {
			return 0, err
		}
	}
	if in.Tags != nil {
		if err := checkNames("tags", in.Tags, 128, 0, 5); err != nil {
			return 0, err
		}
	}
	retention := defaultRetention
	switch {
	case in.PayloadRetentionHours != nil:
		h := *in.PayloadRetentionHours
		if h < 1 || h > maxRetentionHrs {
			return 0, invalidBody("payloadRetentionHours", "payloadRetentionHours must be between 1 and %d", maxRetentionHrs)
		}
		retention = time.Duration(h) * time.Hour
	case in.PayloadRetentionPeriod != nil:
		d := *in.PayloadRetentionPeriod
		if d < minRetentionDays || d > maxRetentionDays {
			return 0, invalidBody("payloadRetentionPeriod", "payloadRetentionPeriod must be between %d and %d days", minRetentionDays, maxRetentionDays)
		}
		retention = time.Duration(d) * 24 * time.Hour
	}
	return retention, nil
}

// createMessage publishes a message. It answers 202 only after the
// publisher has durably committed the message and its deliveries.
func (s *Server) createMessage(c *call) error {
	withContent, err := parseBool(c.r.URL.Query(), "with_content", true)
	if err != nil {
		return err
	}
	body, err := s.readBody(c.w, c.r)
	if err != nil {
		return err
	}
	var in messageIn
	if err := decodeMessageIn(body, &in); err != nil {
		return err
	}
	retention, err := in.validate()
	if err != nil {
		return err
	}
	app := c.app
	if app == nil {
		if app, err = s.createMessageApp(c, in.Application); err != nil {
			return err
		}
	}
	// Earlier requests with this Idempotency-Key died before their answer
	// was saved; one of them may have published. Otherwise publish under
	// this request's ID, of now (IDs follow creation times, herald.IDFloor),
	// which its claim already notes for the next retry to look for.
	for _, earlier := range slices.Backward(c.earlier) {
		done, err := s.store.GetMessage(c.ctx, app.ID, earlier)
		switch {
		case err == nil:
			writeRaw(c.w, http.StatusAccepted, appendMessageOut(nil, done, withContent))
			return nil
		case !errors.Is(err, herald.ErrNotFound):
			return err
		}
	}
	id := c.msgID
	if id == "" {
		id = herald.NewID(herald.PrefixMessage, c.now)
	}
	msg := &herald.Message{
		ID:        id,
		AppID:     app.ID,
		EventType: in.EventType,
		Channels:  in.Channels,
		Payload:   in.Payload,
		CreatedAt: c.now,
		ExpiresAt: c.now.Add(retention),
	}
	if in.EventID != nil {
		msg.EventID = *in.EventID
	}
	if err := s.pub.Publish(c.ctx, msg); err != nil {
		if s.publishedAnyway(c, msg, err) {
			writeRaw(c.w, http.StatusAccepted, appendMessageOut(nil, msg, withContent))
			return nil
		}
		return publishError(err, msg)
	}
	writeRaw(c.w, http.StatusAccepted, appendMessageOut(make([]byte, 0, 256+len(msg.Payload)), msg, withContent))
	return nil
}

// publishedAnyway reports whether a publish that failed with a server-side
// error is stored all the same: the commit went through but the answer was
// lost with the connection. Answered as an error, the client's retry would
// publish it again, even under the same Idempotency-Key, whose claim an
// error releases. Its deliveries are sent once their lease, held by no
// queue, runs out.
func (s *Server) publishedAnyway(c *call, msg *herald.Message, err error) bool {
	if code := herald.ErrorCode(err); code != herald.EUNAVAILABLE && code != herald.EINTERNAL {
		return false // refused: nothing was written
	}
	ctx, cancel := detached(c.ctx)
	defer cancel()
	_, err = s.store.GetMessage(ctx, msg.AppID, msg.ID)
	return err == nil
}

// createMessageApp creates the application named by the path when the
// request (a message, or app-portal-access) carries an "application" to
// create it with. The path alone says which application the request is
// for, so a body uid naming another one is refused rather than followed.
func (s *Server) createMessageApp(c *call, in *applicationIn) (*herald.Application, error) {
	id := c.path("app_id")
	if in == nil {
		return nil, herald.Errorf(herald.ENOTFOUND, "Application %q not found", id)
	}
	rate, err := in.validate()
	if err != nil {
		return nil, prefixLoc(err, "application")
	}
	switch {
	case in.UID == nil:
		if checkUID("uid", id) != nil {
			return nil, herald.Errorf(herald.ENOTFOUND, "Application %q not found", id)
		}
		in.UID = &id
	case *in.UID != id:
		return nil, invalid([]string{"body", "application", "uid"},
			"application.uid %q differs from %q in the path; the path names the application to create", *in.UID, id)
	}
	app := newApplication(in, rate, c.now)
	err = s.store.CreateApplication(c.ctx, app)
	if errors.Is(err, herald.ErrConflict) {
		// Another request created it first, under the same uid.
		return s.store.GetApplication(c.ctx, app.UID)
	}
	if err != nil {
		return nil, err
	}
	return app, nil
}

// prefixLoc nests a field error's location under a body field.
func prefixLoc(err error, field string) error {
	var fe *fieldError
	if errors.As(err, &fe) && len(fe.loc) > 0 && fe.loc[0] == "body" {
		loc := append([]string{"body", field}, fe.loc[1:]...)
		return &fieldError{loc: loc, err: fe.err}
	}
	return err
}

// publishError explains publish failures the caller can act on.
func publishError(err error, msg *herald.Message) error {
	switch {
	case errors.Is(err, herald.ErrConflict) && msg.EventID != "":
		return herald.Errorf(herald.ECONFLICT, "A message with eventId %q already exists", msg.EventID)
	case herald.ErrorCode(err) == herald.EUNAVAILABLE:
		return &unavailableError{err: err}
	}
	return err
}

// unavailableError keeps the cause for the log but tells the client only
// that the message was not accepted and may be retried.
type unavailableError struct{ err error }

func (e *unavailableError) Error() string { return "publish: " + e.err.Error() }
func (e *unavailableError) Unwrap() error {
	return herald.Errorf(herald.EUNAVAILABLE, "The message was not stored because the database is unavailable; retry later")
}

func (s *Server) listMessages(c *call) error {
	q := c.r.URL.Query()
	p, f, withContent, err := parseMessageFilter(q)
	if err != nil {
		return err
	}
	msgs, err := s.store.ListMessages(c.ctx, c.app.ID, f)
	if err != nil {
		return err
	}
	out := func(m *herald.Message) messageOut { return messageOut{m: m, withContent: withContent} }
	return c.json(http.StatusOK, listPage(p, msgs, func(m *herald.Message) string { return m.ID }, out, true))
}

// parseMessageFilter reads the query of message lists.
func parseMessageFilter(q map[string][]string) (pageQuery, store.MessageFilter, bool, error) {
	var f store.MessageFilter
	p, err := parsePage(q)
	if err != nil {
		return p, f, false, err
	}
	l, err := parseListQuery(q, &p)
	if err != nil {
		return p, f, false, err
	}
	f.Page = p.storePage()
	f.Channel, f.EventTypes, f.Before, f.After = l.channel, l.eventTypes, l.before, l.after
	return p, f, l.withContent, nil
}

func (s *Server) message(c *call) (*herald.Message, error) {
	id := c.path("msg_id")
	msg, err := s.store.GetMessage(c.ctx, c.app.ID, id)
	if errors.Is(err, herald.ErrNotFound) {
		return nil, herald.Errorf(herald.ENOTFOUND, "Message %q not found", id)
	}
	return msg, err
}

func (s *Server) getMessage(c *call) error {
	withContent, err := parseBool(c.r.URL.Query(), "with_content", true)
	if err != nil {
		return err
	}
	msg, err := s.message(c)
	if err != nil {
		return err
	}
	writeRaw(c.w, http.StatusOK, appendMessageOut(nil, msg, withContent))
	return nil
}

func (s *Server) expungeMessage(c *call) error {
	msg, err := s.message(c)
	if err != nil {
		return err
	}
	if err := s.store.ExpungeMessageContent(c.ctx, c.app.ID, msg.ID); err != nil {
		return err
	}
	return c.noContent(http.StatusNoContent)
}
