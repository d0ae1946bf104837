package ui

import (
	"errors"
	"net/http"
	"strings"

	"github.com/heraldhq/herald/internal/delivery"
	"github.com/heraldhq/herald/internal/herald"
)

// createPoller creates a polling endpoint from the application page: an
// endpoint that Herald never calls, whose consumers pull messages through
// the poller API. Its name becomes its UID, the sink ID of that API.
func (s *Server) createPoller(w http.ResponseWriter, r *http.Request, c *ctx) error {
	ctx := r.Context()
	app, err := s.store.GetApplication(ctx, r.PathValue("app"))
	if err != nil {
		return err
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	if !herald.ValidName(name, 256) {
		return herald.Errorf(herald.EINVALID, "The name must be 1 to 256 letters, digits, '-', '_' or '.'")
	}
	desc := strings.TrimSpace(r.PostFormValue("description"))
	if len(desc) > 1000 {
		return herald.Errorf(herald.EINVALID, "The description must be at most 1000 characters")
	}
	types := cleanList(r.PostForm["eventType"])
	if err := s.checkEventTypes(ctx, types); err != nil {
		return err
	}
	now := s.now()
	ep := &herald.Endpoint{
		ID: herald.NewID(herald.PrefixEndpoint, now), AppID: app.ID, UID: name,
		URL:         delivery.PollScheme + "://" + app.ID + "/" + name,
		Description: desc, EventTypes: types,
		Metadata:  map[string]string{},
		Secrets:   []herald.Secret{{Key: newSecret()}},
		CreatedAt: now, UpdatedAt: now,
	}
	if err := s.store.CreateEndpoint(ctx, ep); err != nil {
		if errors.Is(err, herald.ErrConflict) {
			return herald.Errorf(herald.ECONFLICT, "An endpoint of this application is already named %q", name)
		}
		return err
	}
	s.engine.InvalidateEndpoints(app.ID)
	s.events.EndpointCreated(app, ep) // it is an endpoint like any other
	back := "/ui/apps/" + app.ID + "/endpoints/" + ep.ID
	redirect(w, r, back, back, "created")
	return nil
}
