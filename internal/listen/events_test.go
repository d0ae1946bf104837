package listen

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/heraldhq/herald/internal/herald"
)

// recordedEvents records the endpoint events a hub reports.
type recordedEvents struct {
	mu  sync.Mutex
	got []string
}

func (e *recordedEvents) add(kind string, ep *herald.Endpoint) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append(e.got, kind+" "+ep.UID)
}

func (e *recordedEvents) EndpointCreated(_ *herald.Application, ep *herald.Endpoint) {
	e.add("created", ep)
}

func (e *recordedEvents) EndpointUpdated(_ *herald.Application, ep *herald.Endpoint, disabled bool) {
	e.add("updated", ep)
}

func (e *recordedEvents) EndpointDeleted(_ *herald.Application, ep *herald.Endpoint) {
	e.add("deleted", ep)
}

func (e *recordedEvents) take() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	got := e.got
	e.got = nil
	return got
}

// TestRegistrationReportsEndpointChanges: a session's endpoint is an
// endpoint like any other, so creating it, and changing it on a later
// session (re-enabled, other event types), is reported; a session that
// finds it as it wants it changes nothing and reports nothing.
func TestRegistrationReportsEndpointChanges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, _, _ := memStore()
	events := &recordedEvents{}
	h := NewHub(Config{Store: st, Events: events})
	app := &herald.Application{ID: "app_1", UID: "acme"}

	register := func(evs ...string) *herald.Endpoint {
		t.Helper()
		ep, err := h.register(ctx, app, "dev", evs)
		if err != nil {
			t.Fatal(err)
		}
		return ep
	}
	ep := register("a.b")
	for _, step := range []struct {
		name string
		do   func()
		want []string
	}{
		{"first session", func() {}, []string{"created listen-dev"}},
		{"the same again", func() { register("a.b") }, nil},
		{"other event types", func() { register("c.d") }, []string{"updated listen-dev"}},
		{"re-enabled", func() {
			if _, err := st.UpdateEndpoint(ctx, app.ID, ep.ID, func(ep *herald.Endpoint) error { ep.Disabled = true; return nil }); err != nil {
				t.Fatal(err)
			}
			register("c.d")
		}, []string{"updated listen-dev"}},
	} {
		step.do()
		if got := events.take(); !slices.Equal(got, step.want) {
			t.Errorf("%s: reported %q, want %q", step.name, got, step.want)
		}
	}
}
