package listen

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/heraldhq/herald/internal/delivery"
	"github.com/heraldhq/herald/internal/herald"
)

// fakeStore is the hub's store as function fields.
type fakeStore struct {
	get      func(ctx context.Context, appID, idOrUID string) (*herald.Endpoint, error)
	create   func(ctx context.Context, ep *herald.Endpoint) error
	update   func(ctx context.Context, appID, id string, change func(*herald.Endpoint) error) (*herald.Endpoint, error)
	expedite func(ctx context.Context, appID, endpointID string, now time.Time) (int, error)
}

func (f *fakeStore) GetEndpoint(ctx context.Context, appID, idOrUID string) (*herald.Endpoint, error) {
	return f.get(ctx, appID, idOrUID)
}
func (f *fakeStore) CreateEndpoint(ctx context.Context, ep *herald.Endpoint) error {
	return f.create(ctx, ep)
}
func (f *fakeStore) UpdateEndpoint(ctx context.Context, appID, id string, change func(*herald.Endpoint) error) (*herald.Endpoint, error) {
	return f.update(ctx, appID, id, change)
}
func (f *fakeStore) Expedite(ctx context.Context, appID, endpointID string, now time.Time) (int, error) {
	return f.expedite(ctx, appID, endpointID, now)
}

// memStore keeps endpoints by UID in a map, found by ID or UID, and counts
// expedite calls.
func memStore() (*fakeStore, func() map[string]herald.Endpoint, *atomic.Int32) {
	var mu sync.Mutex
	eps := map[string]herald.Endpoint{}
	var expedited atomic.Int32
	f := &fakeStore{
		get: func(_ context.Context, _, idOrUID string) (*herald.Endpoint, error) {
			mu.Lock()
			defer mu.Unlock()
			if ep, ok := eps[idOrUID]; ok {
				return &ep, nil
			}
			for _, ep := range eps {
				if ep.ID == idOrUID {
					return &ep, nil
				}
			}
			return nil, herald.ErrNotFound
		},
		create: func(_ context.Context, ep *herald.Endpoint) error {
			mu.Lock()
			defer mu.Unlock()
			if _, ok := eps[ep.UID]; ok {
				return herald.ErrConflict
			}
			eps[ep.UID] = *ep
			return nil
		},
		update: func(_ context.Context, appID, id string, change func(*herald.Endpoint) error) (*herald.Endpoint, error) {
			mu.Lock()
			defer mu.Unlock()
			for uid, ep := range eps {
				if ep.ID != id || ep.AppID != appID {
					continue
				}
				if err := change(&ep); err != nil {
					return nil, err
				}
				delete(eps, uid)
				eps[ep.UID] = ep
				return &ep, nil
			}
			return nil, herald.ErrNotFound
		},
		expedite: func(context.Context, string, string, time.Time) (int, error) {
			expedited.Add(1)
			return 0, nil
		},
	}
	snapshot := func() map[string]herald.Endpoint {
		mu.Lock()
		defer mu.Unlock()
		out := map[string]herald.Endpoint{}
		for k, v := range eps {
			out[k] = v
		}
		return out
	}
	return f, snapshot, &expedited
}

// fakeEngine records what the hub tells the engine.
type fakeEngine struct {
	woken   chan struct{}
	timeout time.Duration // the attempt timeout; 0: none said
}

func (e *fakeEngine) AttemptTimeout() time.Duration { return e.timeout }
func (e *fakeEngine) InvalidateEndpoints(string)    {}
func (e *fakeEngine) Wake() {
	select {
	case e.woken <- struct{}{}:
	default:
	}
}

// hubServer serves the hub for application app_1 the way the API does,
// answering errors with their code's status; swap replaces the hub.
type hubServer struct {
	*httptest.Server
	hub atomic.Pointer[Hub]
}

// hubServerOptions are newHubServer's options.
type hubServerOptions struct {
	// authorized is the token check each session gets; nil: none, as for
	// the admin token.
	authorized func(context.Context) (time.Time, error)
	// wrap, when set, wraps the server's listener (to watch connections).
	wrap func(net.Listener) net.Listener
}

func newHubServer(t *testing.T, h *Hub, opts ...hubServerOptions) *hubServer {
	t.Helper()
	var o hubServerOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	s := &hubServer{}
	s.hub.Store(h)
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer good" {
			http.Error(w, `{"code":"unauthorized","detail":"bad token"}`, http.StatusUnauthorized)
			return
		}
		if err := s.hub.Load().ServeListen(w, r, &herald.Application{ID: "app_1"}, o.authorized); err != nil {
			status := http.StatusInternalServerError
			switch herald.ErrorCode(err) {
			case herald.ECONFLICT:
				status = http.StatusConflict
			case herald.EINVALID:
				status = http.StatusUnprocessableEntity
			case herald.ENOTFOUND:
				status = http.StatusNotFound
			case herald.EUNAUTHORIZED:
				status = http.StatusUnauthorized
			}
			body, _ := json.Marshal(map[string]string{"code": herald.ErrorCode(err), "detail": herald.ErrorDetail(err)})
			http.Error(w, string(body), status)
		}
	}))
	if o.wrap != nil {
		s.Listener = o.wrap(s.Listener)
	}
	s.Start()
	t.Cleanup(func() {
		s.hub.Load().Close()
		s.Close()
	})
	return s
}

// localApp is the developer's app: it records requests and answers 201.
type localApp struct {
	*httptest.Server
	got    chan *http.Request
	bodies chan []byte
}

func newLocalApp(t *testing.T) *localApp {
	t.Helper()
	a := &localApp{got: make(chan *http.Request, 10), bodies: make(chan []byte, 10)}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		a.got <- r
		a.bodies <- b
		w.Header().Set("X-Local", "yes")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(a.Close)
	return a
}

type runningClient struct {
	ready      chan Ready
	deliveries chan Delivery
	done       chan error
	cancel     context.CancelFunc
}

func runClient(t *testing.T, cfg ClientConfig) *runningClient {
	t.Helper()
	rc := &runningClient{ready: make(chan Ready, 10), deliveries: make(chan Delivery, 10), done: make(chan error, 1)}
	cfg.OnReady = func(r Ready) { rc.ready <- r }
	cfg.OnDelivery = func(d Delivery) { rc.deliveries <- d }
	if cfg.Token == "" {
		cfg.Token = "good"
	}
	cfg.MinBackoff, cfg.MaxBackoff = 10*time.Millisecond, 50*time.Millisecond
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	rc.cancel = cancel
	go func() { rc.done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-rc.done
	})
	return rc
}

func waitFor[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
	var zero T
	return zero
}

// attempt sends one request through the hub the way the delivery engine
// does.
func attempt(t *testing.T, h *Hub, name string, body string) (*http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	return attemptWith(t, ctx, h, name, body)
}

// attemptWith is attempt under the attempt's context ctx.
func attemptWith(t *testing.T, ctx context.Context, h *Hub, name string, body string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, EndpointURL("app_1", name), strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Webhook-Id", "msg_1")
	req.Header.Set("Webhook-Signature", "v1,c2ln")
	req.Header.Set("Content-Type", "application/json")
	return h.RoundTrip(req)
}

func TestRoundTripWithoutSessionIsOffline(t *testing.T) {
	t.Parallel()
	st, _, _ := memStore()
	h := NewHub(Config{Store: st})
	_, err := attempt(t, h, "nobody", `{}`)
	if !errors.Is(err, delivery.ErrListenerOffline) {
		t.Errorf("RoundTrip with no session: got %v, want ErrListenerOffline", err)
	}
}

func TestSessionForwardsExactRequestAndReturnsTheAnswer(t *testing.T) {
	t.Parallel()
	st, endpoints, expedited := memStore()
	eng := &fakeEngine{woken: make(chan struct{}, 1)}
	h := NewHub(Config{Store: st, Engine: eng})
	srv := newHubServer(t, h)
	app := newLocalApp(t)
	c := runClient(t, ClientConfig{Server: srv.URL, App: "app_1", Name: "dev", Events: []string{"a.b", "c.d"}, ForwardTo: app.URL + "/hooks"})

	ready := waitFor(t, c.ready, "ready")
	waitFor(t, eng.woken, "the engine to be woken for the backlog")
	ep := endpoints()["listen-dev"]
	if ep.ID != ready.EndpointID || ep.URL != "herald-listen://app_1/dev" || len(ep.Secrets) != 1 || ready.Secret != ep.Secrets[0].Key {
		t.Errorf("registered endpoint: got %+v and ready %+v, want listen-dev with its secret sent", ep, ready)
	}
	if strings.Join(ep.EventTypes, ",") != "a.b,c.d" {
		t.Errorf("event types: got %v, want [a.b c.d]", ep.EventTypes)
	}
	if n := expedited.Load(); n < 1 {
		t.Errorf("expedite calls: got %d, want at least 1", n)
	}

	body := "{\"x\": 1,\n \"y\": [2]}"
	resp, err := attempt(t, h, "dev", body)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated || string(got) != `{"ok":true}` || resp.Header.Get("X-Local") != "yes" {
		t.Errorf("answer: got %d %q X-Local=%q, want 201 {\"ok\":true} yes", resp.StatusCode, got, resp.Header.Get("X-Local"))
	}
	r := waitFor(t, app.got, "the local request")
	if b := waitFor(t, app.bodies, "the local body"); string(b) != body {
		t.Errorf("local body: got %q, want %q", b, body)
	}
	if r.URL.Path != "/hooks" || r.Header.Get("Webhook-Signature") != "v1,c2ln" || r.Header.Get("Webhook-Id") != "msg_1" {
		t.Errorf("local request: got %s with headers %v, want /hooks with the webhook headers", r.URL.Path, r.Header)
	}
	if d := waitFor(t, c.deliveries, "the delivery report"); d.Status != http.StatusCreated || d.Error != "" {
		t.Errorf("delivery report: got %+v, want status 201", d)
	}
}

func TestUnreachableLocalAppFailsTheAttemptWithoutGoingOffline(t *testing.T) {
	t.Parallel()
	st, _, _ := memStore()
	h := NewHub(Config{Store: st})
	srv := newHubServer(t, h)
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	c := runClient(t, ClientConfig{Server: srv.URL, App: "app_1", Name: "dev", ForwardTo: gone.URL})
	waitFor(t, c.ready, "ready")
	_, err := attempt(t, h, "dev", `{}`)
	if err == nil || errors.Is(err, delivery.ErrListenerOffline) || !strings.Contains(err.Error(), "local app") {
		t.Errorf("attempt to a dead local app: got %v, want a local-app error that is not listener_offline", err)
	}
	if d := waitFor(t, c.deliveries, "the delivery report"); d.Status != 0 || d.Error == "" {
		t.Errorf("delivery report: got %+v, want no status and an error", d)
	}
}

func TestClientReconnectsAfterTheServerGoesAway(t *testing.T) {
	t.Parallel()
	st, endpoints, expedited := memStore()
	srv := newHubServer(t, NewHub(Config{Store: st}))
	app := newLocalApp(t)
	c := runClient(t, ClientConfig{Server: srv.URL, App: "app_1", Name: "dev", ForwardTo: app.URL})
	first := waitFor(t, c.ready, "ready")

	// A restarted server: the old hub closes its sessions, a new one serves.
	old := srv.hub.Load()
	h2 := NewHub(Config{Store: st})
	srv.hub.Store(h2)
	old.Close()
	second := waitFor(t, c.ready, "ready after the reconnect")
	if second.EndpointID != first.EndpointID || second.Secret != first.Secret {
		t.Errorf("after reconnect: got endpoint %s, want the same endpoint %s and secret", second.EndpointID, first.EndpointID)
	}
	// An answered attempt means the session reached its read loop, which
	// starts only after the connect-time expedite returned.
	if _, err := attempt(t, h2, "dev", `{}`); err != nil {
		t.Errorf("attempt after the reconnect: %v", err)
	}
	if len(endpoints()) != 1 || expedited.Load() < 2 {
		t.Errorf("got %d endpoints and %d expedites, want 1 endpoint reused and its backlog expedited on each connect", len(endpoints()), expedited.Load())
	}
}

func TestSecondListenerWithTheSameNameTakesOver(t *testing.T) {
	t.Parallel()
	st, _, _ := memStore()
	h := NewHub(Config{Store: st})
	srv := newHubServer(t, h)
	app := newLocalApp(t)
	first := runClient(t, ClientConfig{Server: srv.URL, App: "app_1", Name: "dev", ForwardTo: app.URL})
	waitFor(t, first.ready, "first ready")
	second := runClient(t, ClientConfig{Server: srv.URL, App: "app_1", Name: "dev", ForwardTo: app.URL})
	waitFor(t, second.ready, "second ready")
	var fatal *FatalError
	if err := waitFor(t, first.done, "the first listener to stop"); !errors.As(err, &fatal) {
		t.Errorf("replaced listener: got %v, want a FatalError so the two do not alternate", err)
	}
	if _, err := attempt(t, h, "dev", `{}`); err != nil {
		t.Errorf("attempt through the second listener: %v", err)
	}
	first.done <- nil // for the cleanup
}

func TestRefusalsAreFatal(t *testing.T) {
	t.Parallel()
	st, _, _ := memStore()
	st.get = func(context.Context, string, string) (*herald.Endpoint, error) {
		return &herald.Endpoint{ID: "ep_1", UID: "listen-taken", URL: "https://example.com/hook"}, nil
	}
	srv := newHubServer(t, NewHub(Config{Store: st}))
	tests := []struct {
		name, token, session string
		want                 int
	}{
		{"bad token", "bad", "dev", http.StatusUnauthorized},
		{"uid of an HTTP endpoint", "good", "taken", http.StatusConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := runClient(t, ClientConfig{Server: srv.URL, Token: tt.token, App: "app_1", Name: tt.session, ForwardTo: "http://127.0.0.1:1"})
			err := waitFor(t, c.done, "Run to give up")
			var fatal *FatalError
			if !errors.As(err, &fatal) || fatal.Status != tt.want {
				t.Errorf("Run: got %v, want a FatalError with status %d", err, tt.want)
			}
			c.done <- nil // for the cleanup
		})
	}
}

func TestBacklogIsExpeditedAgainOnceTheSessionSettles(t *testing.T) {
	t.Parallel()
	st, _, _ := memStore()
	calls := make(chan string, 10)
	st.expedite = func(_ context.Context, appID, endpointID string, _ time.Time) (int, error) {
		calls <- appID + " " + endpointID
		return 1, nil
	}
	srv := newHubServer(t, NewHub(Config{Store: st}))
	c := runClient(t, ClientConfig{Server: srv.URL, App: "app_1", Name: "dev", ForwardTo: "http://127.0.0.1:1"})
	ready := waitFor(t, c.ready, "ready")
	for i := range 2 {
		if got, want := waitFor(t, calls, "an expedite"), "app_1 "+ready.EndpointID; got != want {
			t.Errorf("expedite %d: got %q, want %q", i+1, got, want)
		}
	}
}

func TestPlainRequestRegistersNothing(t *testing.T) {
	t.Parallel()
	st, endpoints, _ := memStore()
	srv := newHubServer(t, NewHub(Config{Store: st}))
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/?name=dev", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer good")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusSwitchingProtocols || len(endpoints()) != 0 {
		t.Errorf("GET without upgrade: got %d and %d endpoints, want a refusal and none", resp.StatusCode, len(endpoints()))
	}
}

// dialRaw opens a listen session named name by hand and reads its ready
// frame; the test then drives the connection, or leaves it unread like a
// CLI that froze.
func dialRaw(t *testing.T, srv *hubServer, name string) *websocket.Conn {
	t.Helper()
	u := "ws" + strings.TrimPrefix(srv.URL, "http") + "/?name=" + name
	conn, _, err := websocket.Dial(t.Context(), u, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer good"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.CloseNow() }) // before the hub's cleanup
	if f := readFrame(t, conn); f.Type != FrameReady {
		t.Fatalf("first frame: got %q, want ready", f.Type)
	}
	return conn
}

func readFrame(t *testing.T, conn *websocket.Conn) *Frame {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, b, err := conn.Read(ctx)
	if err != nil {
		t.Fatalf("read a frame: %v", err)
	}
	f, err := DecodeFrame(b)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// An attempt in flight on a session whose CLI froze (its connection dead
// but not closed) goes to the session that replaces it, at once: failing
// it as listener_offline once the old connection's close timed out would
// schedule a normal retry after the new session's expedite had run.
func TestAttemptOnAReplacedSessionGoesToTheNewSession(t *testing.T) {
	t.Parallel()
	st, _, _ := memStore()
	h := NewHub(Config{Store: st})
	srv := newHubServer(t, h)
	frozen := dialRaw(t, srv, "dev")

	type result struct {
		resp *http.Response
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := attempt(t, h, "dev", `{}`)
		done <- result{resp, err}
	}()
	if f := readFrame(t, frozen); f.Type != FrameRequest {
		t.Fatalf("frozen session got %q, want the request", f.Type)
	}
	// The frozen CLI reads nothing more: it never answers, nor completes
	// the close handshake when it is replaced.

	app := newLocalApp(t)
	second := runClient(t, ClientConfig{Server: srv.URL, App: "app_1", Name: "dev", ForwardTo: app.URL})
	waitFor(t, second.ready, "the second session")
	r := waitFor(t, done, "the attempt")
	if r.err != nil {
		t.Fatalf("attempt in flight on the replaced session: got %v, want the new session's answer", r.err)
	}
	if r.resp.StatusCode != http.StatusCreated {
		t.Errorf("attempt in flight on the replaced session: got status %d, want 201 from the new session", r.resp.StatusCode)
	}
	waitFor(t, app.got, "the request at the new session's local app")
}

// A local app slower than the server's requests arrive keeps every forward
// busy and the queue full; the client still reads, so pings are answered
// (the connection stays up), and a request beyond the bound is answered
// at once as busy.
func TestBusyLocalAppDoesNotStopTheClientReading(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	started := make(chan struct{}, maxForwards+maxQueued+1)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		select {
		case <-release:
			w.WriteHeader(http.StatusNoContent)
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(app.Close)
	var releaseOnce sync.Once
	releaseAll := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(releaseAll) // before the app closes

	// A server driven by hand, so the test decides what is sent when.
	conns := make(chan *websocket.Conn, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		conns <- conn
	}))
	t.Cleanup(srv.Close)
	// The client's own pings stay out of the test; the server's ping below
	// is what a stalled read loop would leave unanswered.
	c := runClient(t, ClientConfig{Server: srv.URL, App: "app_1", Name: "dev", ForwardTo: app.URL, PingInterval: time.Hour})
	go func() { // the reports must not hold the forwards up
		for {
			select {
			case <-c.deliveries:
			case <-t.Context().Done():
				return
			}
		}
	}()
	conn := waitFor(t, conns, "the client to connect")
	t.Cleanup(func() { conn.CloseNow() })

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	write := func(f *Frame) {
		t.Helper()
		b, err := EncodeFrame(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := conn.Write(ctx, websocket.MessageText, b); err != nil {
			t.Fatal(err)
		}
	}
	write(&Frame{Type: FrameReady, EndpointID: "ep_1"})
	waitFor(t, c.ready, "ready")
	responses := make(chan *Frame, maxForwards+maxQueued+1)
	go func() {
		for {
			_, b, err := conn.Read(ctx) // also reads the pong
			if err != nil {
				return
			}
			if f, err := DecodeFrame(b); err == nil {
				responses <- f
			}
		}
	}()
	request := func(i int) {
		t.Helper()
		write(&Frame{Type: FrameRequest, ID: strconv.Itoa(i), MsgID: "msg_" + strconv.Itoa(i), Body: []byte(`{}`)})
	}

	for i := range maxForwards {
		request(i)
	}
	for range maxForwards {
		waitFor(t, started, "a forward to reach the local app")
	}
	// Every forward is busy: these fill the queue, and one more.
	for i := maxForwards; i <= maxForwards+maxQueued; i++ {
		request(i)
	}
	pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
	defer pcancel()
	if err := conn.Ping(pctx); err != nil {
		t.Fatalf("the client stopped reading while the local app was busy: %v", err)
	}
	f := waitFor(t, responses, "the answer to the request beyond the bound")
	if f.ID != strconv.Itoa(maxForwards+maxQueued) || !strings.Contains(f.Error, "busy") {
		t.Errorf("first answer: got id %s error %q, want id %d answered busy", f.ID, f.Error, maxForwards+maxQueued)
	}

	releaseAll()
	for range maxForwards + maxQueued {
		if f := waitFor(t, responses, "an answer from the local app"); f.Status != http.StatusNoContent {
			t.Errorf("answer %s: got status %d error %q, want 204", f.ID, f.Status, f.Error)
		}
	}
}
