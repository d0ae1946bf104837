package ui

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/sqlite"
)

const testAdminToken = "admin-secret-token"

// fakeEngine is the engine as the interface sees it: function fields.
type fakeEngine struct {
	wake       func()
	invalidate func(appID string)
}

func (e fakeEngine) Wake()                            { e.wake() }
func (e fakeEngine) InvalidateEndpoints(appID string) { e.invalidate(appID) }

// bundle is a running interface on a real SQLite store with two
// applications: A (endpoints a1, a2) and B (endpoint b1). Message mA went
// to a1 and failed; mB went to b1 and failed.
type bundle struct {
	srv         *httptest.Server
	db          *sqlite.DB
	ctx         context.Context
	now         time.Time
	wakes       atomic.Int64
	invalidated atomic.Int64
	a, b        *herald.Application
	a1, a2, b1  *herald.Endpoint
	mA, mB      *herald.Message
	events      eventLog
}

// eventLog records the endpoint changes the interface reports, one line
// each: "created|updated|disabled|deleted <app ID> <endpoint ID>".
type eventLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *eventLog) add(kind string, app *herald.Application, ep *herald.Endpoint) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, kind+" "+app.ID+" "+ep.ID)
}

func (l *eventLog) EndpointCreated(app *herald.Application, ep *herald.Endpoint) {
	l.add("created", app, ep)
}

func (l *eventLog) EndpointUpdated(app *herald.Application, ep *herald.Endpoint, disabled bool) {
	if disabled {
		l.add("disabled", app, ep)
		return
	}
	l.add("updated", app, ep)
}

func (l *eventLog) EndpointDeleted(app *herald.Application, ep *herald.Endpoint) {
	l.add("deleted", app, ep)
}

func (l *eventLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.lines
	l.lines = nil
	return out
}

func setup(t *testing.T) *bundle {
	t.Helper()
	ctx := t.Context()
	db, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "herald.db"), Synchronous: "OFF"})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	b := &bundle{db: db, ctx: ctx, now: time.Now().UTC().Truncate(time.Millisecond)}
	s, err := New(Config{
		Store:      db,
		Engine:     fakeEngine{wake: func() { b.wakes.Add(1) }, invalidate: func(string) { b.invalidated.Add(1) }},
		AdminToken: testAdminToken,
		Events:     &b.events,
		Logger:     slog.New(slog.NewTextHandler(testLog{t}, nil)),
	})
	if err != nil {
		t.Fatalf("new: %v", err)
	}
	b.srv = httptest.NewServer(s.Handler())
	t.Cleanup(b.srv.Close)
	b.seed(t)
	return b
}

func (b *bundle) seed(t *testing.T) {
	t.Helper()
	now := b.now.Add(-time.Minute)
	app := func(name string) *herald.Application {
		a := &herald.Application{ID: herald.NewID(herald.PrefixApp, now), Name: name, CreatedAt: now, UpdatedAt: now}
		must(t, "create application", b.db.CreateApplication(b.ctx, a))
		return a
	}
	endpoint := func(a *herald.Application, u string) *herald.Endpoint {
		e := &herald.Endpoint{ID: herald.NewID(herald.PrefixEndpoint, now), AppID: a.ID, URL: u,
			Secrets: []herald.Secret{{Key: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}, CreatedAt: now, UpdatedAt: now}
		must(t, "create endpoint", b.db.CreateEndpoint(b.ctx, e))
		return e
	}
	must(t, "create event type", b.db.CreateEventType(b.ctx, &herald.EventType{
		Name: "invoice.paid", Description: "An invoice was paid", Schemas: []byte(`{"1":{"type":"object"}}`), CreatedAt: now, UpdatedAt: now}))
	b.a, b.b = app("Acme Store"), app("Globex Corp")
	b.a1, b.a2 = endpoint(b.a, "https://acme.example/hooks"), endpoint(b.a, "https://acme.example/other")
	b.b1 = endpoint(b.b, "https://globex.example/hooks")
	publish := func(a *herald.Application, e *herald.Endpoint, payload string) *herald.Message {
		m := &herald.Message{ID: herald.NewID(herald.PrefixMessage, now), AppID: a.ID, EventType: "invoice.paid",
			Payload: []byte(payload), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		d := herald.Delivery{MsgID: m.ID, EndpointID: e.ID, AppID: a.ID, Status: herald.StatusPending,
			NextAttemptAt: now, CreatedAt: now, UpdatedAt: now}
		must(t, "publish", b.db.Publish(b.ctx, m, []herald.Delivery{d}, "", time.Time{}))
		return m
	}
	b.mA = publish(b.a, b.a1, `{"secret":"acme-payload"}`)
	b.mB = publish(b.b, b.b1, `{"secret":"globex-payload"}`)
	jobs, err := b.db.Claim(b.ctx, "test", now, time.Minute, 10)
	must(t, "claim", err)
	var results []store.Result
	for _, j := range jobs {
		results = append(results, store.Result{Attempt: herald.Attempt{
			ID: herald.NewID(herald.PrefixAttempt, now), MsgID: j.Delivery.MsgID, EndpointID: j.Delivery.EndpointID,
			AppID: j.Delivery.AppID, URL: j.Endpoint.URL, Status: herald.StatusFail, StatusCode: 500,
			ResponseBody: "upstream broke", RequestHeaders: map[string]string{"webhook-id": j.Delivery.MsgID},
			Duration: 12 * time.Millisecond, CreatedAt: now,
		}, Outcome: herald.Outcome{Status: herald.StatusFail}, Attempts: j.Delivery.Attempts + 1, Owner: j.Delivery.LeaseOwner})
	}
	_, err = b.db.Record(b.ctx, results)
	must(t, "record", err)
}

// client is a browser: a cookie jar that does not follow redirects.
type client struct {
	*http.Client
	b *bundle
}

func (b *bundle) client(t *testing.T) *client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatalf("cookie jar: %v", err)
	}
	// A transport of its own: httptest.Server.Close closes the idle
	// connections of http.DefaultTransport, which breaks a request that
	// another parallel test is just sending on one of them.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	return &client{b: b, Client: &http.Client{
		Jar:           jar,
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// resp is a read response.
type resp struct {
	status   int
	body     string
	location string
	header   http.Header
}

func (c *client) do(t *testing.T, req *http.Request) resp {
	t.Helper()
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", req.Method, req.URL.Path, err)
	}
	return resp{status: res.StatusCode, body: string(body), location: res.Header.Get("Location"), header: res.Header}
}

func (c *client) get(t *testing.T, path string) resp {
	t.Helper()
	req, err := http.NewRequestWithContext(c.b.ctx, http.MethodGet, c.b.srv.URL+path, nil)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	return c.do(t, req)
}

// post submits form to path; extra headers are name, value pairs.
func (c *client) post(t *testing.T, path string, form url.Values, headers ...string) resp {
	t.Helper()
	req, err := http.NewRequestWithContext(c.b.ctx, http.MethodPost, c.b.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return c.do(t, req)
}

var csrfRE = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// csrf returns the CSRF token in a page.
func csrf(t *testing.T, r resp) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(r.body)
	if m == nil {
		t.Fatalf("no CSRF token in page (status %d)", r.status)
	}
	return m[1]
}

// login returns a client with an operator session and its CSRF token.
func (b *bundle) login(t *testing.T) (*client, string) {
	t.Helper()
	c := b.client(t)
	page := c.get(t, "/ui/login")
	r := c.post(t, "/ui/login", url.Values{"_csrf": {csrf(t, page)}, "token": {testAdminToken}})
	if r.status != http.StatusSeeOther || r.location != "/ui/" {
		t.Fatalf("login: got %d to %q, want 303 to /ui/", r.status, r.location)
	}
	home := c.get(t, "/ui/")
	if home.status != http.StatusOK {
		t.Fatalf("overview after login: got %d, want 200", home.status)
	}
	return c, csrf(t, home)
}

// portalToken stores a portal token of app expiring at exp.
func (b *bundle) portalToken(t *testing.T, app *herald.Application, exp time.Time) string {
	t.Helper()
	return b.portalTokenOf(t, app, store.TokenKindPortal, exp)
}

// portalTokenOf stores a token of kind for app expiring at exp.
func (b *bundle) portalTokenOf(t *testing.T, app *herald.Application, kind string, exp time.Time) string {
	t.Helper()
	token := portalTokenPrefix + newNonce()
	hash, _ := tokenHash(token)
	must(t, "create token", b.db.CreateToken(b.ctx, &store.Token{Hash: hash, AppID: app.ID, Kind: kind, CreatedAt: b.now, ExpiresAt: exp}))
	return token
}

// portal returns a client with a portal session of app and its CSRF token.
func (b *bundle) portal(t *testing.T, app *herald.Application) (*client, string) {
	t.Helper()
	return b.portalAs(t, app, store.TokenKindPortal)
}

// portalAs is portal with a link of kind, read-only or not.
func (b *bundle) portalAs(t *testing.T, app *herald.Application, kind string) (*client, string) {
	t.Helper()
	c := b.client(t)
	r := c.post(t, "/ui/portal/session", url.Values{"key": {b.portalTokenOf(t, app, kind, b.now.Add(time.Hour))}})
	if r.status != http.StatusNoContent {
		t.Fatalf("portal session: got %d (%s), want 204", r.status, r.body)
	}
	home := c.get(t, "/ui/portal/home")
	if home.status != http.StatusOK {
		t.Fatalf("portal home: got %d, want 200", home.status)
	}
	return c, csrf(t, home)
}

// testLog writes the interface's logs to the test's log.
type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func httptestRequest(t *testing.T, method, path string) *http.Request {
	t.Helper()
	return httptest.NewRequestWithContext(t.Context(), method, path, nil)
}

func newRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }
