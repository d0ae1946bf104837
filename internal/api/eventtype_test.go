package api

import (
	"strings"
	"testing"
)

func TestEventTypes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	schema := map[string]any{"1": map[string]any{"type": "object", "examples": []any{map[string]any{"a": 1}}}}
	out := b.call(t, "POST", "/api/v1/event-type", map[string]any{"name": "invoice.paid", "description": "Paid", "schemas": schema, "featureFlag": "beta"}).want(t, 201).obj(t)
	if out["name"] != "invoice.paid" || out["featureFlag"] != "beta" || out["schemas"] == nil || out["deprecated"] != false {
		t.Errorf("got %v, want the event type echoed", out)
	}
	b.call(t, "POST", "/api/v1/event-type", map[string]any{"name": "invoice.paid", "description": "again"}).want(t, 409)
	b.call(t, "POST", "/api/v1/event-type", map[string]any{"name": "bad name", "description": "x"}).want(t, 422)
	b.call(t, "POST", "/api/v1/event-type", map[string]any{"name": "x"}).want(t, 422)
	b.call(t, "POST", "/api/v1/event-type", map[string]any{"name": "x", "description": "x", "schemas": map[string]any{"1": 5}}).want(t, 422)

	// Lists leave schemas out unless with_content=true.
	list := b.call(t, "GET", "/api/v1/event-type", nil).want(t, 200).obj(t)["data"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["schemas"] != nil {
		t.Errorf("got %v, want one event type without schemas", list)
	}
	list = b.call(t, "GET", "/api/v1/event-type?with_content=true", nil).want(t, 200).obj(t)["data"].([]any)
	if list[0].(map[string]any)["schemas"] == nil {
		t.Errorf("got %v, want schemas with content", list)
	}

	got := b.call(t, "PATCH", "/api/v1/event-type/invoice.paid", map[string]any{"deprecated": true, "featureFlag": nil}).want(t, 200).obj(t)
	if got["deprecated"] != true || got["featureFlag"] != nil || got["description"] != "Paid" {
		t.Errorf("PATCH: got %v, want deprecated, no feature flag, description kept", got)
	}
	got = b.call(t, "PUT", "/api/v1/event-type/invoice.paid", map[string]any{"description": "Paid v2"}).want(t, 200).obj(t)
	if got["description"] != "Paid v2" || got["deprecated"] != false || got["schemas"] != nil {
		t.Errorf("PUT: got %v, want replaced", got)
	}
	b.call(t, "PUT", "/api/v1/event-type/invoice.created", map[string]any{"description": "Created"}).want(t, 201)

	// DELETE archives; archived types are listed only on request.
	b.call(t, "DELETE", "/api/v1/event-type/invoice.paid", nil).want(t, 204)
	if got := b.call(t, "GET", "/api/v1/event-type/invoice.paid", nil).want(t, 200).obj(t); got["archived"] != true {
		t.Errorf("got %v, want archived", got)
	}
	if n := len(b.call(t, "GET", "/api/v1/event-type", nil).want(t, 200).obj(t)["data"].([]any)); n != 1 {
		t.Errorf("got %d event types, want 1 without archived", n)
	}
	if n := len(b.call(t, "GET", "/api/v1/event-type?include_archived=true", nil).want(t, 200).obj(t)["data"].([]any)); n != 2 {
		t.Errorf("got %d event types, want 2 with archived", n)
	}
	b.call(t, "DELETE", "/api/v1/event-type/invoice.paid?expunge=true", nil).want(t, 204)
	b.call(t, "GET", "/api/v1/event-type/invoice.paid", nil).want(t, 404)
}

func TestNoRoute(t *testing.T) {
	t.Parallel()
	b := setup(t)
	r := b.call(t, "GET", "/api/v1/nothing", nil).want(t, 404)
	if r.obj(t)["code"] != "not_found" {
		t.Errorf("got %s, want a JSON not_found error", r.raw)
	}
	r = b.call(t, "PATCH", "/api/v1/app", nil).want(t, 405)
	if allow := r.header.Get("Allow"); !strings.Contains(allow, "POST") || r.obj(t)["code"] != "method_not_allowed" {
		t.Errorf("got Allow %q and %s, want GET, POST and a JSON error", allow, r.raw)
	}
	// A trailing slash on a POST is the same route.
	b.call(t, "POST", "/api/v1/app/", map[string]any{"name": "x"}).want(t, 201)
}

func TestOrderDescending(t *testing.T) {
	t.Parallel()
	b := setup(t)
	first := b.createApp(t, "a", "")
	last := b.createApp(t, "b", "")
	data := b.call(t, "GET", "/api/v1/app?order=descending", nil).want(t, 200).obj(t)["data"].([]any)
	if len(data) != 2 || data[0].(map[string]any)["id"] != last || data[1].(map[string]any)["id"] != first {
		t.Errorf("got %v, want newest first", data)
	}
}
