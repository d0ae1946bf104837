package ui

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/delivery"
	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// secretGrace is how long a rotated-out secret keeps signing, as in the API.
const secretGrace = 24 * time.Hour

// newSecret returns a fresh HMAC signing secret: whsec_ + base64 of 24
// random bytes.
func newSecret() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return "whsec_" + base64.StdEncoding.EncodeToString(b[:])
}

// rotateSecrets makes a new secret current; the previous current one
// signs for secretGrace more, and expired ones are dropped.
func rotateSecrets(secrets []herald.Secret, now time.Time) []herald.Secret {
	out := []herald.Secret{{Key: newSecret()}}
	for i, sec := range secrets {
		if i == 0 || sec.ExpiresAt.IsZero() {
			sec.ExpiresAt = now.Add(secretGrace)
		}
		if now.Before(sec.ExpiresAt) && len(out) < 10 {
			out = append(out, sec)
		}
	}
	return out
}

// endpointForm is the endpoint fields a form edits.
type endpointForm struct {
	URL         string
	Description string
	EventTypes  []string
}

// parseEndpointForm reads and checks the url, description and eventType
// fields of r's form. Without withURL the url field is neither read nor
// checked: the endpoint keeps its URL (see fixedURL).
func (s *Server) parseEndpointForm(r *http.Request, withURL bool) (endpointForm, error) {
	f := endpointForm{
		Description: strings.TrimSpace(r.PostFormValue("description")),
		EventTypes:  cleanList(r.PostForm["eventType"]),
	}
	if withURL {
		f.URL = strings.TrimSpace(r.PostFormValue("url"))
		if !httpURL(f.URL) {
			return f, herald.Errorf(herald.EINVALID, "The URL must be an absolute http or https URL")
		}
	}
	if len(f.Description) > 1000 {
		return f, herald.Errorf(herald.EINVALID, "The description must be at most 1000 characters")
	}
	return f, s.checkEventTypes(r.Context(), f.EventTypes)
}

// httpURL reports whether s is an absolute http or https URL, the only
// URLs the endpoint forms accept.
func httpURL(s string) bool {
	u, err := url.Parse(s)
	return s != "" && len(s) <= 65536 && err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Hostname() != ""
}

// fixedURL reports whether an endpoint's URL is one the forms could not
// have written: Herald's own address of a `herald listen` session or a
// poller. The forms show it but never change it, so such an endpoint's
// other settings can still be saved.
func fixedURL(u string) bool {
	return !httpURL(u)
}

// cleanList trims, drops empty and duplicate values, and sorts.
func cleanList(in []string) []string {
	var out []string
	for _, v := range in {
		if v = strings.TrimSpace(v); v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return out
}

// parseHeaders reads "Name: value" lines. The rules are the API's
// (herald.CheckHeader), so the form can save whatever the API set and the
// API can change whatever the form saved.
func parseHeaders(text string) (map[string]string, error) {
	out := map[string]string{}
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || name == "" {
			return nil, herald.Errorf(herald.EINVALID, "Write one header per line as Name: value (%q is not)", short(40, line))
		}
		if err := herald.CheckHeader(name, value); err != nil {
			return nil, err
		}
		out[http.CanonicalHeaderKey(name)] = value
	}
	if err := herald.CheckHeaderCount(len(out)); err != nil {
		return nil, err
	}
	return out, nil
}

// headerText writes headers as "Name: value" lines, sorted.
func headerText(h map[string]string) string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k + ": " + h[k] + "\n")
	}
	return b.String()
}

// eventTypeNames lists the names of the event types that are not archived.
func (s *Server) eventTypeNames(ctx context.Context) ([]string, error) {
	ets, err := s.store.ListEventTypes(ctx, store.Page{Limit: 250}, false)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(ets))
	for i, et := range ets {
		names[i] = et.Name
	}
	return names, nil
}

// checkEventTypes refuses an event-type filter naming a type that is not
// declared, as the API does for an endpoint's filterTypes: the endpoint
// would silently receive nothing. Archived types are refused too, as
// Svix's API refuses them.
func (s *Server) checkEventTypes(ctx context.Context, types []string) error {
	for _, t := range types {
		if !herald.ValidName(t, 256) {
			return herald.Errorf(herald.EINVALID, "%q is not an event type name: 1 to 256 letters, digits, '-', '_' or '.'", short(40, t))
		}
		et, err := s.store.GetEventType(ctx, t)
		switch {
		case errors.Is(err, herald.ErrNotFound):
			return herald.Errorf(herald.EINVALID, "Event type %q does not exist", t)
		case err != nil:
			return err
		case et.Archived:
			return herald.Errorf(herald.EINVALID, "Event type %q is archived", t)
		}
	}
	return nil
}

// endpointState is how an endpoint is doing, for badges.
func endpointState(ep *herald.Endpoint) string {
	switch {
	case ep.Disabled:
		return "disabled"
	case !ep.FailingSince.IsZero():
		return "failing"
	}
	return "healthy"
}

// saveEndpoint applies change to endpoint id of app as the store has it,
// in the store's transaction, so a concurrent change (the engine
// disabling the endpoint) is kept, and tells the engine and the
// operational events. change must be quick and do no I/O.
func (s *Server) saveEndpoint(ctx context.Context, app *herald.Application, id string, change func(*herald.Endpoint)) error {
	var wasDisabled bool
	now := s.now()
	ep, err := s.store.UpdateEndpoint(ctx, app.ID, id, func(ep *herald.Endpoint) error {
		wasDisabled = ep.Disabled
		change(ep)
		ep.UpdatedAt = now
		return nil
	})
	if err != nil {
		return err
	}
	s.engine.InvalidateEndpoints(ep.AppID)
	s.events.EndpointUpdated(app, ep, ep.Disabled && !wasDisabled)
	return nil
}

// retryDelivery schedules a manual attempt of msgID to endpointID in
// appID, after checking that both belong to the application.
func (s *Server) retryDelivery(ctx context.Context, appID, msgID, endpointID string) error {
	msg, err := s.store.GetMessage(ctx, appID, msgID)
	if err != nil {
		return err
	}
	ep, err := s.store.GetEndpoint(ctx, appID, endpointID)
	if err != nil {
		return err
	}
	if err := checkSends(ep); err != nil {
		return err
	}
	if msg.Payload == nil {
		return herald.Errorf(herald.EINVALID, "Message %q has no content any more (it was deleted): there is nothing to send", msg.ID)
	}
	if err := s.store.Resend(ctx, appID, msg.ID, ep.ID, s.now()); err != nil {
		return err
	}
	s.engine.Wake()
	return nil
}

// checkSends refuses a polling endpoint to the actions that send to one
// (retry, recover), with the API's reason: nothing can be sent to it, so
// the engine would fail every attempt and mark the poller failing.
func checkSends(ep *herald.Endpoint) error {
	if delivery.IsPollURL(ep.URL) {
		return herald.Errorf(herald.EINVALID, "Endpoint %q is a polling endpoint: its consumers read messages through the poller API, nothing is sent to it", ep.ID)
	}
	return nil
}

// sinceChoices are the windows the recover forms offer.
var sinceChoices = []struct {
	Value, Label string
}{
	{"1h", "the last hour"},
	{"6h", "the last 6 hours"},
	{"24h", "the last 24 hours"},
	{"72h", "the last 3 days"},
	{"168h", "the last 7 days"},
	{"336h", "the last 14 days"},
}

// parseSince reads one of sinceChoices.
func parseSince(v string, now time.Time) (time.Time, error) {
	for _, c := range sinceChoices {
		if c.Value == v {
			d, _ := time.ParseDuration(v)
			return now.Add(-d), nil
		}
	}
	return time.Time{}, herald.Errorf(herald.EINVALID, "Choose how far back to recover")
}
