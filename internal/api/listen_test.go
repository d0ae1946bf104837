package api

import (
	"net/http"
	"sync"
	"testing"

	"github.com/heraldhq/herald/internal/herald"
)

// listenerFunc is a Listener as a function.
type listenerFunc func(w http.ResponseWriter, r *http.Request, app *herald.Application) error

func (f listenerFunc) ServeListen(w http.ResponseWriter, r *http.Request, app *herald.Application) error {
	return f(w, r, app)
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
