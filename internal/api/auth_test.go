package api

import (
	"context"
	"crypto/sha256"
	"strings"
	"testing"
	"time"
)

func TestAppPortalToken(t *testing.T) {
	t.Parallel()
	b := setup(t)
	app := b.createApp(t, "Acme", "acme")
	other := b.createApp(t, "Other", "other")
	b.createEventType(t, "user.signup", nil)

	out := b.call(t, "POST", "/api/v1/auth/app-portal-access/acme", map[string]any{}).want(t, 200).obj(t)
	token := out["token"].(string)
	if url := out["url"].(string); url != "http://herald.test/ui/portal#key="+token {
		t.Errorf("got url %q, want the portal URL with the token", url)
	}
	// Only its hash is stored, with an expiry of about 7 days.
	sum := sha256.Sum256([]byte(token))
	stored, err := b.store.GetToken(context.Background(), sum[:])
	if err != nil {
		t.Fatalf("get token: %v", err)
	}
	if stored.AppID != app || time.Until(stored.ExpiresAt) < 7*24*time.Hour-time.Minute {
		t.Errorf("got token %+v, want app %s and a 7-day expiry", stored, app)
	}

	// Its own application: allowed, by ID or UID.
	b.callAs(t, token, "GET", "/api/v1/app/acme", nil, nil).want(t, 200)
	b.callAs(t, token, "GET", "/api/v1/app/"+app+"/endpoint", nil, nil).want(t, 200)
	b.callAs(t, token, "POST", "/api/v1/app/acme/endpoint", map[string]any{"url": "https://example.com"}, nil).want(t, 201)
	b.callAs(t, token, "POST", "/api/v1/app/acme/msg", map[string]any{"eventType": "a", "payload": map[string]any{}}, nil).want(t, 202)
	// Event types are readable, not writable.
	b.callAs(t, token, "GET", "/api/v1/event-type", nil, nil).want(t, 200)
	b.callAs(t, token, "GET", "/api/v1/event-type/user.signup", nil, nil).want(t, 200)
	b.callAs(t, token, "POST", "/api/v1/event-type", map[string]any{"name": "x", "description": "x"}, nil).want(t, 403)

	// Another application, existing or not, and global routes: forbidden.
	for _, tc := range []struct{ method, path string }{
		{"GET", "/api/v1/app/" + other},
		{"GET", "/api/v1/app/other/endpoint"},
		{"GET", "/api/v1/app/does-not-exist"},
		{"POST", "/api/v1/app/other/msg"},
		{"GET", "/api/v1/app"},
		{"POST", "/api/v1/app"},
		{"DELETE", "/api/v1/app/acme"},
		{"POST", "/api/v1/auth/app-portal-access/acme"},
	} {
		r := b.callAs(t, token, tc.method, tc.path, `{"name":"x","eventType":"a","payload":{}}`, nil)
		if r.status != 403 {
			t.Errorf("%s %s with an app token: got %d, want 403", tc.method, tc.path, r.status)
		}
		if strings.Contains(string(r.raw), "Other") {
			t.Errorf("%s %s leaked another app: %s", tc.method, tc.path, r.raw)
		}
	}

	// Logout deletes the token.
	b.callAs(t, token, "POST", "/api/v1/auth/logout", nil, nil).want(t, 204)
	b.callAs(t, token, "GET", "/api/v1/app/acme", nil, nil).want(t, 401)
	b.call(t, "POST", "/api/v1/auth/app-portal-access/nope", nil).want(t, 404)
	// With an application in the body, a missing one is created.
	b.call(t, "POST", "/api/v1/auth/app-portal-access/newco", map[string]any{"application": map[string]any{"name": "New Co"}}).want(t, 200)
	if got := b.call(t, "GET", "/api/v1/app/newco", nil).want(t, 200).obj(t); got["name"] != "New Co" {
		t.Errorf("got %v, want the application created", got)
	}
}

func TestExpiredToken(t *testing.T) {
	t.Parallel()
	now := time.Now()
	clock := func() time.Time { return now }
	b := setup(t, func(c *Config) { c.Now = clock; c.PortalTokenTTL = time.Hour })
	b.createApp(t, "Acme", "acme")
	token := b.call(t, "POST", "/api/v1/auth/app-portal-access/acme", map[string]any{"expiry": 60}).want(t, 200).obj(t)["token"].(string)
	b.callAs(t, token, "GET", "/api/v1/app/acme", nil, nil).want(t, 200)

	late := setup(t, func(c *Config) { c.Store = b.store; c.Now = func() time.Time { return now.Add(2 * time.Minute) } })
	r := late.callAs(t, token, "GET", "/api/v1/app/acme", nil, nil).want(t, 401)
	if !strings.Contains(string(r.raw), "expired") {
		t.Errorf("got %s, want the reason", r.raw)
	}
}

func TestIdempotency(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createApp(t, "Acme", "acme")
	key := map[string][]string{"Idempotency-Key": {"key-1"}}
	body := `{"eventType":"a","payload":{"n":1}}`

	first := b.callAs(t, adminToken, "POST", "/api/v1/app/acme/msg", body, key).want(t, 202)
	second := b.callAs(t, adminToken, "POST", "/api/v1/app/acme/msg", body, key).want(t, 202)
	if string(first.raw) != string(second.raw) {
		t.Errorf("got replay %s, want %s", second.raw, first.raw)
	}
	if published, _, _ := b.pub.counts(); published != 1 {
		t.Errorf("got %d published, want 1 for a repeated key", published)
	}
	// The same key on another route is another request.
	b.callAs(t, adminToken, "POST", "/api/v1/app", `{"name":"n"}`, key).want(t, 201)
	// A failed request's validation answer is replayed too.
	bad := map[string][]string{"Idempotency-Key": {"key-2"}}
	b.callAs(t, adminToken, "POST", "/api/v1/app/acme/msg", `{}`, bad).want(t, 422)
	b.callAs(t, adminToken, "POST", "/api/v1/app/acme/msg", `{}`, bad).want(t, 422)
	// 204 answers replay without a body.
	ep := b.createEndpoint(t, "acme", map[string]any{})
	rot := map[string][]string{"Idempotency-Key": {"key-3"}}
	b.callAs(t, adminToken, "POST", "/api/v1/app/acme/endpoint/"+ep+"/secret/rotate", `{}`, rot).want(t, 204)
	key1 := b.call(t, "GET", "/api/v1/app/acme/endpoint/"+ep+"/secret", nil).want(t, 200).obj(t)["key"]
	b.callAs(t, adminToken, "POST", "/api/v1/app/acme/endpoint/"+ep+"/secret/rotate", `{}`, rot).want(t, 204)
	if key2 := b.call(t, "GET", "/api/v1/app/acme/endpoint/"+ep+"/secret", nil).want(t, 200).obj(t)["key"]; key2 != key1 {
		t.Errorf("got secret %v after a replayed rotate, want %v unchanged", key2, key1)
	}
}

// app-portal-access creates a missing application under the path's name
// only: a token is never minted for another application the body names.
func TestPortalAccessApplicationFollowsPath(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createApp(t, "Acme", "acme")
	r := b.call(t, "POST", "/api/v1/auth/app-portal-access/newco",
		map[string]any{"application": map[string]any{"name": "x", "uid": "acme"}}).want(t, 422)
	if strings.Contains(string(r.raw), "appsk_") {
		t.Errorf("got a token %s, want none", r.raw)
	}
	b.call(t, "GET", "/api/v1/app/newco", nil).want(t, 404)
}
