package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/heraldhq/herald/internal/herald"
)

// eventTypeIn is Svix's EventTypeIn and EventTypeUpdate (which has no name).
type eventTypeIn struct {
	Name        string          `json:"name"`
	Description *string         `json:"description"`
	Archived    bool            `json:"archived"`
	Deprecated  bool            `json:"deprecated"`
	FeatureFlag *string         `json:"featureFlag"`
	GroupName   *string         `json:"groupName"`
	Schemas     json.RawMessage `json:"schemas"`
}

// eventTypePatch is Svix's EventTypePatch.
type eventTypePatch struct {
	Description optional[string]          `json:"description"`
	Archived    optional[bool]            `json:"archived"`
	Deprecated  optional[bool]            `json:"deprecated"`
	FeatureFlag optional[string]          `json:"featureFlag"`
	GroupName   optional[string]          `json:"groupName"`
	Schemas     optional[json.RawMessage] `json:"schemas"`
}

// eventTypeOut is Svix's EventTypeOut.
type eventTypeOut struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Archived    bool            `json:"archived"`
	Deprecated  bool            `json:"deprecated"`
	FeatureFlag *string         `json:"featureFlag,omitempty"`
	Schemas     json.RawMessage `json:"schemas,omitempty"`
	CreatedAt   time.Time       `json:"createdAt"`
	UpdatedAt   time.Time       `json:"updatedAt"`
}

func toEventTypeOut(et *herald.EventType, withContent bool) eventTypeOut {
	out := eventTypeOut{
		Name:        et.Name,
		Description: et.Description,
		Archived:    et.Archived,
		Deprecated:  et.Deprecated,
		CreatedAt:   et.CreatedAt.UTC(),
		UpdatedAt:   et.UpdatedAt.UTC(),
	}
	if et.FeatureFlag != "" {
		f := et.FeatureFlag
		out.FeatureFlag = &f
	}
	if withContent && len(et.Schemas) > 0 {
		out.Schemas = et.Schemas
	}
	return out
}

// checkSchemas validates schemas: null, or an object whose values are
// objects. It returns the compacted document, or nil for null.
func checkSchemas(raw json.RawMessage) (json.RawMessage, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, invalidBody("schemas", "schemas must be an object mapping versions to JSON schemas")
	}
	for k, v := range m {
		if len(v) == 0 || v[0] != '{' {
			return nil, invalidBody("schemas", "schemas[%q] must be an object", k)
		}
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, invalidBody("schemas", "schemas is not valid JSON")
	}
	return buf.Bytes(), nil
}

// apply validates in and copies it onto et.
func (in *eventTypeIn) apply(et *herald.EventType) error {
	if in.Description == nil {
		return invalidBody("description", "description is required")
	}
	if in.FeatureFlag != nil {
		if err := checkName("featureFlag", *in.FeatureFlag, 256); err != nil {
			return err
		}
		et.FeatureFlag = *in.FeatureFlag
	} else {
		et.FeatureFlag = ""
	}
	if in.GroupName != nil {
		if err := checkName("groupName", *in.GroupName, 256); err != nil {
			return err
		}
	}
	schemas, err := checkSchemas(in.Schemas)
	if err != nil {
		return err
	}
	et.Description, et.Archived, et.Deprecated, et.Schemas = *in.Description, in.Archived, in.Deprecated, schemas
	return nil
}

func (s *Server) listEventTypes(c *call) error {
	q := c.r.URL.Query()
	p, err := parseOrderedPage(q, false)
	if err != nil {
		return err
	}
	archived, err := parseBool(q, "include_archived", false)
	if err != nil {
		return err
	}
	withContent, err := parseBool(q, "with_content", false)
	if err != nil {
		return err
	}
	ets, err := s.store.ListEventTypes(c.ctx, p.storePage(), archived)
	if err != nil {
		return err
	}
	out := func(et *herald.EventType) eventTypeOut { return toEventTypeOut(et, withContent) }
	return c.json(http.StatusOK, listPage(p, ets, func(et *herald.EventType) string { return et.Name }, out, true))
}

func (s *Server) createEventType(c *call) error {
	var in eventTypeIn
	if err := c.body(&in); err != nil {
		return err
	}
	if err := checkName("name", in.Name, 256); err != nil {
		return err
	}
	et := &herald.EventType{Name: in.Name, CreatedAt: c.now, UpdatedAt: c.now}
	if err := in.apply(et); err != nil {
		return err
	}
	err := s.store.CreateEventType(c.ctx, et)
	if errors.Is(err, herald.ErrConflict) {
		et, err = s.unarchiveEventType(c, &in)
	}
	if err != nil {
		return err
	}
	return c.json(http.StatusCreated, toEventTypeOut(et, true))
}

// unarchiveEventType is a create of a name that exists. Svix's create is
// "create new or unarchive existing": an archived event type takes the
// new description and schemas and is unarchived (unless the body sets
// archived again), 201; one that is not archived is a conflict.
func (s *Server) unarchiveEventType(c *call, in *eventTypeIn) (*herald.EventType, error) {
	et, err := s.store.GetEventType(c.ctx, in.Name)
	if errors.Is(err, herald.ErrNotFound) {
		return nil, herald.Errorf(herald.ECONFLICT, "The event type %q changed during the request; retry", in.Name)
	}
	if err != nil {
		return nil, err
	}
	if !et.Archived {
		return nil, herald.Errorf(herald.ECONFLICT, "An event type named %q already exists", in.Name)
	}
	if err := in.apply(et); err != nil {
		return nil, err
	}
	et.UpdatedAt = c.now
	if err := s.store.UpdateEventType(c.ctx, et); err != nil {
		return nil, err
	}
	return et, nil
}

func (s *Server) getEventType(c *call) error {
	et, err := s.eventType(c)
	if err != nil {
		return err
	}
	return c.json(http.StatusOK, toEventTypeOut(et, true))
}

func (s *Server) eventType(c *call) (*herald.EventType, error) {
	name := c.path("event_type_name")
	et, err := s.store.GetEventType(c.ctx, name)
	if errors.Is(err, herald.ErrNotFound) {
		return nil, herald.Errorf(herald.ENOTFOUND, "Event type %q not found", name)
	}
	return et, err
}

// updateEventType replaces an event type, creating it if missing.
func (s *Server) updateEventType(c *call) error {
	name := c.path("event_type_name")
	var in eventTypeIn
	if err := c.body(&in); err != nil {
		return err
	}
	et, err := s.store.GetEventType(c.ctx, name)
	if errors.Is(err, herald.ErrNotFound) {
		if err := checkName("name", name, 256); err != nil {
			return err
		}
		et = &herald.EventType{Name: name, CreatedAt: c.now, UpdatedAt: c.now}
		if err := in.apply(et); err != nil {
			return err
		}
		err = s.store.CreateEventType(c.ctx, et)
		if err == nil {
			return c.json(http.StatusCreated, toEventTypeOut(et, true))
		}
		if !errors.Is(err, herald.ErrConflict) {
			return err
		}
		// A concurrent PUT created it first: replace that one.
		if et, err = s.store.GetEventType(c.ctx, name); errors.Is(err, herald.ErrNotFound) {
			return herald.Errorf(herald.ECONFLICT, "The event type %q changed during the request; retry", name)
		}
	}
	if err != nil {
		return err
	}
	if err := in.apply(et); err != nil {
		return err
	}
	et.UpdatedAt = c.now
	if err := s.store.UpdateEventType(c.ctx, et); err != nil {
		return err
	}
	return c.json(http.StatusOK, toEventTypeOut(et, true))
}

func (s *Server) patchEventType(c *call) error {
	var in eventTypePatch
	if err := c.body(&in); err != nil {
		return err
	}
	et, err := s.eventType(c)
	if err != nil {
		return err
	}
	if in.Description.Set {
		et.Description = in.Description.V
	}
	if in.Archived.Set {
		et.Archived = in.Archived.V
	}
	if in.Deprecated.Set {
		et.Deprecated = in.Deprecated.V
	}
	if in.FeatureFlag.Set {
		et.FeatureFlag = ""
		if !in.FeatureFlag.Null {
			if err := checkName("featureFlag", in.FeatureFlag.V, 256); err != nil {
				return err
			}
			et.FeatureFlag = in.FeatureFlag.V
		}
	}
	if in.GroupName.Set && !in.GroupName.Null {
		if err := checkName("groupName", in.GroupName.V, 256); err != nil {
			return err
		}
	}
	if in.Schemas.Set {
		if et.Schemas, err = checkSchemas(in.Schemas.V); err != nil {
			return err
		}
	}
	et.UpdatedAt = c.now
	if err := s.store.UpdateEventType(c.ctx, et); err != nil {
		return err
	}
	return c.json(http.StatusOK, toEventTypeOut(et, true))
}

// deleteEventType archives the event type, as Svix does; with
// expunge=true it is deleted for good.
func (s *Server) deleteEventType(c *call) error {
	expunge, err := parseBool(c.r.URL.Query(), "expunge", false)
	if err != nil {
		return err
	}
	et, err := s.eventType(c)
	if err != nil {
		return err
	}
	if expunge {
		err = s.store.DeleteEventType(c.ctx, et.Name)
	} else {
		et.Archived, et.UpdatedAt = true, c.now
		err = s.store.UpdateEventType(c.ctx, et)
	}
	if err != nil {
		return err
	}
	return c.noContent(http.StatusNoContent)
}
