package delivery

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

const testApp = "app_test"

// testSecret is "whsec_" + base64("herald-test-secret-0123456789abc").
var testSecret = "whsec_" + base64.StdEncoding.EncodeToString([]byte("herald-test-secret-0123456789abc"))

type bundle struct {
	store  *memStore
	engine *Engine
}

// setup starts an engine on a fresh memStore. Unless cfg says otherwise it
// may reach loopback and never polls on its own, so claims happen only
// when something wakes the poller.
func setup(t *testing.T, cfg Config, endpoints ...herald.Endpoint) *bundle {
	t.Helper()
	s := newMemStore()
	for _, ep := range endpoints {
		s.addEndpoint(ep)
	}
	return startEngine(t, s, cfg)
}

func startEngine(t *testing.T, s *memStore, cfg Config) *bundle {
	t.Helper()
	cfg.Store = s
	if cfg.AllowNetworks == nil {
		cfg.AllowNetworks = loopback
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = time.Hour
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	e, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := e.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return &bundle{store: s, engine: e}
}

func endpoint(id, url string) herald.Endpoint {
	return herald.Endpoint{
		ID:      id,
		AppID:   testApp,
		URL:     url,
		Secrets: []herald.Secret{{Key: testSecret}},
	}
}

func message(eventType, payload string) *herald.Message {
	now := time.Now()
	return &herald.Message{
		ID:        herald.NewID(herald.PrefixMessage, now),
		AppID:     testApp,
		EventType: eventType,
		Payload:   []byte(payload),
		CreatedAt: now,
	}
}

func (b *bundle) publish(t *testing.T, msg *herald.Message) *herald.Message {
	t.Helper()
	if err := b.engine.Publish(context.Background(), msg); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	return msg
}

// waitFinal waits until the delivery is final and returns its results.
func (b *bundle) waitFinal(t *testing.T, msgID, endpointID string) []store.Result {
	t.Helper()
	var out []store.Result
	b.store.waitFor(t, "delivery "+msgID+" to finish", func() bool {
		d := b.store.deliveries[store.DeliveryKey{MsgID: msgID, EndpointID: endpointID}]
		if d == nil || !d.Status.Final() {
			return false
		}
		out = b.store.resultsOf(msgID)
		return true
	})
	return out
}

// received is one request a sink got.
type received struct {
	header http.Header
	body   []byte
	at     time.Time
}

// sink is a loopback receiver that answers with respond and reports every
// request on its channel.
func sink(t *testing.T, respond func(w http.ResponseWriter, n int)) (*httptest.Server, chan received) {
	t.Helper()
	ch := make(chan received, 100)
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ch <- received{header: r.Header.Clone(), body: body, at: time.Now()}
		respond(w, int(n.Add(1)))
	}))
	t.Cleanup(srv.Close)
	return srv, ch
}

func ok(w http.ResponseWriter, _ int) { w.WriteHeader(http.StatusNoContent) }

func TestDeliverySignatureVerifies(t *testing.T) {
	t.Parallel()
	srv, got := sink(t, ok)
	ep := endpoint("ep_sig", srv.URL)
	ep.Headers = map[string]string{"X-Custom": "yes", "webhook-id": "forged", "Content-Type": "text/plain"}
	b := setup(t, Config{}, ep)
	msg := b.publish(t, message("user.created", `{"hello":"world"}`))

	req := <-got
	if id := req.header.Get("webhook-id"); id != msg.ID {
		t.Errorf("webhook-id = %q, want %q", id, msg.ID)
	}
	if ct := req.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("content-type = %q, want application/json", ct)
	}
	if v := req.header.Get("X-Custom"); v != "yes" {
		t.Errorf("custom header = %q, want yes", v)
	}
	if string(req.body) != `{"hello":"world"}` {
		t.Errorf("body = %s, want the payload as stored", req.body)
	}
	ts := req.header.Get("webhook-timestamp")
	if _, err := strconv.ParseInt(ts, 10, 64); err != nil {
		t.Fatalf("webhook-timestamp %q: %v", ts, err)
	}
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(testSecret, "whsec_"))
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%s.%s", msg.ID, ts, req.body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if sig := req.header.Get("webhook-signature"); sig != want {
		t.Errorf("webhook-signature = %q, want %q", sig, want)
	}

	res := b.waitFinal(t, msg.ID, ep.ID)
	if len(res) != 1 || res[0].Outcome.Status != herald.StatusSuccess || res[0].Attempt.StatusCode != 204 {
		t.Fatalf("results = %+v, want one success with 204", res)
	}
	if h := res[0].Attempt.RequestHeaders["x-custom"]; h != "[redacted]" {
		t.Errorf("recorded custom header = %q, want it redacted", h)
	}
}

func TestDeliverySvixHeaders(t *testing.T) {
	t.Parallel()
	srv, got := sink(t, ok)
	ep := endpoint("ep_svix", srv.URL)
	b := setup(t, Config{SvixHeaders: true}, ep)
	msg := b.publish(t, message("a", `{}`))
	req := <-got
	if id := req.header.Get("svix-id"); id != msg.ID {
		t.Errorf("svix-id = %q, want %q", id, msg.ID)
	}
	if req.header.Get("svix-signature") == "" || req.header.Get("svix-timestamp") == "" {
		t.Errorf("svix-signature/timestamp missing: %v", req.header)
	}
	if v := req.header.Get("webhook-id"); v != "" {
		t.Errorf("webhook-id = %q, want none with SvixHeaders", v)
	}
}

func TestPublishFansOutByFilter(t *testing.T) {
	t.Parallel()
	srvA, gotA := sink(t, ok)
	srvB, _ := sink(t, ok)
	a := endpoint("ep_a", srvA.URL)
	bEp := endpoint("ep_b", srvB.URL)
	bEp.EventTypes = []string{"invoice.paid"}
	disabled := endpoint("ep_off", srvB.URL)
	disabled.Disabled = true
	b := setup(t, Config{}, a, bEp, disabled)

	msg := b.publish(t, message("user.created", `{}`))
	<-gotA
	b.waitFinal(t, msg.ID, a.ID)

	none := message("nobody.listens", `{}`)
	none.AppID = "app_empty"
	b.publish(t, none)

	b.store.mu.Lock()
	defer b.store.mu.Unlock()
	for key := range b.store.deliveries {
		if key.EndpointID != a.ID || key.MsgID != msg.ID {
			t.Errorf("delivery of %s to %s, want only %s to %s", key.MsgID, key.EndpointID, msg.ID, a.ID)
		}
	}
	if _, stored := b.store.messages[none.ID]; !stored {
		t.Errorf("message with no endpoint was not stored")
	}
}

func TestRetryScheduleExhausted(t *testing.T) {
	t.Parallel()
	srv, got := sink(t, func(w http.ResponseWriter, _ int) { w.WriteHeader(http.StatusInternalServerError) })
	ep := endpoint("ep_retry", srv.URL)
	sched := []time.Duration{10 * time.Millisecond, 20 * time.Millisecond}
	b := setup(t, Config{Policy: herald.Policy{Schedule: sched, Jitter: -1}}, ep)
	msg := b.publish(t, message("a", `{}`))

	res := b.waitFinal(t, msg.ID, ep.ID)
	if len(res) != 3 {
		t.Fatalf("got %d attempts, want 3", len(res))
	}
	wantStatus := []herald.MessageStatus{herald.StatusSending, herald.StatusSending, herald.StatusFail}
	for i, r := range res {
		if r.Outcome.Status != wantStatus[i] || r.Attempts != i+1 || r.Attempt.StatusCode != 500 {
			t.Errorf("attempt %d: status %v, attempts %d, code %d; want %v, %d, 500",
				i+1, r.Outcome.Status, r.Attempts, r.Attempt.StatusCode, wantStatus[i], i+1)
		}
	}
	if d := b.store.delivery(msg.ID, ep.ID); d.Status != herald.StatusFail || d.Attempts != 3 {
		t.Errorf("delivery = %v after %d attempts, want fail after 3", d.Status, d.Attempts)
	}
	var times []time.Time
	for range 3 {
		times = append(times, (<-got).at)
	}
	for i, wait := range sched {
		if gap := times[i+1].Sub(times[i]); gap < wait {
			t.Errorf("retry %d came %v after the previous attempt, want at least %v", i+1, gap, wait)
		}
	}
}

func TestRetryAfterHonouredWithinBounds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		retryAfter string
		min, max   time.Duration
	}{
		{"seconds", "2", 2 * time.Second, 2*time.Second + 100*time.Millisecond},
		{"capped", "86400", 3 * time.Second, 3*time.Second + 100*time.Millisecond},
		{"http date", time.Now().Add(2 * time.Minute).UTC().Format(http.TimeFormat), 3 * time.Second, 3*time.Second + 100*time.Millisecond},
		{"absent", "", 10 * time.Millisecond, 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, _ := sink(t, func(w http.ResponseWriter, _ int) {
				if tt.retryAfter != "" {
					w.Header().Set("Retry-After", tt.retryAfter)
				}
				w.WriteHeader(http.StatusTooManyRequests)
			})
			ep := endpoint("ep_ra", srv.URL)
			pol := herald.Policy{Schedule: []time.Duration{10 * time.Millisecond}, Jitter: -1, MaxRetryAfter: 3 * time.Second}
			b := setup(t, Config{Policy: pol}, ep)
			msg := b.publish(t, message("a", `{}`))
			var r store.Result
			b.store.waitFor(t, "first attempt", func() bool {
				res := b.store.resultsOf(msg.ID)
				if len(res) > 0 {
					r = res[0]
				}
				return len(res) > 0
			})
			if !r.Outcome.Throttled || r.Outcome.Status != herald.StatusSending {
				t.Fatalf("outcome = %+v, want a throttled retry", r.Outcome)
			}
			delay := r.Outcome.NextAttemptAt.Sub(r.Attempt.CreatedAt)
			if delay < tt.min || delay > tt.max {
				t.Errorf("next attempt in %v, want between %v and %v", delay, tt.min, tt.max)
			}
		})
	}
}

func TestRedirectIsFailureAndNotFollowed(t *testing.T) {
	t.Parallel()
	var followed atomic.Bool
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		followed.Store(true)
	}))
	t.Cleanup(target.Close)
	srv, _ := sink(t, func(w http.ResponseWriter, _ int) {
		w.Header().Set("Location", target.URL)
		w.WriteHeader(http.StatusFound)
	})
	ep := endpoint("ep_redirect", srv.URL)
	b := setup(t, Config{Policy: herald.Policy{Schedule: []time.Duration{}}}, ep)
	msg := b.publish(t, message("a", `{}`))
	res := b.waitFinal(t, msg.ID, ep.ID)
	if len(res) != 1 || res[0].Attempt.StatusCode != 302 || res[0].Attempt.Status != herald.StatusFail || res[0].Outcome.Status != herald.StatusFail {
		t.Fatalf("results = %+v, want one failed attempt with 302", res)
	}
	if followed.Load() {
		t.Errorf("the redirect was followed")
	}
}

func TestGoneDisablesEndpoint(t *testing.T) {
	t.Parallel()
	srv, got := sink(t, func(w http.ResponseWriter, _ int) { w.WriteHeader(http.StatusGone) })
	ep := endpoint("ep_gone", srv.URL)
	// No endpoint caching, so the next publish sees the store's state.
	b := setup(t, Config{EndpointCacheTTL: time.Nanosecond}, ep)
	msg := b.publish(t, message("a", `{}`))
	res := b.waitFinal(t, msg.ID, ep.ID)
	<-got
	if len(res) != 1 || !res[0].Outcome.DisableEndpoint || res[0].Outcome.Status != herald.StatusFail {
		t.Fatalf("results = %+v, want one fail that disables the endpoint", res)
	}
	b.store.waitFor(t, "endpoint disabled", func() bool { return b.store.endpoints[ep.ID].Disabled })

	next := b.publish(t, message("a", `{}`))
	b.store.mu.Lock()
	_, sent := b.store.deliveries[store.DeliveryKey{MsgID: next.ID, EndpointID: ep.ID}]
	b.store.mu.Unlock()
	if sent {
		t.Errorf("a message published after the 410 went to the disabled endpoint")
	}
}

// TestGoneFromAListenSessionKeepsItsEndpoint: a 410 from the app behind
// `herald listen` fails that delivery for good, but the session's endpoint
// stays enabled, so the next message still reaches it.
func TestGoneFromAListenSessionKeepsItsEndpoint(t *testing.T) {
	t.Parallel()
	ep := endpoint("ep_listen", "herald-listen://app_1/dev")
	b := setup(t, Config{EndpointCacheTTL: time.Nanosecond, Listen: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: http.StatusGone, Body: http.NoBody, Request: r}, nil
	})}, ep)
	msg := b.publish(t, message("a", `{}`))
	res := b.waitFinal(t, msg.ID, ep.ID)
	if len(res) != 1 || res[0].Outcome.DisableEndpoint || res[0].Outcome.Status != herald.StatusFail || res[0].Attempt.StatusCode != http.StatusGone {
		t.Fatalf("results = %+v, want one final 410 failure that leaves the endpoint enabled", res)
	}
	next := b.publish(t, message("a", `{}`))
	if res := b.waitFinal(t, next.ID, ep.ID); len(res) != 1 || res[0].Attempt.StatusCode != http.StatusGone {
		t.Fatalf("the next message: results %+v, want it sent to the session too", res)
	}
	b.store.mu.Lock()
	defer b.store.mu.Unlock()
	if b.store.endpoints[ep.ID].Disabled {
		t.Errorf("the listen endpoint was disabled by its app's 410")
	}
}

func TestTimeoutClassified(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv, _ := sink(t, func(w http.ResponseWriter, _ int) { <-release })
	t.Cleanup(func() { close(release) }) // runs before srv.Close
	ep := endpoint("ep_slow", srv.URL)
	b := setup(t, Config{Timeout: time.Second, Policy: herald.Policy{Schedule: []time.Duration{}}}, ep)
	msg := b.publish(t, message("a", `{}`))
	res := b.waitFinal(t, msg.ID, ep.ID)
	if len(res) != 1 || res[0].Attempt.ErrorClass != herald.ErrClassTimeout || res[0].Attempt.StatusCode != 0 {
		t.Fatalf("results = %+v, want one attempt classified as timeout", res)
	}
}

func TestHangingEndpointDoesNotDelayOthers(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	hang, hangGot := sink(t, func(w http.ResponseWriter, _ int) { <-release })
	t.Cleanup(unblock)
	fast, fastGot := sink(t, ok)

	slow := endpoint("ep_hang", hang.URL)
	slow.EventTypes = []string{"slow"}
	quick := endpoint("ep_fast", fast.URL)
	quick.EventTypes = []string{"fast"}
	b := setup(t, Config{Workers: 4, EndpointConcurrency: 2}, slow, quick)

	for range 10 {
		b.publish(t, message("slow", `{}`))
	}
	// The hanging endpoint now holds its cap of workers.
	<-hangGot
	<-hangGot
	var fastMsgs []*herald.Message
	for range 5 {
		fastMsgs = append(fastMsgs, b.publish(t, message("fast", `{}`)))
	}
	for range fastMsgs {
		<-fastGot
	}
	for _, m := range fastMsgs {
		b.waitFinal(t, m.ID, quick.ID)
	}
	select {
	case <-hangGot:
		t.Errorf("the hanging endpoint got more than its concurrency cap")
	default:
	}
	unblock()
}

func TestSSRFRefusedByDefault(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	t.Cleanup(srv.Close)
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	urls := map[string]string{
		"ep_ip":       srv.URL,
		"ep_metadata": "http://169.254.169.254/latest/meta-data/",
		"ep_name":     "http://localhost:" + port + "/",
		"ep_v6":       "http://[::1]:" + port + "/",
	}
	var eps []herald.Endpoint
	for id, u := range urls {
		eps = append(eps, endpoint(id, u))
	}
	b := setup(t, Config{AllowNetworks: []netip.Prefix{}, Policy: herald.Policy{Schedule: []time.Duration{}}}, eps...)
	msg := b.publish(t, message("a", `{}`))
	for id, u := range urls {
		res := b.waitFinal(t, msg.ID, id)
		if len(res) == 0 {
			t.Fatalf("%s: no attempt recorded", u)
		}
		var r store.Result
		for _, x := range res {
			if x.Attempt.EndpointID == id {
				r = x
			}
		}
		if r.Attempt.ErrorClass != herald.ErrClassForbidden || r.Outcome.Status != herald.StatusFail {
			t.Errorf("%s: error class %q, status %v; want %q, fail", u, r.Attempt.ErrorClass, r.Outcome.Status, herald.ErrClassForbidden)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the loopback server got %d requests, want 0", n)
	}
}

func TestSSRFAllowNetworks(t *testing.T) {
	t.Parallel()
	srv, _ := sink(t, ok)
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	ep := endpoint("ep_local", "http://localhost:"+port+"/")
	b := setup(t, Config{AllowNetworks: loopback}, ep)
	msg := b.publish(t, message("a", `{}`))
	res := b.waitFinal(t, msg.ID, ep.ID)
	if len(res) != 1 || res[0].Outcome.Status != herald.StatusSuccess {
		t.Fatalf("results = %+v, want one success through the allow-list", res)
	}
}
