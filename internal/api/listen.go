package api

import (
	"net/http"

	"github.com/heraldhq/herald/internal/herald"
)

// Listener serves `herald listen` sessions (internal/listen's Hub).
type Listener interface {
	// ServeListen registers a session for app, upgrades the request to a
	// WebSocket and serves it until it ends. It returns an error only
	// before the upgrade, for the API to answer.
	ServeListen(w http.ResponseWriter, r *http.Request, app *herald.Application) error
}

// listen opens a listen session: GET /api/v1/app/{app_id}/listen?name=...
// upgraded to a WebSocket. It takes the admin token or the application's.
func (s *Server) listen(c *call) error {
	if s.listener == nil {
		return herald.Errorf(herald.ENOTFOUND, "herald listen is not enabled on this server")
	}
	return s.listener.ServeListen(c.w, c.r, c.app)
}
