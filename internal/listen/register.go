package listen

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/webhook"
)

// ServeListen registers a listen session for app and serves it until it
// disconnects. The caller has authenticated the request for app. The query
// names the session (name, required) and may filter it by event type
// (events, comma-separated). Errors before the WebSocket is accepted are
// returned for the caller to answer; afterwards ServeListen returns nil.
//
// authorized re-checks the request's token: it returns the token's expiry
// (zero: none), or an error with code herald.EUNAUTHORIZED once the token
// no longer allows the session. The session ends at that expiry and when a
// periodic check fails so. A nil authorized is a token that can neither
// expire nor be revoked (the configured admin token).
func (h *Hub) ServeListen(w http.ResponseWriter, r *http.Request, app *herald.Application, authorized func(context.Context) (time.Time, error)) error {
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		return herald.Errorf(herald.EBADREQUEST, "This route opens a herald listen session: it needs a WebSocket upgrade")
	}
	q := r.URL.Query()
	name := q.Get("name")
	if !ValidName(name) {
		return herald.Errorf(herald.EINVALID, "name must be 1 to 63 letters, digits, '.', '_' or '-', starting with a letter or digit")
	}
	events := splitList(q.Get("events"))
	if err := CheckEventTypes(events); err != nil {
		return herald.Errorf(herald.EINVALID, "events: %v", err)
	}
	g := grant{check: authorized}
	if authorized != nil {
		expires, err := authorized(r.Context())
		if err != nil {
			return err
		}
		g.expires = expires
	}
	ep, err := h.register(r.Context(), app, name, events)
	if errors.Is(err, errRaced) {
		// A retry succeeds: the Retry-After tells the CLI this conflict,
		// unlike a UID another endpoint holds, is worth retrying.
		w.Header().Set("Retry-After", "1")
	}
	if err != nil {
		return err
	}
	if e := h.currentEngine(); e != nil {
		e.InvalidateEndpoints(app.ID)
	}

	// The server's read and write timeouts would end a long-lived session:
	// the WebSocket keeps its own liveness with pings.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	conn, err := websocket.Accept(w, r, nil)
	if err != nil {
		h.log.Warn("listen: websocket upgrade failed", slog.String("app_id", app.ID), slog.Any("error", err))
		return nil // Accept answered
	}
	conn.SetReadLimit(h.maxFrame)
	s := h.newSession(sessionKey(app.ID, name), conn)
	old, err := h.put(s)
	if err != nil {
		_ = conn.Close(websocket.StatusGoingAway, "server shutting down")
		return nil
	}
	if old != nil {
		old.end(CloseReplaced, "replaced by a newer session with the same name")
	}
	h.serve(r.Context(), s, app.ID, ep, g)
	return nil
}

// serve runs one session: ready frame, backlog, then responses until the
// connection ends.
func (h *Hub) serve(ctx context.Context, s *session, appID string, ep *herald.Endpoint, g grant) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	log := h.log.With(slog.String("app_id", appID), slog.String("endpoint_id", ep.ID))
	defer func() {
		s.finish()
		h.remove(s)
		log.Info("listen session ended")
	}()

	ready, _ := EncodeFrame(&Frame{Type: FrameReady, EndpointID: ep.ID, EndpointUID: ep.UID, URL: ep.URL, Secret: currentSecret(ep)})
	if err := s.conn.Write(ctx, websocket.MessageText, ready); err != nil {
		s.conn.CloseNow()
		return
	}
	log.Info("listen session connected", slog.Any("event_types", ep.EventTypes))
	h.expedite(ctx, log, appID, ep.ID)

	var work sync.WaitGroup
	work.Go(func() { s.write(ctx) })
	work.Go(func() { h.watch(ctx, log, s, appID, ep, g) })
	work.Go(func() {
		// An attempt that failed as offline just before the session
		// connected is recorded a moment later, with a retry time the first
		// expedite could not see: bring those forward too.
		t := time.NewTimer(resettle)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		h.expedite(ctx, log, appID, ep.ID)
		h.ping(ctx, s)
	})
	defer func() {
		cancel()
		work.Wait()
	}()
	for {
		_, b, err := s.conn.Read(ctx)
		if err != nil {
			s.conn.CloseNow()
			return
		}
		f, err := DecodeFrame(b)
		if err != nil || f.Type != FrameResponse {
			s.end(websocket.StatusUnsupportedData, "expected a response frame")
			continue // the read loop sees the close
		}
		s.answer(f)
	}
}

// resettle is when a new session's backlog is expedited a second time.
const resettle = 2 * time.Second

// ping checks the connection until ctx ends; a failed ping closes it.
func (h *Hub) ping(ctx context.Context, s *session) {
	t := time.NewTicker(h.pingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, h.pingInterval)
		err := s.conn.Ping(pctx)
		cancel()
		if err != nil {
			s.conn.CloseNow()
			return
		}
	}
}

// expedite makes the endpoint's waiting deliveries due and wakes the
// engine, so a reconnecting CLI receives its backlog at once.
func (h *Hub) expedite(ctx context.Context, log *slog.Logger, appID, endpointID string) {
	n, err := h.store.Expedite(ctx, appID, endpointID, h.now())
	if err != nil {
		log.Warn("listen: backlog waits for its next retry", slog.Any("error", err))
	}
	if n > 0 {
		log.Info("listen: backlog due", slog.Int("deliveries", n))
	}
	if e := h.currentEngine(); e != nil {
		e.Wake()
	}
}

// errRaced marks a registration that lost a race with another change to
// its endpoint, which retrying wins.
var errRaced = errors.New("listen endpoint changed during registration")

// register creates the session's endpoint or updates the one a previous
// session left: enabled again, healthy, with the given event types, and
// reports the change like any other (Config.Events). An endpoint that has
// the session's UID but is not a listen endpoint is never taken over.
func (h *Hub) register(ctx context.Context, app *herald.Application, name string, events []string) (*herald.Endpoint, error) {
	appID := app.ID
	uid, url, now := EndpointUID(name), EndpointURL(appID, name), h.now()
	for range 2 {
		ep, err := h.store.GetEndpoint(ctx, appID, uid)
		if errors.Is(err, herald.ErrNotFound) {
			ep = &herald.Endpoint{
				ID: herald.NewID(herald.PrefixEndpoint, now), AppID: appID, UID: uid, URL: url,
				Description: "herald listen session " + name,
				EventTypes:  events,
				Secrets:     []herald.Secret{{Key: newSecret()}},
				CreatedAt:   now, UpdatedAt: now,
			}
			err = h.store.CreateEndpoint(ctx, ep)
			if errors.Is(err, herald.ErrConflict) {
				continue // another session created it: update that one
			}
			if err != nil {
				return nil, fmt.Errorf("create listen endpoint: %w", err)
			}
			h.events.EndpointCreated(app, ep)
			return ep, nil
		}
		if err != nil {
			return nil, fmt.Errorf("get listen endpoint: %w", err)
		}
		taken := herald.Errorf(herald.ECONFLICT, "Endpoint UID %q is used by an endpoint that is not a listen session; choose another --name", uid)
		if ep.URL != url {
			return nil, taken
		}
		if !ep.Disabled && ep.FailingSince.IsZero() && slices.Equal(ep.EventTypes, events) {
			return ep, nil
		}
		ep, err = h.store.UpdateEndpoint(ctx, appID, ep.ID, func(ep *herald.Endpoint) error {
			if ep.URL != url {
				return taken // changed since it was read
			}
			ep.Disabled, ep.FailingSince, ep.EventTypes, ep.UpdatedAt = false, time.Time{}, events, now
			return nil
		})
		if errors.Is(err, herald.ErrNotFound) {
			continue // deleted since it was read: create it anew
		}
		if err != nil {
			return nil, fmt.Errorf("update listen endpoint: %w", err)
		}
		h.events.EndpointUpdated(app, ep, false)
		return ep, nil
	}
	return nil, fmt.Errorf("%w: %w", errRaced,
		herald.Errorf(herald.ECONFLICT, "Listen endpoint %q is being registered concurrently; retry", uid))
}

// currentSecret is the key a receiver verifies with now.
func currentSecret(ep *herald.Endpoint) string {
	if len(ep.Secrets) == 0 {
		return ""
	}
	// An ed25519 endpoint's private key never leaves Herald.
	key, err := webhook.VerifyingKey(ep.Secrets[0].Key)
	if err != nil {
		return ""
	}
	return key
}

// newSecret returns a fresh HMAC signing secret, as the API makes them.
func newSecret() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return "whsec_" + base64.StdEncoding.EncodeToString(b[:])
}

// splitList splits a comma-separated list, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
