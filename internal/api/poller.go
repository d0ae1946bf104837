package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/delivery"
	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// Pull delivery: the Svix message-poller API. A polling endpoint is an
// endpoint of the application whose URL is herald-poll://<app_id>/<name>;
// Herald never dials it. Its consumers read the application's messages that
// pass its filters, in commit order, with iterators that encode a message
// sequence number (see store.Poller), so nothing is skipped between polls.
// An iterator may point past messages the filters left out (see
// store.PollPage.Position), so an idle filtered poller reads each message
// of the application once, not on every poll.

// pollerIn creates a polling endpoint.
type pollerIn struct {
	UID         *string           `json:"uid"`
	Description string            `json:"description"`
	EventTypes  []string          `json:"eventTypes"`
	Channels    []string          `json:"channels"`
	Metadata    map[string]string `json:"metadata"`
}

// pollingOut is Svix's PollingEndpointOut.
type pollingOut struct {
	Data     []pollingMessageOut `json:"data"`
	Iterator string              `json:"iterator"`
	Done     bool                `json:"done"`
}

// pollingMessageOut is Svix's PollingEndpointMessageOut: a MessageOut.
type pollingMessageOut struct{ m *herald.Message }

// MarshalJSON encodes the message as Svix's PollingEndpointMessageOut.
func (o pollingMessageOut) MarshalJSON() ([]byte, error) {
	b := appendMessageOut(nil, o.m, true)
	if len(o.m.Headers) > 0 {
		h, err := json.Marshal(o.m.Headers)
		if err != nil {
			return nil, err
		}
		b = append(append(append(b[:len(b)-1], `,"headers":`...), h...), '}')
	}
	return b, nil
}

// seekIn is Svix's PollingEndpointConsumerSeekIn.
type seekIn struct {
	After *time.Time `json:"after"`
}

// iteratorPrefix marks poller iterators, so a list iterator given by
// mistake is refused rather than misread.
const iteratorPrefix = "poll_"

func encodeIterator(seq int64) string {
	return iteratorPrefix + strconv.FormatInt(seq, 36)
}

func decodeIterator(it string) (int64, error) {
	rest, ok := strings.CutPrefix(it, iteratorPrefix)
	n, err := strconv.ParseInt(rest, 36, 64)
	if !ok || err != nil || n < 0 {
		return 0, invalidQuery("iterator", "iterator is not a poller iterator")
	}
	return n, nil
}

// createPoller creates a polling endpoint: POST /api/v1/app/{app_id}/poller.
// The answer is the endpoint (Svix's EndpointOut); its ID or UID is the
// sink ID of the poller routes.
func (s *Server) createPoller(c *call) error {
	var in pollerIn
	if err := c.body(&in); err != nil {
		return err
	}
	ep := &herald.Endpoint{
		ID: herald.NewID(herald.PrefixEndpoint, c.now), AppID: c.app.ID,
		Description: in.Description, Metadata: in.Metadata,
		Secrets:   []herald.Secret{{Key: newSecret()}},
		CreatedAt: c.now, UpdatedAt: c.now,
	}
	name := ep.ID
	if in.UID != nil {
		if err := checkUID("uid", *in.UID); err != nil {
			return err
		}
		ep.UID, name = *in.UID, *in.UID
	}
	ep.URL = delivery.PollScheme + "://" + c.app.ID + "/" + name
	if err := s.checkEventTypes(c, "eventTypes", in.EventTypes); err != nil {
		return err
	}
	ep.EventTypes = in.EventTypes
	if in.Channels != nil {
		if err := checkNames("channels", in.Channels, 128, 1, 10); err != nil {
			return err
		}
	}
	ep.Channels = in.Channels
	if err := checkMetadata(in.Metadata); err != nil {
		return err
	}
	if ep.Metadata == nil {
		ep.Metadata = map[string]string{}
	}
	if err := s.store.CreateEndpoint(c.ctx, ep); err != nil {
		return conflictUID(err, "endpoint", ep.UID)
	}
	s.pub.InvalidateEndpoints(c.app.ID)
	s.events.EndpointCreated(c.app, ep) // it is an endpoint like any other
	return c.json(http.StatusCreated, toEndpointOut(ep, c.legacyGoSDK()))
}

// sink loads the polling endpoint named by {sink_id}.
func (s *Server) sink(c *call) (*herald.Endpoint, error) {
	id := c.path("sink_id")
	ep, err := s.store.GetEndpoint(c.ctx, c.app.ID, id)
	if errors.Is(err, herald.ErrNotFound) || (err == nil && !delivery.IsPollURL(ep.URL)) {
		return nil, herald.Errorf(herald.ENOTFOUND, "Polling endpoint %q not found", id)
	}
	return ep, err
}

// pollQuery is what a poll reads from its query string.
type pollQuery struct {
	limit     int
	position  int64
	hasStart  bool // iterator or after was given
	eventType string
	channel   string
}

func parsePollQuery(q url.Values, withFilters bool) (pollQuery, error) {
	p := pollQuery{limit: defaultLimit}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLimit {
			return p, invalidQuery("limit", "limit must be an integer between 1 and %d", maxLimit)
		}
		p.limit = n
	}
	if it := q.Get("iterator"); it != "" {
		n, err := decodeIterator(it)
		if err != nil {
			return p, err
		}
		p.position, p.hasStart = n, true
	}
	if !withFilters {
		return p, nil
	}
	if v := q.Get("event_type"); v != "" {
		if err := checkName("event_type", v, 256); err != nil {
			return p, invalidQuery("event_type", "event_type may contain only letters, digits, '-', '_' and '.'")
		}
		p.eventType = v
	}
	ch, err := parseChannel(q)
	if err != nil {
		return p, err
	}
	p.channel = ch
	return p, nil
}

// pollFrom reads one page for ep from position and answers it.
func (s *Server) pollFrom(c *call, ep *herald.Endpoint, p pollQuery) (pollingOut, error) {
	f := store.PollFilter{
		After: p.position, Limit: p.limit + 1,
		EventTypes: ep.EventTypes, AnyChannel: ep.Channels, Channel: p.channel,
	}
	if p.eventType != "" {
		if f.EventTypes != nil && !slices.Contains(f.EventTypes, p.eventType) {
			return pollingOut{Data: []pollingMessageOut{}, Iterator: encodeIterator(p.position), Done: true}, nil
		}
		f.EventTypes = []string{p.eventType}
	}
	page, err := s.store.PollMessages(c.ctx, c.app.ID, f)
	if err != nil {
		return pollingOut{}, err
	}
	msgs := page.Messages[:min(len(page.Messages), p.limit)]
	out := pollingOut{Data: make([]pollingMessageOut, 0, len(msgs)), Done: len(page.Messages) <= p.limit}
	for i := range msgs {
		out.Data = append(out.Data, pollingMessageOut{&msgs[i].Message})
	}
	// A last page continues where the store read up to, past the messages
	// the filters left out, so a filtered poller does not read them again.
	// Otherwise the next page starts at the one extra message read.
	next := page.Position
	if !out.Done {
		next = msgs[len(msgs)-1].Seq
	}
	out.Iterator = encodeIterator(next)
	return out, nil
}

// poll answers GET .../poller/{sink_id}: iterator, limit, event_type,
// channel and after. Without iterator or after it starts at the oldest
// message kept.
func (s *Server) poll(c *call) error {
	ep, err := s.sink(c)
	if err != nil {
		return err
	}
	q := c.r.URL.Query()
	p, err := parsePollQuery(q, true)
	if err != nil {
		return err
	}
	after, err := parseTime(q, "after")
	if err != nil {
		return err
	}
	if !p.hasStart && !after.IsZero() {
		if p.position, err = s.store.PollPosition(c.ctx, c.app.ID, after); err != nil {
			return err
		}
	}
	out, err := s.pollFrom(c, ep, p)
	if err != nil {
		return err
	}
	return c.json(http.StatusOK, out)
}

// consumerPoll answers GET .../poller/{sink_id}/consumer/{consumer_id}.
// It reads from the iterator given, else the consumer's stored position,
// else the oldest message kept, and stores the position after the page.
// The position is stored once the page is read, before it is answered: a
// consumer whose answer was lost passes its previous iterator to read the
// page again, so nothing is lost (at-least-once).
func (s *Server) consumerPoll(c *call) error {
	ep, err := s.sink(c)
	if err != nil {
		return err
	}
	consumer := c.path("consumer_id")
	if err := checkUID("consumer_id", consumer); err != nil {
		return err
	}
	p, err := parsePollQuery(c.r.URL.Query(), false)
	if err != nil {
		return err
	}
	if !p.hasStart {
		pos, err := s.store.ConsumerPosition(c.ctx, ep.ID, consumer)
		switch {
		case err == nil:
			p.position = pos
		case !errors.Is(err, herald.ErrNotFound):
			return err
		}
	}
	out, err := s.pollFrom(c, ep, p)
	if err != nil {
		return err
	}
	next, _ := decodeIterator(out.Iterator)
	if err := s.store.SetConsumerPosition(c.ctx, c.app.ID, ep.ID, consumer, next, c.now); err != nil {
		return err
	}
	return c.json(http.StatusOK, out)
}

// consumerSeek answers POST .../consumer/{consumer_id}/seek {"after": t}:
// the consumer's next poll starts at the first message created at or
// after t.
func (s *Server) consumerSeek(c *call) error {
	ep, err := s.sink(c)
	if err != nil {
		return err
	}
	consumer := c.path("consumer_id")
	if err := checkUID("consumer_id", consumer); err != nil {
		return err
	}
	var in seekIn
	if err := c.body(&in); err != nil {
		return err
	}
	if in.After == nil {
		return invalidBody("after", "after is required")
	}
	pos, err := s.store.PollPosition(c.ctx, c.app.ID, *in.After)
	if err != nil {
		return err
	}
	if err := s.store.SetConsumerPosition(c.ctx, c.app.ID, ep.ID, consumer, pos, c.now); err != nil {
		return err
	}
	return c.json(http.StatusOK, map[string]string{"iterator": encodeIterator(pos)})
}
