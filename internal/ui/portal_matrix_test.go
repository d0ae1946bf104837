package ui

import (
	"cmp"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/store"
)

// publicRoutes need no session; every other route is checked by the
// portal matrix.
var publicRoutes = []string{
	"GET /ui/static/", "GET /ui", "GET /ui/login", "POST /ui/login",
	"GET /ui/portal", "POST /ui/portal/session",
}

// TestPortalIsolationEveryRoute walks the interface's own route table with
// a portal session of Acme (A). Every portal route naming Globex's (B)
// endpoint or message answers 404 and shows none of B's data; portal pages
// without IDs ignore B's IDs smuggled in the query or form; every operator
// route is refused. The same requests with A's own objects succeed, so the
// refusals are about scope. B reads the same afterwards.
func TestPortalIsolationEveryRoute(t *testing.T) {
	t.Parallel()
	b := setup(t)
	srv, err := New(Config{Store: b.db, Engine: fakeEngine{}, AdminToken: testAdminToken})
	must(t, "new", err)
	patterns := srv.patterns
	c, token := b.portal(t, b.a)
	before := portalState(t, b)

	// IDs of B that a request might smuggle past the path.
	smuggled := url.Values{"app": {b.b.ID}, "appId": {b.b.ID}, "endpoint": {b.b1.ID}, "ep": {b.b1.ID}, "msg": {b.mB.ID}}
	form := func(extra url.Values) url.Values {
		f := url.Values{"_csrf": {token}, "url": {"https://stolen.example/"}, "description": {"stolen"}}
		for k, v := range extra {
			f[k] = v
		}
		return f
	}
	send := func(method, path string, f url.Values) resp {
		if method == http.MethodGet {
			return c.get(t, path)
		}
		return c.post(t, path, f)
	}
	noLeak := func(what string, r resp) {
		t.Helper()
		for _, leak := range []string{b.b.Name, b.b1.URL, "globex-payload"} {
			if strings.Contains(r.body, leak) {
				t.Errorf("%s: the answer shows Globex's %q", what, leak)
			}
		}
	}

	var portal, operator int
	for _, p := range patterns {
		if slices.Contains(publicRoutes, p) {
			continue
		}
		method, pattern, _ := strings.Cut(p, " ")
		if !strings.HasPrefix(pattern, "/ui/portal/") {
			// Operator pages: a portal session is no operator session.
			operator++
			path := strings.NewReplacer("{app}", b.b.ID, "{ep}", b.b1.ID, "{msg}", b.mB.ID, "{action}", "disable",
				"{src}", "src_x", "{$}", "").Replace(pattern)
			r := send(method, path, form(nil))
			if !(r.status == http.StatusSeeOther && r.location == "/ui/login") && r.status != http.StatusUnauthorized {
				t.Errorf("%s with a portal session: got %d to %q, want the login redirect or 401", p, r.status, r.location)
			}
			noLeak(p, r)
			continue
		}
		portal++
		if strings.HasSuffix(pattern, "/logout") {
			continue // ends the session; runs last below
		}
		if !strings.Contains(pattern, "{") {
			// No IDs in the path: B's IDs in the query or form are ignored.
			r := send(method, pattern+"?"+smuggled.Encode(), form(smuggled))
			if r.status >= 400 {
				t.Errorf("%s with smuggled IDs: got %d, want it served for Acme", p, r.status)
			}
			noLeak(p+" with smuggled IDs", r)
			continue
		}
		path := strings.NewReplacer("{ep}", b.b1.ID, "{msg}", b.mB.ID).Replace(pattern)
		r := send(method, path, form(smuggled))
		if r.status != http.StatusNotFound {
			t.Errorf("%s with B's IDs: got %d, want 404", p, r.status)
		}
		noLeak(p+" with B's IDs", r)
		if strings.Contains(pattern, "{msg}") && method == http.MethodPost {
			// A's own message, sent to B's endpoint.
			path := strings.NewReplacer("{msg}", b.mA.ID).Replace(pattern)
			if r := send(method, path, form(url.Values{"endpoint": {b.b1.ID}})); r.status != http.StatusNotFound {
				t.Errorf("%s with A's message and B's endpoint: got %d, want 404", p, r.status)
			}
		}
	}
	if after := portalState(t, b); after != before {
		t.Errorf("Globex changed:\nbefore %s\nafter  %s", before, after)
	}
	if n := b.wakes.Load(); n != 0 {
		t.Errorf("engine wakes after refused requests: got %d, want 0", n)
	}
	if portal < 10 || operator < 10 {
		t.Errorf("walked %d portal and %d operator routes; want the whole table", portal, operator)
	}

	// A's own objects: every portal route succeeds. Deletes and logout go
	// last so each route still finds its objects and its session.
	own := slices.Clone(patterns)
	slices.SortStableFunc(own, func(x, y string) int { return cmp.Compare(portalRank(x), portalRank(y)) })
	for _, p := range own {
		method, pattern, _ := strings.Cut(p, " ")
		if !strings.HasPrefix(pattern, "/ui/portal/") || slices.Contains(publicRoutes, p) {
			continue
		}
		path := strings.NewReplacer("{ep}", b.a2.ID, "{msg}", b.mA.ID).Replace(pattern)
		r := send(method, path, form(url.Values{"endpoint": {b.a1.ID}, "url": {"https://acme.example/new"}}))
		switch {
		case strings.HasSuffix(pattern, "/logout"):
			if r.status >= 400 {
				t.Errorf("%s: got %d, want the session ended", p, r.status)
			}
		case method == http.MethodGet && r.status != http.StatusOK:
			t.Errorf("%s on Acme's own objects: got %d, want 200", p, r.status)
		case method == http.MethodPost && r.status != http.StatusSeeOther:
			t.Errorf("%s on Acme's own objects: got %d %.200s, want 303", p, r.status, r.body)
		}
	}
	if after := portalState(t, b); after != before {
		t.Errorf("Globex changed by Acme's own requests:\nbefore %s\nafter  %s", before, after)
	}
}

// portalRank orders reads and writes, then deletes, then logout.
func portalRank(p string) int {
	switch {
	case strings.HasSuffix(p, "/logout"):
		return 2
	case strings.HasSuffix(p, "/delete"):
		return 1
	}
	return 0
}

// portalState reads Globex's endpoints, message and delivery.
func portalState(t *testing.T, b *bundle) string {
	t.Helper()
	return appState(t, b, b.b.ID, b.mB.ID)
}

// appState reads an application's endpoints, and one message of it with
// its delivery.
func appState(t *testing.T, b *bundle, appID, msgID string) string {
	t.Helper()
	eps, err := b.db.ListEndpoints(b.ctx, appID, store.Page{Limit: 100})
	must(t, "endpoints", err)
	msg, err := b.db.GetMessage(b.ctx, appID, msgID)
	must(t, "message", err)
	raw, err := json.Marshal(map[string]any{"endpoints": eps, "message": msg, "delivery": deliveryStatus(t, b, appID, msgID)})
	must(t, "encode state", err)
	return string(raw)
}

// postFormRE finds the target of every form that posts.
var postFormRE = regexp.MustCompile(`<form[^>]*method="post"[^>]*action="([^"]*)"`)

// TestPortalReadOnlyEveryRoute walks the route table with a session of
// Acme's read-only link, on Acme's own objects. Every portal page reads,
// and offers no form but Leave portal and no Add endpoint link; every
// other portal route is refused with 403 and changes nothing; leaving the
// portal still works. The same pages with a link that may write offer
// their forms, so the check of forms sees them.
func TestPortalReadOnlyEveryRoute(t *testing.T) {
	t.Parallel()
	b := setup(t)
	srv, err := New(Config{Store: b.db, Engine: fakeEngine{}, AdminToken: testAdminToken})
	must(t, "new", err)
	c, token := b.portalAs(t, b.a, store.TokenKindPortalReadOnly)
	writer, _ := b.portal(t, b.a)
	before := appState(t, b, b.a.ID, b.mA.ID)
	path := strings.NewReplacer("{ep}", b.a1.ID, "{msg}", b.mA.ID).Replace
	form := url.Values{"_csrf": {token}, "url": {"https://acme.example/new"}, "description": {"changed"},
		"endpoint": {b.a1.ID}, "eventType": {"invoice.paid"}}

	own := slices.Clone(srv.patterns)
	slices.SortStableFunc(own, func(x, y string) int { return cmp.Compare(portalRank(x), portalRank(y)) })
	var reads, writes int
	for _, p := range own {
		method, pattern, _ := strings.Cut(p, " ")
		if !strings.HasPrefix(pattern, "/ui/portal/") || slices.Contains(publicRoutes, p) {
			continue
		}
		switch {
		case strings.HasSuffix(pattern, "/logout"):
			if r := c.post(t, path(pattern), form); r.status != http.StatusOK {
				t.Errorf("%s with a read-only link: got %d, want the session ended", p, r.status)
			}
			if r := c.get(t, "/ui/portal/home"); r.status != http.StatusUnauthorized {
				t.Errorf("home after leaving: got %d, want 401", r.status)
			}
		case method == http.MethodGet:
			reads++
			r := c.get(t, path(pattern))
			if r.status != http.StatusOK {
				t.Errorf("%s with a read-only link: got %d, want 200", p, r.status)
			}
			for _, m := range postFormRE.FindAllStringSubmatch(r.body, -1) {
				if m[1] != "/ui/portal/logout" {
					t.Errorf("%s with a read-only link: the page offers a form to %s", p, m[1])
				}
			}
			if strings.Contains(r.body, `href="/ui/portal/endpoints/new"`) {
				t.Errorf("%s with a read-only link: the page offers Add endpoint", p)
			}
		default:
			writes++
			r := c.post(t, path(pattern), form)
			if r.status != http.StatusForbidden || !strings.Contains(r.body, "read-only") {
				t.Errorf("%s with a read-only link: got %d, want 403 saying the link is read-only", p, r.status)
			}
		}
	}
	if after := appState(t, b, b.a.ID, b.mA.ID); after != before {
		t.Errorf("Acme changed through a read-only link:\nbefore %s\nafter  %s", before, after)
	}
	if n := b.wakes.Load() + b.invalidated.Load(); n != 0 {
		t.Errorf("engine calls after refused requests: got %d, want 0", n)
	}
	if ev := b.events.take(); len(ev) != 0 {
		t.Errorf("endpoint events after refused requests: got %v, want none", ev)
	}
	if reads < 4 || writes < 5 {
		t.Errorf("walked %d pages and %d changes; want the whole portal", reads, writes)
	}

	page := writer.get(t, path("/ui/portal/endpoints/{ep}"))
	var targets []string
	for _, m := range postFormRE.FindAllStringSubmatch(page.body, -1) {
		targets = append(targets, m[1])
	}
	for _, want := range []string{"/delete", "/rotate"} {
		if !slices.ContainsFunc(targets, func(s string) bool { return strings.HasSuffix(s, want) }) {
			t.Errorf("endpoint page with a link that may write: forms to %v, want one to %s", targets, want)
		}
	}
}
