package api

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/herald"
)

// listenerFunc is a Listener as a function, for tests that ignore the
// token check.
type listenerFunc func(w http.ResponseWriter, r *http.Request, app *herald.Application) error

func (f listenerFunc) ServeListen(w http.ResponseWriter, r *http.Request, app *herald.Application, _ func(context.Context) (time.Time, error)) error {
	return f(w, r, app)
}

// checkListener is a Listener that keeps each session's token check.
type checkListener chan func(context.Context) (time.Time, error)

func (l checkListener) ServeListen(w http.ResponseWriter, _ *http.Request, _ *herald.Application, authorized func(context.Context) (time.Time, error)) error {
	l <- authorized
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// A listen session outlives its handshake: the check it is given finds the
// token's expiry, and fails once the token expired or was revoked.
func TestListenSessionGetsItsTokensCheck(t *testing.T) {
	t.Parallel()
	var clock atomic.Pointer[time.Time]
	t0 := time.Now()
	clock.Store(&t0)
	sessions := make(checkListener, 1)
	b := setup(t, func(c *Config) {
		c.Listener = sessions
		c.Now = func() time.Time { return *clock.Load() }
	})
	b.createApp(t, "Acme", "acme")
	portalToken := func() string {
		t.Helper()
		out := b.call(t, "POST", "/api/v1/auth/app-portal-access/acme", map[string]any{"expiry": 60}).want(t, 200).obj(t)
		token, _ := out["token"].(string)
		return token
	}
	ctx := t.Context()

	b.call(t, "GET", "/api/v1/app/acme/listen?name=dev", nil).want(t, 204)
	if check := <-sessions; check != nil {
		t.Errorf("admin token: got a check, want nil (it can neither expire nor be revoked)")
	}

	expiring := portalToken()
	b.callAs(t, expiring, "GET", "/api/v1/app/acme/listen?name=dev", nil, nil).want(t, 204)
	check := <-sessions
	if check == nil {
		t.Fatal("portal token: got no check, want one")
	}
	// The store keeps milliseconds.
	if exp, err := check(ctx); err != nil || exp.Sub(t0.Add(time.Minute)).Abs() > time.Millisecond {
		t.Errorf("check of a live token: got %v, %v, want its expiry %v", exp, err, t0.Add(time.Minute))
	}
	later := t0.Add(time.Minute)
	clock.Store(&later)
	if _, err := check(ctx); herald.ErrorCode(err) != herald.EUNAUTHORIZED {
		t.Errorf("check of an expired token: got %v, want unauthorized", err)
	}

	clock.Store(&t0)
	revoked := portalToken()
	b.callAs(t, revoked, "GET", "/api/v1/app/acme/listen?name=dev", nil, nil).want(t, 204)
	check = <-sessions
	b.callAs(t, revoked, "POST", "/api/v1/auth/logout", nil, nil).want(t, 204)
	if _, err := check(ctx); herald.ErrorCode(err) != herald.EUNAUTHORIZED {
		t.Errorf("check of a revoked token: got %v, want unauthorized", err)
	}
}

func TestListenRouteIsAppScoped(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var served []string
	b := setup(t, func(c *Config) {
		c.Listener = listenerFunc(func(w http.ResponseWriter, r *http.Request, app *herald.Application) error {
			if r.URL.Query().Get("name") == "bad" {
				return herald.Errorf(herald.EINVALID, "bad name")
			}
			mu.Lock()
			served = append(served, app.ID)
			mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
			return nil
		})
	})
	acme := b.createApp(t, "Acme", "acme")
	b.createApp(t, "Other", "other")
	portal := b.call(t, "POST", "/api/v1/auth/app-portal-access/other", map[string]any{}).want(t, 200).obj(t)
	otherToken, _ := portal["token"].(string)
	if otherToken == "" {
		t.Fatalf("app-portal-access: got %v, want a token", portal)
	}

	b.call(t, "GET", "/api/v1/app/acme/listen?name=dev", nil).want(t, 204)
	b.callAs(t, "", "GET", "/api/v1/app/acme/listen?name=dev", nil, nil).want(t, 401)
	b.callAs(t, otherToken, "GET", "/api/v1/app/acme/listen?name=dev", nil, nil).want(t, 403)
	b.callAs(t, otherToken, "GET", "/api/v1/app/other/listen?name=dev", nil, nil).want(t, 204)
	b.call(t, "GET", "/api/v1/app/nope/listen?name=dev", nil).want(t, 404)
	b.call(t, "GET", "/api/v1/app/acme/listen?name=bad", nil).want(t, 422)

	mu.Lock()
	defer mu.Unlock()
	if len(served) != 2 || served[0] != acme {
		t.Errorf("listener served %v, want acme (%s) by UID, then other", served, acme)
	}
}

func TestListenRouteWithoutListenerIsNotFound(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createApp(t, "Acme", "acme")
	b.call(t, "GET", "/api/v1/app/acme/listen?name=dev", nil).want(t, 404)
}
