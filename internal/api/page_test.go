package api

import (
	"fmt"
	"strings"
	"testing"
)

// The event_types filter drops repeats and is bounded, so no list of it can
// exceed what a database accepts in one query.
func TestEventTypesFilterBounded(t *testing.T) {
	t.Parallel()
	b := setup(t)
	app := b.createApp(t, "Acme", "acme")
	ep := b.createEndpoint(t, app, map[string]any{})
	msg := b.sendMessage(t, app, map[string]any{"eventType": "a"})

	repeated := strings.Repeat("a,", 32800) + "a"
	lists := []string{
		"/api/v1/app/acme/msg",
		"/api/v1/app/acme/attempt/endpoint/" + ep,
		"/api/v1/app/acme/attempt/msg/" + msg,
		"/api/v1/app/acme/endpoint/" + ep + "/msg",
	}
	for _, path := range lists {
		b.call(t, "GET", path+"?event_types="+repeated, nil).want(t, 200)
	}
	got := b.call(t, "GET", "/api/v1/app/acme/msg?event_types="+repeated, nil).want(t, 200).obj(t)
	if d := got["data"].([]any); len(d) != 1 {
		t.Errorf("got %d messages for event_types=a repeated, want 1", len(d))
	}

	var distinct []string
	for i := range maxEventTypesFilter + 1 {
		distinct = append(distinct, fmt.Sprintf("t%d", i))
	}
	for _, path := range lists {
		r := b.call(t, "GET", path+"?event_types="+strings.Join(distinct, ","), nil).want(t, 422)
		if !strings.Contains(string(r.raw), `"loc":["query","event_types"]`) {
			t.Errorf("%s: got %s, want a validation error naming event_types", path, r.raw)
		}
	}
	b.call(t, "GET", "/api/v1/app/acme/msg?event_types="+strings.Join(distinct[:maxEventTypesFilter], ","), nil).want(t, 200)
}
