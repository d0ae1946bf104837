package webhook

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// receiverSetup is what each receiver test works with: a real HTTP server
// on loopback serving a Receiver, and a signer whose secret it trusts.
type receiverSetup struct {
	srv      *httptest.Server
	receiver *Receiver
	signer   *Signer
}

func setupReceiver(t *testing.T, handle HandlerFunc, cfg ReceiverConfig) *receiverSetup {
	t.Helper()
	secret := NewSecret()
	v := mustVerifier(t, secret)
	v.Now = nil // real clock: requests are signed now
	r := NewReceiver(v, handle, cfg)
	srv := httptest.NewServer(r)
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := r.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return &receiverSetup{srv: srv, receiver: r, signer: mustSigner(t, secret)}
}

// deliver posts a signed body with the given webhook-id, as a sender would.
func (s *receiverSetup) deliver(t *testing.T, id string, body []byte) (int, string) {
	t.Helper()
	return s.post(t, signedHeader(t, s.signer, id, time.Now(), body), body)
}

func (s *receiverSetup) post(t *testing.T, h http.Header, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.srv.URL, bytes.NewReader(body))
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	req.Header = h
	resp, err := s.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("post: %v", err)
	}
	defer resp.Body.Close()
	text, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	return resp.StatusCode, strings.TrimSpace(string(text))
}

func wantStatus(t *testing.T, what string, got int, body string, want int) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: got status %d (%q), want %d", what, got, body, want)
	}
}

func TestReceiverSyncHandlesEvent(t *testing.T) {
	t.Parallel()
	events := make(chan *Event, 1)
	s := setupReceiver(t, func(_ context.Context, e *Event) error {
		events <- e
		return nil
	}, ReceiverConfig{})
	before := time.Now().Truncate(time.Second)
	code, body := s.deliver(t, "msg_sync", testPayload)
	wantStatus(t, "delivery", code, body, http.StatusNoContent)
	e := <-events
	if e.ID != "msg_sync" || e.Type != "invoice.paid" || !bytes.Equal(e.Body, testPayload) {
		t.Fatalf("event: got id %q type %q body %q, want msg_sync, invoice.paid, the payload", e.ID, e.Type, e.Body)
	}
	if e.Timestamp.Before(before) || e.Header.Get(HeaderID) != "msg_sync" {
		t.Fatalf("event: got timestamp %v and webhook-id header %q, want >= %v and msg_sync", e.Timestamp, e.Header.Get(HeaderID), before)
	}
}

func TestReceiverDropsDuplicates(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	s := setupReceiver(t, func(context.Context, *Event) error {
		calls.Add(1)
		return nil
	}, ReceiverConfig{})
	code, body := s.deliver(t, "msg_dup", testPayload)
	wantStatus(t, "first delivery", code, body, http.StatusNoContent)
	code, body = s.deliver(t, "msg_dup", testPayload)
	wantStatus(t, "second delivery", code, body, http.StatusOK)
	if body != "duplicate" {
		t.Fatalf("second delivery body: got %q, want %q", body, "duplicate")
	}
	if got := calls.Load(); got != 1 {
		t.Fatalf("handler calls: got %d, want 1", got)
	}
}

func TestReceiverRejects(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	s := setupReceiver(t, func(context.Context, *Event) error {
		calls.Add(1)
		return nil
	}, ReceiverConfig{MaxBodyBytes: 64})
	other := mustSigner(t, NewSecret())
	big := bytes.Repeat([]byte("x"), 65)

	tests := []struct {
		name     string
		header   http.Header
		body     []byte
		want     int
		wantText string
	}{
		{"wrong key", signedHeader(t, other, "msg_r1", time.Now(), testPayload), testPayload, http.StatusUnauthorized, "no matching signature"},
		{"stale", signedHeader(t, s.signer, "msg_r2", time.Now().Add(-time.Hour), testPayload), testPayload, http.StatusUnauthorized, "too old"},
		{"unsigned", http.Header{}, testPayload, http.StatusUnauthorized, "missing required headers"},
		{"tampered", signedHeader(t, s.signer, "msg_r3", time.Now(), testPayload), []byte(`{"type":"invoice.paid","data":{"id":"in_2"}}`), http.StatusUnauthorized, "no matching signature"},
		{"too large", signedHeader(t, s.signer, "msg_r4", time.Now(), big), big, http.StatusRequestEntityTooLarge, "larger than 64 bytes"},
	}
	for _, tt := range tests {
		code, body := s.post(t, tt.header, tt.body)
		wantStatus(t, tt.name, code, body, tt.want)
		if !strings.Contains(body, tt.wantText) {
			t.Fatalf("%s: got body %q, want it to contain %q", tt.name, body, tt.wantText)
		}
	}
	if got := calls.Load(); got != 0 {
		t.Fatalf("handler calls: got %d, want 0", got)
	}
}

// TestReceiverTooLargeWithoutLength streams a body with no Content-Length,
// so only the read limit can catch it.
func TestReceiverTooLargeWithoutLength(t *testing.T) {
	t.Parallel()
	s := setupReceiver(t, func(context.Context, *Event) error { return nil }, ReceiverConfig{MaxBodyBytes: 64})
	big := bytes.Repeat([]byte("x"), 1000)
	// A reader of unknown length makes the client send the body chunked.
	req, err := http.NewRequest(http.MethodPost, s.srv.URL, io.MultiReader(bytes.NewReader(big)))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = -1
	req.Header = signedHeader(t, s.signer, "msg_chunked", time.Now(), big)
	resp, err := s.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("post: %v", err)
	}
	resp.Body.Close()
	wantStatus(t, "chunked delivery", resp.StatusCode, "", http.StatusRequestEntityTooLarge)
}

func TestReceiverMethodNotAllowed(t *testing.T) {
	t.Parallel()
	s := setupReceiver(t, func(context.Context, *Event) error { return nil }, ReceiverConfig{})
	resp, err := s.srv.Client().Get(s.srv.URL)
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != http.MethodPost {
		t.Fatalf("GET: got %d with Allow %q, want 405 with Allow POST", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

// TestReceiverSyncFailureIsRetried checks that an error or a panic answers
// 500 and leaves the event unmarked, so the sender's retry is handled.
func TestReceiverSyncFailureIsRetried(t *testing.T) {
	t.Parallel()
	for _, fail := range []string{"error", "panic"} {
		t.Run(fail, func(t *testing.T) {
			t.Parallel()
			var calls atomic.Int32
			s := setupReceiver(t, func(context.Context, *Event) error {
				if calls.Add(1) == 1 {
					if fail == "panic" {
						panic("boom")
					}
					return errors.New("database down")
				}
				return nil
			}, ReceiverConfig{})
			code, body := s.deliver(t, "msg_retry", testPayload)
			wantStatus(t, "first attempt", code, body, http.StatusInternalServerError)
			code, body = s.deliver(t, "msg_retry", testPayload)
			wantStatus(t, "retry", code, body, http.StatusNoContent)
			code, body = s.deliver(t, "msg_retry", testPayload)
			wantStatus(t, "delivery after success", code, body, http.StatusOK)
			if got := calls.Load(); got != 2 {
				t.Fatalf("handler calls: got %d, want 2", got)
			}
		})
	}
}

func TestReceiverDedupeStoreFailure(t *testing.T) {
	t.Parallel()
	s := setupReceiver(t, func(context.Context, *Event) error { return nil }, ReceiverConfig{
		Dedupe: &fakeDedupe{
			seen:   func(context.Context, string) (bool, error) { return false, errors.New("connection refused") },
			forget: func(context.Context, string) error { return nil },
		},
	})
	code, body := s.deliver(t, "msg_store", testPayload)
	wantStatus(t, "delivery", code, body, http.StatusServiceUnavailable)
}

// fakeDedupe is a DedupeStore made of functions.
type fakeDedupe struct {
	seen   func(ctx context.Context, id string) (bool, error)
	forget func(ctx context.Context, id string) error
}

func (f *fakeDedupe) Seen(ctx context.Context, id string) (bool, error) { return f.seen(ctx, id) }
func (f *fakeDedupe) Forget(ctx context.Context, id string) error       { return f.forget(ctx, id) }

// observedDedupe wraps a MemoryDedupe and reports each Forget, so tests
// can wait for a failed event to be released.
func observedDedupe() (*fakeDedupe, chan string) {
	mem := NewMemoryDedupe(MemoryDedupeConfig{})
	forgotten := make(chan string, 16)
	return &fakeDedupe{
		seen: mem.Seen,
		forget: func(ctx context.Context, id string) error {
			err := mem.Forget(ctx, id)
			forgotten <- id
			return err
		},
	}, forgotten
}

func TestReceiverAsyncAcknowledgesFirst(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	handled := make(chan string, 1)
	s := setupReceiver(t, func(_ context.Context, e *Event) error {
		<-release
		handled <- e.ID
		return nil
	}, ReceiverConfig{Workers: 1})
	code, body := s.deliver(t, "msg_async", testPayload)
	wantStatus(t, "delivery", code, body, http.StatusAccepted)
	close(release)
	if got := <-handled; got != "msg_async" {
		t.Fatalf("handled: got %q, want msg_async", got)
	}
}

func TestReceiverAsyncQueueFull(t *testing.T) {
	t.Parallel()
	started := make(chan string, 4)
	release := make(chan struct{})
	s := setupReceiver(t, func(_ context.Context, e *Event) error {
		started <- e.ID
		<-release
		return nil
	}, ReceiverConfig{Workers: 1, QueueSize: 1})

	code, body := s.deliver(t, "msg_q1", testPayload)
	wantStatus(t, "first", code, body, http.StatusAccepted)
	<-started // the worker holds msg_q1, so the queue is empty
	code, body = s.deliver(t, "msg_q2", testPayload)
	wantStatus(t, "second (queued)", code, body, http.StatusAccepted)
	code, body = s.deliver(t, "msg_q3", testPayload)
	wantStatus(t, "third (queue full)", code, body, http.StatusServiceUnavailable)

	close(release)
	if got := <-started; got != "msg_q2" {
		t.Fatalf("second handled: got %q, want msg_q2", got)
	}
	code, body = s.deliver(t, "msg_q3", testPayload)
	wantStatus(t, "third, retried", code, body, http.StatusAccepted)
	if got := <-started; got != "msg_q3" {
		t.Fatalf("third handled: got %q, want msg_q3", got)
	}
}

// TestReceiverAsyncFailureNotLost checks the asynchronous promise: a
// duplicate arriving while the original runs is told to come back (409),
// and once the original has failed, the next delivery is handled.
func TestReceiverAsyncFailureNotLost(t *testing.T) {
	t.Parallel()
	dedupe, forgotten := observedDedupe()
	started := make(chan struct{}, 2)
	release := make(chan error)
	handled := make(chan string, 1)
	s := setupReceiver(t, func(_ context.Context, e *Event) error {
		started <- struct{}{}
		if err := <-release; err != nil {
			return err
		}
		handled <- e.ID
		return nil
	}, ReceiverConfig{Workers: 1, Dedupe: dedupe})

	code, body := s.deliver(t, "msg_lost", testPayload)
	wantStatus(t, "first", code, body, http.StatusAccepted)
	<-started
	code, body = s.deliver(t, "msg_lost", testPayload)
	wantStatus(t, "duplicate while running", code, body, http.StatusConflict)

	release <- errors.New("downstream unavailable")
	if got := <-forgotten; got != "msg_lost" {
		t.Fatalf("forgotten: got %q, want msg_lost", got)
	}
	code, body = s.deliver(t, "msg_lost", testPayload)
	wantStatus(t, "redelivery after failure", code, body, http.StatusAccepted)
	<-started
	release <- nil
	if got := <-handled; got != "msg_lost" {
		t.Fatalf("handled: got %q, want msg_lost", got)
	}
}

func TestReceiverShutdownDrainsQueue(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var handled atomic.Int32
	s := setupReceiver(t, func(context.Context, *Event) error {
		<-release
		handled.Add(1)
		return nil
	}, ReceiverConfig{Workers: 1, QueueSize: 10})
	for _, id := range []string{"msg_d1", "msg_d2", "msg_d3"} {
		code, body := s.deliver(t, id, testPayload)
		wantStatus(t, id, code, body, http.StatusAccepted)
	}
	close(release)
	if err := s.receiver.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: got error %v, want none", err)
	}
	if got := handled.Load(); got != 3 {
		t.Fatalf("handled before Shutdown returned: got %d, want 3", got)
	}
	code, body := s.deliver(t, "msg_d4", testPayload)
	wantStatus(t, "delivery after Shutdown", code, body, http.StatusServiceUnavailable)
}

func TestReceiverShutdownDeadline(t *testing.T) {
	t.Parallel()
	dedupe, forgotten := observedDedupe()
	started := make(chan struct{}, 1)
	s := setupReceiver(t, func(ctx context.Context, _ *Event) error {
		started <- struct{}{}
		<-ctx.Done()
		return context.Cause(ctx)
	}, ReceiverConfig{Workers: 1, Dedupe: dedupe})
	code, body := s.deliver(t, "msg_s1", testPayload)
	wantStatus(t, "running event", code, body, http.StatusAccepted)
	<-started
	code, body = s.deliver(t, "msg_s2", testPayload)
	wantStatus(t, "queued event", code, body, http.StatusAccepted)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.receiver.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown past its deadline: got error %v, want context.Canceled", err)
	}
	got := map[string]bool{<-forgotten: true, <-forgotten: true}
	if !got["msg_s1"] || !got["msg_s2"] {
		t.Fatalf("forgotten after Shutdown: got %v, want msg_s1 and msg_s2", got)
	}
}

func TestReceiverShutdownSync(t *testing.T) {
	t.Parallel()
	s := setupReceiver(t, func(context.Context, *Event) error { return nil }, ReceiverConfig{})
	if err := s.receiver.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: got error %v, want none", err)
	}
	code, body := s.deliver(t, "msg_after", testPayload)
	wantStatus(t, "delivery after Shutdown", code, body, http.StatusServiceUnavailable)
	code, body = s.deliver(t, "msg_after", testPayload)
	wantStatus(t, "same delivery again", code, body, http.StatusServiceUnavailable)
}

func TestEventType(t *testing.T) {
	t.Parallel()
	tests := []struct {
		body string
		want string
	}{
		{`{"type":"user.created","data":{}}`, "user.created"},
		{`{"data":{"type":"nested"}}`, ""},
		{`{"type":42}`, ""},
		{`[1,2]`, ""},
		{`not json`, ""},
		{``, ""},
	}
	for _, tt := range tests {
		if got := eventType([]byte(tt.body)); got != tt.want {
			t.Errorf("eventType(%q): got %q, want %q", tt.body, got, tt.want)
		}
	}
}
