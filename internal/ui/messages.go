package ui

import (
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// timeInput is the format of datetime-local inputs; times are UTC.
const timeInput = "2006-01-02T15:04"

// messageQuery is the filter form of a message list, as submitted.
type messageQuery struct {
	App, EventType, Status, From, To string
}

// parseMessageQuery reads the filter form of the messages page.
func parseMessageQuery(q url.Values) (messageQuery, store.DashboardMessageFilter, error) {
	mq := messageQuery{App: q.Get("app"), EventType: q.Get("eventType"), Status: q.Get("status"), From: q.Get("from"), To: q.Get("to")}
	f := store.DashboardMessageFilter{Page: store.Page{Limit: 50, Iterator: q.Get("before")}, EventType: mq.EventType}
	if mq.Status != "" {
		n, err := strconv.Atoi(mq.Status)
		if err != nil || n < 0 || n > 4 {
			return mq, f, herald.Errorf(herald.EINVALID, "Unknown status %q", mq.Status)
		}
		st := herald.MessageStatus(n)
		f.Status = &st
	}
	for _, t := range []struct {
		in  string
		out *time.Time
	}{{mq.From, &f.Since}, {mq.To, &f.Until}} {
		if t.in == "" {
			continue
		}
		v, err := time.Parse(timeInput, t.in)
		if err != nil {
			return mq, f, herald.Errorf(herald.EINVALID, "Times look like 2025-01-31T14:05")
		}
		*t.out = v
	}
	return mq, f, nil
}

// statusChoices are the statuses a message list filters on.
var statusChoices = []struct {
	Value, Label string
}{{"0", "Succeeded"}, {"3", "Retrying"}, {"1", "Pending"}, {"2", "Failed"}, {"4", "Canceled"}}

// messagesData is a message list page.
type messagesData struct {
	Query      messageQuery
	Apps       []herald.Application
	AppNames   map[string]string
	EventTypes []string
	Statuses   any
	Messages   []store.MessageRow
	Next       string // link to the next page; empty on the last
}

func (s *Server) messages(w http.ResponseWriter, r *http.Request, c *ctx) error {
	ctx := r.Context()
	mq, f, err := parseMessageQuery(r.URL.Query())
	if err != nil {
		return err
	}
	apps, err := s.store.ListApplications(ctx, store.Page{Limit: 250})
	if err != nil {
		return err
	}
	d := messagesData{Query: mq, Apps: apps, AppNames: map[string]string{}, Statuses: statusChoices}
	for _, a := range apps {
		d.AppNames[a.ID] = a.Name
	}
	if mq.App != "" {
		app, err := s.store.GetApplication(ctx, mq.App)
		if err != nil {
			return err
		}
		f.AppID = app.ID
		d.AppNames[app.ID] = app.Name
	}
	if d.EventTypes, err = s.eventTypeNames(ctx); err != nil {
		return err
	}
	if d.Messages, err = s.store.ListAllMessages(ctx, f); err != nil {
		return err
	}
	d.Next = nextPage("/ui/messages", r.URL.Query(), len(d.Messages) == f.Limit, func() string { return d.Messages[len(d.Messages)-1].Message.ID })
	v := c.view
	v.Title, v.Nav, v.Data = "Messages", "messages", d
	s.render(w, http.StatusOK, "messages", v)
	return nil
}

// nextPage returns the link to the page of path after this one, or "" when
// this one was not full. It is a whole link, not a query string for the
// template to append: html/template escapes a query string inserted after
// "?" as one value, so its '=' and '&' would never reach the server.
func nextPage(path string, q url.Values, full bool, last func() string) string {
	if !full {
		return ""
	}
	n := url.Values{}
	for k, v := range q {
		if k != "before" && k != "done" {
			n[k] = v
		}
	}
	n.Set("before", last())
	return path + "?" + n.Encode()
}

// messageData is a message's page: its payload, where it went, and every
// attempt.
type messageData struct {
	App          *herald.Application
	Message      *herald.Message
	Destinations []store.MessageDestination
	Attempts     []herald.Attempt
	Base         string // the app's URL prefix for links
	CSRF         string
	ReadOnly     bool // a read-only portal link: no Retry buttons
}

func (s *Server) loadMessage(r *http.Request, app *herald.Application, msgID, base string) (*messageData, error) {
	ctx := r.Context()
	msg, err := s.store.GetMessage(ctx, app.ID, msgID)
	if err != nil {
		return nil, err
	}
	dests, err := s.store.ListMessageDestinations(ctx, app.ID, msg.ID, store.Page{Limit: 250})
	if err != nil {
		return nil, err
	}
	atts, err := s.store.ListAttempts(ctx, app.ID, store.AttemptFilter{Page: store.Page{Limit: 250}, MsgID: msg.ID})
	if err != nil {
		return nil, err
	}
	return &messageData{App: app, Message: msg, Destinations: dests, Attempts: atts, Base: base}, nil
}

func (s *Server) message(w http.ResponseWriter, r *http.Request, c *ctx) error {
	app, err := s.store.GetApplication(r.Context(), r.PathValue("app"))
	if err != nil {
		return err
	}
	d, err := s.loadMessage(r, app, r.PathValue("msg"), "/ui/apps/"+app.ID)
	if err != nil {
		return err
	}
	d.CSRF = c.view.CSRF
	v := c.view
	v.Title, v.Nav, v.Data = "Message "+d.Message.ID, "messages", d
	s.render(w, http.StatusOK, "message", v)
	return nil
}

// retry schedules a manual attempt of a message to one endpoint, then
// returns to the page the button was on.
func (s *Server) retry(w http.ResponseWriter, r *http.Request, c *ctx) error {
	app, err := s.store.GetApplication(r.Context(), r.PathValue("app"))
	if err != nil {
		return err
	}
	msgID := r.PathValue("msg")
	if err := s.retryDelivery(r.Context(), app.ID, msgID, r.PostFormValue("endpoint")); err != nil {
		return err
	}
	self := "/ui/apps/" + app.ID + "/messages/" + msgID
	redirect(w, r, r.PostFormValue("back"), self, "retried")
	return nil
}

func (s *Server) eventTypes(w http.ResponseWriter, r *http.Request, c *ctx) error {
	ets, err := s.store.ListEventTypes(r.Context(), store.Page{Limit: 250}, true)
	if err != nil {
		return err
	}
	v := c.view
	v.Title, v.Nav, v.Data = "Event types", "eventtypes", ets
	s.render(w, http.StatusOK, "eventtypes", v)
	return nil
}
