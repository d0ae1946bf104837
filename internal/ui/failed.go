package ui

import (
	"net/http"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// failedData is the failed deliveries panel.
type failedData struct {
	Rows  []store.FailedDelivery
	Next  string
	App   string
	Apps  []herald.Application
	Since any
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
		f.AppID = app.ID
	}
	var err error
	if d.Apps, err = s.store.ListApplications(ctx, store.Page{Limit: 250}); err != nil {
		return err
	}
	if d.Rows, err = s.store.ListFailed(ctx, f); err != nil {
		return err
	}
	d.Next = nextPage(q, len(d.Rows) == f.Limit, func() string { return d.Rows[len(d.Rows)-1].Cursor() })
	v := c.view
	v.Title, v.Nav, v.Data = "Failed deliveries", "failed", d
	s.render(w, http.StatusOK, "failed", v)
	return nil
}

// recoverSince schedules a new attempt for every failed delivery created
// in the chosen window, across every endpoint that has one.
func (s *Server) recoverSince(w http.ResponseWriter, r *http.Request, c *ctx) error {
	ctx := r.Context()
	now := s.now()
	since, err := parseSince(r.PostFormValue("since"), now)
	if err != nil {
		return err
	}
	keys, err := s.store.FailedEndpoints(ctx, since)
	if err != nil {
		return err
	}
	total := 0
	for _, k := range keys {
		n, err := s.store.Recover(ctx, k.AppID, k.EndpointID, since, now.Add(time.Millisecond), now)
		if err != nil {
			return err
		}
		total += n
	}
	s.engine.Wake()
	s.log.Info("ui: recovered failed deliveries", "count", total, "endpoints", len(keys))
	redirect(w, r, "/ui/failed", "/ui/failed", "recovered")
	return nil
}
