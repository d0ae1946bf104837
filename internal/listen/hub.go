package listen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/heraldhq/herald/internal/delivery"
	"github.com/heraldhq/herald/internal/herald"
)

// Store is the part of the store a Hub uses to register sessions.
type Store interface {
	GetEndpoint(ctx context.Context, appID, idOrUID string) (*herald.Endpoint, error)
	CreateEndpoint(ctx context.Context, ep *herald.Endpoint) error
	UpdateEndpoint(ctx context.Context, appID, id string, change func(*herald.Endpoint) error) (*herald.Endpoint, error)
	Expedite(ctx context.Context, appID, endpointID string, now time.Time) (int, error)
}

// Engine is the part of the delivery engine a Hub tells about sessions.
type Engine interface {
	// InvalidateEndpoints makes publish see a new or changed endpoint.
	InvalidateEndpoints(appID string)
	// Wake makes the engine claim due deliveries now.
	Wake()
	// AttemptTimeout is how long an attempt waits for its answer. Each
	// request tells the CLI what is left of it, so the local app gets no
	// longer than the attempt: an answer after that is not recorded.
	AttemptTimeout() time.Duration
}

// Config configures a Hub. Zero values are documented defaults.
type Config struct {
	// Store registers sessions as endpoints. Required.
	Store Store
	// Engine is told when a session's endpoint changes and its backlog is
	// due. Set it with SetEngine when the engine is built after the hub.
	Engine Engine
	// PingInterval is how often the server pings a session to find a dead
	// connection; default 20 seconds.
	PingInterval time.Duration
	// CheckInterval is how often a session checks that its token was not
	// revoked and its endpoint not disabled or deleted, and ends if so;
	// default 10 seconds. A token's expiry ends it at that time.
	CheckInterval time.Duration
	// Events is told when a session creates or changes its endpoint, like
	// any change of an endpoint (operational webhooks); default none.
	Events herald.EndpointEvents
	// MaxResponseBytes bounds one frame from the CLI; default 4 MiB.
	MaxResponseBytes int64
	// Logger receives the hub's logs; default discards them.
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Hub holds the connected listen sessions and carries delivery attempts to
// them. It is the delivery engine's transport for herald-listen:// URLs.
type Hub struct {
	store         Store
	events        herald.EndpointEvents
	log           *slog.Logger
	now           func() time.Time
	pingInterval  time.Duration
	checkInterval time.Duration
	maxFrame      int64
	seq           atomic.Uint64

	mu       sync.Mutex
	engine   Engine
	sessions map[string]*session // by sessionKey
	closed   bool
	wg       sync.WaitGroup // session goroutines
}

// NewHub returns a hub configured by cfg.
func NewHub(cfg Config) *Hub {
	h := &Hub{
		store:         cfg.Store,
		events:        cfg.Events,
		log:           cfg.Logger,
		now:           cfg.Now,
		pingInterval:  cfg.PingInterval,
		checkInterval: cfg.CheckInterval,
		maxFrame:      cfg.MaxResponseBytes,
		engine:        cfg.Engine,
		sessions:      make(map[string]*session),
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.events == nil {
		h.events = herald.NoEndpointEvents{}
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.pingInterval <= 0 {
		h.pingInterval = 20 * time.Second
	}
	if h.checkInterval <= 0 {
		h.checkInterval = 10 * time.Second
	}
	if h.maxFrame <= 0 {
		h.maxFrame = 4 << 20
	}
	return h
}

// SetEngine sets the engine told about sessions, for wiring where the
// engine needs the hub as its transport first.
func (h *Hub) SetEngine(e Engine) {
	h.mu.Lock()
	h.engine = e
	h.mu.Unlock()
}

// Connected reports whether a session holds the named listen endpoint of
// application appID.
func (h *Hub) Connected(appID, name string) bool {
	return h.get(sessionKey(appID, name)) != nil
}

// RoundTrip sends one attempt to the session holding req's endpoint and
// returns what the local app answered. With no session connected it fails
// with an error wrapping delivery.ErrListenerOffline, as it does when the
// session ends before the answer comes.
func (h *Hub) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	deadline := h.attemptDeadline(ctx)
	var body []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		_ = req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("read request body: %w", err)
		}
		body = b
	}
	key := req.URL.Host + req.URL.Path
	s := h.get(key)
	if s == nil {
		return nil, delivery.ErrListenerOffline
	}
	f := &Frame{
		Type:   FrameRequest,
		ID:     strconv.FormatUint(h.seq.Add(1), 10),
		Method: req.Method,
		Header: req.Header,
		Body:   body,
	}
	if info, ok := delivery.ListenInfoFrom(ctx); ok {
		f.MsgID, f.EventType, f.Attempt = info.MsgID, info.EventType, info.Attempt
	}
	f.TimeoutMS = timeLeft(deadline)
	resp, err := s.exchange(ctx, f)
	for errors.Is(err, delivery.ErrListenerOffline) && ctx.Err() == nil {
		// The session ended under the attempt. If a newer session with the
		// same name replaced it (a reconnect while the old connection was
		// dead but not yet closed), the attempt goes there at once. Failing
		// it instead would record a retry at the normal schedule only after
		// the new session's expedite had run, and Expedite cannot bring
		// forward a delivery that is still leased to this attempt, so the
		// backlog would wait a whole retry delay with the listener back.
		next := h.get(key)
		if next == nil || next == s {
			break
		}
		s = next
		f.TimeoutMS = timeLeft(deadline)
		resp, err = s.exchange(ctx, f)
	}
	if err != nil {
		return nil, err
	}
	if resp.Error != "" {
		return nil, fmt.Errorf("forward to the local app: %s", resp.Error)
	}
	if resp.Status < 100 || resp.Status > 999 {
		return nil, fmt.Errorf("forward to the local app: the listener reported status %d", resp.Status)
	}
	header := resp.Header
	if header == nil {
		header = make(http.Header)
	}
	return &http.Response{
		Status:        strconv.Itoa(resp.Status) + " " + http.StatusText(resp.Status),
		StatusCode:    resp.Status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        header,
		Body:          io.NopCloser(bytes.NewReader(resp.Body)),
		ContentLength: int64(len(resp.Body)),
		Request:       req,
	}, nil
}

// Close ends every session with a going-away close frame and waits for
// them. Sessions that connect afterwards are refused.
func (h *Hub) Close() {
	h.mu.Lock()
	h.closed = true
	sessions := make([]*session, 0, len(h.sessions))
	for _, s := range h.sessions {
		sessions = append(sessions, s)
	}
	h.mu.Unlock()
	for _, s := range sessions {
		s.end(websocket.StatusGoingAway, "server shutting down")
	}
	h.wg.Wait()
}

// attemptDeadline is when the attempt of ctx stops waiting for its
// answer: after the engine's attempt timeout, or at ctx's deadline if that
// is sooner. Zero: not known. It is on the real clock, as deadlines are.
func (h *Hub) attemptDeadline(ctx context.Context) time.Time {
	var deadline time.Time
	if e := h.currentEngine(); e != nil && e.AttemptTimeout() > 0 {
		deadline = time.Now().Add(e.AttemptTimeout())
	}
	if d, ok := ctx.Deadline(); ok && (deadline.IsZero() || d.Before(deadline)) {
		deadline = d
	}
	return deadline
}

// timeLeft is what remains until deadline in whole milliseconds, at least
// one; 0 for no deadline.
func timeLeft(deadline time.Time) int64 {
	if deadline.IsZero() {
		return 0
	}
	return max(time.Until(deadline).Milliseconds(), 1)
}

func (h *Hub) get(key string) *session {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.sessions[key]
}

// put makes s the session of its key and returns the one it replaces. It
// fails once the hub is closed.
func (h *Hub) put(s *session) (old *session, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, errors.New("listen hub closed")
	}
	old = h.sessions[s.key]
	h.sessions[s.key] = s
	h.wg.Add(1)
	return old, nil
}

// remove forgets s unless a newer session replaced it.
func (h *Hub) remove(s *session) {
	h.mu.Lock()
	if h.sessions[s.key] == s {
		delete(h.sessions, s.key)
	}
	h.mu.Unlock()
	h.wg.Done()
}

func (h *Hub) currentEngine() Engine {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.engine
}

// session is one connected CLI.
type session struct {
	key  string
	conn *websocket.Conn
	out  chan []byte     // requests to write, taken by write
	done chan struct{}   // closed when the session ends or starts closing (finish)
	wg   *sync.WaitGroup // the hub's: waits for closing handshakes

	mu      sync.Mutex
	waiting map[string]chan *Frame // requests sent, by frame ID
	ended   bool
}

func (h *Hub) newSession(key string, conn *websocket.Conn) *session {
	return &session{key: key, conn: conn, out: make(chan []byte), done: make(chan struct{}), wg: &h.wg,
		waiting: make(map[string]chan *Frame)}
}

// exchange sends request f and waits for its response, the end of the
// session, or ctx. The session's writer sends it (write), so ctx ending
// never cuts a write short.
func (s *session) exchange(ctx context.Context, f *Frame) (*Frame, error) {
	b, err := EncodeFrame(f)
	if err != nil {
		return nil, err
	}
	ch := make(chan *Frame, 1)
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return nil, delivery.ErrListenerOffline
	}
	s.waiting[f.ID] = ch
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.waiting, f.ID)
		s.mu.Unlock()
	}()

	select {
	case s.out <- b:
	case <-s.done:
		return nil, fmt.Errorf("%w: the session ended before the request was sent", delivery.ErrListenerOffline)
	case <-ctx.Done():
		return nil, fmt.Errorf("send to listen session: %w", context.Cause(ctx))
	}
	select {
	case resp := <-ch:
		return resp, nil
	case <-s.done:
		select {
		case resp := <-ch: // answered as the session ended: keep the answer
			return resp, nil
		default:
		}
		return nil, fmt.Errorf("%w: the session ended before the local app answered", delivery.ErrListenerOffline)
	case <-ctx.Done():
		return nil, fmt.Errorf("wait for the local app: %w", context.Cause(ctx))
	}
}

// write sends the requests exchange hands it, one at a time, until ctx (the
// session's) ends. It writes with the session's context, not the
// attempt's: coder/websocket closes the whole connection when a write's
// context ends mid-write, so an attempt giving up on a large or slow send
// would otherwise drop the session and every other request in flight. A
// failed write closes the connection; the read loop then ends the session.
func (s *session) write(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case b := <-s.out:
			if err := s.conn.Write(ctx, websocket.MessageText, b); err != nil {
				s.conn.CloseNow()
				return
			}
		}
	}
}

// answer hands a response frame to the request waiting for it. A response
// nobody waits for (it came after the timeout) is dropped.
func (s *session) answer(f *Frame) {
	s.mu.Lock()
	ch := s.waiting[f.ID]
	delete(s.waiting, f.ID)
	s.mu.Unlock()
	if ch != nil {
		ch <- f
	}
}

// finish marks the session ended: no request is sent on it any more, and
// the requests waiting for an answer give up at once. It returns false if
// the session had already ended. Safe to call more than once.
func (s *session) finish() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return false
	}
	s.ended = true
	close(s.done)
	return true
}

// end closes the connection with code and reason; the session's read loop
// then finishes it. The requests waiting on the session fail at once, not
// after the closing handshake, which a dead peer makes last seconds: a
// replaced session's attempts then move to its successor (RoundTrip).
// Safe to call more than once.
func (s *session) end(code websocket.StatusCode, reason string) {
	if s.finish() {
		// Close waits for the peer's close frame, which the session's read
		// loop receives: run it beside that loop.
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			_ = s.conn.Close(code, reason)
		}()
	}
}
