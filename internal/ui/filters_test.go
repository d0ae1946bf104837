package ui

import (
	"html"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// An event-type filter names declared event types only, as the API's
// filterTypes do: a name that is invalid or undeclared would leave the
// endpoint silently receiving nothing, so every form that sets a filter
// refuses it with the reason and stores nothing. An archived type is
// refused too, as Svix's API refuses it.
func TestEventTypeFiltersMustBeDeclared(t *testing.T) {
	t.Parallel()
	b := setup(t)
	must(t, "create event type", b.db.CreateEventType(b.ctx, &herald.EventType{Name: "user.gone", Archived: true, CreatedAt: b.now, UpdatedAt: b.now}))
	must(t, "create event type", b.db.CreateEventType(b.ctx, &herald.EventType{Name: "user.here", CreatedAt: b.now, UpdatedAt: b.now}))
	c, token := b.login(t)
	portal, ptoken := b.portal(t, b.a)
	base := "/ui/apps/" + b.a.ID
	refused := []struct {
		types   []string
		problem string
	}{
		{[]string{"invoice.paid", "no.such.type"}, `Event type "no.such.type" does not exist`},
		{[]string{"<b>x</b> y"}, `"<b>x</b> y" is not an event type name`},
		{[]string{"invoice.paid", "user.gone"}, `Event type "user.gone" is archived`},
	}
	forms := []struct {
		name string
		c    *client
		path string
		form url.Values
	}{
		{"dashboard filter", c, base + "/endpoints/" + b.a1.ID + "/filters", url.Values{"_csrf": {token}}},
		{"dashboard poller", c, base + "/pollers", url.Values{"_csrf": {token}, "name": {"reader"}}},
		{"portal new endpoint", portal, "/ui/portal/endpoints", url.Values{"_csrf": {ptoken}, "url": {"https://new.example/hook"}}},
		{"portal endpoint", portal, "/ui/portal/endpoints/" + b.a2.ID, url.Values{"_csrf": {ptoken}, "url": {"https://acme.example/other"}}},
	}
	for _, f := range forms {
		for _, tc := range refused {
			form := url.Values{"eventType": tc.types}
			for k, v := range f.form {
				form[k] = v
			}
			r := f.c.post(t, f.path, form)
			if r.status != http.StatusBadRequest || !strings.Contains(html.UnescapeString(r.body), tc.problem) {
				t.Errorf("%s with %q: got %d, want 400 saying %s", f.name, tc.types, r.status, tc.problem)
			}
		}
	}
	eps, err := b.db.ListEndpoints(b.ctx, b.a.ID, store.Page{Limit: 10})
	must(t, "list endpoints", err)
	if len(eps) != 2 {
		t.Errorf("endpoints after refusals: got %d, want the 2 seeded", len(eps))
	}
	for _, ep := range eps {
		if len(ep.EventTypes) != 0 {
			t.Errorf("endpoint %s after refusals: got filter %q, want none", ep.ID, ep.EventTypes)
		}
	}

	for _, f := range forms {
		form := url.Values{"eventType": {"invoice.paid", "user.here"}}
		for k, v := range f.form {
			form[k] = v
		}
		if r := f.c.post(t, f.path, form); r.status != http.StatusSeeOther {
			t.Errorf("%s with declared types: got %d, want 303", f.name, r.status)
		}
	}
	eps, err = b.db.ListEndpoints(b.ctx, b.a.ID, store.Page{Limit: 10})
	must(t, "list endpoints", err)
	if len(eps) != 4 {
		t.Errorf("endpoints: got %d, want the 2 seeded, the poller and the portal's new one", len(eps))
	}
	for _, ep := range eps {
		if !slices.Equal(ep.EventTypes, []string{"invoice.paid", "user.here"}) {
			t.Errorf("endpoint %s: got filter %q, want invoice.paid and user.here", ep.URL, ep.EventTypes)
		}
	}
}
