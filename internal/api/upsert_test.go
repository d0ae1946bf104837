package api

import (
	"encoding/json"
	"testing"
	"time"
)

// Repeating the same PUT of an application changes nothing: a body
// without uid keeps the uid the path names it by. Named by its ID, the
// body replaces the uid as any other field.
func TestPutAppRepeated(t *testing.T) {
	t.Parallel()
	b := setup(t)
	first := b.call(t, "PUT", "/api/v1/app/newapp", `{"name":"n"}`).want(t, 201).obj(t)
	for i := 2; i <= 3; i++ {
		got := b.call(t, "PUT", "/api/v1/app/newapp", `{"name":"n"}`).want(t, 200).obj(t)
		if got["id"] != first["id"] || got["uid"] != "newapp" {
			t.Errorf("PUT #%d: got %v, want %s with uid newapp", i, got, first["id"])
		}
	}
	var list struct {
		Data []map[string]any `json:"data"`
	}
	if err := json.Unmarshal(b.call(t, "GET", "/api/v1/app", nil).want(t, 200).raw, &list); err != nil || len(list.Data) != 1 {
		t.Errorf("three identical PUTs left %v (%v), want one application", list.Data, err)
	}

	id := first["id"].(string)
	if got := b.call(t, "PUT", "/api/v1/app/"+id, `{"name":"n"}`).want(t, 200).obj(t); got["uid"] != nil {
		t.Errorf("PUT by ID without uid: got uid %v, want none", got["uid"])
	}
	b.call(t, "PUT", "/api/v1/app/"+id, `{"name":"n","uid":"other"}`).want(t, 200)
	if got := b.call(t, "PUT", "/api/v1/app/other", `{"name":"n2"}`).want(t, 200).obj(t); got["id"] != id || got["uid"] != "other" {
		t.Errorf("PUT by uid: got %v, want %s with uid other", got, id)
	}
}

// Two identical upserts racing: the one whose lookup found nothing but
// whose create lost answers as if it had found the winner's row, not 409.
// The store pauses the loser between its lookup and its create while the
// winner runs, so the race happens every time.
func TestConcurrentUpserts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, method, path string
		loser, winner      string // bodies
		status             int    // of the loser
		check              string // GET path, with want the loser's field
		field, want        string
	}{
		{"PUT event type", "PUT", "/api/v1/event-type/new.type", `{"description":"loser"}`, `{"description":"winner"}`, 200,
			"/api/v1/event-type/new.type", "description", "loser"},
		{"PUT app", "PUT", "/api/v1/app/newapp", `{"name":"loser"}`, `{"name":"winner"}`, 200,
			"/api/v1/app/newapp", "name", "loser"},
		{"POST app get_if_exists", "POST", "/api/v1/app?get_if_exists=true", `{"name":"loser","uid":"gie"}`, `{"name":"winner","uid":"gie"}`, 200,
			"/api/v1/app/gie", "name", "winner"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var st *pausingStore
			b := setup(t, func(c *Config) { st = newPausingStore(c.Store); c.Store = st })
			st.arm()
			done := make(chan response)
			go func() { done <- b.callAs(t, b.token, tc.method, tc.path, tc.loser, nil) }()
			select {
			case <-st.read: // the loser found nothing
			case <-time.After(10 * time.Second):
				t.Fatal("the request never looked the row up")
			}
			won := b.call(t, tc.method, tc.path, tc.winner).want(t, 201).obj(t)
			close(st.release)
			lost := (<-done).want(t, tc.status).obj(t)
			if id, ok := won["id"]; ok && lost["id"] != id {
				t.Errorf("got %v, want the winner's %v", lost["id"], id)
			}
			if got := b.call(t, "GET", tc.check, nil).want(t, 200).obj(t)[tc.field]; got != tc.want {
				t.Errorf("got %s %v, want %q", tc.field, got, tc.want)
			}
		})
	}
}
