package api

import (
	"fmt"
	"strings"
	"testing"
)

func TestApplicationCRUD(t *testing.T) {
	t.Parallel()
	b := setup(t)

	out := b.call(t, "POST", "/api/v1/app", map[string]any{"name": "Acme", "uid": "acme", "throttleRate": 10, "metadata": map[string]string{"tier": "gold"}}).want(t, 201).obj(t)
	id := out["id"].(string)
	if !strings.HasPrefix(id, "app_") {
		t.Errorf("got id %q, want prefix app_", id)
	}
	if out["throttleRate"] != float64(10) || out["rateLimit"] != float64(10) {
		t.Errorf("got throttleRate %v and rateLimit %v, want 10 under both names", out["throttleRate"], out["rateLimit"])
	}

	// By ID, by UID, with a trailing slash.
	for _, path := range []string{"/api/v1/app/" + id, "/api/v1/app/acme", "/api/v1/app/acme/"} {
		got := b.call(t, "GET", path, nil).want(t, 200).obj(t)
		if got["id"] != id || got["uid"] != "acme" || got["name"] != "Acme" {
			t.Errorf("GET %s: got %v, want the Acme app", path, got)
		}
	}

	// get_if_exists returns the existing app with 200.
	got := b.call(t, "POST", "/api/v1/app?get_if_exists=true", map[string]any{"name": "Other", "uid": "acme"}).want(t, 200).obj(t)
	if got["id"] != id {
		t.Errorf("get_if_exists: got id %v, want %s", got["id"], id)
	}
	// Without it, the uid conflicts.
	b.call(t, "POST", "/api/v1/app", map[string]any{"name": "Other", "uid": "acme"}).want(t, 409)

	// PUT replaces; rateLimit is accepted as the old name of throttleRate.
	got = b.call(t, "PUT", "/api/v1/app/acme", map[string]any{"name": "Acme 2", "uid": "acme", "rateLimit": 5}).want(t, 200).obj(t)
	if got["name"] != "Acme 2" || got["rateLimit"] != float64(5) {
		t.Errorf("PUT: got %v, want name Acme 2 and rateLimit 5", got)
	}
	// PUT of a missing app creates it with the path as uid.
	got = b.call(t, "PUT", "/api/v1/app/newco", map[string]any{"name": "New"}).want(t, 201).obj(t)
	if got["uid"] != "newco" {
		t.Errorf("PUT create: got uid %v, want newco", got["uid"])
	}

	// PATCH changes only what it names; null clears.
	got = b.call(t, "PATCH", "/api/v1/app/"+id, map[string]any{"name": "Acme 3", "rateLimit": nil}).want(t, 200).obj(t)
	if got["name"] != "Acme 3" || got["uid"] != "acme" || got["rateLimit"] != nil {
		t.Errorf("PATCH: got %v, want name Acme 3, uid kept, rateLimit cleared", got)
	}
	if md, _ := got["metadata"].(map[string]any); md["tier"] != nil {
		t.Errorf("PATCH: got metadata %v, want it replaced by PUT earlier", md)
	}

	b.call(t, "DELETE", "/api/v1/app/"+id, nil).want(t, 204)
	b.call(t, "GET", "/api/v1/app/"+id, nil).want(t, 404)
	b.call(t, "GET", "/api/v1/app/acme", nil).want(t, 404)
}

func TestApplicationPagination(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var ids []string
	for i := range 5 {
		ids = append(ids, b.createApp(t, fmt.Sprintf("app %d", i), ""))
	}

	var got []string
	iter := ""
	pages := 0
	for {
		path := "/api/v1/app?limit=2"
		if iter != "" {
			path += "&iterator=" + iter
		}
		page := b.call(t, "GET", path, nil).want(t, 200).obj(t)
		pages++
		for _, d := range page["data"].([]any) {
			got = append(got, d.(map[string]any)["id"].(string))
		}
		if page["done"] == true {
			break
		}
		iter = page["iterator"].(string)
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
	}
	if pages != 3 || strings.Join(got, ",") != strings.Join(ids, ",") {
		t.Errorf("got %d pages %v, want 3 pages %v", pages, got, ids)
	}

	// The largest page is allowed.
	if n := len(b.call(t, "GET", "/api/v1/app?limit=250", nil).want(t, 200).obj(t)["data"].([]any)); n != 5 {
		t.Errorf("got %d apps with limit=250, want 5", n)
	}

	// prevIterator pages back.
	second := b.call(t, "GET", "/api/v1/app?limit=2&iterator="+ids[1], nil).want(t, 200).obj(t)
	prev := second["prevIterator"].(string)
	if prev != "-"+ids[2] {
		t.Errorf("got prevIterator %q, want -%s", prev, ids[2])
	}
	back := b.call(t, "GET", "/api/v1/app?limit=2&iterator="+prev, nil).want(t, 200).obj(t)
	data := back["data"].([]any)
	if len(data) != 2 || data[0].(map[string]any)["id"] != ids[0] || data[1].(map[string]any)["id"] != ids[1] {
		t.Errorf("got previous page %v, want %v", data, ids[:2])
	}

	// An empty list has a null iterator and is done.
	empty := setup(t).call(t, "GET", "/api/v1/app", nil).want(t, 200).obj(t)
	if empty["done"] != true || empty["iterator"] != nil || len(empty["data"].([]any)) != 0 {
		t.Errorf("got %v, want an empty, done list with a null iterator", empty)
	}
	if !strings.Contains(string(setup(t).call(t, "GET", "/api/v1/app", nil).raw), `"iterator":null`) {
		t.Error("got no iterator field; the Go SDK requires it")
	}
}

func TestApplicationValidation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tests := []struct {
		name   string
		method string
		path   string
		body   any
		status int
		detail string
	}{
		{"invalid JSON", "POST", "/api/v1/app", `{"name":`, 400, "JSON"},
		{"trailing garbage", "POST", "/api/v1/app", `{"name":"a"} {}`, 400, "after"},
		{"wrong type", "POST", "/api/v1/app", `{"name":5}`, 422, "name"},
		{"missing name", "POST", "/api/v1/app", `{}`, 422, "name"},
		{"bad uid", "POST", "/api/v1/app", `{"name":"a","uid":"has space"}`, 422, "uid"},
		{"empty body", "POST", "/api/v1/app", ``, 422, "body"},
		{"rate too high", "POST", "/api/v1/app", `{"name":"a","throttleRate":70000}`, 422, "throttleRate"},
		{"absurd limit", "GET", "/api/v1/app?limit=100000", nil, 422, "limit"},
		{"negative limit", "GET", "/api/v1/app?limit=-1", nil, 422, "limit"},
		{"bad order", "GET", "/api/v1/app?order=sideways", nil, 422, "order"},
		{"unknown app", "GET", "/api/v1/app/app_missing", nil, 404, "not found"},
		{"oversized body", "POST", "/api/v1/app", `{"name":"` + strings.Repeat("a", 2<<20) + `"}`, 413, "exceeds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := b.call(t, tt.method, tt.path, tt.body).want(t, tt.status)
			if !strings.Contains(string(r.raw), tt.detail) {
				t.Errorf("got body %s, want it to mention %q", r.raw, tt.detail)
			}
			if tt.status == 422 {
				var v struct {
					Detail []struct {
						Loc  []string `json:"loc"`
						Msg  string   `json:"msg"`
						Type string   `json:"type"`
					} `json:"detail"`
				}
				if err := jsonStrict(r.raw, &v); err != nil || len(v.Detail) != 1 || v.Detail[0].Msg == "" {
					t.Errorf("got 422 body %s (%v), want Svix's HTTPValidationError", r.raw, err)
				}
			} else {
				m := r.obj(t)
				if m["code"] == nil || m["detail"] == nil {
					t.Errorf("got body %s, want code and detail", r.raw)
				}
			}
		})
	}
}

func TestUnauthenticated(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tests := []struct{ name, header string }{
		{"missing", ""},
		{"not bearer", "Basic abc"},
		{"wrong token", "Bearer nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := map[string][]string{}
			if tt.header != "" {
				h["Authorization"] = []string{tt.header}
			}
			r := b.callAs(t, "", "GET", "/api/v1/app", nil, h).want(t, 401)
			if d, _ := r.obj(t)["detail"].(string); d == "" {
				t.Errorf("got body %s, want a reason", r.raw)
			}
		})
	}
}
