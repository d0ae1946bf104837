package delivery

import (
	"net/http"
	"testing"

	"github.com/heraldhq/herald/internal/herald"
)

func TestForwardingOnlyForForwardedMessages(t *testing.T) {
	t.Parallel()
	if got := forwarding(&herald.Message{Payload: []byte(`{}`)}); got != nil {
		t.Errorf("forwarding(plain message) = %v, want nil", got)
	}
	msg := &herald.Message{ContentType: "text/plain"}
	if got := forwarding(msg); got != msg {
		t.Errorf("forwarding(message with a content type) = %v, want the message", got)
	}
}

func TestSetForwarded(t *testing.T) {
	t.Parallel()
	h := http.Header{
		"Content-Type": {"application/json"},
		"X-Team":       {"from endpoint"},
	}
	setForwarded(h, &herald.Message{
		ContentType: "application/x-www-form-urlencoded",
		Headers: map[string]string{
			"x-hub-signature-256": "sha256=abc",
			"X-Team":              "from provider",
			"webhook-signature":   "v1,forged",
			"Svix-Id":             "msg_forged",
			"Connection":          "close",
			"Transfer-Encoding":   "chunked",
			"Host":                "evil.example",
			"Content-Length":      "1",
			"User-Agent":          "GitHub-Hookshot/1",
		},
	})
	want := http.Header{
		"Content-Type":        {"application/x-www-form-urlencoded"},
		"X-Hub-Signature-256": {"sha256=abc"},
		"X-Team":              {"from provider"},
	}
	if len(h) != len(want) {
		t.Errorf("headers: got %v, want %v", h, want)
	}
	for k, v := range want {
		if got := h.Get(k); got != v[0] {
			t.Errorf("header %s: got %q, want %q", k, got, v[0])
		}
	}
}
