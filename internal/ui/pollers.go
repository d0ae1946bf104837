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
	if !validPollerName(name) {
		return herald.Errorf(herald.EINVALID, "The name must be 1 to 256 letters, digits, '-', '_' or '.'")
	}
	desc := strings.TrimSpace(r.PostFormValue("description"))
	if len(desc) > 1000 {
		return herald.Errorf(herald.EINVALID, "The description must be at most 1000 characters")
	}
	now := s.now()
	ep := &herald.Endpoint{
		ID: herald.NewID(herald.PrefixEndpoint, now), AppID: app.ID, UID: name,
		URL:         delivery.PollScheme + "://" + app.ID + "/" + name,
		Description: desc, EventTypes: cleanList(r.PostForm["eventType"]),
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

func validPollerName(name string) bool {
	if name == "" || len(name) > 256 {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}
