package listen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// ClientConfig configures a Client. Zero values are documented defaults.
type ClientConfig struct {
	// Server is the Herald server's base URL (http or https). Required.
	Server string
	// Token is an API token: the admin token or one of the application's.
	Token string
	// App is the application's ID or UID. Required.
	App string
	// Name names the session; a reconnect with the same name resumes the
	// same endpoint and its backlog. Required.
	Name string
	// Events restricts the session to these event types; empty: all.
	Events []string
	// ForwardTo is the local URL each delivery is posted to. Required.
	ForwardTo string
	// HTTPClient posts to ForwardTo; default a client that follows no
	// redirects and gives up after 30 seconds. A request also gives up
	// when the server stops waiting for its answer (Frame.TimeoutMS).
	HTTPClient *http.Client
	// OnReady is called each time the session is registered.
	OnReady func(Ready)
	// OnDelivery is called after each forwarded delivery.
	OnDelivery func(Delivery)
	// MinBackoff is the first wait before reconnecting; default 500ms.
	MinBackoff time.Duration
	// MaxBackoff caps the wait between reconnects; default 30 seconds.
	MaxBackoff time.Duration
	// PingInterval is how often the client pings the server to find a dead
	// connection; default 20 seconds.
	PingInterval time.Duration
	// MaxBodyBytes bounds the local app's response body sent back; default
	// 1 MiB (the server keeps less).
	MaxBodyBytes int64
	// Logger receives connection logs; default discards them.
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Ready describes a registered session.
type Ready struct {
	EndpointID  string
	EndpointUID string
	URL         string
	Secret      string // the key to verify deliveries with
}

// Delivery is what one forwarded attempt did, for the CLI's output.
type Delivery struct {
	Time      time.Time
	MsgID     string
	EventType string
	Attempt   int
	Status    int    // the local app's status; 0 when it gave none
	Error     string // why the local app gave no response
	Latency   time.Duration
}

// Client is the CLI's side of a listen session.
type Client struct {
	cfg ClientConfig
	log *slog.Logger
}

// FatalError is a refusal that reconnecting would not change: a bad
// token, an unknown application, an invalid name; or the end of a session
// that reconnecting would undo or not bring back: another listener took
// the name, the token expired, the endpoint was disabled.
type FatalError struct {
	Status int                  // the handshake's HTTP status, or 0
	Code   websocket.StatusCode // the close code that ended the session, or 0
	Detail string
}

func (e *FatalError) Error() string {
	if e.Code != 0 {
		return "the server ended the listen session: " + e.Detail
	}
	return fmt.Sprintf("server refused the listen session (%d): %s", e.Status, e.Detail)
}

// NewClient returns a client configured by cfg.
func NewClient(cfg ClientConfig) (*Client, error) {
	switch {
	case cfg.Server == "":
		return nil, errors.New("listen: server is required")
	case cfg.App == "":
		return nil, errors.New("listen: application is required")
	case !ValidName(cfg.Name):
		return nil, fmt.Errorf("listen: invalid session name %q", cfg.Name)
	case cfg.ForwardTo == "":
		return nil, errors.New("listen: forward-to URL is required")
	}
	if err := CheckEventTypes(cfg.Events); err != nil {
		return nil, fmt.Errorf("listen: events: %w", err)
	}
	if u, err := url.Parse(cfg.ForwardTo); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("listen: forward-to must be an http or https URL, got %q", cfg.ForwardTo)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{
			Timeout:       30 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 500 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = 20 * time.Second
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Client{cfg: cfg, log: log}, nil
}

// Run keeps a session connected until ctx ends, reconnecting with
// exponential backoff (capped at MaxBackoff, reset after each successful
// registration). It returns nil when ctx ends, after a clean close, and a
// *FatalError when the server refuses the session.
func (c *Client) Run(ctx context.Context) error {
	backoff := c.cfg.MinBackoff
	for {
		ready, err := c.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var fatal *FatalError
		if errors.As(err, &fatal) {
			return err
		}
		if ready {
			backoff = c.cfg.MinBackoff
		}
		c.log.Warn("listen session lost; reconnecting", slog.Any("error", err), slog.Duration("in", backoff))
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, c.cfg.MaxBackoff)
	}
}

// dialURL is the WebSocket URL of the session.
func (c *Client) dialURL() (string, error) {
	u, err := url.Parse(strings.TrimRight(c.cfg.Server, "/"))
	if err != nil {
		return "", fmt.Errorf("server URL: %w", err)
	}
	switch u.Scheme {
	case "http", "ws":
		u.Scheme = "ws"
	case "https", "wss":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("server URL %q: want http or https", c.cfg.Server)
	}
	u.Path += "/api/v1/app/" + url.PathEscape(c.cfg.App) + "/listen"
	q := url.Values{"name": {c.cfg.Name}}
	if len(c.cfg.Events) > 0 {
		q.Set("events", strings.Join(c.cfg.Events, ","))
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// dialTimeout bounds one connection attempt, so a server that does not
// answer (a dropped packet, not a refusal) is retried.
const dialTimeout = 30 * time.Second

// session runs one connection until it ends. ready reports whether the
// server registered it.
func (c *Client) session(ctx context.Context) (ready bool, err error) {
	u, err := c.dialURL()
	if err != nil {
		return false, &FatalError{Detail: err.Error()}
	}
	h := http.Header{}
	if c.cfg.Token != "" {
		h.Set("Authorization", "Bearer "+c.cfg.Token)
	}
	dialCtx, cancelDial := context.WithTimeout(ctx, dialTimeout)
	conn, resp, err := websocket.Dial(dialCtx, u, &websocket.DialOptions{HTTPHeader: h})
	cancelDial()
	if err != nil {
		return false, refusal(resp, err)
	}
	conn.SetReadLimit(64 << 20)

	// Ctrl-C closes with a close frame; the read loop below sees the
	// server's answer and returns.
	closed := make(chan struct{})
	stopClose := context.AfterFunc(ctx, func() {
		defer close(closed)
		_ = conn.Close(websocket.StatusNormalClosure, "listener stopped")
	})
	connCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var work sync.WaitGroup
	defer func() {
		cancel()
		work.Wait()
		if stopClose() {
			conn.CloseNow()
		} else {
			<-closed
		}
	}()
	work.Go(func() { c.ping(connCtx, conn) })

	// The read loop never waits for the local app: it is what reads the
	// server's pings and the answers to the client's own, so a loop stuck
	// behind busy forwards would let the ping check close a healthy
	// connection. Requests go to a bounded queue that maxForwards workers
	// drain; one that finds the queue full is answered at once as busy and
	// retried by the server on its schedule.
	queue := make(chan *Frame, maxQueued)
	busy := make(chan *Frame, maxQueued)
	drain := func(ch <-chan *Frame, handle func(*Frame)) func() {
		return func() {
			for {
				select {
				case <-connCtx.Done():
					return
				case f := <-ch:
					handle(f)
				}
			}
		}
	}
	for range maxForwards {
		work.Go(drain(queue, func(f *Frame) { c.forward(connCtx, conn, f) }))
	}
	work.Go(drain(busy, func(f *Frame) {
		c.reply(connCtx, conn, f, &Frame{Type: FrameResponse, ID: f.ID, Error: errBusy}, c.cfg.Now())
	}))
	for {
		_, b, err := conn.Read(connCtx)
		if err != nil {
			switch code := websocket.CloseStatus(err); code {
			case CloseReplaced, CloseUnauthorized, CloseEndpointGone:
				// Reconnecting would not help: the token is dead, or it
				// would undo an operator's disable, or take the name back
				// from the listener that replaced this one, the two then
				// alternating forever.
				return ready, &FatalError{Code: code, Detail: closeReason(err)}
			}
			return ready, fmt.Errorf("read: %w", err)
		}
		f, err := DecodeFrame(b)
		if err != nil {
			return ready, err
		}
		switch f.Type {
		case FrameReady:
			ready = true
			if c.cfg.OnReady != nil {
				c.cfg.OnReady(Ready{EndpointID: f.EndpointID, EndpointUID: f.EndpointUID, URL: f.URL, Secret: f.Secret})
			}
		case FrameRequest:
			select {
			case queue <- f:
			default:
				select {
				case busy <- f:
				default:
					// Even the busy answers are behind: the request goes
					// unanswered and the server's attempt times out.
					c.log.Warn("listen: local app overloaded; request dropped", slog.String("msg_id", f.MsgID))
				}
			}
		}
	}
}

// maxForwards is how many requests are forwarded to the local app at once;
// maxQueued is how many more may wait for one of them.
const (
	maxForwards = 16
	maxQueued   = 64
)

// errBusy is the answer to a request that found the queue full.
var errBusy = fmt.Sprintf("listener busy: %d requests in flight to the local app and %d waiting", maxForwards, maxQueued)

// forward posts one request to the local app and answers the server.
// ctx ends with the connection: an answer could no longer be sent.
func (c *Client) forward(ctx context.Context, conn *websocket.Conn, f *Frame) {
	start := c.cfg.Now()
	out := &Frame{Type: FrameResponse, ID: f.ID}
	method := f.Method
	if method == "" {
		method = http.MethodPost
	}
	reqCtx := ctx
	if f.TimeoutMS > 0 {
		// The server records nothing after its attempt timeout: an answer
		// the local app gave later would print here as a success that the
		// attempt log shows as a timeout, and be sent again.
		limit := time.Duration(f.TimeoutMS) * time.Millisecond
		var cancel context.CancelFunc
		reqCtx, cancel = context.WithTimeoutCause(ctx, limit,
			fmt.Errorf("the local app did not answer within the attempt timeout (%v)", limit))
		defer cancel()
	}
	req, err := http.NewRequestWithContext(reqCtx, method, c.cfg.ForwardTo, bytes.NewReader(f.Body))
	if err == nil {
		for k, v := range f.Header {
			req.Header[k] = v
		}
		var resp *http.Response
		resp, err = c.cfg.HTTPClient.Do(req)
		if err == nil {
			body, rerr := io.ReadAll(io.LimitReader(resp.Body, c.cfg.MaxBodyBytes))
			_ = resp.Body.Close()
			out.Status, out.Header, out.Body = resp.StatusCode, resp.Header, body
			if rerr != nil {
				c.log.Debug("read local response", slog.Any("error", rerr))
			}
		}
	}
	if reqCtx.Err() != nil && ctx.Err() == nil {
		// Timed out, if only while reading the body: the attempt failed.
		out = &Frame{Type: FrameResponse, ID: f.ID, Error: context.Cause(reqCtx).Error()}
	} else if err != nil {
		out.Error = localError(err)
	}
	c.reply(ctx, conn, f, out, start)
}

// reply sends out, the answer to request f, to the server and reports it.
func (c *Client) reply(ctx context.Context, conn *websocket.Conn, f, out *Frame, start time.Time) {
	latency := c.cfg.Now().Sub(start)
	if b, err := EncodeFrame(out); err == nil {
		if err := conn.Write(ctx, websocket.MessageText, b); err != nil {
			c.log.Debug("answer the server", slog.Any("error", err))
		}
	}
	if c.cfg.OnDelivery != nil {
		c.cfg.OnDelivery(Delivery{Time: start, MsgID: f.MsgID, EventType: f.EventType, Attempt: f.Attempt,
			Status: out.Status, Error: out.Error, Latency: latency})
	}
}

// ping checks the connection until ctx ends; a failed ping closes it, so
// the read loop returns and Run reconnects.
func (c *Client) ping(ctx context.Context, conn *websocket.Conn) {
	t := time.NewTicker(c.cfg.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, c.cfg.PingInterval)
		err := conn.Ping(pctx)
		cancel()
		if err != nil && ctx.Err() == nil {
			conn.CloseNow()
			return
		}
	}
}

// localError says why the local app gave no response, without the
// request's method and URL that net/http wraps around it.
func localError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return err.Error()
}

// closeReason is the reason of the close frame in err.
func closeReason(err error) string {
	var ce websocket.CloseError
	if errors.As(err, &ce) && ce.Reason != "" {
		return ce.Reason
	}
	return err.Error()
}

// refusal turns a failed handshake into a FatalError when the server
// answered with a status that a retry would not change.
func refusal(resp *http.Response, err error) error {
	if resp == nil {
		return fmt.Errorf("dial: %w", err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound,
		http.StatusConflict, http.StatusUnprocessableEntity:
	default:
		return fmt.Errorf("dial: %w", err)
	}
	detail := errorDetail(resp)
	if resp.StatusCode == http.StatusConflict && resp.Header.Get("Retry-After") != "" {
		// The registration raced another change to the endpoint, which a
		// retry wins; a UID held by another endpoint comes without it.
		return fmt.Errorf("dial: server answered %d, retry: %s", resp.StatusCode, detail)
	}
	return &FatalError{Status: resp.StatusCode, Detail: detail}
}

// errorDetail is the detail of an API error body: {"detail": "..."}, or
// the messages of a validation error's {"detail": [{"msg": "..."}]}.
func errorDetail(resp *http.Response) string {
	var body struct {
		Detail json.RawMessage `json:"detail"`
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil || json.Unmarshal(b, &body) != nil || len(body.Detail) == 0 {
		return http.StatusText(resp.StatusCode)
	}
	var s string
	if json.Unmarshal(body.Detail, &s) == nil {
		return s
	}
	var items []struct {
		Msg string `json:"msg"`
	}
	if json.Unmarshal(body.Detail, &items) == nil && len(items) > 0 {
		msgs := make([]string, len(items))
		for i, it := range items {
			msgs[i] = it.Msg
		}
		return strings.Join(msgs, "; ")
	}
	return string(body.Detail)
}
