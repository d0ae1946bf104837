package ui

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/fakeclock"
)

// authServer is a Server on b's store with its own admin token and the
// given session secret and clock, as `herald serve` builds it.
func authServer(t *testing.T, b *bundle, token string, secret []byte, now func() time.Time) *Server {
	t.Helper()
	s, err := New(Config{
		Store:         b.db,
		Engine:        fakeEngine{wake: func() {}, invalidate: func(string) {}},
		AdminToken:    token,
		SessionSecret: secret,
		Now:           now,
	})
	if err != nil {
		t.Fatalf("new: %v", err)
	}
	return s
}

// serve runs one request through s, from remote (host:port), with the
// given cookies.
func serve(s *Server, method, path, remote string, form url.Values, cookies ...*http.Cookie) *httptest.ResponseRecorder {
	var r *http.Request
	if form != nil {
		r = httptest.NewRequest(method, "http://herald.local"+path, strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		r = httptest.NewRequest(method, "http://herald.local"+path, nil)
	}
	r.RemoteAddr = remote
	for _, c := range cookies {
		r.AddCookie(c)
	}
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, r)
	return w
}

// tryLogin posts token to s's login form from remote, with a valid
// double-submit CSRF token.
func tryLogin(s *Server, remote, token string) *httptest.ResponseRecorder {
	return tryLoginVia(s, remote, nil, token)
}

// tryLoginVia is tryLogin with the X-Forwarded-For header lines xff, as a
// proxy at remote (or a client pretending to be behind one) sends them.
func tryLoginVia(s *Server, remote string, xff []string, token string) *httptest.ResponseRecorder {
	form := url.Values{csrfField: {"login-nonce"}, "token": {token}}
	r := httptest.NewRequest("POST", "http://herald.local/ui/login", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.RemoteAddr = remote
	for _, v := range xff {
		r.Header.Add("X-Forwarded-For", v)
	}
	r.AddCookie(&http.Cookie{Name: loginCookie, Value: "login-nonce"})
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, r)
	return w
}

// sessionCookie returns the operator session cookie that w sets.
func sessionCookie(t *testing.T, w *httptest.ResponseRecorder) *http.Cookie {
	t.Helper()
	for _, c := range w.Result().Cookies() {
		if c.Name == adminCookie && c.Value != "" {
			return c
		}
	}
	t.Fatalf("login: got %d and no session cookie", w.Code)
	return nil
}

// TestAdminSessionEndsWithItsToken restarts the dashboard with the same
// session secret (as `herald serve` does with the same --data-dir) and a
// new admin token: sessions made with the old token must end.
func TestAdminSessionEndsWithItsToken(t *testing.T) {
	t.Parallel()
	b := setup(t)
	secret := []byte("shared-session-secret-0123456789")
	const oldToken, newToken = "ADMINTOK", "NEWTOK"

	old := authServer(t, b, oldToken, secret, nil)
	cookie := sessionCookie(t, tryLogin(old, "192.0.2.1:1000", oldToken))
	home := serve(old, "GET", "/ui/", "192.0.2.1:1000", nil, cookie)
	if home.Code != http.StatusOK {
		t.Fatalf("overview after login: got %d, want 200", home.Code)
	}
	token := csrf(t, resp{status: home.Code, body: home.Body.String()})

	// The cookie carries no form of the admin token anyone could check a
	// guess against: neither the token nor its plain hash.
	p, _, _ := strings.Cut(cookie.Value, ".")
	payload, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		t.Fatalf("cookie payload: %v", err)
	}
	sum := sha256.Sum256([]byte(oldToken))
	for _, secret := range []string{oldToken, hex.EncodeToString(sum[:]), base64.RawURLEncoding.EncodeToString(sum[:])} {
		if strings.Contains(string(payload), secret) || strings.Contains(cookie.Value, secret) {
			t.Errorf("session cookie %q carries %q", payload, secret)
		}
	}

	// A restart with the same token keeps the session.
	same := authServer(t, b, oldToken, secret, nil)
	if w := serve(same, "GET", "/ui/", "192.0.2.1:1000", nil, cookie); w.Code != http.StatusOK {
		t.Errorf("overview after a restart with the same token: got %d, want 200", w.Code)
	}

	// A restart with a new token ends it: pages, actions and the login
	// page all treat the browser as logged out.
	restarted := authServer(t, b, newToken, secret, nil)
	if w := serve(restarted, "GET", "/ui/", "192.0.2.1:1000", nil, cookie); w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/ui/login" {
		t.Errorf("overview with a session of the old token: got %d to %q, want 303 to /ui/login", w.Code, w.Header().Get("Location"))
	}
	ep := "/ui/apps/" + b.a.ID + "/endpoints/" + b.a1.ID
	if w := serve(restarted, "GET", ep, "192.0.2.1:1000", nil, cookie); w.Code != http.StatusSeeOther {
		t.Errorf("endpoint page (signing secret) with a session of the old token: got %d, want 303", w.Code)
	}
	if w := serve(restarted, "POST", ep+"/disable", "192.0.2.1:1000", url.Values{csrfField: {token}}, cookie); w.Code != http.StatusUnauthorized {
		t.Errorf("disable with a session of the old token: got %d, want 401", w.Code)
	}
	if w := serve(restarted, "GET", "/ui/login", "192.0.2.1:1000", nil, cookie); w.Code != http.StatusOK {
		t.Errorf("login page with a session of the old token: got %d, want 200 (the form)", w.Code)
	}
	// The new token logs in on the restarted server, and its session is
	// in turn refused by a server with the old token.
	fresh := sessionCookie(t, tryLogin(restarted, "192.0.2.1:1000", newToken))
	if w := serve(restarted, "GET", "/ui/", "192.0.2.1:1000", nil, fresh); w.Code != http.StatusOK {
		t.Errorf("overview with a session of the new token: got %d, want 200", w.Code)
	}
	if w := serve(old, "GET", "/ui/", "192.0.2.1:1000", nil, fresh); w.Code != http.StatusSeeOther {
		t.Errorf("overview on the old server with a session of the new token: got %d, want 303", w.Code)
	}
}

// TestFailedLoginsArePerClient: one client's failures must not lock out
// another, the locked-out client recovers as its budget refills, and
// idle clients are forgotten.
func TestFailedLoginsArePerClient(t *testing.T) {
	t.Parallel()
	b := setup(t)
	clock := fakeclock.New(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	s := authServer(t, b, testAdminToken, nil, clock.Now)
	const attacker, admin = "198.51.100.7:4000", "203.0.113.9:5000"

	limited := false
	for i := 0; i < 50 && !limited; i++ {
		limited = tryLogin(s, attacker, guess()).Code == http.StatusTooManyRequests
	}
	if !limited {
		t.Fatalf("50 wrong tokens from one client: got no 429, want the client limited")
	}
	// The attacker, even from another port, stays limited, even with the
	// right token: otherwise a 429 would tell a wrong guess from a right one.
	if w := tryLogin(s, "198.51.100.7:4001", testAdminToken); w.Code != http.StatusTooManyRequests {
		t.Errorf("right token from the limited client: got %d, want 429", w.Code)
	}
	// Another client is not affected: a typo is refused as wrong, not as
	// limited, and the right token logs in.
	if w := tryLogin(s, admin, "typo"); w.Code != http.StatusUnauthorized {
		t.Errorf("wrong token from another client: got %d, want 401", w.Code)
	}
	if w := tryLogin(s, admin, testAdminToken); w.Code != http.StatusSeeOther {
		t.Errorf("right token from another client while one is limited: got %d, want 303", w.Code)
	}
	// An IPv6 client is one /64: rotating the interface ID does not help.
	for i := 0; i < 10; i++ {
		tryLogin(s, "[2001:db8:1:2::"+strconv.Itoa(i+1)+"]:80", guess())
	}
	if w := tryLogin(s, "[2001:db8:1:2::ff]:80", guess()); w.Code != http.StatusTooManyRequests {
		t.Errorf("eleventh guess from one IPv6 /64: got %d, want 429", w.Code)
	}
	if w := tryLogin(s, "[2001:db8:1:3::1]:80", guess()); w.Code != http.StatusUnauthorized {
		t.Errorf("guess from another IPv6 /64: got %d, want 401", w.Code)
	}

	// A second later the attacker has one more attempt, and no more.
	clock.Advance(time.Second)
	if w := tryLogin(s, attacker, guess()); w.Code != http.StatusUnauthorized {
		t.Errorf("wrong token a second later: got %d, want 401", w.Code)
	}
	if w := tryLogin(s, attacker, guess()); w.Code != http.StatusTooManyRequests {
		t.Errorf("second wrong token in that second: got %d, want 429", w.Code)
	}

	// Once every budget has refilled, the clients are forgotten.
	if n := s.logins.Len(); n == 0 {
		t.Errorf("clients tracked while limited: got 0, want some")
	}
	clock.Advance(time.Minute)
	if w := tryLogin(s, "192.0.2.200:1", guess()); w.Code != http.StatusUnauthorized {
		t.Errorf("wrong token from a new client: got %d, want 401", w.Code)
	}
	if n := s.logins.Len(); n != 1 {
		t.Errorf("clients tracked after a minute idle: got %d, want 1 (the newest)", n)
	}
}

// TestFailedLoginsArePerClientBehindATrustedProxy: behind a trusted
// proxy each client it forwards has its own login budget, so one client's
// failures do not lock out the others; and no client picks its own
// address with a header, neither in front of what the proxy appends nor
// by connecting directly. Without trusted proxies (the default) every
// client behind the proxy shares the proxy's budget.
func TestFailedLoginsArePerClientBehindATrustedProxy(t *testing.T) {
	t.Parallel()
	b := setup(t)
	clock := fakeclock.New(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	var logs bytes.Buffer
	s, err := New(Config{
		Store:          b.db,
		Engine:         fakeEngine{wake: func() {}, invalidate: func(string) {}},
		AdminToken:     testAdminToken,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		Logger:         slog.New(slog.NewTextHandler(&logs, nil)),
		Now:            clock.Now,
	})
	if err != nil {
		t.Fatalf("new: %v", err)
	}
	const proxy, attacker, user = "10.0.0.1:443", "198.51.100.7", "203.0.113.9"

	limited := false
	for i := 0; i < 50 && !limited; i++ {
		limited = tryLoginVia(s, proxy, []string{attacker}, guess()).Code == http.StatusTooManyRequests
	}
	if !limited {
		t.Fatalf("50 wrong tokens from one client behind the proxy: got no 429, want the client limited")
	}
	if !strings.Contains(logs.String(), "client="+attacker+" remote="+proxy) {
		t.Errorf("failed login log: got %q, want the client %s and the proxy %s", logs.String(), attacker, proxy)
	}
	// A value the attacker sends is left of the one the proxy appends,
	// and is not believed.
	if w := tryLoginVia(s, proxy, []string{user + ", " + attacker}, testAdminToken); w.Code != http.StatusTooManyRequests {
		t.Errorf("limited client naming another in front of the proxy's hop: got %d, want 429", w.Code)
	}
	// Another client behind the same proxy is not affected.
	if w := tryLoginVia(s, proxy, []string{user}, "typo"); w.Code != http.StatusUnauthorized {
		t.Errorf("wrong token from another client behind the proxy: got %d, want 401", w.Code)
	}
	if w := tryLoginVia(s, proxy, []string{user}, testAdminToken); w.Code != http.StatusSeeOther {
		t.Errorf("right token from another client behind the proxy: got %d, want 303", w.Code)
	}
	// A client connecting directly is its own address, whatever address
	// its header claims: a fresh one each time buys no attempts.
	const direct = "198.51.100.8:4000"
	for i := range 10 {
		if w := tryLoginVia(s, direct, []string{"192.0.2." + strconv.Itoa(i+10)}, guess()); w.Code != http.StatusUnauthorized {
			t.Fatalf("guess %d from an untrusted peer: got %d, want 401", i+1, w.Code)
		}
	}
	if w := tryLoginVia(s, direct, []string{"192.0.2.200"}, guess()); w.Code != http.StatusTooManyRequests {
		t.Errorf("eleventh guess from an untrusted peer with a new X-Forwarded-For: got %d, want 429", w.Code)
	}

	// Trusting no proxy, the clients behind one share its budget.
	shared := authServer(t, b, testAdminToken, nil, clock.Now)
	for range 10 {
		tryLoginVia(shared, proxy, []string{attacker}, guess())
	}
	if w := tryLoginVia(shared, proxy, []string{user}, testAdminToken); w.Code != http.StatusTooManyRequests {
		t.Errorf("right token behind an untrusted proxy after another client failed 10 times: got %d, want 429 (one budget)", w.Code)
	}
}

// guesses numbers the wrong tokens the tests try, so each is a new guess:
// a wrong token sent again is refunded (authlimit.Limiter.Failed).
var guesses atomic.Int64

// guess returns a wrong token not tried before.
func guess() string { return "guess-" + strconv.FormatInt(guesses.Add(1), 10) }

// TestRepeatedWrongLoginIsChargedOnce: the same wrong token submitted
// again and again (a password manager's stale entry) costs one attempt,
// so the right token from that client still logs in.
func TestRepeatedWrongLoginIsChargedOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	clock := fakeclock.New(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	s := authServer(t, b, testAdminToken, nil, clock.Now)
	const client = "198.51.100.8:4000"
	for i := range 30 {
		if w := tryLogin(s, client, "stale-entry"); w.Code != http.StatusUnauthorized {
			t.Fatalf("stale token, attempt %d: got %d, want 401", i+1, w.Code)
		}
	}
	if w := tryLogin(s, client, testAdminToken); w.Code != http.StatusSeeOther {
		t.Errorf("right token after a stale one repeated: got %d, want 303 (logged in)", w.Code)
	}
}
