package ui

import (
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// failedData is the failed deliveries panel.
type failedData struct {
	Rows    []store.FailedDelivery
	Next    string // link to the next page; empty on the last
	App     string // the application filter; empty: every application
	AppName string
	Apps    []herald.Application
	Since   any
}

// failed lists deliveries that gave up, across applications, each with a
// Retry button, and offers a bulk recover.
func (s *Server) failed(w http.ResponseWriter, r *http.Request, c *ctx) error {
	ctx := r.Context()
	q := r.URL.Query()
	f := store.FailedFilter{Limit: 50, Iterator: q.Get("before")}
	d := failedData{App: q.Get("app"), Since: sinceChoices}
	if d.App != "" {
		app, err := s.store.GetApplication(ctx, d.App)
		if err != nil {
			return err
		}
		f.AppID, d.AppName = app.ID, app.Name
	}
	var err error
	if d.Apps, err = s.store.ListApplications(ctx, store.Page{Limit: 250}); err != nil {
		return err
	}
	if d.Rows, err = s.store.ListFailed(ctx, f); err != nil {
		return err
	}
	d.Next = nextPage("/ui/failed", q, len(d.Rows) == f.Limit, func() string { return d.Rows[len(d.Rows)-1].Cursor() })
	v := c.view
	v.Title, v.Nav, v.Data = "Failed deliveries", "failed", d
	s.render(w, http.StatusOK, "failed", v)
	return nil
}

// recoverSince schedules a new attempt for every failed delivery created
// in the chosen window, on every endpoint that has one, of the application
// the page was filtered on (the form's app), or of every application when
// it was not: the button acts on what the page shows.
func (s *Server) recoverSince(w http.ResponseWriter, r *http.Request, c *ctx) error {
	ctx := r.Context()
	now := s.now()
	since, err := parseSince(r.PostFormValue("since"), now)
	if err != nil {
		return err
	}
	back, appID := "/ui/failed", r.PostFormValue("app")
	if appID != "" {
		app, err := s.store.GetApplication(ctx, appID)
		if err != nil {
			return err
		}
		appID, back = app.ID, "/ui/failed?"+url.Values{"app": {app.ID}}.Encode()
	}
	keys, err := s.store.FailedEndpoints(ctx, since)
	if err != nil {
		return err
	}
	total, endpoints := 0, 0
	for _, k := range keys {
		if appID != "" && k.AppID != appID {
			continue
		}
		// A polling endpoint is never sent to (checkSends): what failed
		// there stays failed rather than failing again.
		ep, err := s.store.GetEndpoint(ctx, k.AppID, k.EndpointID)
		if errors.Is(err, herald.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if checkSends(ep) != nil {
			continue
		}
		n, err := s.store.Recover(ctx, k.AppID, k.EndpointID, since, now.Add(time.Millisecond), now)
		if err != nil {
			return err
		}
		total += n
		endpoints++
	}
	s.engine.Wake()
	s.log.Info("ui: recovered failed deliveries", "count", total, "endpoints", endpoints, "app_id", appID)
	redirect(w, r, back, back, "recovered")
	return nil
}
