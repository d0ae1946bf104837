package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/webhook"
)

// TestEd25519EndpointGetsV1aSignatures configures an endpoint with an
// ed25519 private key: its deliveries carry v1a signatures, the API shows
// only the public key, and that public key verifies them.
func TestEd25519EndpointGetsV1aSignatures(t *testing.T) {
	t.Parallel()
	ts := setup(t)
	snk := newSink(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	private, public := webhook.NewKeyPair()

	var app, ep struct{ ID string }
	if _, err := call(ctx, ts.URL, ts.Token, "POST", "/api/v1/app", map[string]any{"name": "asymmetric"}, &app); err != nil {
		t.Fatal(err)
	}
	base := "/api/v1/app/" + app.ID + "/endpoint"
	if _, err := call(ctx, ts.URL, ts.Token, "POST", base, map[string]any{"url": snk.URL, "secret": private}, &ep); err != nil {
		t.Fatal(err)
	}
	var shown struct{ Key string }
	if _, err := call(ctx, ts.URL, ts.Token, "GET", base+"/"+ep.ID+"/secret", nil, &shown); err != nil {
		t.Fatal(err)
	}
	if shown.Key != public {
		t.Fatalf("secret endpoint: got %q, want the public key %q (never the private one)", shown.Key, public)
	}
	if code, _ := call(ctx, ts.URL, ts.Token, "POST", base, map[string]any{"url": snk.URL, "secret": "whsk_bm90IGEga2V5"}, nil); code != 422 {
		t.Errorf("a malformed ed25519 key: got %d, want 422", code)
	}

	var msg struct{ ID string }
	if _, err := call(ctx, ts.URL, ts.Token, "POST", "/api/v1/app/"+app.ID+"/msg",
		map[string]any{"eventType": "signed.asymmetric", "payload": map[string]any{"ok": true}}, &msg); err != nil {
		t.Fatal(err)
	}
	if !snk.waitFor(ctx, func(seen map[string]int) bool { return seen[msg.ID] > 0 }) {
		t.Fatal("message not delivered")
	}
	snk.mu.Lock()
	req := snk.requests[0]
	snk.mu.Unlock()
	if sig := req.Header.Get("webhook-signature"); !strings.HasPrefix(sig, "v1a,") {
		t.Errorf("signature header %q, want a v1a signature", sig)
	}
	v, err := webhook.NewVerifier(public)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Verify(req.Body, req.Header); err != nil {
		t.Errorf("the public key does not verify the delivery: %v", err)
	}
	if strings.Contains(ts.Logs.String(), strings.TrimPrefix(private, webhook.PrefixPrivateKey)) {
		t.Error("the private key reached the logs")
	}
}
