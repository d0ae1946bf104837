package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/webhook"
)

// TestRotatedSecretKeepsSigning rotates an endpoint's secret and checks
// that the next delivery carries a signature for the new secret and one
// for the old, so consumers can switch over without dropping requests.
func TestRotatedSecretKeepsSigning(t *testing.T) {
	t.Parallel()
	ts := setup(t)
	snk := newSink(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var app, ep struct{ ID string }
	if _, err := call(ctx, ts.URL, ts.Token, "POST", "/api/v1/app", map[string]any{"name": "rotate"}, &app); err != nil {
		t.Fatal(err)
	}
	base := "/api/v1/app/" + app.ID + "/endpoint"
	if _, err := call(ctx, ts.URL, ts.Token, "POST", base, map[string]any{"url": snk.URL}, &ep); err != nil {
		t.Fatal(err)
	}
	var old, cur struct{ Key string }
	if _, err := call(ctx, ts.URL, ts.Token, "GET", base+"/"+ep.ID+"/secret", nil, &old); err != nil {
		t.Fatal(err)
	}
	if _, err := call(ctx, ts.URL, ts.Token, "POST", base+"/"+ep.ID+"/secret/rotate", map[string]any{}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := call(ctx, ts.URL, ts.Token, "GET", base+"/"+ep.ID+"/secret", nil, &cur); err != nil {
		t.Fatal(err)
	}
	if cur.Key == old.Key {
		t.Fatal("rotate did not change the secret")
	}
	var msg struct{ ID string }
	if _, err := call(ctx, ts.URL, ts.Token, "POST", "/api/v1/app/"+app.ID+"/msg",
		map[string]any{"eventType": "key.rotated", "payload": map[string]any{"ok": true}}, &msg); err != nil {
		t.Fatal(err)
	}
	if !snk.waitFor(ctx, func(seen map[string]int) bool { return seen[msg.ID] > 0 }) {
		t.Fatal("message not delivered")
	}
	snk.mu.Lock()
	req := snk.requests[0]
	snk.mu.Unlock()
	if n := len(strings.Fields(req.Header.Get("webhook-signature"))); n != 2 {
		t.Errorf("got %d signatures, want 2 (new and old secret) during the grace period", n)
	}
	for name, key := range map[string]string{"new": cur.Key, "old": old.Key} {
		v, err := webhook.NewVerifier(key)
		if err != nil {
			t.Fatal(err)
		}
		if err := v.Verify(req.Body, req.Header); err != nil {
			t.Errorf("the %s secret does not verify the delivery: %v", name, err)
		}
	}
}
