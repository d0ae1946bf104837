package api

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/heraldhq/herald/internal/herald"
)

// endpointEvents records what the API reported, as "kind app endpoint".
type endpointEvents struct {
	mu  sync.Mutex
	got []string
}

func (e *endpointEvents) add(kind string, app *herald.Application, ep *herald.Endpoint) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append(e.got, fmt.Sprintf("%s %s %s", kind, app.UID, ep.UID))
}

func (e *endpointEvents) EndpointCreated(app *herald.Application, ep *herald.Endpoint) {
	e.add("created", app, ep)
}

func (e *endpointEvents) EndpointUpdated(app *herald.Application, ep *herald.Endpoint, disabled bool) {
	kind := "updated"
	if disabled {
		kind = "updated+disabled"
	}
	e.add(kind, app, ep)
}

func (e *endpointEvents) EndpointDeleted(app *herald.Application, ep *herald.Endpoint) {
	e.add("deleted", app, ep)
}

func (e *endpointEvents) take() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	got := e.got
	e.got = nil
	return got
}

func TestEndpointEventsFollowStoredChanges(t *testing.T) {
	t.Parallel()
	events := &endpointEvents{}
	b := setup(t, func(c *Config) { c.Events = events })
	b.createApp(t, "Acme", "acme")
	path := "/api/v1/app/acme/endpoint"

	steps := []struct {
		method, path string
		body         any
		status       int
		want         []string
	}{
		{"POST", path, map[string]any{"url": "https://example.com/a", "uid": "a"}, 201, []string{"created acme a"}},
		// Refused requests change nothing and report nothing.
		{"POST", path, map[string]any{"url": "ftp://example.com/"}, 422, nil},
		{"POST", path, map[string]any{"url": "https://example.com/b", "uid": "a"}, 409, nil},
		{"PATCH", path + "/a", map[string]any{"rateLimit": -1}, 422, nil},
		{"PATCH", path + "/a", map[string]any{"description": "x"}, 200, []string{"updated acme a"}},
		// Disabling is reported once, when it happens.
		{"PATCH", path + "/a", map[string]any{"disabled": true}, 200, []string{"updated+disabled acme a"}},
		{"PATCH", path + "/a", map[string]any{"disabled": true}, 200, []string{"updated acme a"}},
		{"PUT", path + "/a", map[string]any{"url": "https://example.com/a", "uid": "a"}, 200, []string{"updated acme a"}},
		{"PUT", path + "/a", map[string]any{"url": "https://example.com/a", "uid": "a", "disabled": true}, 200, []string{"updated+disabled acme a"}},
		// PUT of a missing endpoint creates it.
		{"PUT", path + "/c", map[string]any{"url": "https://example.com/c", "uid": "c"}, 201, []string{"created acme c"}},
		// Headers, secrets and ordering are changes of the endpoint too.
		{"PATCH", path + "/c/headers", map[string]any{"headers": map[string]any{"X-A": "1"}}, 204, []string{"updated acme c"}},
		{"PUT", path + "/c/headers", map[string]any{"headers": map[string]any{"X-A": "2"}}, 204, []string{"updated acme c"}},
		{"PUT", path + "/c/headers", map[string]any{"headers": map[string]any{"Host": "x"}}, 422, nil},
		{"POST", path + "/c/secret/rotate", map[string]any{}, 204, []string{"updated acme c"}},
		{"PUT", path + "/c/ordering", map[string]any{"fifo": true}, 200, []string{"updated acme c"}},
		// A polling endpoint is an endpoint too.
		{"POST", "/api/v1/app/acme/poller", map[string]any{"uid": "p"}, 201, []string{"created acme p"}},
		{"DELETE", path + "/a", nil, 204, []string{"deleted acme a"}},
		{"DELETE", path + "/a", nil, 404, nil},
	}
	for _, s := range steps {
		b.call(t, s.method, s.path, s.body).want(t, s.status)
		if got := events.take(); !slices.Equal(got, s.want) {
			t.Errorf("%s %s %v: reported %q, want %q", s.method, s.path, s.body, got, s.want)
		}
	}
}
