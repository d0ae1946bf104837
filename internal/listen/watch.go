package listen

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/coder/websocket"

	"github.com/heraldhq/herald/internal/herald"
)

// grant is what lets a session receive its application's deliveries: the
// token it connected with, checked only at the handshake otherwise.
type grant struct {
	expires time.Time // the token's expiry; zero: none
	// check re-checks the token (ServeListen's authorized); nil: the token
	// cannot be revoked.
	check func(context.Context) (time.Time, error)
}

// Close reasons; a close frame's reason is at most 123 bytes.
const (
	reasonTokenExpired     = "the token expired; run herald listen again with a valid token"
	reasonTokenRevoked     = "the token is no longer valid; run herald listen again with a valid token"
	reasonEndpointDisabled = "the endpoint was disabled; run herald listen again to re-enable it"
	reasonEndpointDeleted  = "the endpoint was deleted; run herald listen again to create it anew"
	reasonEndpointChanged  = "the endpoint's URL was changed: it is no longer a listen endpoint"
)

// watch ends the session when it may no longer receive deliveries: at its
// token's expiry, or when a check every checkInterval finds the token
// revoked or the endpoint disabled, deleted or given another URL. Without
// it a session would keep its application's events for as long as the
// connection lasts. It returns when ctx (the session's) ends.
func (h *Hub) watch(ctx context.Context, log *slog.Logger, s *session, appID string, ep *herald.Endpoint, g grant) {
	var expiry <-chan time.Time
	if !g.expires.IsZero() {
		t := time.NewTimer(g.expires.Sub(h.now()))
		defer t.Stop()
		expiry = t.C
	}
	tick := time.NewTicker(h.checkInterval)
	defer tick.Stop()
	for {
		code, reason := websocket.StatusCode(0), ""
		select {
		case <-ctx.Done():
			return
		case <-expiry:
			code, reason = CloseUnauthorized, reasonTokenExpired
		case <-tick.C:
			code, reason = h.check(ctx, log, appID, ep, g)
		}
		if code != 0 {
			log.Info("listen session closed by the server", slog.String("reason", reason))
			s.end(code, reason)
			return
		}
	}
}

// check reports why the session must end, or code 0 when it may go on. A
// failed lookup lets it go on: the next check tries again.
func (h *Hub) check(ctx context.Context, log *slog.Logger, appID string, ep *herald.Endpoint, g grant) (websocket.StatusCode, string) {
	if g.check != nil {
		_, err := g.check(ctx)
		switch {
		case herald.ErrorCode(err) == herald.EUNAUTHORIZED:
			return CloseUnauthorized, reasonTokenRevoked
		case err != nil && ctx.Err() == nil:
			log.Warn("listen: check the session's token", slog.Any("error", err))
		}
	}
	cur, err := h.store.GetEndpoint(ctx, appID, ep.ID)
	switch {
	case errors.Is(err, herald.ErrNotFound):
		return CloseEndpointGone, reasonEndpointDeleted
	case err != nil:
		if ctx.Err() == nil {
			log.Warn("listen: check the session's endpoint", slog.Any("error", err))
		}
	case cur.Disabled:
		return CloseEndpointGone, reasonEndpointDisabled
	case cur.URL != ep.URL:
		return CloseEndpointGone, reasonEndpointChanged
	}
	return 0, ""
}
