package listen

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/delivery"
	"github.com/heraldhq/herald/internal/herald"
)

// waitEnded waits for Run to give up and checks it ended with close code
// want and a reason containing reason.
func waitEnded(t *testing.T, c *runningClient, want int, reason string) {
	t.Helper()
	err := waitFor(t, c.done, "the server to end the session")
	var fatal *FatalError
	if !errors.As(err, &fatal) || int(fatal.Code) != want || !strings.Contains(fatal.Detail, reason) {
		t.Errorf("Run: got %v, want a FatalError with close code %d and a reason containing %q", err, want, reason)
	}
	c.done <- nil // for the cleanup
}

// A token checked only at the handshake would let a session receive the
// application's events for as long as its connection lasts.
func TestSessionEndsAtItsTokensExpiry(t *testing.T) {
	t.Parallel()
	st, _, _ := memStore()
	// The hub's clock stands still, the token expiring just after it; no
	// periodic check runs in the test.
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	h := NewHub(Config{Store: st, Now: func() time.Time { return t0 }, CheckInterval: time.Hour})
	srv := newHubServer(t, h, hubServerOptions{authorized: func(context.Context) (time.Time, error) {
		return t0.Add(time.Millisecond), nil
	}})
	c := runClient(t, ClientConfig{Server: srv.URL, App: "app_1", Name: "dev", ForwardTo: "http://127.0.0.1:1"})
	waitFor(t, c.ready, "ready")
	waitEnded(t, c, int(CloseUnauthorized), "token expired")
}

func TestSessionEndsWhenItsTokenIsRevoked(t *testing.T) {
	t.Parallel()
	st, _, _ := memStore()
	var revoked atomic.Bool
	h := NewHub(Config{Store: st, CheckInterval: 5 * time.Millisecond})
	srv := newHubServer(t, h, hubServerOptions{authorized: func(context.Context) (time.Time, error) {
		if revoked.Load() {
			return time.Time{}, herald.Errorf(herald.EUNAUTHORIZED, "The token was revoked")
		}
		return time.Time{}, nil
	}})
	c := runClient(t, ClientConfig{Server: srv.URL, App: "app_1", Name: "dev", ForwardTo: "http://127.0.0.1:1"})
	waitFor(t, c.ready, "ready")
	revoked.Store(true)
	waitEnded(t, c, int(CloseUnauthorized), "token is no longer valid")
	if _, err := attempt(t, h, "dev", `{}`); !errors.Is(err, delivery.ErrListenerOffline) {
		t.Errorf("attempt after the session ended: got %v, want ErrListenerOffline", err)
	}
}

// A check that fails for another reason (the store is busy) keeps the
// session: the next check tries again.
func TestSessionSurvivesAFailedTokenCheck(t *testing.T) {
	t.Parallel()
	st, _, _ := memStore()
	var calls atomic.Int32
	failed := make(chan struct{}, 100)
	h := NewHub(Config{Store: st, CheckInterval: 5 * time.Millisecond})
	srv := newHubServer(t, h, hubServerOptions{authorized: func(context.Context) (time.Time, error) {
		if calls.Add(1) == 1 {
			return time.Time{}, nil // the handshake's
		}
		failed <- struct{}{}
		return time.Time{}, herald.ErrUnavailable
	}})
	app := newLocalApp(t)
	c := runClient(t, ClientConfig{Server: srv.URL, App: "app_1", Name: "dev", ForwardTo: app.URL})
	waitFor(t, c.ready, "ready")
	for range 3 {
		waitFor(t, failed, "a failed token check")
	}
	if _, err := attempt(t, h, "dev", `{}`); err != nil {
		t.Errorf("attempt after failed token checks: got %v, want the local app's answer", err)
	}
}

// An operator's disable, or a delete, ends the session: the CLI would
// otherwise stay "connected" and receive nothing, and reconnecting would
// undo the disable.
func TestSessionEndsWhenItsEndpointIsDisabledOrDeleted(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(t *testing.T, st *fakeStore, gone *atomic.Bool, ready Ready)
		reason string
	}{
		{"disabled", func(t *testing.T, st *fakeStore, _ *atomic.Bool, ready Ready) {
			if _, err := st.update(t.Context(), "app_1", ready.EndpointID, func(ep *herald.Endpoint) error {
				ep.Disabled = true
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}, "endpoint was disabled"},
		{"deleted", func(_ *testing.T, _ *fakeStore, gone *atomic.Bool, _ Ready) { gone.Store(true) }, "endpoint was deleted"},
		{"given an http URL", func(t *testing.T, st *fakeStore, _ *atomic.Bool, ready Ready) {
			if _, err := st.update(t.Context(), "app_1", ready.EndpointID, func(ep *herald.Endpoint) error {
				ep.URL = "https://example.com/hook"
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}, "no longer a listen endpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st, _, _ := memStore()
			var gone atomic.Bool
			get := st.get
			st.get = func(ctx context.Context, appID, idOrUID string) (*herald.Endpoint, error) {
				if gone.Load() {
					return nil, herald.ErrNotFound
				}
				return get(ctx, appID, idOrUID)
			}
			h := NewHub(Config{Store: st, CheckInterval: 5 * time.Millisecond})
			srv := newHubServer(t, h)
			c := runClient(t, ClientConfig{Server: srv.URL, App: "app_1", Name: "dev", ForwardTo: "http://127.0.0.1:1"})
			ready := waitFor(t, c.ready, "ready")
			tt.change(t, st, &gone, ready)
			waitEnded(t, c, int(CloseEndpointGone), tt.reason)
		})
	}
}
