package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/sqlite"
)

const adminToken = "test-admin-token"

// bundle is one running API over a real SQLite store.
type bundle struct {
	url   string
	token string
	store store.Store
	pub   *fakePublisher
	// http is the test server's own client: http.DefaultClient's idle
	// connections are closed by every other test's server as it closes,
	// which breaks a request just being sent on one.
	http *http.Client
}

type setupOpt func(*Config)

func setup(t *testing.T, opts ...setupOpt) *bundle {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "herald.db")})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	pub := &fakePublisher{store: st}
	cfg := Config{
		Store:      st,
		Publisher:  pub,
		AdminToken: adminToken,
		PortalURL:  "http://herald.test/ui/portal",
	}
	for _, o := range opts {
		o(&cfg)
	}
	srv := httptest.NewServer(New(cfg).Handler())
	t.Cleanup(srv.Close)
	return &bundle{url: srv.URL, token: adminToken, store: st, pub: pub, http: srv.Client()}
}

// fakePublisher stands in for the delivery engine: it stores the message
// with one pending delivery per accepting endpoint, and records calls.
type fakePublisher struct {
	store store.Store
	// fail, when set, is returned by Publish and PublishTo instead of
	// storing anything.
	fail error
	// before, when set, runs at the start of Publish.
	before func()
	// lost, when set, is returned by Publish after storing the message:
	// the commit went through, but its answer was lost.
	lost error

	mu          sync.Mutex
	published   []*herald.Message
	publishedTo map[string]string // message ID to endpoint ID
	// appsInvalidated lists InvalidateApplication calls.
	appsInvalidated []string
	wakes           int
	invalidated     []string
}

func (p *fakePublisher) Publish(ctx context.Context, msg *herald.Message) error {
	if p.before != nil {
		p.before()
	}
	if p.fail != nil {
		return p.fail
	}
	eps, err := p.store.ActiveEndpoints(ctx, msg.AppID)
	if err != nil {
		return err
	}
	var targets []herald.Endpoint
	for _, ep := range eps {
		if ep.Accepts(msg.EventType, msg.Channels) {
			targets = append(targets, ep)
		}
	}
	if err := p.storeMessage(ctx, msg, targets); err != nil {
		return err
	}
	return p.lost
}

func (p *fakePublisher) PublishTo(ctx context.Context, msg *herald.Message, endpointID string) error {
	if p.fail != nil {
		return p.fail
	}
	ep, err := p.store.GetEndpoint(ctx, msg.AppID, endpointID)
	if err != nil {
		return err
	}
	p.mu.Lock()
	if p.publishedTo == nil {
		p.publishedTo = map[string]string{}
	}
	p.publishedTo[msg.ID] = ep.ID
	p.mu.Unlock()
	return p.storeMessage(ctx, msg, []herald.Endpoint{*ep})
}

func (p *fakePublisher) storeMessage(ctx context.Context, msg *herald.Message, targets []herald.Endpoint) error {
	ds := make([]herald.Delivery, 0, len(targets))
	for _, ep := range targets {
		ds = append(ds, herald.Delivery{
			MsgID: msg.ID, EndpointID: ep.ID, AppID: msg.AppID,
			Status: herald.StatusPending, NextAttemptAt: msg.CreatedAt,
			CreatedAt: msg.CreatedAt, UpdatedAt: msg.CreatedAt,
		})
	}
	if err := p.store.Publish(ctx, msg, ds, "", time.Time{}); err != nil {
		return err
	}
	p.mu.Lock()
	p.published = append(p.published, msg)
	p.mu.Unlock()
	return nil
}

func (p *fakePublisher) Wake() {
	p.mu.Lock()
	p.wakes++
	p.mu.Unlock()
}

func (p *fakePublisher) InvalidateEndpoints(appID string) {
	p.mu.Lock()
	p.invalidated = append(p.invalidated, appID)
	p.mu.Unlock()
}

func (p *fakePublisher) InvalidateApplication(appID string) {
	p.mu.Lock()
	p.appsInvalidated = append(p.appsInvalidated, appID)
	p.mu.Unlock()
}

func (p *fakePublisher) counts() (published, wakes, invalidated int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.published), p.wakes, len(p.invalidated)
}

// response is a decoded answer.
type response struct {
	status int
	header http.Header
	raw    []byte
}

// obj decodes the body as a JSON object.
func (r response) obj(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.raw, &m); err != nil {
		t.Fatalf("decode body %q: %v", r.raw, err)
	}
	return m
}

// call sends a request with the bundle's admin token.
func (b *bundle) call(t *testing.T, method, path string, body any) response {
	t.Helper()
	return b.callAs(t, b.token, method, path, body, nil)
}

// callAs sends a request with token (none when empty). body is sent as is
// when it is a string or []byte, JSON-encoded otherwise.
func (b *bundle) callAs(t *testing.T, token, method, path string, body any, header http.Header) response {
	t.Helper()
	var rd io.Reader
	switch v := body.(type) {
	case nil:
	case string:
		rd = bytes.NewReader([]byte(v))
	case []byte:
		rd = bytes.NewReader(v)
	default:
		raw, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("encode body: %v", err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, b.url+path, rd)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := b.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return response{status: resp.StatusCode, header: resp.Header, raw: raw}
}

// want fails unless r has the status.
func (r response) want(t *testing.T, status int) response {
	t.Helper()
	if r.status != status {
		t.Fatalf("got status %d, want %d; body %s", r.status, status, r.raw)
	}
	return r
}

// createApp creates an application and returns its ID.
func (b *bundle) createApp(t *testing.T, name, uid string) string {
	t.Helper()
	in := map[string]any{"name": name}
	if uid != "" {
		in["uid"] = uid
	}
	return b.call(t, "POST", "/api/v1/app", in).want(t, 201).obj(t)["id"].(string)
}

// createEventType creates an event type.
func (b *bundle) createEventType(t *testing.T, name string, schemas any) {
	t.Helper()
	in := map[string]any{"name": name, "description": "test event " + name}
	if schemas != nil {
		in["schemas"] = schemas
	}
	b.call(t, "POST", "/api/v1/event-type", in).want(t, 201)
}

// createEndpoint creates an endpoint and returns its ID.
func (b *bundle) createEndpoint(t *testing.T, app string, in map[string]any) string {
	t.Helper()
	if in["url"] == nil {
		in["url"] = "https://example.com/hook"
	}
	return b.call(t, "POST", "/api/v1/app/"+app+"/endpoint", in).want(t, 201).obj(t)["id"].(string)
}

// sendMessage publishes a message and returns its ID.
func (b *bundle) sendMessage(t *testing.T, app string, in map[string]any) string {
	t.Helper()
	if in["eventType"] == nil {
		in["eventType"] = "user.signup"
	}
	if in["payload"] == nil {
		in["payload"] = map[string]any{"k": "v"}
	}
	return b.call(t, "POST", "/api/v1/app/"+app+"/msg", in).want(t, 202).obj(t)["id"].(string)
}

// attempt records one delivery attempt of every due delivery, through the
// store's own queue, as the delivery engine would.
func (b *bundle) attemptAll(t *testing.T, code int) {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	jobs, err := b.store.Claim(ctx, "test-node", now.Add(time.Second), time.Minute, 100)
	if err != nil {
		t.Fatalf("claim: %v", err)
	}
	results := make([]store.Result, 0, len(jobs))
	for _, j := range jobs {
		status := herald.StatusSuccess
		if code >= 300 {
			status = herald.StatusFail
		}
		results = append(results, store.Result{
			Attempt: herald.Attempt{
				ID: herald.NewID(herald.PrefixAttempt, now), MsgID: j.Delivery.MsgID,
				EndpointID: j.Delivery.EndpointID, AppID: j.Delivery.AppID, URL: j.Endpoint.URL,
				Status: status, StatusCode: code, ResponseBody: "response body",
				Duration: 12 * time.Millisecond, CreatedAt: now,
			},
			Outcome:  herald.Outcome{Status: status},
			Attempts: j.Delivery.Attempts + 1,
			Owner:    j.Delivery.LeaseOwner,
		})
	}
	if _, err := b.store.Record(ctx, results); err != nil {
		t.Fatalf("record: %v", err)
	}
}

func TestHealth(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.callAs(t, "", "GET", "/api/v1/health", nil, nil).want(t, 204)
	b.callAs(t, "", "HEAD", "/api/v1/health", nil, nil).want(t, 204)
	b.callAs(t, "", "GET", "/api/v1/health/ping/", nil, nil).want(t, 204)
	doc := b.callAs(t, "", "GET", "/api/v1/openapi.json", nil, nil).want(t, 200).obj(t)
	paths, _ := doc["paths"].(map[string]any)
	// The 26 paths of the Svix reference, and Herald's own additions.
	if len(paths) != 39 {
		t.Errorf("got %d paths in the OpenAPI document, want 39", len(paths))
	}
	for _, p := range []string{"/api/v1/source", "/api/v1/app/{app_id}/poller/{sink_id}", "/api/v1/app/{app_id}/listen"} {
		if paths[p] == nil {
			t.Errorf("the OpenAPI document lacks %s", p)
		}
	}
}

func TestHealthStoreDown(t *testing.T) {
	t.Parallel()
	b := setup(t)
	if err := b.store.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	r := b.callAs(t, "", "GET", "/api/v1/health", nil, nil).want(t, 503)
	if r.obj(t)["code"] != "unavailable" {
		t.Errorf("got %s, want the reason", r.raw)
	}
}

// jsonStrict decodes like the Svix Go SDK: unknown fields are errors.
func jsonStrict(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
