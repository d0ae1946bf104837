package ui

import (
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

func TestLoginAndLogout(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := b.client(t)

	if r := c.get(t, "/ui/"); r.status != http.StatusSeeOther || r.location != "/ui/login" {
		t.Fatalf("overview without session: got %d to %q, want 303 to /ui/login", r.status, r.location)
	}
	page := c.get(t, "/ui/login")
	if r := c.post(t, "/ui/login", url.Values{"_csrf": {csrf(t, page)}, "token": {"wrong"}}); r.status != http.StatusUnauthorized {
		t.Errorf("login with a wrong token: got %d, want 401", r.status)
	}

	page = c.get(t, "/ui/login")
	r := c.post(t, "/ui/login", url.Values{"_csrf": {csrf(t, page)}, "token": {testAdminToken}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("login: got %d, want 303", r.status)
	}
	cookie := r.header.Get("Set-Cookie")
	for _, want := range []string{adminCookie + "=", "HttpOnly", "SameSite=Lax", "Path=/ui/"} {
		if !strings.Contains(strings.Join(r.header.Values("Set-Cookie"), "\n"), want) {
			t.Errorf("session cookie: got %q, want it to contain %q", cookie, want)
		}
	}
	home := c.get(t, "/ui/")
	if home.status != http.StatusOK || !strings.Contains(home.body, "Overview") {
		t.Fatalf("overview: got %d, want 200 with Overview", home.status)
	}

	if r := c.post(t, "/ui/logout", url.Values{"_csrf": {csrf(t, home)}}); r.status != http.StatusSeeOther {
		t.Errorf("logout: got %d, want 303", r.status)
	}
	if r := c.get(t, "/ui/"); r.status != http.StatusSeeOther || r.location != "/ui/login" {
		t.Errorf("overview after logout: got %d to %q, want 303 to /ui/login", r.status, r.location)
	}
}

func TestLoginRequiresItsCSRFToken(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, tc := range []struct {
		name    string
		visit   bool // load the login page first, which sets the login cookie
		token   string
		headers []string
	}{
		{"no login cookie", false, "anything", nil},
		{"wrong token", true, "forged", nil},
		{"other origin", true, "", []string{"Origin", "https://evil.example"}},
	} {
		c := b.client(t)
		form := url.Values{"token": {testAdminToken}, "_csrf": {tc.token}}
		if tc.visit {
			page := c.get(t, "/ui/login")
			if tc.token == "" {
				form.Set("_csrf", csrf(t, page))
			}
		}
		if r := c.post(t, "/ui/login", form, tc.headers...); r.status != http.StatusForbidden {
			t.Errorf("%s: got %d, want 403", tc.name, r.status)
		}
		if r := c.get(t, "/ui/"); r.status != http.StatusSeeOther {
			t.Errorf("%s: overview got %d, want 303 to the login page", tc.name, r.status)
		}
	}
}

func TestEveryOperatorRouteNeedsASession(t *testing.T) {
	t.Parallel()
	b := setup(t)
	app, ep, msg := b.a.ID, b.a1.ID, b.mA.ID
	gets := []string{
		"/ui/", "/ui/apps", "/ui/apps/" + app, "/ui/apps/" + app + "/endpoints/" + ep,
		"/ui/apps/" + app + "/messages/" + msg, "/ui/messages", "/ui/failed", "/ui/event-types",
	}
	posts := []string{
		"/ui/logout", "/ui/apps/" + app + "/endpoints/" + ep + "/disable", "/ui/apps/" + app + "/endpoints/" + ep + "/rotate",
		"/ui/apps/" + app + "/messages/" + msg + "/retry", "/ui/failed/recover",
	}
	anon := b.client(t)
	forged := b.client(t)
	u, _ := url.Parse(b.srv.URL + "/ui/")
	forged.Jar.SetCookies(u, []*http.Cookie{{Name: adminCookie, Value: "YWRtaW58fHw5OTk5OTk5OTk5fG4.c2lnbmF0dXJl", Path: "/ui/"}})
	portal, portalCSRF := b.portal(t, b.a)
	for name, c := range map[string]*client{"anonymous": anon, "forged cookie": forged, "portal session": portal} {
		for _, p := range gets {
			if r := c.get(t, p); r.status != http.StatusSeeOther || r.location != "/ui/login" {
				t.Errorf("%s GET %s: got %d to %q, want 303 to /ui/login", name, p, r.status, r.location)
			}
		}
		for _, p := range posts {
			if r := c.post(t, p, url.Values{"_csrf": {portalCSRF}, "endpoint": {ep}, "since": {"24h"}}); r.status != http.StatusUnauthorized {
				t.Errorf("%s POST %s: got %d, want 401", name, p, r.status)
			}
		}
	}
	got, err := b.db.GetEndpoint(b.ctx, app, ep)
	must(t, "get endpoint", err)
	if got.Disabled || got.Secrets[0].Key != b.a1.Secrets[0].Key {
		t.Errorf("endpoint after refused requests: got disabled=%v key=%s, want unchanged", got.Disabled, got.Secrets[0].Key)
	}
}

func TestActionsNeedTheCSRFToken(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c, token := b.login(t)
	path := "/ui/apps/" + b.a.ID + "/endpoints/" + b.a1.ID + "/disable"
	for _, tc := range []struct {
		name    string
		form    url.Values
		headers []string
	}{
		{"no token", url.Values{}, nil},
		{"wrong token", url.Values{"_csrf": {"not-the-token"}}, nil},
		{"other origin", url.Values{"_csrf": {token}}, []string{"Origin", "https://evil.example"}},
	} {
		if r := c.post(t, path, tc.form, tc.headers...); r.status != http.StatusForbidden {
			t.Errorf("%s: got %d, want 403", tc.name, r.status)
		}
	}
	if ep, _ := b.db.GetEndpoint(b.ctx, b.a.ID, b.a1.ID); ep.Disabled {
		t.Fatalf("endpoint disabled by a request without a valid CSRF token")
	}
	if r := c.post(t, path, url.Values{}, csrfHeader, token); r.status != http.StatusSeeOther {
		t.Fatalf("disable with the token in the header: got %d, want 303", r.status)
	}
	if ep, _ := b.db.GetEndpoint(b.ctx, b.a.ID, b.a1.ID); !ep.Disabled {
		t.Errorf("endpoint: got enabled, want disabled")
	}
	if b.invalidated.Load() == 0 {
		t.Errorf("engine: got no endpoint invalidation, want one")
	}
}

func TestOperatorPages(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c, _ := b.login(t)
	for _, tc := range []struct {
		path string
		want []string
	}{
		{"/ui/", []string{"Success rate", "Backlog", "<svg class=\"chart\"", "Deliveries per minute"}},
		{"/ui/apps", []string{"Acme Store", "Globex Corp"}},
		{"/ui/apps/" + b.a.ID, []string{"https://acme.example/hooks", b.mA.ID}},
		{"/ui/apps/" + b.a.ID + "/endpoints/" + b.a1.ID, []string{"Rotate secret", "Custom headers", "invoice.paid", "upstream broke"}},
		{"/ui/apps/" + b.a.ID + "/messages/" + b.mA.ID, []string{"acme-payload", "upstream broke", "500 Internal Server Error", "webhook-id", "Retry"}},
		{"/ui/messages", []string{b.mA.ID, b.mB.ID}},
		{"/ui/messages?app=" + b.b.ID, []string{b.mB.ID}},
		{"/ui/messages?status=2&eventType=invoice.paid", []string{b.mA.ID, b.mB.ID}},
		{"/ui/failed", []string{b.mA.ID, b.mB.ID, ">Retry</button>", "Recover all"}},
		{"/ui/event-types", []string{"invoice.paid", "An invoice was paid", "&#34;type&#34;"}},
	} {
		r := c.get(t, tc.path)
		if r.status != http.StatusOK {
			t.Errorf("GET %s: got %d, want 200", tc.path, r.status)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(r.body, w) {
				t.Errorf("GET %s: page lacks %q", tc.path, w)
			}
		}
	}
	if r := c.get(t, "/ui/messages?app="+b.b.ID); strings.Contains(r.body, b.mA.ID) {
		t.Errorf("messages of Globex: got Acme's message %s too", b.mA.ID)
	}
	if r := c.get(t, "/ui/apps/"+b.a.ID+"/messages/"+b.mB.ID); r.status != http.StatusNotFound {
		t.Errorf("Globex's message under Acme: got %d, want 404", r.status)
	}
	if r := c.get(t, "/ui/messages?from=yesterday"); r.status != http.StatusBadRequest {
		t.Errorf("bad time filter: got %d, want 400", r.status)
	}
}

func TestRetryAndRecover(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c, token := b.login(t)
	r := c.post(t, "/ui/apps/"+b.a.ID+"/messages/"+b.mA.ID+"/retry",
		url.Values{"_csrf": {token}, "endpoint": {b.a1.ID}, "back": {"/ui/failed"}})
	if r.status != http.StatusSeeOther || r.location != "/ui/failed?done=retried" {
		t.Fatalf("retry: got %d to %q, want 303 to /ui/failed?done=retried", r.status, r.location)
	}
	if got := deliveryStatus(t, b, b.a.ID, b.mA.ID); got.Final() {
		t.Errorf("delivery after retry: got %v, want it scheduled again", got)
	}
	if b.wakes.Load() != 1 {
		t.Errorf("engine wakes after retry: got %d, want 1", b.wakes.Load())
	}
	if page := c.get(t, "/ui/failed?done=retried"); !strings.Contains(page.body, "Retry scheduled") || strings.Contains(page.body, "/messages/"+b.mA.ID+"/retry") {
		t.Errorf("failed page after retry: want the flash and no row for %s", b.mA.ID)
	}

	// Retrying with another application's endpoint is refused.
	r = c.post(t, "/ui/apps/"+b.a.ID+"/messages/"+b.mA.ID+"/retry", url.Values{"_csrf": {token}, "endpoint": {b.b1.ID}})
	if r.status != http.StatusNotFound {
		t.Errorf("retry to Globex's endpoint: got %d, want 404", r.status)
	}
	// A message whose content was deleted has nothing to send.
	gone := &herald.Message{ID: herald.NewID(herald.PrefixMessage, b.now), AppID: b.a.ID, EventType: "invoice.paid",
		Payload: []byte(`{"n":1}`), CreatedAt: b.now, ExpiresAt: b.now.Add(time.Hour)}
	must(t, "publish", b.db.Publish(b.ctx, gone, []herald.Delivery{{MsgID: gone.ID, EndpointID: b.a1.ID, AppID: b.a.ID,
		Status: herald.StatusPending, NextAttemptAt: b.now, CreatedAt: b.now, UpdatedAt: b.now}}, "", time.Time{}))
	must(t, "expunge", b.db.ExpungeMessageContent(b.ctx, b.a.ID, gone.ID))
	r = c.post(t, "/ui/apps/"+b.a.ID+"/messages/"+gone.ID+"/retry", url.Values{"_csrf": {token}, "endpoint": {b.a1.ID}})
	if r.status != http.StatusBadRequest || !strings.Contains(html.UnescapeString(r.body), "has no content any more") {
		t.Errorf("retry of an expunged message: got %d, want 400 with the reason", r.status)
	}
	// A back link off the site is ignored.
	r = c.post(t, "/ui/apps/"+b.b.ID+"/messages/"+b.mB.ID+"/retry",
		url.Values{"_csrf": {token}, "endpoint": {b.b1.ID}, "back": {"//evil.example/ui/"}})
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.location, "/ui/apps/"+b.b.ID+"/messages/") {
		t.Errorf("retry with a foreign back link: got %d to %q, want 303 to the message", r.status, r.location)
	}

	// Make B's delivery fail again, then recover everything since 1h.
	jobs, err := b.db.Claim(b.ctx, "t", b.now.Add(time.Hour), time.Minute, 10)
	must(t, "claim", err)
	for _, j := range jobs {
		_, err := b.db.Record(b.ctx, []store.Result{{Attempt: herald.Attempt{ID: herald.NewID(herald.PrefixAttempt, b.now),
			MsgID: j.Delivery.MsgID, EndpointID: j.Delivery.EndpointID, AppID: j.Delivery.AppID, URL: j.Endpoint.URL,
			Status: herald.StatusFail, StatusCode: 502, CreatedAt: b.now}, Outcome: herald.Outcome{Status: herald.StatusFail}, Attempts: j.Delivery.Attempts + 1, Owner: j.Delivery.LeaseOwner}})
		must(t, "record", err)
	}
	if got := deliveryStatus(t, b, b.b.ID, b.mB.ID); got != herald.StatusFail {
		t.Fatalf("Globex delivery before recover: got %v, want fail", got)
	}
	r = c.post(t, "/ui/failed/recover", url.Values{"_csrf": {token}, "since": {"1h"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("recover: got %d, want 303", r.status)
	}
	for _, d := range []struct{ app, msg string }{{b.a.ID, b.mA.ID}, {b.b.ID, b.mB.ID}} {
		if got := deliveryStatus(t, b, d.app, d.msg); got.Final() {
			t.Errorf("delivery of %s after recover: got %v, want scheduled", d.msg, got)
		}
	}
	if r := c.post(t, "/ui/failed/recover", url.Values{"_csrf": {token}, "since": {"forever"}}); r.status != http.StatusBadRequest {
		t.Errorf("recover with an unknown window: got %d, want 400", r.status)
	}
}

func TestEndpointActions(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c, token := b.login(t)
	base := "/ui/apps/" + b.a.ID + "/endpoints/" + b.a1.ID
	post := func(action string, form url.Values) resp {
		t.Helper()
		form.Set("_csrf", token)
		return c.post(t, base+"/"+action, form)
	}
	if r := post("headers", url.Values{"headers": {"X-Api-Key: abc\nx-tenant: 42\n"}}); r.status != http.StatusSeeOther {
		t.Fatalf("headers: got %d, want 303", r.status)
	}
	if r := post("headers", url.Values{"headers": {"webhook-signature: mine"}}); r.status != http.StatusBadRequest {
		t.Errorf("reserved header: got %d, want 400", r.status)
	}
	must(t, "create event type", b.db.CreateEventType(b.ctx, &herald.EventType{Name: "user.created", CreatedAt: b.now, UpdatedAt: b.now}))
	if r := post("filters", url.Values{"eventType": {"invoice.paid", "user.created", " "}}); r.status != http.StatusSeeOther {
		t.Fatalf("filters: got %d, want 303", r.status)
	}
	if r := post("rotate", url.Values{}); r.status != http.StatusSeeOther {
		t.Fatalf("rotate: got %d, want 303", r.status)
	}
	ep, err := b.db.GetEndpoint(b.ctx, b.a.ID, b.a1.ID)
	must(t, "get endpoint", err)
	if ep.Headers["X-Api-Key"] != "abc" || ep.Headers["X-Tenant"] != "42" || len(ep.Headers) != 2 {
		t.Errorf("headers: got %v, want X-Api-Key and X-Tenant", ep.Headers)
	}
	if strings.Join(ep.EventTypes, ",") != "invoice.paid,user.created" {
		t.Errorf("event types: got %v, want invoice.paid and user.created", ep.EventTypes)
	}
	if len(ep.Secrets) != 2 || ep.Secrets[1].Key != b.a1.Secrets[0].Key || ep.Secrets[1].ExpiresAt.IsZero() || !strings.HasPrefix(ep.Secrets[0].Key, "whsec_") {
		t.Errorf("secrets after rotation: got %+v, want a new current one and the old one expiring", ep.Secrets)
	}
	if r := post("disable", url.Values{}); r.status != http.StatusSeeOther {
		t.Fatalf("disable: got %d, want 303", r.status)
	}
	if r := post("enable", url.Values{}); r.status != http.StatusSeeOther {
		t.Fatalf("enable: got %d, want 303", r.status)
	}
	if ep, _ := b.db.GetEndpoint(b.ctx, b.a.ID, b.a1.ID); ep.Disabled {
		t.Errorf("endpoint after enable: got disabled")
	}
	if r := post("explode", url.Values{}); r.status != http.StatusNotFound {
		t.Errorf("unknown action: got %d, want 404", r.status)
	}
	// An endpoint addressed under the wrong application is not found.
	if r := c.post(t, "/ui/apps/"+b.a.ID+"/endpoints/"+b.b1.ID+"/disable", url.Values{"_csrf": {token}}); r.status != http.StatusNotFound {
		t.Errorf("Globex endpoint under Acme: got %d, want 404", r.status)
	}
}

// deliveryStatus returns the status of msgID's only delivery.
func deliveryStatus(t *testing.T, b *bundle, appID, msgID string) herald.MessageStatus {
	t.Helper()
	ds, err := b.db.ListMessageDestinations(b.ctx, appID, msgID, store.Page{Limit: 10})
	must(t, "destinations", err)
	if len(ds) != 1 {
		t.Fatalf("destinations of %s: got %d, want 1", msgID, len(ds))
	}
	return ds[0].Status
}

func TestEndpointPageShowsCircuitAndOrder(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c, _ := b.login(t)
	path := "/ui/apps/" + b.a.ID + "/endpoints/" + b.a1.ID
	if r := c.get(t, path); !strings.Contains(r.body, `<dd id="ep-circuit">closed</dd>`) || !strings.Contains(r.body, "unordered") {
		t.Errorf("endpoint page: lacks a closed circuit and unordered delivery")
	}
	if _, err := b.db.OpenCircuit(b.ctx, b.a1.ID, herald.CircuitClosed, time.Now(), time.Minute); err != nil {
		t.Fatal(err)
	}
	if r := c.get(t, path); !strings.Contains(r.body, `<span class="tag">open</span>`) {
		t.Errorf("endpoint page with an open circuit: lacks its state")
	}
}
