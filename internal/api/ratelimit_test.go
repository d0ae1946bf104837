package api

import (
	"net/http"
	"sync"
	"testing"
	"time"
)

// TestPerTokenRateLimit gives each token 1 request/s with a burst of 2:
// the third request at once gets 429 with Retry-After, another token has
// its own allowance, and time restores it.
func TestPerTokenRateLimit(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	b := setup(t, func(c *Config) { c.RateLimit, c.RateBurst, c.Now = 1, 2, clock })

	app := b.createApp(t, "limited", "") // the admin token's first request
	r := b.call(t, "POST", "/api/v1/auth/app-portal-access/"+app, map[string]any{})
	if r.status != http.StatusOK {
		t.Fatalf("portal access: got %d", r.status)
	}
	portal, _ := r.obj(t)["token"].(string)

	r = b.call(t, "GET", "/api/v1/app", nil)
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "1" {
		t.Fatalf("third request at once: got %d, Retry-After %q; want 429 with Retry-After 1", r.status, r.header.Get("Retry-After"))
	}
	if code, _ := r.obj(t)["code"].(string); code != "rate_limited" {
		t.Errorf("429 body code: got %q, want rate_limited", code)
	}
	if r := b.callAs(t, portal, "GET", "/api/v1/app/"+app, nil, nil); r.status != http.StatusOK {
		t.Errorf("another token: got %d, want 200 from its own allowance", r.status)
	}
	if r := b.callAs(t, "", "GET", "/api/v1/health", nil, nil); r.status/100 != 2 {
		t.Errorf("health needs no token and is not limited: got %d", r.status)
	}

	mu.Lock()
	now = now.Add(time.Second)
	mu.Unlock()
	if r := b.call(t, "GET", "/api/v1/app", nil); r.status != http.StatusOK {
		t.Errorf("a second later: got %d, want 200", r.status)
	}
}
