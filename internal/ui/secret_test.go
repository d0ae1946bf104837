package ui

import (
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/webhook"
)

// TestEd25519EndpointShowsItsPublicKey: the endpoint pages, the operator's
// and the portal's, show what the receiver verifies with. For an ed25519
// endpoint that is the public key; its private key never leaves Herald.
func TestEd25519EndpointShowsItsPublicKey(t *testing.T) {
	t.Parallel()
	b := setup(t)
	key, pub := webhook.NewKeyPair()
	// As the page would write them: html/template escapes '+'.
	html := strings.NewReplacer("+", "&#43;")
	priv, pub := html.Replace(key), html.Replace(pub)
	ep := &herald.Endpoint{ID: herald.NewID(herald.PrefixEndpoint, b.now), AppID: b.a.ID, URL: "https://acme.example/ed",
		Secrets: []herald.Secret{{Key: key}}, CreatedAt: b.now, UpdatedAt: b.now}
	must(t, "create endpoint", b.db.CreateEndpoint(b.ctx, ep))

	portal, _ := b.portal(t, b.a)
	admin, _ := b.login(t)
	for name, r := range map[string]resp{
		"portal":   portal.get(t, "/ui/portal/endpoints/"+ep.ID),
		"operator": admin.get(t, "/ui/apps/"+b.a.ID+"/endpoints/"+ep.ID),
	} {
		if r.status != 200 || strings.Contains(r.body, priv) || !strings.Contains(r.body, pub) {
			t.Errorf("%s endpoint page: status %d, private key shown %v, public key shown %v; want 200 with the public key only",
				name, r.status, strings.Contains(r.body, priv), strings.Contains(r.body, pub))
		}
	}
}
