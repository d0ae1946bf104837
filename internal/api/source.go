package api

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/inbound"
	"github.com/heraldhq/herald/internal/store"
)

// maxAllowedIPs bounds a source's allowedIps list.
const maxAllowedIPs = 100

// sourceIn is the body of POST and PUT /api/v1/source, and what a PATCH
// body is laid over.
type sourceIn struct {
	Name         string                  `json:"name"`
	UID          *string                 `json:"uid"`
	App          string                  `json:"app"`
	Verifier     *inbound.VerifierConfig `json:"verifier"`
	EventType    *string                 `json:"eventType"`
	DedupeWindow *int64                  `json:"dedupeWindow"` // seconds; 0 turns deduplication off
	AllowedIPs   []string                `json:"allowedIps"`
	MaxBodyBytes *int64                  `json:"maxBodyBytes"`

	// A source as read (sourceOut) can be written back: its appId stands
	// for app, and its read-only fields are taken and ignored.
	AppID     string          `json:"appId"`
	ID        json.RawMessage `json:"id"`
	IngestURL json.RawMessage `json:"ingestUrl"`
	CreatedAt json.RawMessage `json:"createdAt"`
	UpdatedAt json.RawMessage `json:"updatedAt"`
}

// sourceOut is a source as the API shows it: its verifier's secrets are
// masked.
type sourceOut struct {
	ID           string                 `json:"id"`
	UID          *string                `json:"uid,omitempty"`
	Name         string                 `json:"name"`
	AppID        string                 `json:"appId"`
	Verifier     inbound.VerifierConfig `json:"verifier"`
	EventType    string                 `json:"eventType,omitempty"`
	DedupeWindow int64                  `json:"dedupeWindow"`
	AllowedIPs   []string               `json:"allowedIps"`
	MaxBodyBytes int64                  `json:"maxBodyBytes"`
	IngestURL    string                 `json:"ingestUrl"`
	CreatedAt    time.Time              `json:"createdAt"`
	UpdatedAt    time.Time              `json:"updatedAt"`
}

// inboundEventOut is an inbound event as lists show it.
type inboundEventOut struct {
	ID          string               `json:"id"`
	SourceID    string               `json:"sourceId"`
	ReceivedAt  time.Time            `json:"receivedAt"`
	EventType   string               `json:"eventType"`
	DedupeKey   string               `json:"dedupeKey,omitempty"`
	Verified    bool                 `json:"verified"`
	Status      string               `json:"status"`
	DuplicateOf string               `json:"duplicateOf,omitempty"`
	MsgID       string               `json:"msgId,omitempty"`
	RemoteAddr  string               `json:"remoteAddr,omitempty"`
	Deliveries  []inboundDeliveryOut `json:"deliveries"`
	// Body and headers are shown by the single-event route only.
	Body       *string             `json:"body,omitempty"`
	BodyBase64 *string             `json:"bodyBase64,omitempty"`
	Headers    map[string][]string `json:"headers,omitempty"`
}

// inboundDeliveryOut is where the event's message went and how that went.
type inboundDeliveryOut struct {
	EndpointID    string     `json:"endpointId"`
	Status        int        `json:"status"`
	StatusText    string     `json:"statusText"`
	NextAttemptAt *time.Time `json:"nextAttempt,omitempty"`
}

// replayOut answers a replay.
type replayOut struct {
	EventID string `json:"eventId"`
	MsgID   string `json:"msgId"`
}

func (s *Server) listSources(c *call) error {
	p, err := parseOrderedPage(c.r.URL.Query(), false)
	if err != nil {
		return err
	}
	srcs, err := s.store.ListSources(c.ctx, p.storePage())
	if err != nil {
		return err
	}
	base := ingestBase(c.r)
	return c.json(http.StatusOK, listPage(p, srcs, func(src *store.Source) string { return src.ID },
		func(src *store.Source) sourceOut { return toSourceOut(src, base) }, true))
}

func (s *Server) createSource(c *call) error {
	var in sourceIn
	if err := c.body(&in); err != nil {
		return err
	}
	src := &store.Source{ID: herald.NewID(herald.PrefixSource, c.now), CreatedAt: c.now}
	if err := s.applySource(c, &in, src); err != nil {
		return err
	}
	if err := s.store.CreateSource(c.ctx, src); err != nil {
		return conflictUID(err, "source", src.UID)
	}
	return c.json(http.StatusCreated, toSourceOut(src, ingestBase(c.r)))
}

func (s *Server) getSource(c *call) error {
	src, err := s.store.GetSource(c.ctx, c.path("source_id"))
	if err != nil {
		return err
	}
	return c.json(http.StatusOK, toSourceOut(src, ingestBase(c.r)))
}

func (s *Server) updateSource(c *call) error {
	src, err := s.store.GetSource(c.ctx, c.path("source_id"))
	if err != nil {
		return err
	}
	var in sourceIn
	if err := c.body(&in); err != nil {
		return err
	}
	return s.saveSource(c, &in, src)
}

// keepSecrets puts back the source's secrets that in names by the masks
// GET shows them as, so a source read and written back keeps its secrets.
func keepSecrets(in *sourceIn, src *store.Source) error {
	if in.Verifier == nil {
		return nil
	}
	var stored inbound.VerifierConfig
	if err := json.Unmarshal(src.Verifier, &stored); err != nil {
		return err
	}
	if err := in.Verifier.KeepRedacted(stored.Secrets); err != nil {
		return invalidBody("verifier", "%s", herald.ErrorDetail(err))
	}
	return nil
}

// patchSource lays the body over the source as it is: fields left out
// keep their value, and a verifier given in part keeps the rest of its
// configuration (secrets included).
func (s *Server) patchSource(c *call) error {
	src, err := s.store.GetSource(c.ctx, c.path("source_id"))
	if err != nil {
		return err
	}
	in, err := sourceInOf(src)
	if err != nil {
		return err
	}
	if err := c.body(in); err != nil {
		return err
	}
	return s.saveSource(c, in, src)
}

func (s *Server) saveSource(c *call, in *sourceIn, src *store.Source) error {
	if err := keepSecrets(in, src); err != nil {
		return err
	}
	if err := s.applySource(c, in, src); err != nil {
		return err
	}
	if err := s.store.UpdateSource(c.ctx, src); err != nil {
		return conflictUID(err, "source", src.UID)
	}
	return c.json(http.StatusOK, toSourceOut(src, ingestBase(c.r)))
}

func (s *Server) deleteSource(c *call) error {
	src, err := s.store.GetSource(c.ctx, c.path("source_id"))
	if err != nil {
		return err
	}
	if err := s.store.DeleteSource(c.ctx, src.ID); err != nil {
		return err
	}
	return c.noContent(http.StatusNoContent)
}

func (s *Server) listInboundEvents(c *call) error {
	src, err := s.store.GetSource(c.ctx, c.path("source_id"))
	if err != nil {
		return err
	}
	p, err := parsePage(c.r.URL.Query())
	if err != nil {
		return err
	}
	if p.prev {
		return invalidQuery("iterator", "inbound events are listed newest first and page forwards only")
	}
	evs, err := s.store.ListInboundEvents(c.ctx, src.ID, p.storePage())
	if err != nil {
		return err
	}
	res := listPage(p, evs, func(ev *store.InboundEvent) string { return ev.ID }, toInboundEventOut, false)
	for i := range res.Data {
		if res.Data[i].Deliveries, err = s.inboundDeliveries(c, src, res.Data[i].MsgID); err != nil {
			return err
		}
	}
	return c.json(http.StatusOK, res)
}

func (s *Server) getInboundEvent(c *call) error {
	src, err := s.store.GetSource(c.ctx, c.path("source_id"))
	if err != nil {
		return err
	}
	ev, err := s.store.GetInboundEvent(c.ctx, src.ID, c.path("event_id"))
	if err != nil {
		return err
	}
	out := toInboundEventOut(ev)
	if out.Deliveries, err = s.inboundDeliveries(c, src, ev.MsgID); err != nil {
		return err
	}
	if utf8.Valid(ev.Body) {
		body := string(ev.Body)
		out.Body = &body
	} else {
		b64 := base64.StdEncoding.EncodeToString(ev.Body)
		out.BodyBase64 = &b64
	}
	out.Headers = ev.Headers
	return c.json(http.StatusOK, out)
}

// replayInboundEvent publishes the event's stored bytes and headers again
// as a new message to the application's current endpoints.
func (s *Server) replayInboundEvent(c *call) error {
	src, err := s.store.GetSource(c.ctx, c.path("source_id"))
	if err != nil {
		return err
	}
	ev, err := s.store.GetInboundEvent(c.ctx, src.ID, c.path("event_id"))
	if err != nil {
		return err
	}
	msg := inbound.ForwardedMessage(src, ev, c.now)
	if err := s.pub.Publish(c.ctx, msg); err != nil {
		return err
	}
	return c.json(http.StatusAccepted, replayOut{EventID: ev.ID, MsgID: msg.ID})
}

// inboundDeliveries is the delivery state of an event's message: empty
// for duplicates and for messages retention has deleted.
func (s *Server) inboundDeliveries(c *call, src *store.Source, msgID string) ([]inboundDeliveryOut, error) {
	out := []inboundDeliveryOut{}
	if msgID == "" {
		return out, nil
	}
	dests, err := s.store.ListMessageDestinations(c.ctx, src.AppID, msgID, store.Page{Limit: maxLimit})
	if errors.Is(err, herald.ErrNotFound) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	for _, d := range dests {
		o := inboundDeliveryOut{EndpointID: d.Endpoint.ID, Status: int(d.Status), StatusText: d.Status.String()}
		if !d.NextAttemptAt.IsZero() {
			next := d.NextAttemptAt.UTC()
			o.NextAttemptAt = &next
		}
		out = append(out, o)
	}
	return out, nil
}

// applySource validates in and writes it into src.
func (s *Server) applySource(c *call, in *sourceIn, src *store.Source) error {
	if in.Name == "" {
		return invalidBody("name", "name is required")
	}
	if len(in.Name) > 256 {
		return invalidBody("name", "name must be at most 256 characters")
	}
	src.UID = ""
	if in.UID != nil {
		if err := checkUID("uid", *in.UID); err != nil {
			return err
		}
		if strings.HasPrefix(*in.UID, herald.PrefixSource) {
			return invalidBody("uid", "uid must not start with %q, which source IDs use", herald.PrefixSource)
		}
		src.UID = *in.UID
	}
	switch {
	case in.App == "":
		in.App = in.AppID
	case in.AppID != "" && in.AppID != in.App:
		return invalidBody("appId", "appId %q and app %q differ; give one", in.AppID, in.App)
	}
	if in.App == "" {
		return invalidBody("app", "app is required: the application, by ID or uid, whose endpoints receive the events")
	}
	app, err := s.store.GetApplication(c.ctx, in.App)
	if errors.Is(err, herald.ErrNotFound) {
		return invalidBody("app", "application %q does not exist", in.App)
	}
	if err != nil {
		return err
	}
	if in.Verifier == nil {
		return invalidBody("verifier", "verifier is required, e.g. {\"type\": \"stripe\", \"secrets\": [\"whsec_...\"]}")
	}
	if err := in.Verifier.Validate(); err != nil {
		return invalidBody("verifier", "%s", herald.ErrorDetail(err))
	}
	verifier, err := json.Marshal(in.Verifier)
	if err != nil {
		return err
	}
	src.EventType = ""
	if in.EventType != nil {
		if *in.EventType != "" {
			if err := checkName("eventType", *in.EventType, 256); err != nil {
				return err
			}
		}
		src.EventType = *in.EventType
	}
	src.DedupeWindow = inbound.DefaultDedupeWindow
	if in.DedupeWindow != nil {
		w := *in.DedupeWindow
		if w < 0 || w > int64(inbound.MaxDedupeWindow/time.Second) {
			return invalidBody("dedupeWindow", "dedupeWindow must be between 0 and %d seconds", int64(inbound.MaxDedupeWindow/time.Second))
		}
		src.DedupeWindow = secondsDuration(w)
	}
	if len(in.AllowedIPs) > maxAllowedIPs {
		return invalidBody("allowedIps", "allowedIps must have at most %d items", maxAllowedIPs)
	}
	for _, ip := range in.AllowedIPs {
		if _, err := inbound.ParseCIDR(ip); err != nil {
			return invalidBody("allowedIps", "%q is not a CIDR such as 192.0.2.0/24 or an IP address", ip)
		}
	}
	src.MaxBodyBytes = inbound.DefaultMaxBodyBytes
	if in.MaxBodyBytes != nil {
		if n := *in.MaxBodyBytes; n < 1 || n > inbound.MaxBodyBytesLimit {
			return invalidBody("maxBodyBytes", "maxBodyBytes must be between 1 and %d", inbound.MaxBodyBytesLimit)
		}
		src.MaxBodyBytes = *in.MaxBodyBytes
	}
	src.Name, src.AppID, src.Verifier, src.AllowedIPs = in.Name, app.ID, verifier, in.AllowedIPs
	src.UpdatedAt = c.now
	return nil
}

// sourceInOf is src as a request body, secrets included, for PATCH.
func sourceInOf(src *store.Source) (*sourceIn, error) {
	var cfg inbound.VerifierConfig
	if err := json.Unmarshal(src.Verifier, &cfg); err != nil {
		return nil, err
	}
	// Copies, not pointers into src, which applySource rewrites.
	window, eventType, maxBody := int64(src.DedupeWindow/time.Second), src.EventType, src.MaxBodyBytes
	in := &sourceIn{
		Name: src.Name, App: src.AppID, Verifier: &cfg, EventType: &eventType,
		DedupeWindow: &window, AllowedIPs: src.AllowedIPs, MaxBodyBytes: &maxBody,
	}
	if src.UID != "" {
		uid := src.UID
		in.UID = &uid
	}
	return in, nil
}

func toSourceOut(src *store.Source, base string) sourceOut {
	var cfg inbound.VerifierConfig
	_ = json.Unmarshal(src.Verifier, &cfg) // validated when saved
	out := sourceOut{
		ID: src.ID, Name: src.Name, AppID: src.AppID, Verifier: cfg.Redacted(), EventType: src.EventType,
		DedupeWindow: int64(src.DedupeWindow / time.Second), AllowedIPs: src.AllowedIPs,
		MaxBodyBytes: src.MaxBodyBytes, IngestURL: base + "/in/" + src.ID,
		CreatedAt: src.CreatedAt.UTC(), UpdatedAt: src.UpdatedAt.UTC(),
	}
	if out.AllowedIPs == nil {
		out.AllowedIPs = []string{}
	}
	if src.UID != "" {
		uid := src.UID
		out.UID = &uid
	}
	return out
}

func toInboundEventOut(ev *store.InboundEvent) inboundEventOut {
	return inboundEventOut{
		ID: ev.ID, SourceID: ev.SourceID, ReceivedAt: ev.ReceivedAt.UTC(), EventType: ev.EventType,
		DedupeKey: ev.DedupeKey, Verified: true, Status: string(ev.Status), DuplicateOf: ev.DuplicateOf,
		MsgID: ev.MsgID, RemoteAddr: ev.RemoteAddr, Deliveries: []inboundDeliveryOut{},
	}
}

// ingestBase is the scheme and host providers reach Herald at, as the
// caller of the API does (behind a TLS proxy, X-Forwarded-Proto says so).
func ingestBase(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p == "https" || p == "http" {
		scheme = p
	}
	return scheme + "://" + r.Host
}
