package ui

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// The tests here copy a session cookie, as a thief or a proxy's cache
// would, before its browser logs out: logout must end the session on
// every node sharing the store, not only in that browser.

const browserAddr = "192.0.2.1:1000"

// twoNodes returns two dashboards on b's store with one session secret,
// as two `herald serve` nodes behind a load balancer.
func twoNodes(t *testing.T, b *bundle) (*Server, *Server) {
	t.Helper()
	secret := []byte("shared-session-secret-0123456789")
	return authServer(t, b, testAdminToken, secret, nil), authServer(t, b, testAdminToken, secret, nil)
}

// cookieOf returns the cookie named name that w sets with a value.
func cookieOf(t *testing.T, w *httptest.ResponseRecorder, name string) *http.Cookie {
	t.Helper()
	for _, c := range w.Result().Cookies() {
		if c.Name == name && c.Value != "" {
			return c
		}
	}
	t.Fatalf("got %d and no %s cookie", w.Code, name)
	return nil
}

// clears reports whether w deletes the cookie named name.
func clears(w *httptest.ResponseRecorder, name string) bool {
	for _, c := range w.Result().Cookies() {
		if c.Name == name && c.Value == "" && c.MaxAge < 0 {
			return true
		}
	}
	return false
}

// csrfOf returns the CSRF token of the page w holds.
func csrfOf(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	return csrf(t, resp{status: w.Code, body: w.Body.String()})
}

func TestLogoutEndsTheOperatorSessionOnEveryNode(t *testing.T) {
	t.Parallel()
	b := setup(t)
	n1, n2 := twoNodes(t, b)
	copied := sessionCookie(t, tryLogin(n1, browserAddr, testAdminToken))
	other := sessionCookie(t, tryLogin(n2, browserAddr, testAdminToken))
	home := serve(n1, "GET", "/ui/", browserAddr, nil, copied)
	if home.Code != http.StatusOK {
		t.Fatalf("overview before logout: got %d, want 200", home.Code)
	}
	token := csrfOf(t, home)

	w := serve(n1, "POST", "/ui/logout", browserAddr, url.Values{csrfField: {token}}, copied)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/ui/login?done=loggedout" {
		t.Fatalf("logout: got %d to %q, want 303 to /ui/login?done=loggedout", w.Code, w.Header().Get("Location"))
	}

	ep := "/ui/apps/" + b.a.ID + "/endpoints/" + b.a1.ID
	for name, s := range map[string]*Server{"node 1": n1, "node 2": n2} {
		for _, path := range []string{"/ui/", ep} {
			w := serve(s, "GET", path, browserAddr, nil, copied)
			if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/ui/login" {
				t.Errorf("%s: GET %s with the logged-out cookie: got %d to %q, want 303 to /ui/login", name, path, w.Code, w.Header().Get("Location"))
			}
			if !clears(w, adminCookie) {
				t.Errorf("%s: GET %s with the logged-out cookie: got no cookie deletion, want the cookie cleared", name, path)
			}
		}
		if w := serve(s, "POST", ep+"/disable", browserAddr, url.Values{csrfField: {token}}, copied); w.Code != http.StatusUnauthorized {
			t.Errorf("%s: disable with the logged-out cookie and its CSRF token: got %d, want 401", name, w.Code)
		}
		if w := serve(s, "GET", "/ui/login", browserAddr, nil, copied); w.Code != http.StatusOK {
			t.Errorf("%s: login page with the logged-out cookie: got %d, want 200 (the form)", name, w.Code)
		}
		// Another session, never logged out, goes on.
		if w := serve(s, "GET", "/ui/", browserAddr, nil, other); w.Code != http.StatusOK {
			t.Errorf("%s: overview with another session: got %d, want 200", name, w.Code)
		}
	}
	got, err := b.db.GetEndpoint(b.ctx, b.a.ID, b.a1.ID)
	must(t, "get endpoint", err)
	if got.Disabled {
		t.Errorf("endpoint after a POST with the logged-out cookie: got disabled, want it untouched")
	}
	// Logging in again opens a new session.
	if w := serve(n2, "GET", "/ui/", browserAddr, nil, sessionCookie(t, tryLogin(n2, browserAddr, testAdminToken))); w.Code != http.StatusOK {
		t.Errorf("overview after logging in again: got %d, want 200", w.Code)
	}
}

func TestLogoutEndsThePortalSessionOnEveryNode(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{store.TokenKindPortal, store.TokenKindPortalReadOnly} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			n1, n2 := twoNodes(t, b)
			link := b.portalTokenOf(t, b.a, kind, b.now.Add(time.Hour))
			open := func(s *Server) *http.Cookie {
				t.Helper()
				w := serve(s, "POST", "/ui/portal/session", browserAddr, url.Values{"key": {link}})
				if w.Code != http.StatusNoContent {
					t.Fatalf("portal session: got %d (%s), want 204", w.Code, w.Body)
				}
				return cookieOf(t, w, portalCookie)
			}
			copied, other := open(n1), open(n2)
			home := serve(n1, "GET", "/ui/portal/home", browserAddr, nil, copied)
			if home.Code != http.StatusOK {
				t.Fatalf("portal home before logout: got %d, want 200", home.Code)
			}
			token := csrfOf(t, home)

			if w := serve(n1, "POST", "/ui/portal/logout", browserAddr, url.Values{csrfField: {token}}, copied); w.Code != http.StatusOK {
				t.Fatalf("portal logout: got %d, want 200", w.Code)
			}

			del := "/ui/portal/endpoints/" + b.a1.ID + "/delete"
			for name, s := range map[string]*Server{"node 1": n1, "node 2": n2} {
				w := serve(s, "GET", "/ui/portal/home", browserAddr, nil, copied)
				if w.Code != http.StatusUnauthorized {
					t.Errorf("%s: portal home with the logged-out cookie: got %d, want 401", name, w.Code)
				}
				if !clears(w, portalCookie) {
					t.Errorf("%s: portal home with the logged-out cookie: got no cookie deletion, want the cookie cleared", name)
				}
				if w := serve(s, "POST", del, browserAddr, url.Values{csrfField: {token}}, copied); w.Code != http.StatusUnauthorized {
					t.Errorf("%s: delete with the logged-out cookie and its CSRF token: got %d, want 401", name, w.Code)
				}
				if w := serve(s, "GET", "/ui/portal/home", browserAddr, nil, other); w.Code != http.StatusOK {
					t.Errorf("%s: portal home with another session of the link: got %d, want 200", name, w.Code)
				}
			}
			if _, err := b.db.GetEndpoint(b.ctx, b.a.ID, b.a1.ID); err != nil {
				t.Errorf("endpoint after a delete with the logged-out cookie: got %v, want it kept", err)
			}
			// Leaving ends the session, not the link: opened again, it works.
			if w := serve(n2, "GET", "/ui/portal/home", browserAddr, nil, open(n2)); w.Code != http.StatusOK {
				t.Errorf("portal home after opening the link again: got %d, want 200", w.Code)
			}
		})
	}
}

// brokenRevocations is the store with its record of ended sessions out
// of reach: revoking always fails, and reading too when readsFail.
type brokenRevocations struct {
	store.Store
	readsFail bool
}

var errRevocationsDown = fmt.Errorf("revocations: %w", herald.ErrUnavailable)

func (s brokenRevocations) SessionRevoked(ctx context.Context, id []byte) (bool, error) {
	if s.readsFail {
		return false, errRevocationsDown
	}
	return s.Store.SessionRevoked(ctx, id)
}

func (brokenRevocations) RevokeSession(context.Context, []byte, time.Time) error {
	return errRevocationsDown
}

// brokenNodes is a node on the real store and one on a broken store,
// sharing the session secret, and an operator and a portal session
// opened on the first, with their CSRF tokens.
type brokenNodes struct {
	up, broken            *Server
	admin, portal         *http.Cookie
	adminCSRF, portalCSRF string
}

func setupBroken(t *testing.T, b *bundle, st Store) brokenNodes {
	t.Helper()
	secret := []byte("shared-session-secret-0123456789")
	n := brokenNodes{up: authServer(t, b, testAdminToken, secret, nil)}
	var err error
	n.broken, err = New(Config{Store: st, Engine: fakeEngine{wake: func() {}, invalidate: func(string) {}},
		AdminToken: testAdminToken, SessionSecret: secret})
	must(t, "new", err)
	n.admin = sessionCookie(t, tryLogin(n.up, browserAddr, testAdminToken))
	n.adminCSRF = csrfOf(t, serve(n.up, "GET", "/ui/", browserAddr, nil, n.admin))
	w := serve(n.up, "POST", "/ui/portal/session", browserAddr, url.Values{"key": {b.portalToken(t, b.a, b.now.Add(time.Hour))}})
	n.portal = cookieOf(t, w, portalCookie)
	n.portalCSRF = csrfOf(t, serve(n.up, "GET", "/ui/portal/home", browserAddr, nil, n.portal))
	return n
}

// TestSessionCheckFailsClosed: when the store cannot say whether a session
// was ended, the session is not served.
func TestSessionCheckFailsClosed(t *testing.T) {
	t.Parallel()
	b := setup(t)
	n := setupBroken(t, b, brokenRevocations{Store: b.db, readsFail: true})
	for _, tc := range []struct {
		name, method, path, csrf string
		cookie                   *http.Cookie
	}{
		{"overview", "GET", "/ui/", "", n.admin},
		{"login page", "GET", "/ui/login", "", n.admin},
		{"disable", "POST", "/ui/apps/" + b.a.ID + "/endpoints/" + b.a1.ID + "/disable", n.adminCSRF, n.admin},
		{"portal home", "GET", "/ui/portal/home", "", n.portal},
		{"portal delete", "POST", "/ui/portal/endpoints/" + b.a1.ID + "/delete", n.portalCSRF, n.portal},
	} {
		var form url.Values
		if tc.method == "POST" {
			form = url.Values{csrfField: {tc.csrf}}
		}
		if w := serve(n.broken, tc.method, tc.path, browserAddr, form, tc.cookie); w.Code != http.StatusServiceUnavailable {
			t.Errorf("%s with the store's revocations out of reach: got %d, want 503", tc.name, w.Code)
		}
	}
	got, err := b.db.GetEndpoint(b.ctx, b.a.ID, b.a1.ID)
	must(t, "get endpoint", err)
	if got.Disabled {
		t.Errorf("endpoint: got disabled, want untouched")
	}
}

// TestUnrecordedLogoutKeepsTheCookie: a logout the store could not record
// fails visibly and keeps the cookie, so the user can try again rather
// than believe the session ended.
func TestUnrecordedLogoutKeepsTheCookie(t *testing.T) {
	t.Parallel()
	b := setup(t)
	n := setupBroken(t, b, brokenRevocations{Store: b.db})
	for _, tc := range []struct {
		name, path, home, csrf string
		cookie                 *http.Cookie
	}{
		{"logout", "/ui/logout", "/ui/", n.adminCSRF, n.admin},
		{"portal logout", "/ui/portal/logout", "/ui/portal/home", n.portalCSRF, n.portal},
	} {
		w := serve(n.broken, "POST", tc.path, browserAddr, url.Values{csrfField: {tc.csrf}}, tc.cookie)
		if w.Code != http.StatusServiceUnavailable || clears(w, tc.cookie.Name) {
			t.Errorf("%s the store could not record: got %d (cookie cleared: %v), want 503 and the cookie kept", tc.name, w.Code, clears(w, tc.cookie.Name))
		}
		if w := serve(n.up, "GET", tc.home, browserAddr, nil, tc.cookie); w.Code != http.StatusOK {
			t.Errorf("%s: GET %s after the failed logout: got %d, want 200", tc.name, tc.home, w.Code)
		}
	}
}
