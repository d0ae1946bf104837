package ui

import (
	"net/http"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// portalHome lists the application's endpoints and latest messages.
func (s *Server) portalHome(w http.ResponseWriter, r *http.Request, c *portalCtx) error {
	eps, err := s.endpointRows(r, c.app.ID)
	if err != nil {
		return err
	}
	msgs, err := s.store.ListAllMessages(r.Context(), store.DashboardMessageFilter{Page: store.Page{Limit: 20}, AppID: c.app.ID})
	if err != nil {
		return err
	}
	v := c.view
	v.Title, v.Nav = "Endpoints", "home"
	v.Data = struct {
		App       *herald.Application
		Endpoints []endpointRow
		Messages  []store.MessageRow
	}{c.app, eps, msgs}
	s.render(w, http.StatusOK, "portal_home", v)
	return nil
}

// endpointFormData fills the endpoint form.
type endpointFormData struct {
	Endpoint   *herald.Endpoint
	EventTypes []string
	Problem    string
}

func (s *Server) portalNewEndpoint(w http.ResponseWriter, r *http.Request, c *portalCtx) error {
	names, err := s.eventTypeNames(r.Context())
	if err != nil {
		return err
	}
	v := c.view
	v.Title, v.Nav, v.Data = "Add endpoint", "home", endpointFormData{Endpoint: &herald.Endpoint{}, EventTypes: names}
	s.render(w, http.StatusOK, "portal_endpoint_new", v)
	return nil
}

func (s *Server) portalCreateEndpoint(w http.ResponseWriter, r *http.Request, c *portalCtx) error {
	f, err := s.parseEndpointForm(r, true)
	if err != nil && herald.ErrorCode(err) != herald.EINVALID {
		return err
	}
	if err != nil {
		names, nerr := s.eventTypeNames(r.Context())
		if nerr != nil {
			return nerr
		}
		v := c.view
		v.Title, v.Nav = "Add endpoint", "home"
		v.Data = endpointFormData{
			Endpoint:   &herald.Endpoint{URL: f.URL, Description: f.Description, EventTypes: f.EventTypes},
			EventTypes: names, Problem: herald.ErrorDetail(err),
		}
		s.render(w, http.StatusBadRequest, "portal_endpoint_new", v)
		return nil
	}
	now := s.now()
	ep := &herald.Endpoint{
		ID: herald.NewID(herald.PrefixEndpoint, now), AppID: c.app.ID,
		URL: f.URL, Description: f.Description, EventTypes: f.EventTypes,
		Secrets:   []herald.Secret{{Key: newSecret()}},
		CreatedAt: now, UpdatedAt: now,
	}
	if err := s.store.CreateEndpoint(r.Context(), ep); err != nil {
		return err
	}
	s.engine.InvalidateEndpoints(c.app.ID)
	s.events.EndpointCreated(c.app, ep)
	redirect(w, r, "/ui/portal/endpoints/"+ep.ID, "/ui/portal/home", "created")
	return nil
}

func (s *Server) portalEndpoint(w http.ResponseWriter, r *http.Request, c *portalCtx) error {
	d, err := s.loadEndpointData(r, c.app, r.PathValue("ep"))
	if err != nil {
		return err
	}
	d.Base, d.CSRF, d.ReadOnly = "/ui/portal", c.view.CSRF, c.view.ReadOnly
	v := c.view
	v.Title, v.Nav, v.Data = d.Endpoint.URL, "home", d
	s.render(w, http.StatusOK, "portal_endpoint", v)
	return nil
}

func (s *Server) portalUpdateEndpoint(w http.ResponseWriter, r *http.Request, c *portalCtx) error {
	ep, err := s.store.GetEndpoint(r.Context(), c.app.ID, r.PathValue("ep"))
	if err != nil {
		return err
	}
	keepURL := fixedURL(ep.URL)
	f, err := s.parseEndpointForm(r, !keepURL)
	if err != nil {
		return err
	}
	err = s.saveEndpoint(r.Context(), c.app, ep.ID, func(ep *herald.Endpoint) {
		if !keepURL {
			ep.URL = f.URL
		}
		ep.Description, ep.EventTypes = f.Description, f.EventTypes
	})
	if err != nil {
		return err
	}
	redirect(w, r, "/ui/portal/endpoints/"+ep.ID, "/ui/portal/home", "saved")
	return nil
}

func (s *Server) portalDeleteEndpoint(w http.ResponseWriter, r *http.Request, c *portalCtx) error {
	ep, err := s.store.GetEndpoint(r.Context(), c.app.ID, r.PathValue("ep"))
	if err != nil {
		return err
	}
	if err := s.store.DeleteEndpoint(r.Context(), c.app.ID, ep.ID); err != nil {
		return err
	}
	s.engine.InvalidateEndpoints(c.app.ID)
	s.events.EndpointDeleted(c.app, ep)
	redirect(w, r, "/ui/portal/home", "/ui/portal/home", "deleted")
	return nil
}

func (s *Server) portalRotate(w http.ResponseWriter, r *http.Request, c *portalCtx) error {
	ep, err := s.store.GetEndpoint(r.Context(), c.app.ID, r.PathValue("ep"))
	if err != nil {
		return err
	}
	now := s.now()
	err = s.saveEndpoint(r.Context(), c.app, ep.ID, func(ep *herald.Endpoint) {
		ep.Secrets = rotateSecrets(ep.Secrets, now)
	})
	if err != nil {
		return err
	}
	redirect(w, r, "/ui/portal/endpoints/"+ep.ID, "/ui/portal/home", "rotated")
	return nil
}

func (s *Server) portalMessages(w http.ResponseWriter, r *http.Request, c *portalCtx) error {
	q := r.URL.Query()
	q.Del("app") // the session decides the application
	mq, f, err := parseMessageQuery(q)
	if err != nil {
		return err
	}
	f.AppID = c.app.ID
	d := messagesData{Query: mq, AppNames: map[string]string{c.app.ID: c.app.Name}, Statuses: statusChoices}
	if d.EventTypes, err = s.eventTypeNames(r.Context()); err != nil {
		return err
	}
	if d.Messages, err = s.store.ListAllMessages(r.Context(), f); err != nil {
		return err
	}
	d.Next = nextPage("/ui/portal/messages", q, len(d.Messages) == f.Limit, func() string { return d.Messages[len(d.Messages)-1].Message.ID })
	v := c.view
	v.Title, v.Nav, v.Data = "Messages", "messages", d
	s.render(w, http.StatusOK, "portal_messages", v)
	return nil
}

func (s *Server) portalMessage(w http.ResponseWriter, r *http.Request, c *portalCtx) error {
	d, err := s.loadMessage(r, c.app, r.PathValue("msg"), "/ui/portal")
	if err != nil {
		return err
	}
	d.CSRF, d.ReadOnly = c.view.CSRF, c.view.ReadOnly
	v := c.view
	v.Title, v.Nav, v.Data = "Message "+d.Message.ID, "messages", d
	s.render(w, http.StatusOK, "portal_message", v)
	return nil
}

func (s *Server) portalRetry(w http.ResponseWriter, r *http.Request, c *portalCtx) error {
	msgID := r.PathValue("msg")
	if err := s.retryDelivery(r.Context(), c.app.ID, msgID, r.PostFormValue("endpoint")); err != nil {
		return err
	}
	self := "/ui/portal/messages/" + msgID
	back := r.PostFormValue("back")
	if len(back) < len("/ui/portal/") || back[:len("/ui/portal/")] != "/ui/portal/" {
		back = self
	}
	redirect(w, r, back, self, "retried")
	return nil
}
