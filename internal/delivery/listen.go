package delivery

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/herald"
)

// ListenScheme is the URL scheme of endpoints served by a `herald listen`
// session: herald-listen://<app_id>/<name>. Such a URL is never dialed; its
// attempts go through Config.Listen to the connected session instead.
const ListenScheme = "herald-listen"

// ErrListenerOffline is the error a listen transport returns when no
// session holds the endpoint. The attempt fails with the error class
// "listener_offline" and is retried like any other failure.
var ErrListenerOffline = errors.New("no herald listen session is connected for this endpoint")

// ErrClassListenerOffline is the attempt error class of ErrListenerOffline.
const ErrClassListenerOffline herald.ErrorClass = "listener_offline"

// IsListenURL reports whether u names a listen session rather than an HTTP
// endpoint.
func IsListenURL(u string) bool {
	return strings.HasPrefix(u, ListenScheme+"://")
}

// ListenInfo describes the delivery behind a request handed to a listen
// transport, for the session's own output.
type ListenInfo struct {
	MsgID     string
	EventType string
	Attempt   int // 1 for the first attempt
}

type listenInfoKey struct{}

// ListenInfoFrom returns the delivery a listen transport's request carries,
// if any.
func ListenInfoFrom(ctx context.Context) (ListenInfo, bool) {
	info, ok := ctx.Value(listenInfoKey{}).(ListenInfo)
	return info, ok
}

func withListenInfo(ctx context.Context, info ListenInfo) context.Context {
	return context.WithValue(ctx, listenInfoKey{}, info)
}

// registerListen routes listen URLs of t to rt.
func registerListen(t *http.Transport, rt http.RoundTripper) {
	if rt != nil {
		t.RegisterProtocol(ListenScheme, rt)
	}
}

// AttemptTimeout is how long an attempt waits for its endpoint's answer. A
// listen session tells its CLI what is left of it with each request, so
// the local app is given no longer than the attempt.
func (e *Engine) AttemptTimeout() time.Duration { return e.cfg.Timeout }
