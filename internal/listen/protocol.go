package listen

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/coder/websocket"

	"github.com/heraldhq/herald/internal/delivery"
)

// Frame types.
const (
	// FrameReady is the server's first frame: the session is registered.
	FrameReady = "ready"
	// FrameRequest carries one delivery attempt to the CLI.
	FrameRequest = "request"
	// FrameResponse carries the local app's answer back, matched by ID.
	FrameResponse = "response"
)

// Close codes with which the server ends a session that reconnecting
// would not bring back; the CLI stops and prints the reason.
const (
	// CloseReplaced: a newer session with the same name took over, and
	// reconnecting would take it back, the two alternating forever.
	CloseReplaced = websocket.StatusPolicyViolation
	// CloseUnauthorized: the session's token expired or was revoked.
	CloseUnauthorized websocket.StatusCode = 4001
	// CloseEndpointGone: the session's endpoint was disabled or deleted,
	// an operator's decision that a reconnect (re-enabling it) would undo.
	CloseEndpointGone websocket.StatusCode = 4004
)

// Frame is one message of the listen protocol, sent as a JSON text
// message. Type says which fields are set. Bodies travel as base64 (a
// []byte in JSON), so they arrive byte for byte.
type Frame struct {
	Type string `json:"type"`

	// Ready.
	EndpointID  string `json:"endpointId,omitempty"`
	EndpointUID string `json:"endpointUid,omitempty"`
	URL         string `json:"url,omitempty"`
	Secret      string `json:"secret,omitempty"`

	// Request and response.
	ID        string      `json:"id,omitempty"` // matches a response to its request
	MsgID     string      `json:"msgId,omitempty"`
	EventType string      `json:"eventType,omitempty"`
	Attempt   int         `json:"attempt,omitempty"`
	Method    string      `json:"method,omitempty"`
	Header    http.Header `json:"header,omitempty"`
	Body      []byte      `json:"body,omitempty"`
	Status    int         `json:"status,omitempty"` // the local app's status code
	// TimeoutMS is how long the server still waits for the answer, in
	// milliseconds: an answer later than that is not recorded, so the CLI
	// gives the local app no longer. 0: not said.
	TimeoutMS int64 `json:"timeoutMs,omitempty"`
	// Error says why the local app gave no response (connection refused,
	// timeout); Status is then 0.
	Error string `json:"error,omitempty"`
}

// EncodeFrame returns f as a protocol message.
func EncodeFrame(f *Frame) ([]byte, error) {
	if f.Type == "" {
		return nil, errors.New("encode frame: type is required")
	}
	b, err := json.Marshal(f)
	if err != nil {
		return nil, fmt.Errorf("encode frame: %w", err)
	}
	return b, nil
}

// DecodeFrame parses a protocol message and checks the fields its type
// needs.
func DecodeFrame(b []byte) (*Frame, error) {
	var f Frame
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("decode frame: %w", err)
	}
	switch f.Type {
	case FrameReady:
		if f.EndpointID == "" {
			return nil, errors.New("decode frame: ready without endpointId")
		}
	case FrameRequest, FrameResponse:
		if f.ID == "" {
			return nil, fmt.Errorf("decode frame: %s without id", f.Type)
		}
	default:
		return nil, fmt.Errorf("decode frame: unknown type %q", f.Type)
	}
	return &f, nil
}

// nameRE is what a session name may be: it becomes part of a URL and a UID.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// ValidName reports whether name may name a listen session.
func ValidName(name string) bool { return nameRE.MatchString(name) }

// CheckEventTypes checks a session's event-type filter by the rule the API
// applies to an endpoint's filterTypes: each 1 to 256 letters, digits,
// '-', '_' or '.', none repeated.
func CheckEventTypes(types []string) error {
	seen := make(map[string]bool, len(types))
	for _, t := range types {
		switch {
		case len(t) == 0 || len(t) > 256:
			return fmt.Errorf("event type %q must be 1 to 256 characters", t)
		case !eventTypeRE.MatchString(t):
			return fmt.Errorf("event type %q may contain only letters, digits, '-', '_' and '.'", t)
		case seen[t]:
			return fmt.Errorf("event type %q is repeated", t)
		}
		seen[t] = true
	}
	return nil
}

var eventTypeRE = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// SanitizeName turns s (a hostname, an application UID) into a valid
// session name, or "" if nothing usable is left.
func SanitizeName(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	out := strings.Trim(b.String(), "._-")
	if len(out) > 63 {
		out = out[:63]
	}
	return out
}

// EndpointUID is the UID of the endpoint that stands for the session name.
func EndpointUID(name string) string { return "listen-" + name }

// EndpointURL is the URL of the endpoint that stands for the session name
// in application appID.
func EndpointURL(appID, name string) string {
	return delivery.ListenScheme + "://" + appID + "/" + name
}

// sessionKey is the hub's key for a session: <app_id>/<name>, which is
// also the host and path of its EndpointURL.
func sessionKey(appID, name string) string { return appID + "/" + name }
