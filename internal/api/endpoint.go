package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/heraldhq/herald/internal/herald"
)

// endpointIn is Svix's EndpointIn and EndpointUpdate. filterTypes and
// rateLimit are the older names of eventTypes and throttleRate; both are
// accepted, the newer name winning when both are sent.
type endpointIn struct {
	URL          string            `json:"url"`
	UID          *string           `json:"uid"`
	Description  string            `json:"description"`
	Disabled     bool              `json:"disabled"`
	EventTypes   []string          `json:"eventTypes"`
	FilterTypes  []string          `json:"filterTypes"`
	Channels     []string          `json:"channels"`
	ThrottleRate *int              `json:"throttleRate"`
	RateLimit    *int              `json:"rateLimit"`
	Metadata     map[string]string `json:"metadata"`
	Secret       *string           `json:"secret"`
	Version      *int              `json:"version"` // deprecated by Svix; accepted and ignored
	// FIFO is Herald's: strict first-in first-out delivery. Left out, an
	// update keeps the endpoint's setting.
	FIFO *bool `json:"fifo"`
}

// endpointPatch is Svix's EndpointPatch.
type endpointPatch struct {
	URL          optional[string]            `json:"url"`
	UID          optional[string]            `json:"uid"`
	Description  optional[string]            `json:"description"`
	Disabled     optional[bool]              `json:"disabled"`
	EventTypes   optional[[]string]          `json:"eventTypes"`
	FilterTypes  optional[[]string]          `json:"filterTypes"`
	Channels     optional[[]string]          `json:"channels"`
	ThrottleRate optional[int]               `json:"throttleRate"`
	RateLimit    optional[int]               `json:"rateLimit"`
	Metadata     optional[map[string]string] `json:"metadata"`
	Secret       optional[string]            `json:"secret"`
	Version      optional[int]               `json:"version"`
	FIFO         optional[bool]              `json:"fifo"` // Herald's; null turns it off
}

// endpointOut is Svix's EndpointOut. eventTypes and throttleRate, the
// reference's names, are repeated under the older filterTypes and
// rateLimit, which Svix Go SDKs read: current ones filterTypes, legacy
// ones both. For legacyGoSDK, which rejects the newer names, EventTypes
// and ThrottleRate are left empty.
type endpointOut struct {
	ID           string            `json:"id"`
	UID          *string           `json:"uid,omitempty"`
	URL          string            `json:"url"`
	Version      int               `json:"version"`
	Description  string            `json:"description"`
	Disabled     bool              `json:"disabled"`
	FilterTypes  []string          `json:"filterTypes,omitempty"`
	EventTypes   []string          `json:"eventTypes,omitempty"`
	Channels     []string          `json:"channels,omitempty"`
	RateLimit    *int              `json:"rateLimit,omitempty"`
	ThrottleRate *int              `json:"throttleRate,omitempty"`
	Metadata     map[string]string `json:"metadata"`
	CreatedAt    time.Time         `json:"createdAt"`
	UpdatedAt    time.Time         `json:"updatedAt"`
}

func toEndpointOut(e *herald.Endpoint, legacyGoSDK bool) endpointOut {
	out := endpointOut{
		ID:          e.ID,
		URL:         e.URL,
		Version:     1,
		Description: e.Description,
		Disabled:    e.Disabled,
		FilterTypes: e.EventTypes,
		Channels:    e.Channels,
		Metadata:    e.Metadata,
		CreatedAt:   e.CreatedAt.UTC(),
		UpdatedAt:   e.UpdatedAt.UTC(),
	}
	if !legacyGoSDK {
		out.EventTypes = e.EventTypes
	}
	if out.Metadata == nil {
		out.Metadata = map[string]string{}
	}
	if e.UID != "" {
		uid := e.UID
		out.UID = &uid
	}
	if e.ThrottleRate > 0 {
		r := e.ThrottleRate
		out.RateLimit = &r
		if !legacyGoSDK {
			out.ThrottleRate = &r
		}
	}
	return out
}

// endpointInChange validates in, including its event types against the
// store, and returns the change that copies it onto an endpoint, new or
// stored. The change does no I/O, as the store's UpdateEndpoint asks; it
// generates a secret when the endpoint has none and none is given.
func (s *Server) endpointInChange(c *call, in *endpointIn) (func(*herald.Endpoint), error) {
	if err := checkURL("url", in.URL); err != nil {
		return nil, err
	}
	uid := ""
	if in.UID != nil {
		if err := checkUID("uid", *in.UID); err != nil {
			return nil, err
		}
		uid = *in.UID
	}
	types, field := in.EventTypes, "eventTypes"
	if types == nil {
		types, field = in.FilterTypes, "filterTypes"
	}
	if err := s.checkEventTypes(c, field, types); err != nil {
		return nil, err
	}
	if in.Channels != nil {
		if err := checkNames("channels", in.Channels, 128, 1, 10); err != nil {
			return nil, err
		}
	}
	rate, field := in.ThrottleRate, "throttleRate"
	if rate == nil {
		rate, field = in.RateLimit, "rateLimit"
	}
	throttle := 0
	if rate != nil {
		if err := checkRate(field, *rate, 1); err != nil {
			return nil, err
		}
		throttle = *rate
	}
	if err := checkMetadata(in.Metadata); err != nil {
		return nil, err
	}
	metadata := in.Metadata
	if metadata == nil {
		metadata = map[string]string{}
	}
	var secrets []herald.Secret
	if in.Secret != nil {
		key, err := checkSecret("secret", *in.Secret)
		if err != nil {
			return nil, err
		}
		secrets = []herald.Secret{{Key: key}}
	}
	return func(ep *herald.Endpoint) {
		ep.URL, ep.Description, ep.UID = in.URL, in.Description, uid
		ep.EventTypes, ep.Channels, ep.ThrottleRate, ep.Metadata = types, in.Channels, throttle, metadata
		if in.FIFO != nil {
			ep.Ordered = *in.FIFO
		}
		setDisabled(ep, in.Disabled)
		if secrets != nil {
			ep.Secrets = secrets
		} else if len(ep.Secrets) == 0 {
			ep.Secrets = []herald.Secret{{Key: newSecret()}}
		}
	}, nil
}

// setDisabled sets Disabled; re-enabling clears the failure history that
// would otherwise disable the endpoint again at once.
func setDisabled(ep *herald.Endpoint, disabled bool) {
	if ep.Disabled && !disabled {
		ep.FailingSince = time.Time{}
	}
	ep.Disabled = disabled
}

// checkEventTypes validates an endpoint's event type filter: null, or 1+
// unique names of event types that exist and are not archived.
func (s *Server) checkEventTypes(c *call, field string, types []string) error {
	if types == nil {
		return nil
	}
	if err := checkNames(field, types, 256, 1, 0); err != nil {
		return err
	}
	for _, t := range types {
		et, err := s.store.GetEventType(c.ctx, t)
		if errors.Is(err, herald.ErrNotFound) {
			return invalidBody(field, "Event type %q does not exist", t)
		}
		if err != nil {
			return err
		}
		// Svix's validate_event_types skips archived types: an endpoint
		// that filtered on one before keeps it, but none may start to.
		if et.Archived {
			return invalidBody(field, "Event type %q is archived", t)
		}
	}
	return nil
}

// endpoint loads the endpoint named by {endpoint_id} in c.app.
func (s *Server) endpoint(c *call) (*herald.Endpoint, error) {
	id := c.path("endpoint_id")
	ep, err := s.store.GetEndpoint(c.ctx, c.app.ID, id)
	if errors.Is(err, herald.ErrNotFound) {
		return nil, herald.Errorf(herald.ENOTFOUND, "Endpoint %q not found", id)
	}
	return ep, err
}

// listEndpoints lists the application's endpoints, newest first unless
// order=ascending: Svix's list_endpoints defaults to descending (unlike
// its application list).
func (s *Server) listEndpoints(c *call) error {
	p, err := parseOrderedPage(c.r.URL.Query(), true)
	if err != nil {
		return err
	}
	eps, err := s.store.ListEndpoints(c.ctx, c.app.ID, p.storePage())
	if err != nil {
		return err
	}
	legacy := c.legacyGoSDK()
	out := func(e *herald.Endpoint) endpointOut { return toEndpointOut(e, legacy) }
	return c.json(http.StatusOK, listPage(p, eps, func(e *herald.Endpoint) string { return e.ID }, out, true))
}

func (s *Server) createEndpoint(c *call) error {
	var in endpointIn
	if err := c.body(&in); err != nil {
		return err
	}
	return s.insertEndpoint(c, &in)
}

func (s *Server) insertEndpoint(c *call, in *endpointIn) error {
	ep := &herald.Endpoint{
		ID:        herald.NewID(herald.PrefixEndpoint, c.now),
		AppID:     c.app.ID,
		CreatedAt: c.now,
		UpdatedAt: c.now,
	}
	change, err := s.endpointInChange(c, in)
	if err != nil {
		return err
	}
	change(ep)
	if err := s.store.CreateEndpoint(c.ctx, ep); err != nil {
		return conflictUID(err, "endpoint", ep.UID)
	}
	s.pub.InvalidateEndpoints(c.app.ID)
	s.events.EndpointCreated(c.app, ep)
	return c.json(http.StatusCreated, toEndpointOut(ep, c.legacyGoSDK()))
}

func (s *Server) getEndpoint(c *call) error {
	ep, err := s.endpoint(c)
	if err != nil {
		return err
	}
	return c.json(http.StatusOK, toEndpointOut(ep, c.legacyGoSDK()))
}

// updateEndpoint replaces an endpoint, creating it when it does not exist.
func (s *Server) updateEndpoint(c *call) error {
	var in endpointIn
	if err := c.body(&in); err != nil {
		return err
	}
	ep, err := s.store.GetEndpoint(c.ctx, c.app.ID, c.path("endpoint_id"))
	if errors.Is(err, herald.ErrNotFound) {
		return s.insertEndpoint(c, &in)
	}
	if err != nil {
		return err
	}
	change, err := s.endpointInChange(c, &in)
	if err != nil {
		return err
	}
	return s.saveEndpoint(c, ep.ID, change)
}

func (s *Server) patchEndpoint(c *call) error {
	var in endpointPatch
	if err := c.body(&in); err != nil {
		return err
	}
	ep, err := s.endpoint(c)
	if err != nil {
		return err
	}
	change, err := s.endpointPatchChange(c, &in)
	if err != nil {
		return err
	}
	return s.saveEndpoint(c, ep.ID, change)
}

// endpointPatchChange validates in and returns the change that applies it
// to the stored endpoint, as endpointInChange does.
func (s *Server) endpointPatchChange(c *call, in *endpointPatch) (func(*herald.Endpoint), error) {
	if in.URL.Set {
		if err := checkURL("url", in.URL.V); err != nil {
			return nil, err
		}
	}
	uid := "" // null removes the UID
	if in.UID.Set && !in.UID.Null {
		if err := checkUID("uid", in.UID.V); err != nil {
			return nil, err
		}
		uid = in.UID.V
	}
	types, field := in.EventTypes, "eventTypes"
	if !types.Set {
		types, field = in.FilterTypes, "filterTypes"
	}
	if types.Set {
		if types.Null || len(types.V) == 0 {
			types.V = nil
		}
		if err := s.checkEventTypes(c, field, types.V); err != nil {
			return nil, err
		}
	}
	var channels []string
	if in.Channels.Set && !in.Channels.Null && len(in.Channels.V) > 0 {
		if err := checkNames("channels", in.Channels.V, 128, 1, 10); err != nil {
			return nil, err
		}
		channels = in.Channels.V
	}
	rate, rfield := in.ThrottleRate, "throttleRate"
	if !rate.Set {
		rate, rfield = in.RateLimit, "rateLimit"
	}
	throttle := 0
	if rate.Set && !rate.Null {
		if err := checkRate(rfield, rate.V, 0); err != nil {
			return nil, err
		}
		throttle = rate.V
	}
	metadata := in.Metadata.V
	if in.Metadata.Set {
		if err := checkMetadata(metadata); err != nil {
			return nil, err
		}
		if metadata == nil {
			metadata = map[string]string{}
		}
	}
	var secrets []herald.Secret
	if in.Secret.Set && !in.Secret.Null {
		key, err := checkSecret("secret", in.Secret.V)
		if err != nil {
			return nil, err
		}
		secrets = []herald.Secret{{Key: key}}
	}
	return func(ep *herald.Endpoint) {
		if in.URL.Set {
			ep.URL = in.URL.V
		}
		if in.UID.Set {
			ep.UID = uid
		}
		if in.Description.Set {
			ep.Description = in.Description.V
		}
		if in.Disabled.Set {
			setDisabled(ep, in.Disabled.V)
		}
		if types.Set {
			ep.EventTypes = types.V
		}
		if in.Channels.Set {
			ep.Channels = channels
		}
		if rate.Set {
			ep.ThrottleRate = throttle
		}
		if in.Metadata.Set {
			ep.Metadata = metadata
		}
		if in.FIFO.Set {
			ep.Ordered = in.FIFO.V && !in.FIFO.Null
		}
		if secrets != nil {
			ep.Secrets = secrets
		}
	}, nil
}

// saveEndpoint applies change to endpoint id as the store has it, in the
// store's transaction, and answers with the endpoint as written. Disabling
// it is reported as such.
func (s *Server) saveEndpoint(c *call, id string, change func(*herald.Endpoint)) error {
	var wasDisabled bool
	var uid string
	ep, err := s.store.UpdateEndpoint(c.ctx, c.app.ID, id, func(ep *herald.Endpoint) error {
		wasDisabled = ep.Disabled
		change(ep)
		ep.UpdatedAt, uid = c.now, ep.UID
		return nil
	})
	if err != nil {
		return conflictUID(err, "endpoint", uid)
	}
	s.pub.InvalidateEndpoints(c.app.ID)
	s.events.EndpointUpdated(c.app, ep, ep.Disabled && !wasDisabled)
	return c.json(http.StatusOK, toEndpointOut(ep, c.legacyGoSDK()))
}

func (s *Server) deleteEndpoint(c *call) error {
	ep, err := s.endpoint(c)
	if err != nil {
		return err
	}
	if err := s.store.DeleteEndpoint(c.ctx, c.app.ID, ep.ID); err != nil {
		return err
	}
	s.pub.InvalidateEndpoints(c.app.ID)
	s.events.EndpointDeleted(c.app, ep)
	return c.noContent(http.StatusNoContent)
}
