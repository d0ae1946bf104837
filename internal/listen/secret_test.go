package listen

import (
	"context"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/webhook"
)

// TestReadyCarriesTheVerifyingKey: a listen endpoint whose secret is an
// ed25519 key gives the CLI its public key, what the local app verifies
// with; the private key never leaves Herald.
func TestReadyCarriesTheVerifyingKey(t *testing.T) {
	t.Parallel()
	st, _, _ := memStore()
	priv, pub := webhook.NewKeyPair()
	now := time.Now()
	if err := st.CreateEndpoint(context.Background(), &herald.Endpoint{
		ID: "ep_1", AppID: "app_1", UID: EndpointUID("dev"), URL: EndpointURL("app_1", "dev"),
		Secrets: []herald.Secret{{Key: priv}}, CreatedAt: now, UpdatedAt: now,
	}); err != nil {
		t.Fatal(err)
	}
	srv := newHubServer(t, NewHub(Config{Store: st}))
	c := runClient(t, ClientConfig{Server: srv.URL, App: "app_1", Name: "dev", ForwardTo: "http://127.0.0.1:1"})
	if r := waitFor(t, c.ready, "ready"); r.Secret != pub {
		t.Errorf("ready: secret %.12s…, want the public key %.12s…", r.Secret, pub)
	}
}
