package listen

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/heraldhq/herald/internal/herald"
)

// stall makes a server connection's first large write wait until release
// is closed (or the connection is), like a send to a slow network.
type stall struct {
	writing chan struct{} // receives when the large write starts waiting
	release chan struct{}
}

// stallSize is what counts as a large write: more than the buffered
// writers in front of the connection hold.
const stallSize = 256 << 10

func (s *stall) wrap(l net.Listener) net.Listener { return &stallListener{Listener: l, stall: s} }

type stallListener struct {
	net.Listener
	stall *stall
}

func (l *stallListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &stallConn{Conn: c, stall: l.stall, closed: make(chan struct{})}, nil
}

type stallConn struct {
	net.Conn
	stall  *stall
	once   sync.Once
	closed chan struct{}
}

func (c *stallConn) Write(p []byte) (int, error) {
	if len(p) >= stallSize {
		select {
		case c.stall.writing <- struct{}{}:
		default:
		}
		select {
		case <-c.stall.release:
		case <-c.closed:
			return 0, net.ErrClosed
		}
	}
	return c.Conn.Write(p)
}

func (c *stallConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

// An attempt that gives up while its request is still being written (a
// large body on a slow link) fails alone. coder/websocket closes the whole
// connection when a write's context ends mid-write, so writing with the
// attempt's context would drop the session and every request in flight.
func TestAttemptGivingUpMidWriteKeepsTheSession(t *testing.T) {
	t.Parallel()
	st, _, _ := memStore()
	h := NewHub(Config{Store: st})
	s := &stall{writing: make(chan struct{}, 1), release: make(chan struct{})}
	srv := newHubServer(t, h, hubServerOptions{wrap: s.wrap})
	var releaseOnce sync.Once
	release := func() { releaseOnce.Do(func() { close(s.release) }) }
	t.Cleanup(release)
	peer := dialRaw(t, srv, "dev")
	peer.SetReadLimit(-1)

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	big := strings.Repeat("x", 2*stallSize)
	go func() {
		_, err := attemptWith(t, ctx, h, "dev", big)
		done <- err
	}()
	waitFor(t, s.writing, "the large request to be written")
	cancel() // the attempt times out mid-write
	if err := waitFor(t, done, "the attempt to give up"); !errors.Is(err, context.Canceled) {
		t.Errorf("attempt cut off mid-write: got %v, want its context's error", err)
	}

	release()
	if f := readFrame(t, peer); f.Type != FrameRequest || string(f.Body) != big {
		t.Fatalf("peer: got a %q frame of %d bytes, want the large request whole", f.Type, len(f.Body))
	}
	go func() {
		_, err := attempt(t, h, "dev", `{}`)
		done <- err
	}()
	f := readFrame(t, peer)
	answer, err := EncodeFrame(&Frame{Type: FrameResponse, ID: f.ID, Status: http.StatusNoContent})
	if err != nil {
		t.Fatal(err)
	}
	if err := peer.Write(t.Context(), websocket.MessageText, answer); err != nil {
		t.Fatal(err)
	}
	if err := waitFor(t, done, "the next attempt"); err != nil {
		t.Errorf("attempt after one gave up mid-write: got %v, want the session's answer", err)
	}
}

// The server waits for an answer only for its attempt timeout; a local app
// answering later would print a success the attempt log records as a
// timeout, and receive the delivery again.
func TestLocalAppIsGivenNoLongerThanTheAttempt(t *testing.T) {
	t.Parallel()
	st, _, _ := memStore()
	const timeout = 100 * time.Millisecond
	h := NewHub(Config{Store: st, Engine: &fakeEngine{woken: make(chan struct{}, 1), timeout: timeout}})
	srv := newHubServer(t, h)
	stuck := make(chan struct{})
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select { // answers only when the client gives up, or at the end
		case <-r.Context().Done():
		case <-stuck:
		}
	}))
	t.Cleanup(app.Close)
	t.Cleanup(func() { close(stuck) }) // before the app closes
	c := runClient(t, ClientConfig{Server: srv.URL, App: "app_1", Name: "dev", ForwardTo: app.URL})
	waitFor(t, c.ready, "ready")

	_, err := attempt(t, h, "dev", `{}`) // waits up to 10s itself
	if err == nil || !strings.Contains(err.Error(), "attempt timeout") {
		t.Errorf("attempt to a local app slower than the attempt timeout: got %v, want the local app timed out", err)
	}
	if d := waitFor(t, c.deliveries, "the delivery report"); d.Status != 0 || !strings.Contains(d.Error, "attempt timeout") {
		t.Errorf("delivery report: got %+v, want no status and the attempt timeout", d)
	}
}

// Each request says how long the server still waits for it.
func TestRequestCarriesWhatIsLeftOfTheAttempt(t *testing.T) {
	t.Parallel()
	st, _, _ := memStore()
	const timeout = 15 * time.Second
	h := NewHub(Config{Store: st, Engine: &fakeEngine{woken: make(chan struct{}, 1), timeout: timeout}})
	srv := newHubServer(t, h)
	peer := dialRaw(t, srv, "dev")
	go func() { _, _ = attempt(t, h, "dev", `{}`) }() // its 10s deadline is sooner
	f := readFrame(t, peer)
	if f.TimeoutMS <= 0 || f.TimeoutMS > (10*time.Second).Milliseconds() {
		t.Errorf("request timeout: got %dms, want what is left of the attempt's 10s deadline", f.TimeoutMS)
	}
}

// A registration that lost a race (its endpoint created and deleted under
// it) asks to be retried; the CLI must not take it for the fatal conflict
// of a UID held by another endpoint.
func TestRegistrationThatLostARaceAsksForARetry(t *testing.T) {
	t.Parallel()
	st, _, _ := memStore()
	st.get = func(context.Context, string, string) (*herald.Endpoint, error) { return nil, herald.ErrNotFound }
	st.create = func(context.Context, *herald.Endpoint) error { return herald.ErrConflict }
	srv := newHubServer(t, NewHub(Config{Store: st}))
	resp := getListen(t, srv, "name=dev")
	if resp.StatusCode != http.StatusConflict || resp.Header.Get("Retry-After") == "" {
		t.Errorf("lost registration race: got %d with Retry-After %q, want 409 with a Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

// An endpoint deleted between the registration's read and its update is
// created anew rather than refused as not found.
func TestRegistrationSurvivesItsEndpointBeingDeleted(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	old := &herald.Endpoint{ID: "ep_old", AppID: "app_1", UID: "listen-dev", URL: EndpointURL("app_1", "dev"), Disabled: true}
	cur := old
	st := &fakeStore{
		get: func(context.Context, string, string) (*herald.Endpoint, error) {
			mu.Lock()
			defer mu.Unlock()
			if cur == nil {
				return nil, herald.ErrNotFound
			}
			ep := *cur
			return &ep, nil
		},
		create: func(_ context.Context, ep *herald.Endpoint) error {
			mu.Lock()
			defer mu.Unlock()
			cur = ep
			return nil
		},
		update: func(context.Context, string, string, func(*herald.Endpoint) error) (*herald.Endpoint, error) {
			mu.Lock()
			defer mu.Unlock()
			cur = nil // deleted just before the update
			return nil, herald.ErrNotFound
		},
		expedite: func(context.Context, string, string, time.Time) (int, error) { return 0, nil },
	}
	srv := newHubServer(t, NewHub(Config{Store: st}))
	c := runClient(t, ClientConfig{Server: srv.URL, App: "app_1", Name: "dev", ForwardTo: "http://127.0.0.1:1"})
	select {
	case r := <-c.ready:
		if r.EndpointID == old.ID {
			t.Errorf("ready: got the deleted endpoint %s, want a new one", r.EndpointID)
		}
	case err := <-c.done:
		t.Errorf("Run: got %v, want the session registered with a new endpoint", err)
		c.done <- nil // for the cleanup
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for ready")
	}
}

// The client retries a 409 that comes with Retry-After, with its backoff.
func TestClientRetriesARegistrationThatLostARace(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	dials := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		dials++
		first := dials == 1
		mu.Unlock()
		if first {
			w.Header().Set("Retry-After", "1")
			http.Error(w, `{"code":"conflict","detail":"Listen endpoint \"listen-dev\" is being registered concurrently; retry"}`, http.StatusConflict)
			return
		}
		conn, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer conn.CloseNow()
		ready, _ := EncodeFrame(&Frame{Type: FrameReady, EndpointID: "ep_1"})
		if conn.Write(r.Context(), websocket.MessageText, ready) == nil {
			_, _, _ = conn.Read(r.Context()) // until the client closes
		}
	}))
	t.Cleanup(srv.Close)
	c := runClient(t, ClientConfig{Server: srv.URL, App: "app_1", Name: "dev", ForwardTo: "http://127.0.0.1:1"})
	select {
	case <-c.ready:
	case err := <-c.done:
		t.Errorf("Run: got %v, want a retry that registers", err)
		c.done <- nil // for the cleanup
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for ready")
	}
}

// Event types the API would refuse as an endpoint's filterTypes are
// refused, with a reason the CLI prints.
func TestInvalidEventFiltersAreRefused(t *testing.T) {
	t.Parallel()
	st, endpoints, _ := memStore()
	srv := newHubServer(t, NewHub(Config{Store: st}))
	tests := []struct{ events, want string }{
		{"x y", `event type "x y" may contain only letters, digits, '-', '_' and '.'`},
		{"a.b,a%2Fb", `event type "a/b" may contain only`},
		{"a.b,a.b", `event type "a.b" is repeated`},
		{strings.Repeat("a", 257), "must be 1 to 256 characters"},
	}
	for _, tt := range tests {
		resp := getListen(t, srv, "name=dev&events="+strings.ReplaceAll(tt.events, " ", "%20"))
		err := refusal(resp, errors.New("handshake failed"))
		var fatal *FatalError
		if !errors.As(err, &fatal) || fatal.Status != http.StatusUnprocessableEntity || !strings.Contains(fatal.Detail, tt.want) {
			t.Errorf("events %q: got %v, want a 422 refusal saying %q", tt.events, err, tt.want)
		}
		if _, err := NewClient(ClientConfig{Server: srv.URL, App: "app_1", Name: "dev", ForwardTo: "http://127.0.0.1:1",
			Events: splitList(strings.ReplaceAll(tt.events, "%2F", "/"))}); err == nil || !strings.Contains(err.Error(), "event type") {
			t.Errorf("NewClient with events %q: got %v, want the same refusal before connecting", tt.events, err)
		}
	}
	if n := len(endpoints()); n != 0 {
		t.Errorf("refused sessions registered %d endpoints, want 0", n)
	}
}

// The API answers a validation error as Svix's HTTPValidationError; the
// CLI prints its messages, not the JSON.
func TestRefusalPrintsValidationMessages(t *testing.T) {
	t.Parallel()
	body := `{"detail":[{"loc":["body"],"msg":"events: event type \"x y\" may contain only letters","type":"value_error"}]}`
	resp := &http.Response{StatusCode: http.StatusUnprocessableEntity, Header: http.Header{}, Body: io.NopCloser(bytes.NewBufferString(body))}
	var fatal *FatalError
	if err := refusal(resp, errors.New("handshake failed")); !errors.As(err, &fatal) || fatal.Detail != `events: event type "x y" may contain only letters` {
		t.Errorf("refusal: got %v, want the validation message as the detail", err)
	}
}

// getListen asks for a listen session with a plain request that claims an
// upgrade, so the refusal's status and headers can be read.
func getListen(t *testing.T, srv *hubServer, query string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/?"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer good")
	req.Header.Set("Upgrade", "websocket")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}
