package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/heraldhq/herald/internal/herald"
)

// Listener serves `herald listen` sessions (internal/listen's Hub).
type Listener interface {
	// ServeListen registers a session for app, upgrades the request to a
	// WebSocket and serves it until it ends. It returns an error only
	// before the upgrade, for the API to answer. authorized re-checks the
	// request's token for as long as the session lasts: it returns the
	// token's expiry (zero: none), or an error with code EUNAUTHORIZED
	// once the token expired or was revoked. It is nil for a token that
	// can do neither.
	ServeListen(w http.ResponseWriter, r *http.Request, app *herald.Application, authorized func(context.Context) (time.Time, error)) error
}

// listen opens a listen session: GET /api/v1/app/{app_id}/listen?name=...
// upgraded to a WebSocket. It takes the admin token or the application's.
func (s *Server) listen(c *call) error {
	if s.listener == nil {
		return herald.Errorf(herald.ENOTFOUND, "herald listen is not enabled on this server")
	}
	return s.listener.ServeListen(c.w, c.r, c.app, s.tokenCheck(c.who))
}

// tokenCheck returns how a listen session re-checks the token that opened
// it: a session outlives its handshake, and must not outlive its token.
// It looks the token up as authenticate does. The configured admin token
// cannot expire or be revoked: nil.
func (s *Server) tokenCheck(who principal) func(context.Context) (time.Time, error) {
	if !who.stored {
		return nil
	}
	hash := who.hash
	return func(ctx context.Context) (time.Time, error) {
		t, err := s.store.GetToken(ctx, hash)
		switch {
		case errors.Is(err, herald.ErrNotFound):
			return time.Time{}, herald.Errorf(herald.EUNAUTHORIZED, "The token was revoked")
		case err != nil:
			return time.Time{}, err
		}
		if !t.ExpiresAt.IsZero() && !s.now().Before(t.ExpiresAt) {
			return t.ExpiresAt, herald.Errorf(herald.EUNAUTHORIZED, "The token has expired")
		}
		return t.ExpiresAt, nil
	}
}
