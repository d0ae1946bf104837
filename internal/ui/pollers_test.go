package ui

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

func TestCreatePollerFromAppPage(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c, token := b.login(t)
	base := "/ui/apps/" + b.a.ID

	page := c.get(t, base)
	if page.status != http.StatusOK || !strings.Contains(page.body, `action="`+base+`/pollers"`) {
		t.Fatalf("app page: got %d, want 200 with the polling endpoint form", page.status)
	}
	r := c.post(t, base+"/pollers", url.Values{"_csrf": {token}, "name": {"reader"}, "description": {"Billing pulls"},
		"eventType": {"invoice.paid"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("create: got %d (%s), want 303", r.status, r.body)
	}
	ep, err := b.db.GetEndpoint(b.ctx, b.a.ID, "reader")
	must(t, "get polling endpoint", err)
	if want := "herald-poll://" + b.a.ID + "/reader"; ep.URL != want {
		t.Errorf("url: got %q, want %q", ep.URL, want)
	}
	if len(ep.EventTypes) != 1 || ep.EventTypes[0] != "invoice.paid" || ep.Description != "Billing pulls" {
		t.Errorf("endpoint: got types %v, description %q; want [invoice.paid], Billing pulls", ep.EventTypes, ep.Description)
	}
	if !strings.HasPrefix(r.location, base+"/endpoints/"+ep.ID) {
		t.Errorf("redirect: got %q, want the endpoint's page", r.location)
	}
	if b.invalidated.Load() == 0 {
		t.Errorf("endpoint cache not invalidated")
	}
	if got, want := b.events.take(), []string{"created " + b.a.ID + " " + ep.ID}; !slices.Equal(got, want) {
		t.Errorf("endpoint events: got %q, want %q", got, want)
	}
	if page := c.get(t, base); !strings.Contains(page.body, "herald-poll://"+b.a.ID+"/reader") {
		t.Errorf("app page does not list the polling endpoint")
	}

	for _, tc := range []struct {
		name string
		want int
	}{
		{"", http.StatusBadRequest},
		{"has space", http.StatusBadRequest},
		{"reader", http.StatusConflict},
	} {
		if r := c.post(t, base+"/pollers", url.Values{"_csrf": {token}, "name": {tc.name}}); r.status != tc.want {
			t.Errorf("name %q: got %d, want %d", tc.name, r.status, tc.want)
		}
	}
	if r := c.post(t, base+"/pollers", url.Values{"name": {"nocsrf"}}); r.status != http.StatusForbidden {
		t.Errorf("without CSRF token: got %d, want 403", r.status)
	}
}
