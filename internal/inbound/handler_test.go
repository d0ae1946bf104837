package inbound

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// fakeSources and fakePublisher are the handler's dependencies as small
// structs of functions.
type fakeSources struct {
	get func(idOrUID string) (*store.Source, error)
}

func (f fakeSources) GetSource(_ context.Context, idOrUID string) (*store.Source, error) {
	return f.get(idOrUID)
}

type fakePublisher struct {
	publish func(ev *store.InboundEvent, msg *herald.Message) (bool, error)
}

func (f fakePublisher) PublishInbound(_ context.Context, ev *store.InboundEvent, msg *herald.Message) (bool, error) {
	return f.publish(ev, msg)
}

const stripeSecret = "whsec_test_handler"

// handlerBundle is a handler over one Stripe source, recording what it
// publishes.
type handlerBundle struct {
	h         *Handler
	src       *store.Source
	reg       *prometheus.Registry
	published []*store.InboundEvent
	messages  []*herald.Message
	pubErr    error
	logs      bytes.Buffer
}

func newHandlerBundle(t *testing.T, mods ...func(*store.Source)) *handlerBundle {
	t.Helper()
	return newProxiedBundle(t, nil, mods...)
}

// newProxiedBundle is newHandlerBundle behind the trusted proxies, with
// the handler's log kept in logs.
func newProxiedBundle(t *testing.T, trusted []netip.Prefix, mods ...func(*store.Source)) *handlerBundle {
	t.Helper()
	b := &handlerBundle{reg: prometheus.NewRegistry()}
	b.src = &store.Source{
		ID: "src_1", UID: "stripe", AppID: "app_1", Name: "Stripe",
		Verifier:     json.RawMessage(`{"type":"stripe","secrets":["` + stripeSecret + `"]}`),
		DedupeWindow: DefaultDedupeWindow, MaxBodyBytes: 1024,
	}
	for _, m := range mods {
		m(b.src)
	}
	h, err := NewHandler(HandlerConfig{
		Sources: fakeSources{get: func(id string) (*store.Source, error) {
			if id == b.src.ID || id == b.src.UID {
				return b.src, nil
			}
			return nil, fmt.Errorf("get source: %w", herald.ErrNotFound)
		}},
		Publisher: fakePublisher{publish: func(ev *store.InboundEvent, msg *herald.Message) (bool, error) {
			if b.pubErr != nil {
				return false, b.pubErr
			}
			ev.Status = store.InboundAccepted
			b.published = append(b.published, ev)
			b.messages = append(b.messages, msg)
			return false, nil
		}},
		TrustedProxies: trusted,
		Logger:         slog.New(slog.NewTextHandler(&b.logs, nil)),
		Registry:       b.reg,
		Now:            clock(t0),
	})
	if err != nil {
		t.Fatal(err)
	}
	b.h = h
	return b
}

// stripeRequest is a request to /in/{name} signed at signedAt.
func stripeRequest(name string, signedAt time.Time, body string) *http.Request {
	ts := strconv.FormatInt(signedAt.Unix(), 10)
	r := httptest.NewRequest(http.MethodPost, "/in/"+name, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json; charset=utf-8")
	r.Header.Set("Stripe-Signature", "t="+ts+",v1="+hexMAC256(stripeSecret, ts+".", body))
	r.RemoteAddr = "192.0.2.7:40000"
	return r
}

func (b *handlerBundle) serve(r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	b.h.ServeHTTP(w, r)
	return w
}

// refusedCount reads herald_inbound_refused_total{source="src_1",reason}
// from the registry.
func (b *handlerBundle) refusedCount(t *testing.T, reason string) float64 {
	t.Helper()
	fams, err := b.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != "herald_inbound_refused_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["source"] == "src_1" && labels["reason"] == reason {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

const stripeBody = `{"id":"evt_1","type":"invoice.paid","data":{"object":{}}}`

func TestHandlerAcceptsAndForwards(t *testing.T) {
	t.Parallel()
	b := newHandlerBundle(t)
	w := b.serve(stripeRequest("stripe", t0, stripeBody))
	if w.Code != http.StatusOK {
		t.Fatalf("status: got %d %s, want 200", w.Code, w.Body)
	}
	var out struct {
		ID        string
		Duplicate bool
	}
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil || !strings.HasPrefix(out.ID, "in_") || out.Duplicate {
		t.Fatalf("answer: got %s, want an in_ id and duplicate false", w.Body)
	}
	if len(b.published) != 1 {
		t.Fatalf("published: got %d events, want 1", len(b.published))
	}
	ev, msg := b.published[0], b.messages[0]
	if ev.ID != out.ID || ev.SourceID != "src_1" || ev.DedupeKey != "evt_1" || ev.EventType != "invoice.paid" ||
		string(ev.Body) != stripeBody || ev.RemoteAddr != "192.0.2.7" || !ev.DedupeUntil.Equal(t0.Add(DefaultDedupeWindow)) {
		t.Errorf("event: got %+v, want evt_1 invoice.paid from 192.0.2.7 with the raw body", *ev)
	}
	if msg.AppID != "app_1" || string(msg.Payload) != stripeBody || msg.ContentType != "application/json; charset=utf-8" ||
		msg.Headers["Stripe-Signature"] == "" || msg.EventType != "invoice.paid" {
		t.Errorf("message: got %+v, want the raw body with Stripe's signature and content type", *msg)
	}
}

func TestHandlerRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		src    func(*store.Source)
		req    func() *http.Request
		status int
		reason string // refused counter label; empty when not counted
	}{
		{"unsigned", nil, func() *http.Request {
			r := stripeRequest("stripe", t0, stripeBody)
			r.Header.Del("Stripe-Signature")
			return r
		}, http.StatusUnauthorized, reasonMissing},
		{"tampered", nil, func() *http.Request {
			r := stripeRequest("stripe", t0, stripeBody)
			r.Body = http.NoBody
			r.ContentLength = 0
			return r
		}, http.StatusUnauthorized, reasonBad},
		{"stale", nil, func() *http.Request { return stripeRequest("stripe", t0.Add(-10*time.Minute), stripeBody) },
			http.StatusUnauthorized, reasonStale},
		{"from the future", nil, func() *http.Request { return stripeRequest("stripe", t0.Add(10*time.Minute), stripeBody) },
			http.StatusUnauthorized, reasonStale},
		{"oversized", func(s *store.Source) { s.MaxBodyBytes = 16 },
			func() *http.Request { return stripeRequest("stripe", t0, stripeBody) }, http.StatusRequestEntityTooLarge, reasonTooLarge},
		{"oversized without length", func(s *store.Source) { s.MaxBodyBytes = 16 }, func() *http.Request {
			r := stripeRequest("stripe", t0, stripeBody)
			r.ContentLength = -1
			return r
		}, http.StatusRequestEntityTooLarge, reasonTooLarge},
		{"address not allowed", func(s *store.Source) { s.AllowedIPs = []string{"10.0.0.0/8", "198.51.100.1"} },
			func() *http.Request { return stripeRequest("stripe", t0, stripeBody) }, http.StatusForbidden, reasonIP},
		{"unknown source", nil, func() *http.Request { return stripeRequest("src_nope", t0, stripeBody) }, http.StatusNotFound, ""},
		{"GET", nil, func() *http.Request { return httptest.NewRequest(http.MethodGet, "/in/stripe", nil) },
			http.StatusMethodNotAllowed, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var mods []func(*store.Source)
			if tt.src != nil {
				mods = append(mods, tt.src)
			}
			b := newHandlerBundle(t, mods...)
			w := b.serve(tt.req())
			if w.Code != tt.status {
				t.Fatalf("status: got %d %s, want %d", w.Code, w.Body, tt.status)
			}
			if len(b.published) != 0 {
				t.Errorf("published: got %d events, want none", len(b.published))
			}
			if tt.reason != "" {
				if got := b.refusedCount(t, tt.reason); got != 1 {
					t.Errorf("herald_inbound_refused_total{reason=%q}: got %v, want 1", tt.reason, got)
				}
				if got := b.h.Refusals("src_1"); len(got) != 1 || got[0].Reason != tt.reason || got[0].Count != 1 {
					t.Errorf("Refusals: got %+v, want one %q", got, tt.reason)
				}
			}
			var body struct{ Code, Detail string }
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Code == "" {
				t.Errorf("error body: got %s, want {code, detail}", w.Body)
			}
			if strings.Contains(w.Body.String(), stripeSecret) {
				t.Errorf("error body reveals the secret: %s", w.Body)
			}
		})
	}
}

func TestHandlerAllowedIPs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		allowed []string
		remote  string
		ok      bool
	}{
		{nil, "203.0.113.9:1", true},
		{[]string{"192.0.2.0/24"}, "192.0.2.7:1", true},
		{[]string{"192.0.2.7"}, "192.0.2.7:1", true},
		{[]string{"192.0.2.7"}, "[::ffff:192.0.2.7]:1", true},
		{[]string{"2001:db8::/32"}, "[2001:db8::1]:1", true},
		{[]string{"192.0.2.0/24"}, "192.0.3.1:1", false},
		{[]string{"2001:db8::/32"}, "192.0.2.7:1", false},
	}
	for _, tt := range tests {
		got := allowed(tt.allowed, remoteAddr(&http.Request{RemoteAddr: tt.remote}))
		if got != tt.ok {
			t.Errorf("allowed(%v, %s) = %v, want %v", tt.allowed, tt.remote, got, tt.ok)
		}
	}
}

func TestHandlerStoreUnavailable(t *testing.T) {
	t.Parallel()
	b := newHandlerBundle(t)
	b.pubErr = fmt.Errorf("publish inbound: %w", herald.ErrUnavailable)
	w := b.serve(stripeRequest("src_1", t0, stripeBody))
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
		t.Errorf("status: got %d (Retry-After %q), want 503 with Retry-After", w.Code, w.Header().Get("Retry-After"))
	}
	b.pubErr = errors.New("disk on fire")
	if w := b.serve(stripeRequest("src_1", t0, stripeBody)); w.Code != http.StatusInternalServerError {
		t.Errorf("status on another store error: got %d, want 500", w.Code)
	}
}

func TestHandlerSlackChallenge(t *testing.T) {
	t.Parallel()
	const secret = "8f742231b10e8888abcd99yyyzzz85a5"
	b := newHandlerBundle(t, func(s *store.Source) {
		s.Verifier = json.RawMessage(`{"type":"slack","secrets":["` + secret + `"]}`)
	})
	body := `{"token":"x","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}`
	ts := strconv.FormatInt(t0.Unix(), 10)
	r := httptest.NewRequest(http.MethodPost, "/in/src_1", strings.NewReader(body))
	r.Header.Set("X-Slack-Request-Timestamp", ts)
	r.Header.Set("X-Slack-Signature", "v0="+hexMAC256(secret, "v0:"+ts+":", body))
	w := b.serve(r)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P") {
		t.Errorf("challenge: got %d %s, want 200 with the challenge", w.Code, w.Body)
	}
	if len(b.published) != 0 {
		t.Errorf("published: got %d events, want none for a handshake", len(b.published))
	}
}

func TestForwardedMessageDropsCredentials(t *testing.T) {
	t.Parallel()
	h := http.Header{
		"Authorization":       {"Basic dXNlcjpwYXNz"},
		"X-Api-Key":           {"k"},
		"X-Gitlab-Token":      {"t"},
		"X-Custom-Key":        {"c"},
		"Cookie":              {"a=b"},
		"X-Hub-Signature-256": {"sha256=1"},
		"X-Multi":             {"a", "b"},
		"Content-Type":        {"text/plain"},
		"Host":                {"herald.example"},
	}
	kept := KeptHeaders(h, VerifierConfig{Type: TypeAPIKey, Header: "x-custom-key"})
	for _, k := range []string{"Authorization", "X-Api-Key", "X-Gitlab-Token", "X-Custom-Key", "Cookie"} {
		if _, ok := kept[k]; ok {
			t.Errorf("kept headers include the credential %s", k)
		}
	}
	msg := ForwardedMessage(&store.Source{AppID: "app_1"}, &store.InboundEvent{Headers: kept, Body: []byte("hi")}, t0)
	want := map[string]string{"X-Hub-Signature-256": "sha256=1", "X-Multi": "a, b"}
	if len(msg.Headers) != len(want) {
		t.Errorf("forwarded headers: got %v, want %v", msg.Headers, want)
	}
	for k, v := range want {
		if msg.Headers[k] != v {
			t.Errorf("forwarded %s: got %q, want %q", k, msg.Headers[k], v)
		}
	}
	if msg.ContentType != "text/plain" || !msg.ExpiresAt.Equal(t0.Add(Retention)) {
		t.Errorf("message: got type %q expires %v, want text/plain and %v", msg.ContentType, msg.ExpiresAt, t0.Add(Retention))
	}
}

func TestHandlerCachesSources(t *testing.T) {
	t.Parallel()
	now := t0
	loads := 0
	src := &store.Source{ID: "src_1", AppID: "app_1", DedupeWindow: time.Hour,
		Verifier: json.RawMessage(`{"type":"stripe","secrets":["` + stripeSecret + `"]}`)}
	h, err := NewHandler(HandlerConfig{
		Sources: fakeSources{get: func(string) (*store.Source, error) {
			loads++
			return src, nil
		}},
		Publisher: fakePublisher{publish: func(ev *store.InboundEvent, _ *herald.Message) (bool, error) {
			ev.Status = store.InboundAccepted
			return false, nil
		}},
		Now:            func() time.Time { return now },
		SourceCacheTTL: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	serve := func() int {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, stripeRequest("src_1", now, stripeBody))
		return w.Code
	}
	for i := range 3 {
		if code := serve(); code != http.StatusOK {
			t.Fatalf("request %d: got %d, want 200", i, code)
		}
	}
	if loads != 1 {
		t.Errorf("loads within the TTL: got %d, want 1", loads)
	}
	// A rotated secret applies once the TTL has passed.
	src = &store.Source{ID: "src_1", AppID: "app_1",
		Verifier: json.RawMessage(`{"type":"stripe","secrets":["whsec_other"]}`)}
	now = now.Add(time.Minute)
	if code := serve(); code != http.StatusUnauthorized || loads != 2 {
		t.Errorf("after the TTL: got %d with %d loads, want 401 with 2", code, loads)
	}
	// A stored verifier that cannot be built is the server's fault.
	src = &store.Source{ID: "src_1", Verifier: json.RawMessage(`{"type":"stripe"}`)}
	now = now.Add(time.Minute)
	if code := serve(); code != http.StatusInternalServerError {
		t.Errorf("unusable verifier: got %d, want 500", code)
	}
}

// TestHandlerNamesThatAreNoSource: a source is named by an identifier.
// Any other name (NUL, invalid UTF-8, which PostgreSQL refuses as a value
// and answered with 500 and an error line per request) is answered 404
// without a lookup.
func TestHandlerNamesThatAreNoSource(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	h, err := NewHandler(HandlerConfig{
		Sources: fakeSources{get: func(id string) (*store.Source, error) {
			t.Errorf("source %q looked up", id)
			return nil, herald.ErrNotFound
		}},
		Publisher: fakePublisher{publish: func(*store.InboundEvent, *herald.Message) (bool, error) {
			t.Error("published")
			return false, nil
		}},
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/in/", "/in/%00", "/in/%ff", "/in/a%00b", "/in/a%20b", "/in/a/b", "/in/" + strings.Repeat("a", 257)} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, path, strings.NewReader("{}")))
		if w.Code != http.StatusNotFound {
			t.Errorf("POST %s: got %d %s, want 404", path, w.Code, w.Body)
		}
	}
	if logs.Len() != 0 {
		t.Errorf("log: got %q, want nothing", logs.String())
	}
}

// TestZonedPeerMatchesAllowedIPs: a link-local peer carries its zone
// (fe80::1%eth0), which no prefix contains.
func TestZonedPeerMatchesAllowedIPs(t *testing.T) {
	t.Parallel()
	b := newHandlerBundle(t, func(s *store.Source) { s.AllowedIPs = []string{"fe80::/10"} })
	r := stripeRequest("stripe", t0, stripeBody)
	r.RemoteAddr = "[fe80::1%eth0]:40000"
	if w := b.serve(r); w.Code != http.StatusOK {
		t.Errorf("from fe80::1%%eth0 with fe80::/10 allowed: got %d %s, want 200", w.Code, w.Body)
	}
}

// TestUnusableVerifierLogsOnce: every request to a source whose verifier
// no longer loads fails; the log says so once, not once per request.
func TestUnusableVerifierLogsOnce(t *testing.T) {
	t.Parallel()
	b := newHandlerBundle(t, func(s *store.Source) { s.Verifier = json.RawMessage(`{"type":"nope","secrets":["x"]}`) })
	for range 20 {
		if w := b.serve(stripeRequest("stripe", t0, stripeBody)); w.Code != http.StatusInternalServerError {
			t.Fatalf("unusable verifier: got %d, want 500", w.Code)
		}
	}
	if n := strings.Count(b.logs.String(), "unusable verifier"); n != 1 {
		t.Errorf("20 requests logged %d errors, want 1", n)
	}
}
