package delivery

import (
	"net/http"

	"github.com/heraldhq/herald/internal/herald"
)

// forwarding returns msg when it carries a forwarded request's headers or
// content type, and nil for ordinary messages, which then cost nothing.
func forwarding(msg *herald.Message) *herald.Message {
	if msg.Headers == nil && msg.ContentType == "" {
		return nil
	}
	return msg
}

// setForwarded adds a forwarded message's headers to h, over the
// endpoint's own, and its content type. Herald's signature headers and the
// connection's are set by the sender alone: they are never forwarded.
func setForwarded(h http.Header, msg *herald.Message) {
	for k, v := range msg.Headers {
		ck := http.CanonicalHeaderKey(k)
		if !protectedHeader(ck) && ck != "User-Agent" {
			h[ck] = []string{v}
		}
	}
	if msg.ContentType != "" {
		h["Content-Type"] = []string{msg.ContentType}
	}
}
