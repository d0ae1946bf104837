package delivery

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/herald"
)

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"-5", 0},
		{"120", 2 * time.Minute},
		{" 7 ", 7 * time.Second},
		{"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
		{"99999999999999", 365 * 24 * time.Hour},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	wrap := func(err error) error {
		return &url.Error{Op: "Post", URL: "http://x", Err: &net.OpError{Op: "dial", Net: "tcp", Err: err}}
	}
	tests := []struct {
		name string
		err  error
		want herald.ErrorClass
	}{
		{"forbidden", wrap(&forbiddenAddrError{addr: "127.0.0.1"}), herald.ErrClassForbidden},
		{"dns", wrap(&net.DNSError{Err: "no such host", Name: "nope.invalid", IsNotFound: true}), herald.ErrClassDNS},
		{"dns timeout", wrap(&net.DNSError{Err: "timeout", Name: "slow", IsTimeout: true}), herald.ErrClassTimeout},
		{"deadline", fmt.Errorf("post: %w", context.DeadlineExceeded), herald.ErrClassTimeout},
		{"io deadline", wrap(os.ErrDeadlineExceeded), herald.ErrClassTimeout},
		{"tls alert", wrap(tls.AlertError(40)), herald.ErrClassTLS},
		{"tls record", wrap(tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}), herald.ErrClassTLS},
		{"refused", wrap(errors.New("connect: connection refused")), herald.ErrClassConnection},
	}
	for _, tt := range tests {
		if got := classify(tt.err); got != tt.want {
			t.Errorf("%s: classify(%v) = %q, want %q", tt.name, tt.err, got, tt.want)
		}
	}
}

func TestProtectedHeader(t *testing.T) {
	t.Parallel()
	for _, h := range []string{"content-type", "webhook-signature", "Webhook-Id", "svix-timestamp", "host", "connection", "transfer-encoding"} {
		if !protectedHeader(http.CanonicalHeaderKey(h)) {
			t.Errorf("protectedHeader(%q) = false, want true", h)
		}
	}
	for _, h := range []string{"Authorization", "X-Api-Key", "User-Agent"} {
		if protectedHeader(h) {
			t.Errorf("protectedHeader(%q) = true, want false", h)
		}
	}
}

func TestConfigDefaultsAndLimits(t *testing.T) {
	t.Parallel()
	s := newMemStore()
	c, err := Config{Store: s}.withDefaults()
	if err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if c.Timeout != 15*time.Second || c.LeaseDuration != 5*time.Minute || c.Workers != 512 ||
		c.EndpointConcurrency != 16 || c.EndpointQueue != 1000 || c.MaxResponseBody != 64<<10 ||
		c.PollInterval != time.Second || c.NodeID == "" {
		t.Errorf("defaults = %+v, want the documented ones", c)
	}
	bad := []Config{
		{},
		{Store: s, Timeout: 500 * time.Millisecond},
		{Store: s, Timeout: 31 * time.Second},
	}
	for _, cfg := range bad {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) = nil error, want one", cfg)
		}
	}
}

func TestLogLimiter(t *testing.T) {
	t.Parallel()
	l := newLogLimiter(10 * time.Second)
	t0 := time.Now()
	steps := []struct {
		key  string
		at   time.Duration
		want bool
	}{
		{"a", 0, true},
		{"a", time.Second, false},
		{"b", time.Second, true},
		{"a", 11 * time.Second, true},
		{"a", 12 * time.Second, false},
	}
	for _, s := range steps {
		if got := l.allow(s.key, t0.Add(s.at)); got != s.want {
			t.Errorf("allow(%s, +%v) = %v, want %v", s.key, s.at, got, s.want)
		}
	}
}

// TestSendWritesTheBodyWithItsLength checks the timed request body: the
// endpoint gets the payload whole, with a Content-Length and no chunking,
// and an empty payload as an empty body.
func TestSendWritesTheBodyWithItsLength(t *testing.T) {
	t.Parallel()
	type got struct {
		body             string
		length           int64
		transferEncoding []string
	}
	seen := make(chan got, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		seen <- got{string(b), r.ContentLength, r.TransferEncoding}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	cfg, err := Config{Store: newMemStore(), AllowNetworks: loopback}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	s := newSender(cfg)
	t.Cleanup(s.close)
	for _, payload := range []string{`{"type":"invoice.paid"}`, ""} {
		resp := s.send(t.Context(), &request{url: srv.URL, msgID: "msg_1", payload: []byte(payload), now: time.Now()})
		if resp.err != nil || resp.statusCode != http.StatusNoContent {
			t.Fatalf("send %q: status %d, error %v", payload, resp.statusCode, resp.err)
		}
		if resp.duration <= 0 {
			t.Errorf("send %q: duration %v, want more than 0", payload, resp.duration)
		}
		g := <-seen
		if g.body != payload || g.length != int64(len(payload)) || len(g.transferEncoding) != 0 {
			t.Errorf("send %q: endpoint got %q, Content-Length %d, Transfer-Encoding %v", payload, g.body, g.length, g.transferEncoding)
		}
	}
}

// TestResponseHeadersAreBounded: an endpoint that answers with megabytes
// of headers fails its attempt instead of having them held and stored;
// ordinary headers are kept.
func TestResponseHeadersAreBounded(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/huge" {
			for i := range 200 {
				w.Header().Set(fmt.Sprintf("X-Filler-%d", i), strings.Repeat("a", 4000))
			}
		}
		w.Header().Set("X-Request-Id", "req_1")
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	cfg, err := Config{Store: newMemStore(), AllowNetworks: loopback}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	s := newSender(cfg)
	t.Cleanup(s.close)

	resp := s.send(t.Context(), &request{url: srv.URL + "/huge", msgID: "msg_1", payload: []byte(`{}`), now: time.Now()})
	if resp.err == nil || resp.errClass != herald.ErrClassConnection || len(resp.headers) != 0 {
		t.Errorf("800 KB of headers: status %d, error %v (%s), %d headers kept; want a connection error and none kept",
			resp.statusCode, resp.err, resp.errClass, len(resp.headers))
	}
	resp = s.send(t.Context(), &request{url: srv.URL, msgID: "msg_2", payload: []byte(`{}`), now: time.Now()})
	if resp.err != nil || resp.statusCode != http.StatusOK || resp.headers["X-Request-Id"] != "req_1" {
		t.Errorf("ordinary headers: status %d, error %v, headers %v; want 200 with X-Request-Id kept", resp.statusCode, resp.err, resp.headers)
	}
}
