package ui

import (
	"net/http"
	"slices"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// appRow is one application in the list.
type appRow struct {
	App                          herald.Application
	Endpoints, Failing, Disabled int
}

func (s *Server) apps(w http.ResponseWriter, r *http.Request, c *ctx) error {
	ctx := r.Context()
	page := store.Page{Limit: 50, Iterator: r.URL.Query().Get("after")}
	list, err := s.store.ListApplications(ctx, page)
	if err != nil {
		return err
	}
	rows := make([]appRow, len(list))
	for i, app := range list {
		rows[i].App = app
		eps, err := s.store.ListEndpoints(ctx, app.ID, store.Page{Limit: 250})
		if err != nil {
			return err
		}
		rows[i].Endpoints = len(eps)
		for _, ep := range eps {
			switch endpointState(&ep) {
			case "failing":
				rows[i].Failing++
			case "disabled":
				rows[i].Disabled++
			}
		}
	}
	next := ""
	if len(list) == page.Limit {
		next = list[len(list)-1].ID
	}
	v := c.view
	v.Title, v.Nav = "Applications", "apps"
	v.Data = struct {
		Apps []appRow
		Next string
	}{rows, next}
	s.render(w, http.StatusOK, "apps", v)
	return nil
}

// endpointRow is an endpoint with its last 24 hours.
type endpointRow struct {
	Endpoint herald.Endpoint
	State    string
	Stats    store.Stats
}

func (s *Server) endpointRows(r *http.Request, appID string) ([]endpointRow, error) {
	ctx := r.Context()
	eps, err := s.store.ListEndpoints(ctx, appID, store.Page{Limit: 250})
	if err != nil {
		return nil, err
	}
	now := s.now()
	rows := make([]endpointRow, len(eps))
	for i, ep := range eps {
		st, err := s.store.EndpointStats(ctx, appID, ep.ID, now.Add(-overviewWindow), now.Add(time.Millisecond))
		if err != nil {
			return nil, err
		}
		rows[i] = endpointRow{Endpoint: ep, State: endpointState(&ep), Stats: st}
	}
	return rows, nil
}

func (s *Server) app(w http.ResponseWriter, r *http.Request, c *ctx) error {
	ctx := r.Context()
	app, err := s.store.GetApplication(ctx, r.PathValue("app"))
	if err != nil {
		return err
	}
	eps, err := s.endpointRows(r, app.ID)
	if err != nil {
		return err
	}
	msgs, err := s.store.ListAllMessages(ctx, store.DashboardMessageFilter{Page: store.Page{Limit: 20}, AppID: app.ID})
	if err != nil {
		return err
	}
	v := c.view
	v.Title, v.Nav = app.Name, "apps"
	v.Data = struct {
		App       *herald.Application
		Endpoints []endpointRow
		Messages  []store.MessageRow
	}{app, eps, msgs}
	s.render(w, http.StatusOK, "app", v)
	return nil
}

// endpointData is an endpoint's page, for operators and the portal.
type endpointData struct {
	App        *herald.Application
	Endpoint   *herald.Endpoint
	State      string
	Stats      store.Stats
	Headers    string
	EventTypes []string // every event type, to choose filters from
	Attempts   []herald.Attempt
	Since      any
	Base       string // URL prefix of the application's pages
	CSRF       string
	ReadOnly   bool // a read-only portal link: show no controls
	FixedURL   bool // the URL is Herald's own (fixedURL): shown, not edited
	Polling    bool // a polling endpoint: nothing is sent to it, so no recover
}

func (s *Server) loadEndpointData(r *http.Request, app *herald.Application, epID string) (*endpointData, error) {
	ctx := r.Context()
	ep, err := s.store.GetEndpoint(ctx, app.ID, epID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	st, err := s.store.EndpointStats(ctx, app.ID, ep.ID, now.Add(-overviewWindow), now.Add(time.Millisecond))
	if err != nil {
		return nil, err
	}
	names, err := s.eventTypeNames(ctx)
	if err != nil {
		return nil, err
	}
	for _, et := range ep.EventTypes {
		if !slices.Contains(names, et) {
			names = append(names, et)
		}
	}
	atts, err := s.store.ListAttempts(ctx, app.ID, store.AttemptFilter{Page: store.Page{Limit: 25}, EndpointID: ep.ID})
	if err != nil {
		return nil, err
	}
	return &endpointData{
		App: app, Endpoint: ep, State: endpointState(ep), Stats: st,
		Headers: headerText(ep.Headers), EventTypes: names, Attempts: atts, Since: sinceChoices,
		FixedURL: fixedURL(ep.URL), Polling: checkSends(ep) != nil,
	}, nil
}

func (s *Server) endpoint(w http.ResponseWriter, r *http.Request, c *ctx) error {
	app, err := s.store.GetApplication(r.Context(), r.PathValue("app"))
	if err != nil {
		return err
	}
	d, err := s.loadEndpointData(r, app, r.PathValue("ep"))
	if err != nil {
		return err
	}
	d.Base, d.CSRF = "/ui/apps/"+app.ID, c.view.CSRF
	v := c.view
	v.Title, v.Nav, v.Data = d.Endpoint.URL, "apps", d
	s.render(w, http.StatusOK, "endpoint", v)
	return nil
}

// endpointAction applies one operator action to an endpoint: enable,
// disable, rotate, headers, filters or recover.
func (s *Server) endpointAction(w http.ResponseWriter, r *http.Request, c *ctx) error {
	ctx := r.Context()
	app, err := s.store.GetApplication(ctx, r.PathValue("app"))
	if err != nil {
		return err
	}
	ep, err := s.store.GetEndpoint(ctx, app.ID, r.PathValue("ep"))
	if err != nil {
		return err
	}
	back := "/ui/apps/" + app.ID + "/endpoints/" + ep.ID
	now := s.now()
	var (
		change func(*herald.Endpoint)
		done   string
	)
	switch r.PathValue("action") {
	case "enable":
		change, done = func(ep *herald.Endpoint) { ep.Disabled, ep.FailingSince = false, time.Time{} }, "enabled"
	case "disable":
		change, done = func(ep *herald.Endpoint) { ep.Disabled = true }, "disabled"
	case "rotate":
		change, done = func(ep *herald.Endpoint) { ep.Secrets = rotateSecrets(ep.Secrets, now) }, "rotated"
	case "headers":
		headers, err := parseHeaders(r.PostFormValue("headers"))
		if err != nil {
			return err
		}
		change, done = func(ep *herald.Endpoint) { ep.Headers = headers }, "saved"
	case "filters":
		types := cleanList(r.PostForm["eventType"])
		if err := s.checkEventTypes(ctx, types); err != nil {
			return err
		}
		change, done = func(ep *herald.Endpoint) { ep.EventTypes = types }, "saved"
	case "recover":
		if err := checkSends(ep); err != nil {
			return err
		}
		since, err := parseSince(r.PostFormValue("since"), now)
		if err != nil {
			return err
		}
		if _, err := s.store.Recover(ctx, app.ID, ep.ID, since, now.Add(time.Millisecond), now); err != nil {
			return err
		}
		s.engine.Wake()
		redirect(w, r, back, back, "recovered")
		return nil
	default:
		return herald.Errorf(herald.ENOTFOUND, "No such action")
	}
	if err := s.saveEndpoint(ctx, app, ep.ID, change); err != nil {
		return err
	}
	redirect(w, r, back, back, done)
	return nil
}
