package delivery

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/webhook"
)

// sender posts one attempt. It holds the one HTTP client every attempt
// shares, so connections to an endpoint are kept alive and reused.
type sender struct {
	client    *http.Client
	timeout   time.Duration
	maxBody   int64
	userAgent []string
	hdrID     string
	hdrTS     string
	hdrSig    string
}

// request is what the sender needs for one attempt.
type request struct {
	url     string
	msgID   string
	payload []byte
	headers map[string]string // the endpoint's custom headers
	forward *herald.Message   // set for a message with forwarding headers or content type
	signer  *webhook.Signer   // nil: unsigned (the endpoint has no usable key)
	now     time.Time
	listen  ListenInfo // for listen URLs only
}

// response is what one attempt learned.
type response struct {
	statusCode  int
	retryAfter  time.Duration
	body        string
	headers     map[string]string
	reqHeaders  map[string]string
	errClass    herald.ErrorClass
	err         error
	duration    time.Duration
	interrupted bool // cut off by Stop, not by the endpoint
}

func newSender(cfg Config) *sender {
	guard := addrGuard{allow: cfg.AllowNetworks}
	dialer := &net.Dialer{
		Timeout:   cfg.Timeout,
		KeepAlive: 30 * time.Second,
		Control:   guard.control,
		Resolver:  cfg.Resolver,
	}
	transport := &http.Transport{
		Proxy:             nil, // a proxy would hide the real destination from the guard
		DialContext:       dialer.DialContext,
		ForceAttemptHTTP2: true,
		// Many endpoints can share a host (one receiving service, many
		// tenants), so idle connections are bounded per engine, not per
		// endpoint: closing them would mean a new handshake per request.
		MaxIdleConns:        2 * cfg.Workers,
		MaxIdleConnsPerHost: cfg.Workers,
		// Sends to a busy host queue for its connections rather than open
		// one each: a connection handed straight to the next waiting send
		// stays busy, and fanning out to one host carried about a fifth
		// more with 64 connections than with one per worker.
		MaxConnsPerHost:       cfg.HostConnections,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   cfg.Timeout,
		ResponseHeaderTimeout: cfg.Timeout,
		ExpectContinueTimeout: time.Second,
		// An attempt keeps its response's headers, so an endpoint must
		// not make Herald hold and store megabytes of them (Go's default
		// allows 10 MiB): past this, the attempt fails as a connection
		// error.
		MaxResponseHeaderBytes: maxResponseHeaderBytes,
	}
	registerListen(transport, cfg.Listen)
	s := &sender{
		client: &http.Client{
			Transport: transport,
			// Redirects are never followed: a 3xx is the attempt's answer.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		timeout:   cfg.Timeout,
		maxBody:   int64(cfg.MaxResponseBody),
		userAgent: []string{cfg.UserAgent},
		hdrID:     http.CanonicalHeaderKey(webhook.HeaderID),
		hdrTS:     http.CanonicalHeaderKey(webhook.HeaderTimestamp),
		hdrSig:    http.CanonicalHeaderKey(webhook.HeaderSignature),
	}
	if cfg.SvixHeaders {
		s.hdrID = http.CanonicalHeaderKey(webhook.HeaderSvixID)
		s.hdrTS = http.CanonicalHeaderKey(webhook.HeaderSvixTimestamp)
		s.hdrSig = http.CanonicalHeaderKey(webhook.HeaderSvixSignature)
	}
	return s
}

// close drops idle connections.
func (s *sender) close() { s.client.CloseIdleConnections() }

var contentTypeJSON = []string{"application/json"}

// maxResponseHeaderBytes bounds a response's headers, like
// DefaultMaxResponseBody bounds the body an attempt keeps.
const maxResponseHeaderBytes = 64 << 10

// send posts r and reports what came back. ctx ends the request early
// (Stop); the per-request timeout is the sender's own.
func (s *sender) send(ctx context.Context, r *request) response {
	start := time.Now()
	var out response
	limit := s.timeout
	if IsListenURL(r.url) {
		ctx = withListenInfo(ctx, r.listen)
	} else {
		// A send may first wait for one of the host's connections
		// (HostConnections): Herald's own queueing, which must not fail an
		// attempt the endpoint would have answered. So the whole send gets
		// connWaitLimit more timeouts, and the endpoint's own time is
		// bounded by the transport's ResponseHeaderTimeout and then by the
		// timeout for the body.
		limit *= connWaitLimit + 1
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	deadline := time.AfterFunc(limit, func() { cancel(context.DeadlineExceeded) })
	defer deadline.Stop()
	timer := connTimer{start: start}
	req, err := http.NewRequestWithContext(timer.watch(ctx), http.MethodPost, r.url, bytes.NewReader(r.payload))
	if err != nil {
		out.err, out.errClass = err, herald.ErrClassConnection
		return out
	}
	h := req.Header
	for k, v := range r.headers {
		ck := http.CanonicalHeaderKey(k)
		if !protectedHeader(ck) {
			h[ck] = []string{v}
		}
	}
	h["Content-Type"] = contentTypeJSON
	if r.forward != nil {
		setForwarded(h, r.forward)
	}
	h["User-Agent"] = s.userAgent
	ts := strconv.FormatInt(r.now.Unix(), 10)
	h[s.hdrID] = []string{r.msgID}
	h[s.hdrTS] = []string{ts}
	if r.signer != nil {
		h[s.hdrSig] = []string{r.signer.Sign(r.msgID, r.now, r.payload)}
	}
	out.reqHeaders = recordedRequestHeaders(h)

	resp, err := s.client.Do(req)
	if err != nil {
		out.duration = timer.elapsed()
		out.err = err
		out.errClass = classify(err)
		if errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
			out.errClass = herald.ErrClassTimeout
		}
		out.interrupted = errors.Is(context.Cause(ctx), ErrStopped)
		return out
	}
	deadline.Reset(s.timeout)
	body, _ := io.ReadAll(io.LimitReader(resp.Body, s.maxBody))
	// Read a little more so the connection can be reused, then give up.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	out.duration = timer.elapsed()
	out.statusCode = resp.StatusCode
	out.body = string(body)
	out.headers = make(map[string]string, len(resp.Header))
	for k, v := range resp.Header {
		if len(v) > 0 {
			out.headers[k] = v[0]
		}
	}
	out.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), r.now)
	return out
}

// connTimer notes when a send gets its connection. An attempt's duration
// is counted from there, so it is the endpoint's time and not also the
// send's wait for one of the host's connections. (A body the transport
// does not know to be in memory would do as a probe too, but then it
// writes the headers and the body with two syscalls.)
type connTimer struct {
	start time.Time
	// got is time.Since(start) when the connection came, plus one so that
	// zero means none yet.
	got atomic.Int64
}

// watch returns ctx carrying a trace that notes the connection in t.
func (t *connTimer) watch(ctx context.Context) context.Context {
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(httptrace.GotConnInfo) { t.got.CompareAndSwap(0, int64(time.Since(t.start))+1) },
	})
}

// elapsed is the send's duration from when it got its connection, or from
// its start if it got none (a listen session's, or a failed dial).
func (t *connTimer) elapsed() time.Duration {
	d := time.Since(t.start)
	if got := t.got.Load(); got > 0 {
		d -= time.Duration(got - 1)
	}
	return d
}

// connWaitLimit bounds a send's wait for a connection, in timeouts.
const connWaitLimit = 2

// protectedHeader reports whether an endpoint's custom header would
// override one Herald sets or one that belongs to the connection. ck is
// canonical.
func protectedHeader(ck string) bool {
	switch ck {
	case "Content-Type", "Content-Length", "Host", "Transfer-Encoding",
		"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authorization",
		"Proxy-Authenticate", "Te", "Trailer", "Upgrade",
		"Webhook-Id", "Webhook-Timestamp", "Webhook-Signature",
		"Svix-Id", "Svix-Timestamp", "Svix-Signature":
		return true
	}
	return false
}

// recordedRequestHeaders is what an attempt keeps of the request headers,
// with lowercase names: Herald's own in full, custom ones by name only,
// since they often carry credentials.
func recordedRequestHeaders(h http.Header) map[string]string {
	out := make(map[string]string, len(h))
	for k, v := range h {
		name := strings.ToLower(k)
		switch {
		case protectedHeader(k) || k == "User-Agent":
			out[name] = v[0]
		default:
			out[name] = "[redacted]"
		}
	}
	return out
}

// classify names why a request got no response.
func classify(err error) herald.ErrorClass {
	var (
		forbidden *forbiddenAddrError
		dnsErr    *net.DNSError
		certErr   *tls.CertificateVerificationError
		recErr    tls.RecordHeaderError
		alertErr  tls.AlertError
		unknownCA x509.UnknownAuthorityError
		hostErr   x509.HostnameError
		invalid   x509.CertificateInvalidError
		netErr    net.Error
	)
	switch {
	case errors.Is(err, ErrListenerOffline):
		return ErrClassListenerOffline
	case errors.As(err, &forbidden):
		return herald.ErrClassForbidden
	case errors.As(err, &dnsErr):
		if dnsErr.IsTimeout {
			return herald.ErrClassTimeout
		}
		return herald.ErrClassDNS
	case errors.As(err, &certErr), errors.As(err, &recErr), errors.As(err, &alertErr),
		errors.As(err, &unknownCA), errors.As(err, &hostErr), errors.As(err, &invalid),
		strings.Contains(err.Error(), "tls: "):
		return herald.ErrClassTLS
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &netErr) && netErr.Timeout():
		return herald.ErrClassTimeout
	}
	return herald.ErrClassConnection
}

// parseRetryAfter reads a Retry-After header: delay seconds or an HTTP
// date. It returns 0 when absent, invalid or in the past.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(min(secs, int64(365*24*time.Hour/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
