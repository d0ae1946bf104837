package ui

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/herald"
)

func TestPortalShowsOnlyItsApplication(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c, _ := b.portal(t, b.a)
	for _, p := range []string{"/ui/portal/home", "/ui/portal/messages", "/ui/portal/messages?app=" + b.b.ID} {
		r := c.get(t, p)
		if r.status != http.StatusOK {
			t.Fatalf("GET %s: got %d, want 200", p, r.status)
		}
		for _, foreign := range []string{b.b.ID, b.b.Name, b.b1.ID, b.b1.URL, b.mB.ID} {
			if strings.Contains(r.body, foreign) {
				t.Errorf("GET %s: page shows Globex's %q", p, foreign)
			}
		}
	}
	home := c.get(t, "/ui/portal/home")
	for _, own := range []string{b.a.Name, b.a1.URL, b.a2.URL, b.mA.ID} {
		if !strings.Contains(home.body, own) {
			t.Errorf("portal home lacks its own %q", own)
		}
	}
	if strings.Contains(home.body, "/ui/failed") || strings.Contains(home.body, "/ui/apps") {
		t.Errorf("portal home links to operator pages")
	}
}

// TestPortalRefusesOtherApplications calls every portal route with the
// other application's IDs: each must answer 404 and change nothing.
func TestPortalRefusesOtherApplications(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c, token := b.portal(t, b.a)
	ep, msg := b.b1.ID, b.mB.ID
	form := url.Values{"_csrf": {token}, "url": {"https://stolen.example/"}, "endpoint": {ep}}
	for _, tc := range []struct {
		method, path string
	}{
		{"GET", "/ui/portal/endpoints/" + ep},
		{"POST", "/ui/portal/endpoints/" + ep},
		{"POST", "/ui/portal/endpoints/" + ep + "/delete"},
		{"POST", "/ui/portal/endpoints/" + ep + "/rotate"},
		{"GET", "/ui/portal/messages/" + msg},
		{"POST", "/ui/portal/messages/" + msg + "/retry"},
		// Its own message, retried to the other application's endpoint.
		{"POST", "/ui/portal/messages/" + b.mA.ID + "/retry"},
	} {
		var r resp
		if tc.method == "GET" {
			r = c.get(t, tc.path)
		} else {
			r = c.post(t, tc.path, form)
		}
		if r.status != http.StatusNotFound {
			t.Errorf("%s %s: got %d, want 404", tc.method, tc.path, r.status)
		}
		if strings.Contains(r.body, b.b1.URL) || strings.Contains(r.body, "globex-payload") {
			t.Errorf("%s %s: response shows Globex's data", tc.method, tc.path)
		}
	}
	got, err := b.db.GetEndpoint(b.ctx, b.b.ID, ep)
	must(t, "Globex endpoint", err)
	if got.URL != b.b1.URL || got.Secrets[0].Key != b.b1.Secrets[0].Key || len(got.Secrets) != 1 {
		t.Errorf("Globex endpoint: got %s with %d secrets, want it unchanged", got.URL, len(got.Secrets))
	}
	if deliveryStatus(t, b, b.b.ID, msg) != herald.StatusFail {
		t.Errorf("Globex delivery: got it retried from Acme's portal")
	}
	if b.wakes.Load() != 0 {
		t.Errorf("engine wakes: got %d, want 0", b.wakes.Load())
	}
}

func TestPortalManagesItsEndpoints(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c, token := b.portal(t, b.a)

	r := c.post(t, "/ui/portal/endpoints", url.Values{"_csrf": {token}, "url": {"ftp://nope"}})
	if r.status != http.StatusBadRequest || !strings.Contains(r.body, "http or https") {
		t.Errorf("create with a bad URL: got %d, want 400 with the reason", r.status)
	}
	r = c.post(t, "/ui/portal/endpoints", url.Values{"_csrf": {token}, "url": {"https://new.example/hook"},
		"description": {"New one"}, "eventType": {"invoice.paid"}})
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.location, "/ui/portal/endpoints/ep_") {
		t.Fatalf("create: got %d to %q, want 303 to the new endpoint", r.status, r.location)
	}
	path := strings.Split(r.location, "?")[0]
	epID := strings.TrimPrefix(path, "/ui/portal/endpoints/")
	ep, err := b.db.GetEndpoint(b.ctx, b.a.ID, epID)
	must(t, "created endpoint", err)
	if ep.URL != "https://new.example/hook" || ep.Description != "New one" || len(ep.EventTypes) != 1 || len(ep.Secrets) != 1 {
		t.Errorf("created endpoint: got %+v", ep)
	}
	page := c.get(t, path)
	if page.status != http.StatusOK || !strings.Contains(html.UnescapeString(page.body), ep.Secrets[0].Key) {
		t.Errorf("endpoint page: got %d, want 200 showing its secret", page.status)
	}

	if r := c.post(t, path, url.Values{"_csrf": {token}, "url": {"https://new.example/v2"}}); r.status != http.StatusSeeOther {
		t.Errorf("edit: got %d, want 303", r.status)
	}
	if r := c.post(t, path+"/rotate", url.Values{"_csrf": {token}}); r.status != http.StatusSeeOther {
		t.Errorf("rotate: got %d, want 303", r.status)
	}
	got, err := b.db.GetEndpoint(b.ctx, b.a.ID, epID)
	must(t, "edited endpoint", err)
	if got.URL != "https://new.example/v2" || len(got.EventTypes) != 0 || len(got.Secrets) != 2 || got.Secrets[1].Key != ep.Secrets[0].Key {
		t.Errorf("after edit and rotate: got url %s, types %v, %d secrets", got.URL, got.EventTypes, len(got.Secrets))
	}

	if r := c.post(t, "/ui/portal/messages/"+b.mA.ID+"/retry", url.Values{"_csrf": {token}, "endpoint": {b.a1.ID}}); r.status != http.StatusSeeOther {
		t.Errorf("retry: got %d, want 303", r.status)
	}
	if deliveryStatus(t, b, b.a.ID, b.mA.ID).Final() {
		t.Errorf("delivery after portal retry: got final, want scheduled")
	}
	if r := c.get(t, "/ui/portal/messages/"+b.mA.ID); r.status != http.StatusOK || !strings.Contains(r.body, "acme-payload") {
		t.Errorf("message page: got %d, want 200 with its payload", r.status)
	}

	if r := c.post(t, path+"/delete", url.Values{"_csrf": {token}}); r.status != http.StatusSeeOther {
		t.Errorf("delete: got %d, want 303", r.status)
	}
	if _, err := b.db.GetEndpoint(b.ctx, b.a.ID, epID); herald.ErrorCode(err) != herald.ENOTFOUND {
		t.Errorf("endpoint after delete: got %v, want not found", err)
	}
	if r := c.post(t, path+"/rotate", url.Values{}); r.status != http.StatusForbidden {
		t.Errorf("portal action without CSRF token: got %d, want 403", r.status)
	}
}

func TestPortalLinks(t *testing.T) {
	t.Parallel()
	b := setup(t)

	entry := b.client(t).get(t, "/ui/portal")
	if entry.status != http.StatusOK || !strings.Contains(entry.body, "portal-entry") {
		t.Errorf("entry page: got %d, want 200 with the entry script's box", entry.status)
	}

	for _, tc := range []struct {
		name string
		key  string
	}{
		{"expired", b.portalToken(t, b.a, b.now.Add(-time.Second))},
		{"unknown", portalTokenPrefix + "nothing-like-this"},
		{"not a portal token", "sk_" + newNonce()},
		{"empty", ""},
	} {
		c := b.client(t)
		if r := c.post(t, "/ui/portal/session", url.Values{"key": {tc.key}}); r.status != http.StatusUnauthorized {
			t.Errorf("%s token: got %d, want 401", tc.name, r.status)
		}
		if r := c.get(t, "/ui/portal/home"); r.status != http.StatusUnauthorized {
			t.Errorf("%s token, then home: got %d, want 401", tc.name, r.status)
		}
	}

	c := b.client(t)
	key := b.portalToken(t, b.a, b.now.Add(time.Hour))
	if r := c.post(t, "/ui/portal/session", url.Values{"key": {key}}, "Origin", "https://evil.example"); r.status != http.StatusUnauthorized {
		t.Errorf("exchange from another site: got %d, want 401", r.status)
	}
	if r := c.post(t, "/ui/portal/session", url.Values{"key": {key}}); r.status != http.StatusNoContent {
		t.Fatalf("exchange: got %d, want 204", r.status)
	}
	if r := c.get(t, "/ui/portal/home"); r.status != http.StatusOK {
		t.Fatalf("home: got %d, want 200", r.status)
	}
	// Deleting the token ends the session at once.
	hash, _ := tokenHash(key)
	must(t, "delete token", b.db.DeleteToken(b.ctx, hash))
	if r := c.get(t, "/ui/portal/home"); r.status != http.StatusUnauthorized || !strings.Contains(r.body, "expired") {
		t.Errorf("home after the token was deleted: got %d, want 401 saying the link expired", r.status)
	}
}

func TestPortalSessionEndsWhenTheLinkExpires(t *testing.T) {
	t.Parallel()
	b := setup(t)
	clock := b.now
	s, err := New(Config{Store: b.db, Engine: fakeEngine{wake: func() {}, invalidate: func(string) {}}, Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatalf("new: %v", err)
	}
	key := b.portalToken(t, b.a, b.now.Add(time.Minute))
	_, hexHash := tokenHash(key)
	sess := session{Kind: kindPortal, AppID: b.a.ID, TokenHash: hexHash, Expires: b.now.Add(time.Hour), Nonce: "n"}
	req := func() int {
		r := httptestRequest(t, "GET", "/ui/portal/home")
		r.AddCookie(&http.Cookie{Name: portalCookie, Value: s.encode(sess)})
		w := newRecorder()
		s.Handler().ServeHTTP(w, r)
		return w.Code
	}
	if got := req(); got != http.StatusOK {
		t.Fatalf("before expiry: got %d, want 200", got)
	}
	clock = b.now.Add(2 * time.Minute)
	if got := req(); got != http.StatusUnauthorized {
		t.Errorf("after the token expired: got %d, want 401", got)
	}
	// A session naming another application than its token is refused.
	clock = b.now
	sess.AppID = b.b.ID
	if got := req(); got != http.StatusUnauthorized {
		t.Errorf("session for Globex with Acme's token: got %d, want 401", got)
	}
}

var (
	inputRE = regexp.MustCompile(`<input type="(hidden|text|url)"[^>]* name="([^"]+)" value="([^"]*)"`)
	checkRE = regexp.MustCompile(`<input type="checkbox" name="([^"]+)" value="([^"]*)" checked>`)
)

// formOf returns the fields the form posting to action in body would
// send, as a browser would fill them: inputs with their values, and
// checked boxes.
func formOf(t *testing.T, body, action string) url.Values {
	t.Helper()
	start := strings.Index(body, `action="`+action+`"`)
	if start < 0 {
		t.Fatalf("no form to %s in the page", action)
	}
	form := body[start : start+strings.Index(body[start:], "</form>")]
	v := url.Values{}
	for _, m := range inputRE.FindAllStringSubmatch(form, -1) {
		v.Add(m[2], html.UnescapeString(m[3]))
	}
	for _, m := range checkRE.FindAllStringSubmatch(form, -1) {
		v.Add(m[1], html.UnescapeString(m[2]))
	}
	return v
}

// TestPortalEditsSpecialEndpoints saves the settings of a listen and a
// polling endpoint through the portal's own form. Their URLs are Herald's
// own and no http URL, so the form shows them without an input; the rest
// saves, and the URL stays as it was even when a request sends another.
func TestPortalEditsSpecialEndpoints(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c, _ := b.portal(t, b.a)
	admin, _ := b.login(t)
	for _, u := range []string{"herald-listen://" + b.a.ID + "/laptop", "herald-poll://" + b.a.ID + "/reader"} {
		ep := &herald.Endpoint{ID: herald.NewID(herald.PrefixEndpoint, b.now), AppID: b.a.ID, URL: u,
			Secrets: []herald.Secret{{Key: newSecret()}}, CreatedAt: b.now, UpdatedAt: b.now}
		must(t, "create endpoint", b.db.CreateEndpoint(b.ctx, ep))
		path := "/ui/portal/endpoints/" + ep.ID
		page := c.get(t, path)
		if page.status != http.StatusOK || !strings.Contains(page.body, u) {
			t.Fatalf("%s: page got %d, want 200 showing the URL", u, page.status)
		}
		form := formOf(t, page.body, path)
		if form.Has("url") {
			t.Errorf("%s: the form lets the URL be edited", u)
		}
		form.Set("description", "my laptop")
		form.Set("eventType", "invoice.paid")
		if r := c.post(t, path, form); r.status != http.StatusSeeOther {
			t.Errorf("%s: saving the form got %d, want 303", u, r.status)
		}
		form.Set("url", "https://elsewhere.example/")
		if r := c.post(t, path, form); r.status != http.StatusSeeOther {
			t.Errorf("%s: saving with a url field got %d, want 303", u, r.status)
		}
		// The operator's endpoint page edits no URL: its forms save too.
		apath := "/ui/apps/" + b.a.ID + "/endpoints/" + ep.ID
		apage := admin.get(t, apath).body
		headers := formOf(t, apage, apath+"/headers")
		headers.Set("headers", "X-Tenant: 42")
		for _, f := range []struct {
			action string
			form   url.Values
		}{{"/filters", formOf(t, apage, apath+"/filters")}, {"/headers", headers}} {
			if r := admin.post(t, apath+f.action, f.form); r.status != http.StatusSeeOther {
				t.Errorf("%s: operator's %s form got %d, want 303", u, f.action, r.status)
			}
		}
		got, err := b.db.GetEndpoint(b.ctx, b.a.ID, ep.ID)
		must(t, "get endpoint", err)
		if got.URL != u || got.Description != "my laptop" || strings.Join(got.EventTypes, ",") != "invoice.paid" || got.Headers["X-Tenant"] != "42" {
			t.Errorf("%s after saving: got url %s, description %q, types %v, headers %v; want the URL kept and the rest saved",
				u, got.URL, got.Description, got.EventTypes, got.Headers)
		}
	}

	// An ordinary endpoint's form still edits its URL, and checks it.
	path := "/ui/portal/endpoints/" + b.a1.ID
	form := formOf(t, c.get(t, path).body, path)
	if form.Get("url") != b.a1.URL {
		t.Fatalf("ordinary endpoint's form: url %q, want %q", form.Get("url"), b.a1.URL)
	}
	form.Set("url", "herald-poll://"+b.a.ID+"/sneaky")
	if r := c.post(t, path, form); r.status != http.StatusBadRequest {
		t.Errorf("ordinary endpoint saved with a herald-poll URL: got %d, want 400", r.status)
	}
	form.Set("url", "https://acme.example/v2")
	if r := c.post(t, path, form); r.status != http.StatusSeeOther {
		t.Errorf("ordinary endpoint saved with a new URL: got %d, want 303", r.status)
	}
	if got, _ := b.db.GetEndpoint(b.ctx, b.a.ID, b.a1.ID); got.URL != "https://acme.example/v2" {
		t.Errorf("ordinary endpoint's URL: got %s, want https://acme.example/v2", got.URL)
	}
}
