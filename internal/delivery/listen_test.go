package delivery

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/webhook"
)

// roundTripFunc is a listen transport as a function.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestListenURLsGoThroughTheListenTransport(t *testing.T) {
	t.Parallel()
	var got *http.Request
	var gotBody string
	var gotInfo ListenInfo
	cfg, err := Config{Store: newMemStore(), Listen: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		got = r
		b, _ := io.ReadAll(r.Body)
		gotBody = string(b)
		gotInfo, _ = ListenInfoFrom(r.Context())
		return &http.Response{StatusCode: 202, Header: http.Header{"X-Local": {"1"}}, Body: io.NopCloser(strings.NewReader("ok")), Request: r}, nil
	})}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	s := newSender(cfg)
	signer, err := webhook.NewSigner("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	resp := s.send(t.Context(), &request{url: "herald-listen://app_1/dev", msgID: "msg_1", payload: []byte(`{"a": 1}`),
		signer: signer, now: now, listen: ListenInfo{MsgID: "msg_1", EventType: "a.b", Attempt: 3}})
	if resp.err != nil || resp.statusCode != 202 || resp.body != "ok" || resp.headers["X-Local"] != "1" {
		t.Fatalf("send: got %+v, want the transport's 202 ok", resp)
	}
	if gotBody != `{"a": 1}` || got.Header.Get("Webhook-Id") != "msg_1" || got.Header.Get("Webhook-Signature") == "" {
		t.Errorf("transport request: got body %q headers %v, want the payload, signed", gotBody, got.Header)
	}
	if gotInfo != (ListenInfo{MsgID: "msg_1", EventType: "a.b", Attempt: 3}) {
		t.Errorf("listen info: got %+v, want msg_1 a.b attempt 3", gotInfo)
	}
}

func TestListenerOfflineIsItsOwnErrorClass(t *testing.T) {
	t.Parallel()
	cfg, err := Config{Store: newMemStore(), Listen: roundTripFunc(func(*http.Request) (*http.Response, error) {
		return nil, fmt.Errorf("%w: session ended", ErrListenerOffline)
	})}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	resp := newSender(cfg).send(t.Context(), &request{url: "herald-listen://app_1/dev", msgID: "msg_1", payload: []byte(`{}`), now: time.Now()})
	if !errors.Is(resp.err, ErrListenerOffline) || resp.errClass != ErrClassListenerOffline {
		t.Errorf("send with no session: got %v class %q, want ErrListenerOffline class %q", resp.err, resp.errClass, ErrClassListenerOffline)
	}
	if resp.errClass != herald.ErrorClass("listener_offline") {
		t.Errorf("error class: got %q, want listener_offline", resp.errClass)
	}
}

func TestIsListenURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url  string
		want bool
	}{
		{"herald-listen://app_1/dev", true},
		{"https://example.com/herald-listen://x", false},
		{"herald-listen:/x", false},
		{"http://localhost:3000", false},
	}
	for _, tt := range tests {
		if got := IsListenURL(tt.url); got != tt.want {
			t.Errorf("IsListenURL(%q) = %v, want %v", tt.url, got, tt.want)
		}
	}
}
