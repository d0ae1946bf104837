package ui

import (
	"encoding/json"
	"net/http"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/inbound"
	"github.com/heraldhq/herald/internal/store"
)

// Inbound is what the receiving side tells the dashboard beyond the
// store: the requests a source refused, which are never stored.
type Inbound interface {
	Refusals(sourceID string) []inbound.Refusal
}

// sourceRow is one source in the list.
type sourceRow struct {
	Source   store.Source
	AppName  string
	Type     string // the verifier preset
	Refused  int64  // since this node started
	Accepted int    // in the latest page of events
}

func (s *Server) sources(w http.ResponseWriter, r *http.Request, c *ctx) error {
	ctx := r.Context()
	srcs, err := s.store.ListSources(ctx, store.Page{Limit: 250})
	if err != nil {
		return err
	}
	rows := make([]sourceRow, 0, len(srcs))
	for _, src := range srcs {
		row := sourceRow{Source: src, Type: verifierType(src.Verifier)}
		if app, err := s.store.GetApplication(ctx, src.AppID); err == nil {
			row.AppName = app.Name
		}
		for _, ref := range s.refusals(src.ID) {
			row.Refused += ref.Count
		}
		rows = append(rows, row)
	}
	v := c.view
	v.Title, v.Nav, v.Data = "Sources", "sources", rows
	s.render(w, http.StatusOK, "sources", v)
	return nil
}

func (s *Server) source(w http.ResponseWriter, r *http.Request, c *ctx) error {
	ctx := r.Context()
	src, err := s.store.GetSource(ctx, r.PathValue("src"))
	if err != nil {
		return err
	}
	events, err := s.store.ListInboundEvents(ctx, src.ID, store.Page{Limit: 50})
	if err != nil {
		return err
	}
	app, err := s.store.GetApplication(ctx, src.AppID)
	if err != nil {
		return err
	}
	v := c.view
	v.Title, v.Nav = src.Name, "sources"
	v.Data = struct {
		Source   *store.Source
		App      *herald.Application
		Type     string
		Events   []store.InboundEvent
		Refusals []inbound.Refusal
	}{src, app, verifierType(src.Verifier), events, s.refusals(src.ID)}
	s.render(w, http.StatusOK, "source", v)
	return nil
}

func (s *Server) refusals(sourceID string) []inbound.Refusal {
	if s.inbound == nil {
		return nil
	}
	return s.inbound.Refusals(sourceID)
}

// verifierType reads the preset name out of a stored verifier config,
// without its secrets.
func verifierType(raw json.RawMessage) string {
	var v struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(raw, &v)
	return v.Type
}
