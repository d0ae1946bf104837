package api

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/authlimit"
	"github.com/heraldhq/herald/internal/fakeclock"
	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/sqlite"
)

// from returns b calling from the loopback address ip (any of 127.0.0.0/8
// reaches the server), so one test can be several clients.
func (b *bundle) from(t *testing.T, ip string) *bundle {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	c := *b
	c.http = &http.Client{Transport: tr}
	return &c
}

// guessUntilLimited sends wrong tokens from b until one is answered 429,
// and returns how many were answered 401 before it and the 429's
// Retry-After in seconds.
func guessUntilLimited(t *testing.T, b *bundle) (int, int) {
	t.Helper()
	for n := 0; n < 100; n++ {
		r := b.callAs(t, "wrong-"+strconv.Itoa(n), "GET", "/api/v1/app", nil, nil)
		switch r.status {
		case http.StatusUnauthorized:
			continue
		case http.StatusTooManyRequests:
			secs, err := strconv.Atoi(r.header.Get("Retry-After"))
			if err != nil || secs < 1 {
				t.Fatalf("429 after %d wrong tokens: Retry-After %q, want whole seconds", n, r.header.Get("Retry-After"))
			}
			return n, secs
		default:
			t.Fatalf("wrong token %d: got %d %s, want 401 or 429", n, r.status, r.raw)
		}
	}
	t.Fatalf("100 wrong tokens from one client: got no 429, want the client limited")
	return 0, 0
}

// TestFailedAuthenticationsAreLimitedPerClient: a client that keeps
// sending wrong tokens is answered 429 with Retry-After before its token is
// even checked (so a right guess is not told from a wrong one), while
// other clients keep their own budgets; the budget refills with time, and
// successful calls do not spend it.
func TestFailedAuthenticationsAreLimitedPerClient(t *testing.T) {
	t.Parallel()
	clock := fakeclock.New(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	logs := &syncBuffer{}
	b := setup(t, func(c *Config) {
		c.Now = clock.Now
		c.Logger = slog.New(slog.NewTextHandler(logs, nil))
	})
	attacker, neighbour, other := b.from(t, "127.0.0.2"), b.from(t, "127.0.0.2"), b.from(t, "127.0.0.3")

	failures, wait := guessUntilLimited(t, attacker)
	if failures < 3 || failures > 20 {
		t.Errorf("wrong tokens answered 401 before the limit: got %d, want a small burst (3 to 20)", failures)
	}
	// Limited, even with the right token, on any route that takes one.
	for _, path := range []string{"/api/v1/app", "/api/v1/event-type", "/api/v1/source"} {
		if r := neighbour.callAs(t, b.token, "GET", path, nil, nil); r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
			t.Errorf("right token from the limited client, GET %s: got %d (Retry-After %q), want 429 with Retry-After", path, r.status, r.header.Get("Retry-After"))
		}
	}
	// Another client is not affected: a wrong token is 401, the right one works.
	other.callAs(t, "typo", "GET", "/api/v1/app", nil, nil).want(t, http.StatusUnauthorized)
	other.callAs(t, b.token, "GET", "/api/v1/app", nil, nil).want(t, http.StatusOK)
	// Public routes take no token and are never limited.
	attacker.callAs(t, "", "GET", "/api/v1/health", nil, nil).want(t, http.StatusNoContent)

	// Once Retry-After has passed, the client has one attempt again.
	clock.Advance(time.Duration(wait) * time.Second)
	attacker.callAs(t, "still-wrong", "GET", "/api/v1/app", nil, nil).want(t, http.StatusUnauthorized)
	attacker.callAs(t, "still-wrong", "GET", "/api/v1/app", nil, nil).want(t, http.StatusTooManyRequests)
	// The neighbour with the right token gets in as soon as there is
	// budget, and its successful calls do not spend it.
	clock.Advance(time.Duration(wait) * time.Second)
	for i := range 3 * failures {
		if r := neighbour.callAs(t, b.token, "GET", "/api/v1/app", nil, nil); r.status != http.StatusOK {
			t.Fatalf("right token %d from the neighbour once the budget refilled: got %d, want 200", i+1, r.status)
		}
	}

	// Refusals are logged, naming the client and never the tokens tried.
	out := logs.String()
	if !strings.Contains(out, "failed authentication") || !strings.Contains(out, "client=127.0.0.2") {
		t.Errorf("logs: got %q, want a failed authentication line naming client 127.0.0.2", out)
	}
	if strings.Contains(out, "wrong-") || strings.Contains(out, "still-wrong") || strings.Contains(out, b.token) {
		t.Errorf("logs contain a token: %q", out)
	}
	if n := strings.Count(out, "client=127.0.0.2"); n > 3 {
		t.Errorf("log lines about one client within seconds: got %d, want them rate-limited (at most 3)", n)
	}
}

// TestAuthenticationLimitCountsOnlyFailures: only a wrong token is a
// guess. Requests without a token or with a malformed header, refusals
// that are not about the token (a read-only token writing, another
// application's token) and successful calls leave the budget alone.
func TestAuthenticationLimitCountsOnlyFailures(t *testing.T) {
	t.Parallel()
	clock := fakeclock.New(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	b := setup(t, func(c *Config) { c.Now = clock.Now })
	b.createApp(t, "Acme", "acme")
	b.createApp(t, "Other", "other")
	readOnly := b.call(t, "POST", "/api/v1/auth/app-portal-access/acme", map[string]any{"readOnly": true}).want(t, 200).obj(t)["token"].(string)
	c := b.from(t, "127.0.0.4")
	for i := range 50 {
		if r := c.callAs(t, "", "GET", "/api/v1/app", nil, nil); r.status != http.StatusUnauthorized {
			t.Fatalf("call %d without a token: got %d, want 401", i+1, r.status)
		}
		if r := c.callAs(t, "", "GET", "/api/v1/app", nil, http.Header{"Authorization": {"Basic dXNlcjpwYXNz"}}); r.status != http.StatusUnauthorized {
			t.Fatalf("call %d with Basic credentials: got %d, want 401", i+1, r.status)
		}
		if r := c.callAs(t, readOnly, "POST", "/api/v1/app/acme/endpoint", map[string]any{"url": "https://example.com"}, nil); r.status != http.StatusForbidden {
			t.Fatalf("write %d with a read-only token: got %d, want 403", i+1, r.status)
		}
		if r := c.callAs(t, readOnly, "GET", "/api/v1/app/other", nil, nil); r.status != http.StatusForbidden {
			t.Fatalf("read %d of another application: got %d, want 403", i+1, r.status)
		}
	}
	c.callAs(t, "wrong", "GET", "/api/v1/app", nil, nil).want(t, http.StatusUnauthorized)
}

// TestFailedAuthenticationsBehindATrustedProxy: behind a trusted proxy
// each client it forwards has its own budget, so one client's failures
// do not lock out another behind the same proxy; without trusted proxies
// they share the proxy's.
func TestFailedAuthenticationsBehindATrustedProxy(t *testing.T) {
	t.Parallel()
	clock := fakeclock.New(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	via := func(client string) http.Header { return http.Header{"X-Forwarded-For": {client}} }
	b := setup(t, func(c *Config) {
		c.Now = clock.Now
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	})
	limited := false
	for i := 0; i < 100 && !limited; i++ {
		limited = b.callAs(t, fmt.Sprint("guess-", i), "GET", "/api/v1/app", nil, via("198.51.100.7")).status == http.StatusTooManyRequests
	}
	if !limited {
		t.Fatalf("100 wrong tokens from one client behind the proxy: got no 429")
	}
	if r := b.callAs(t, b.token, "GET", "/api/v1/app", nil, via("203.0.113.9, 198.51.100.7")); r.status != http.StatusTooManyRequests {
		t.Errorf("limited client naming another in front of the proxy's hop: got %d, want 429", r.status)
	}
	b.callAs(t, b.token, "GET", "/api/v1/app", nil, via("203.0.113.9")).want(t, http.StatusOK)

	shared := setup(t, func(c *Config) { c.Now = clock.Now })
	for i := range 100 {
		if shared.callAs(t, fmt.Sprint("guess-", i), "GET", "/api/v1/app", nil, via("198.51.100.7")).status == http.StatusTooManyRequests {
			break
		}
	}
	if r := shared.callAs(t, shared.token, "GET", "/api/v1/app", nil, via("203.0.113.9")); r.status != http.StatusTooManyRequests {
		t.Errorf("another client behind an untrusted proxy: got %d, want 429 (one budget)", r.status)
	}
}

// TestConcurrentCallsAreNeverLimited: a client making many calls at once
// with a right token (a publisher with a pool of connections) spends no
// budget, however many are in flight.
func TestConcurrentCallsAreNeverLimited(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createApp(t, "Acme", "acme")
	c := b.from(t, "127.0.0.6")
	var wg sync.WaitGroup
	results := make(chan string, 64)
	for range 64 {
		wg.Go(func() {
			req, err := http.NewRequest(http.MethodGet, b.url+"/api/v1/app/acme", nil)
			if err != nil {
				results <- err.Error()
				return
			}
			req.Header.Set("Authorization", "Bearer "+b.token)
			resp, err := c.http.Do(req)
			if err != nil {
				results <- err.Error()
				return
			}
			resp.Body.Close()
			results <- strconv.Itoa(resp.StatusCode)
		})
	}
	wg.Wait()
	close(results)
	for r := range results {
		if r != "200" {
			t.Errorf("one of 64 concurrent calls with the right token: got %s, want 200", r)
		}
	}
}

// slowTokenStore holds every token lookup until release is closed,
// telling arrived of each.
type slowTokenStore struct {
	store.Store
	arrived chan struct{}
	release chan struct{}
}

func (s *slowTokenStore) GetToken(ctx context.Context, hash []byte) (*store.Token, error) {
	s.arrived <- struct{}{}
	<-s.release
	return s.Store.GetToken(ctx, hash)
}

// TestSlowLookupsBuildNoDebt: wrong tokens sent at once all wait on the
// store together, having passed the check before it. Only as many as the
// budget allows are answered 401, the others 429, and they build no debt:
// once the budget has refilled, the right token from the same address
// gets in.
func TestSlowLookupsBuildNoDebt(t *testing.T) {
	t.Parallel()
	const n = 64
	clock := fakeclock.New(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	slow := &slowTokenStore{arrived: make(chan struct{}, n), release: make(chan struct{})}
	b := setup(t, func(c *Config) {
		c.Now = clock.Now
		slow.Store = c.Store
		c.Store = slow
	})
	c := b.from(t, "127.0.0.8")
	statuses := make(chan int, n)
	for i := range n {
		go func() {
			req, err := http.NewRequest(http.MethodGet, b.url+"/api/v1/app", nil)
			if err != nil {
				statuses <- 0
				return
			}
			req.Header.Set("Authorization", fmt.Sprintf("Bearer wrong-%d", i))
			resp, err := c.http.Do(req)
			if err != nil {
				statuses <- 0
				return
			}
			_ = resp.Body.Close()
			statuses <- resp.StatusCode
		}()
	}
	var release sync.Once
	t.Cleanup(func() { release.Do(func() { close(slow.release) }) })
	for waiting := 0; waiting < n; {
		select {
		case <-slow.arrived:
			waiting++
		case status := <-statuses:
			t.Fatalf("a wrong token was answered %d before its lookup", status)
		}
	}
	release.Do(func() { close(slow.release) })
	answered := 0
	for range n {
		switch status := <-statuses; status {
		case http.StatusUnauthorized:
			answered++
		case http.StatusTooManyRequests:
		default:
			t.Fatalf("wrong token: got %d, want 401 or 429", status)
		}
	}
	if answered > 2*authlimit.DefaultBurst {
		t.Errorf("wrong tokens answered 401 of %d sent at once: got %d, want at most about the budget (%d)", n, answered, authlimit.DefaultBurst)
	}
	clock.Advance(2 * authlimit.DefaultBurst * authlimit.DefaultEvery)
	c.callAs(t, b.token, "GET", "/api/v1/app", nil, nil).want(t, http.StatusOK)
}

// TestRepeatedStaleTokenDoesNotLockOut: a script behind the same address
// as the operator, still sending a revoked token, is refused each time but
// spends the budget once, so the operator's correct calls go through.
func TestRepeatedStaleTokenDoesNotLockOut(t *testing.T) {
	t.Parallel()
	b := setup(t)
	script, operator := b.from(t, "127.0.0.8"), b.from(t, "127.0.0.8")
	for range 50 {
		script.callAs(t, "revoked-token", "GET", "/api/v1/app", nil, nil).want(t, http.StatusUnauthorized)
	}
	operator.callAs(t, b.token, "GET", "/api/v1/app", nil, nil).want(t, http.StatusOK)
	if failures, _ := guessUntilLimited(t, script); failures > 20 {
		t.Errorf("distinct wrong tokens after it: %d answered 401 before the limit, want at most 20", failures)
	}
}

// cancelingTokenStore fails a token lookup whose context has ended, as
// PostgreSQL does when the client that asked has hung up.
type cancelingTokenStore struct{ store.Store }

func (s cancelingTokenStore) GetToken(ctx context.Context, hash []byte) (*store.Token, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return s.Store.GetToken(ctx, hash)
}

// TestHungUpGuessesAreCharged: a client that hangs up as soon as it has
// sent each request must not get its wrong guesses answered uncharged
// (as canceled lookups) while the admin token, compared before any
// lookup, is answered as itself: that would be an oracle with no limit.
func TestHungUpGuessesAreCharged(t *testing.T) {
	t.Parallel()
	st, err := sqlite.Open(t.Context(), sqlite.Config{Path: filepath.Join(t.TempDir(), "herald.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	h := New(Config{Store: cancelingTokenStore{st}, Publisher: &fakePublisher{store: st}, AdminToken: adminToken}).Handler()
	hungUp, cancel := context.WithCancel(context.Background())
	cancel()
	call := func(token string, ctx context.Context) int {
		r := httptest.NewRequest(http.MethodGet, "/api/v1/app", nil).WithContext(ctx)
		r.RemoteAddr = "192.0.2.9:1234"
		r.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	for i := range 30 {
		call(fmt.Sprint("guess-", i), hungUp)
	}
	if status := call("one-more-guess", context.Background()); status != http.StatusTooManyRequests {
		t.Errorf("a wrong token after 30 hung-up guesses: got %d, want 429", status)
	}
	if status := call(adminToken, hungUp); status != http.StatusTooManyRequests {
		t.Errorf("the admin token from that client, hung up: got %d, want 429 like any guess", status)
	}
}

// canceledListStore fails listing applications once the request's
// context has ended, as a store does when the client hangs up.
type canceledListStore struct{ store.Store }

func (s canceledListStore) ListApplications(ctx context.Context, p store.Page) ([]herald.Application, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return s.Store.ListApplications(ctx, p)
}

// TestClientGoneIsNotAnError: a request whose client hung up is answered
// 499 and not logged as Herald's failure.
func TestClientGoneIsNotAnError(t *testing.T) {
	t.Parallel()
	st, err := sqlite.Open(t.Context(), sqlite.Config{Path: filepath.Join(t.TempDir(), "herald.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	logs := &syncBuffer{}
	h := New(Config{Store: canceledListStore{st}, Publisher: &fakePublisher{store: st}, AdminToken: adminToken,
		Logger: slog.New(slog.NewTextHandler(logs, nil))}).Handler()
	hungUp, cancel := context.WithCancel(context.Background())
	cancel()
	r := httptest.NewRequest(http.MethodGet, "/api/v1/app", nil).WithContext(hungUp)
	r.Header.Set("Authorization", "Bearer "+adminToken)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 499 || strings.Contains(logs.String(), "api request failed") {
		t.Errorf("client gone: got %d, logs %q; want 499 and no error line", w.Code, logs.String())
	}
}
