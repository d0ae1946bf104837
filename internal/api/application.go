package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/heraldhq/herald/internal/herald"
)

// applicationIn is Svix's ApplicationIn. rateLimit is the older name of
// throttleRate; both are accepted.
type applicationIn struct {
	Name         string            `json:"name"`
	UID          *string           `json:"uid"`
	Metadata     map[string]string `json:"metadata"`
	ThrottleRate *int              `json:"throttleRate"`
	RateLimit    *int              `json:"rateLimit"`
}

// applicationPatch is Svix's ApplicationPatch.
type applicationPatch struct {
	Name         optional[string]            `json:"name"`
	UID          optional[string]            `json:"uid"`
	Metadata     optional[map[string]string] `json:"metadata"`
	ThrottleRate optional[int]               `json:"throttleRate"`
	RateLimit    optional[int]               `json:"rateLimit"`
}

// applicationOut is Svix's ApplicationOut. throttleRate, the reference's
// name, is repeated under the older rateLimit, which the legacy Svix Go
// SDKs decode; for legacyGoSDK, which rejects throttleRate, ThrottleRate
// is left empty.
type applicationOut struct {
	ID           string            `json:"id"`
	UID          *string           `json:"uid,omitempty"`
	Name         string            `json:"name"`
	RateLimit    *int              `json:"rateLimit,omitempty"`
	ThrottleRate *int              `json:"throttleRate,omitempty"`
	Metadata     map[string]string `json:"metadata"`
	CreatedAt    time.Time         `json:"createdAt"`
	UpdatedAt    time.Time         `json:"updatedAt"`
}

func toApplicationOut(a *herald.Application, legacyGoSDK bool) applicationOut {
	out := applicationOut{
		ID:        a.ID,
		Name:      a.Name,
		Metadata:  a.Metadata,
		CreatedAt: a.CreatedAt.UTC(),
		UpdatedAt: a.UpdatedAt.UTC(),
	}
	if out.Metadata == nil {
		out.Metadata = map[string]string{}
	}
	if a.UID != "" {
		uid := a.UID
		out.UID = &uid
	}
	if a.ThrottleRate > 0 {
		r := a.ThrottleRate
		out.RateLimit = &r
		if !legacyGoSDK {
			out.ThrottleRate = &r
		}
	}
	return out
}

// validate checks in and returns the throttle rate it asks for.
func (in *applicationIn) validate() (rate int, err error) {
	if in.Name == "" {
		return 0, invalidBody("name", "name is required")
	}
	if in.UID != nil {
		if err := checkUID("uid", *in.UID); err != nil {
			return 0, err
		}
	}
	if err := checkMetadata(in.Metadata); err != nil {
		return 0, err
	}
	r := in.ThrottleRate
	field := "throttleRate"
	if r == nil {
		r, field = in.RateLimit, "rateLimit"
	}
	if r != nil {
		if err := checkRate(field, *r, 1); err != nil {
			return 0, err
		}
		return *r, nil
	}
	return 0, nil
}

// newApplication builds an application from a validated in.
func newApplication(in *applicationIn, rate int, now time.Time) *herald.Application {
	app := &herald.Application{
		ID:           herald.NewID(herald.PrefixApp, now),
		Name:         in.Name,
		ThrottleRate: rate,
		Metadata:     in.Metadata,
		CreatedAt:    now,
		UpdatedAt:    now,
	}
	if in.UID != nil {
		app.UID = *in.UID
	}
	if app.Metadata == nil {
		app.Metadata = map[string]string{}
	}
	return app
}

func (s *Server) listApps(c *call) error {
	p, err := parseOrderedPage(c.r.URL.Query(), false)
	if err != nil {
		return err
	}
	apps, err := s.store.ListApplications(c.ctx, p.storePage())
	if err != nil {
		return err
	}
	legacy := c.legacyGoSDK()
	out := func(a *herald.Application) applicationOut { return toApplicationOut(a, legacy) }
	return c.json(http.StatusOK, listPage(p, apps, func(a *herald.Application) string { return a.ID }, out, true))
}

func (s *Server) createApp(c *call) error {
	getIfExists, err := parseBool(c.r.URL.Query(), "get_if_exists", false)
	if err != nil {
		return err
	}
	var in applicationIn
	if err := c.body(&in); err != nil {
		return err
	}
	rate, err := in.validate()
	if err != nil {
		return err
	}
	if getIfExists && in.UID != nil {
		app, err := s.store.GetApplication(c.ctx, *in.UID)
		if err == nil {
			return c.json(http.StatusOK, toApplicationOut(app, c.legacyGoSDK()))
		}
		if !errors.Is(err, herald.ErrNotFound) {
			return err
		}
	}
	app := newApplication(&in, rate, c.now)
	if err := s.store.CreateApplication(c.ctx, app); err != nil {
		if getIfExists && in.UID != nil && errors.Is(err, herald.ErrConflict) {
			// Another request created it since the lookup above.
			if got, gerr := s.store.GetApplication(c.ctx, *in.UID); gerr == nil {
				return c.json(http.StatusOK, toApplicationOut(got, c.legacyGoSDK()))
			}
		}
		return conflictUID(err, "application", app.UID)
	}
	return c.json(http.StatusCreated, toApplicationOut(app, c.legacyGoSDK()))
}

func (s *Server) getApp(c *call) error {
	return c.json(http.StatusOK, toApplicationOut(c.app, c.legacyGoSDK()))
}

// updateApp replaces an application, creating it (with the path as its
// uid) when it does not exist. A body without uid keeps the uid the path
// named it by, as on creation, so repeating the same PUT changes nothing.
func (s *Server) updateApp(c *call) error {
	var in applicationIn
	if err := c.body(&in); err != nil {
		return err
	}
	rate, err := in.validate()
	if err != nil {
		return err
	}
	id := c.path("app_id")
	app, err := s.store.GetApplication(c.ctx, id)
	if errors.Is(err, herald.ErrNotFound) {
		created := in
		if created.UID == nil {
			if err := checkUID("uid", id); err != nil {
				return herald.Errorf(herald.ENOTFOUND, "Application %q not found", id)
			}
			created.UID = &id
		}
		app = newApplication(&created, rate, c.now)
		err = s.store.CreateApplication(c.ctx, app)
		if err == nil {
			return c.json(http.StatusCreated, toApplicationOut(app, c.legacyGoSDK()))
		}
		if !errors.Is(err, herald.ErrConflict) {
			return err
		}
		// A concurrent PUT may have created it first: replace that one.
		// If the path still names nothing, the uid is another app's.
		conflict := conflictUID(err, "application", app.UID)
		if app, err = s.store.GetApplication(c.ctx, id); errors.Is(err, herald.ErrNotFound) {
			return conflict
		}
	}
	if err != nil {
		return err
	}
	app.Name, app.ThrottleRate, app.Metadata, app.UpdatedAt = in.Name, rate, in.Metadata, c.now
	switch {
	case in.UID != nil:
		app.UID = *in.UID
	case app.UID != id:
		app.UID = "" // named by its ID: the body replaces the uid too
	}
	if app.Metadata == nil {
		app.Metadata = map[string]string{}
	}
	return s.saveApp(c, app)
}

func (s *Server) patchApp(c *call) error {
	var in applicationPatch
	if err := c.body(&in); err != nil {
		return err
	}
	app := *c.app
	if in.Name.Set {
		if in.Name.Null || in.Name.V == "" {
			return invalidBody("name", "name must not be empty")
		}
		app.Name = in.Name.V
	}
	if in.UID.Set {
		app.UID = ""
		if !in.UID.Null {
			if err := checkUID("uid", in.UID.V); err != nil {
				return err
			}
			app.UID = in.UID.V
		}
	}
	if in.Metadata.Set {
		if err := checkMetadata(in.Metadata.V); err != nil {
			return err
		}
		app.Metadata = in.Metadata.V
		if app.Metadata == nil {
			app.Metadata = map[string]string{}
		}
	}
	rate, field := in.ThrottleRate, "throttleRate"
	if !rate.Set {
		rate, field = in.RateLimit, "rateLimit"
	}
	if rate.Set {
		app.ThrottleRate = 0
		if !rate.Null {
			if err := checkRate(field, rate.V, 0); err != nil {
				return err
			}
			app.ThrottleRate = rate.V
		}
	}
	app.UpdatedAt = c.now
	return s.saveApp(c, &app)
}

func (s *Server) saveApp(c *call, app *herald.Application) error {
	if err := s.store.UpdateApplication(c.ctx, app); err != nil {
		return conflictUID(err, "application", app.UID)
	}
	s.apps.forget(app.ID)
	s.pub.InvalidateApplication(app.ID)
	return c.json(http.StatusOK, toApplicationOut(app, c.legacyGoSDK()))
}

func (s *Server) deleteApp(c *call) error {
	if err := s.store.DeleteApplication(c.ctx, c.app.ID); err != nil {
		return err
	}
	s.apps.forget(c.app.ID)
	s.pub.InvalidateEndpoints(c.app.ID)
	return c.noContent(http.StatusNoContent)
}

// conflictUID turns a store conflict into a message naming the uid.
func conflictUID(err error, what, uid string) error {
	if errors.Is(err, herald.ErrConflict) {
		return herald.Errorf(herald.ECONFLICT, "An %s with uid %q already exists", what, uid)
	}
	return err
}
