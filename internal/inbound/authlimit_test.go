package inbound

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/internal/authlimit"
	"github.com/heraldhq/herald/internal/fakeclock"
	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// lockedBuffer is a log destination the handler and the test share.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// ingestServer is a real HTTP server in front of a handler over the given
// sources (by ID), counting what it publishes.
type ingestServer struct {
	url       string
	reg       *prometheus.Registry
	clock     *fakeclock.Clock
	logs      *lockedBuffer
	mu        sync.Mutex
	published int
}

func newIngestServer(t *testing.T, sources ...*store.Source) *ingestServer {
	t.Helper()
	return newWrappedIngestServer(t, nil, sources...)
}

// newWrappedIngestServer is newIngestServer with the handler wrapped by
// wrap, when it is not nil.
func newWrappedIngestServer(t *testing.T, wrap func(http.Handler) http.Handler, sources ...*store.Source) *ingestServer {
	t.Helper()
	s := &ingestServer{reg: prometheus.NewRegistry(), clock: fakeclock.New(t0), logs: &lockedBuffer{}}
	byID := map[string]*store.Source{}
	for _, src := range sources {
		byID[src.ID] = src
	}
	h, err := NewHandler(HandlerConfig{
		Sources: fakeSources{get: func(id string) (*store.Source, error) {
			if src, ok := byID[id]; ok {
				return src, nil
			}
			return nil, fmt.Errorf("get source: %w", herald.ErrNotFound)
		}},
		Publisher: fakePublisher{publish: func(ev *store.InboundEvent, _ *herald.Message) (bool, error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.published++
			ev.Status = store.InboundAccepted
			return false, nil
		}},
		Logger:         slog.New(slog.NewTextHandler(s.logs, nil)),
		Registry:       s.reg,
		Now:            s.clock.Now,
		SourceCacheTTL: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	var handler http.Handler = h
	if wrap != nil {
		handler = wrap(h)
	}
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	s.url = srv.URL
	return s
}

func (s *ingestServer) publishedCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.published
}

// sender posts to the ingest server from one loopback address (any of
// 127.0.0.0/8 reaches it), so one test can be several clients.
type sender struct {
	http *http.Client
}

func newSender(t *testing.T, ip string) *sender {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	return &sender{http: &http.Client{Transport: tr}}
}

// post sends body to url with header (name, value pairs) and returns the
// status and Retry-After.
func (c *sender) post(t *testing.T, url, body string, header ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Get("Retry-After")
}

func sharedSecretSource(id, typ, secret string) *store.Source {
	v, _ := json.Marshal(map[string]any{"type": typ, "secrets": []string{secret}})
	return &store.Source{ID: id, UID: id, AppID: "app_1", Name: id, Verifier: v, DedupeWindow: DefaultDedupeWindow, MaxBodyBytes: 1 << 10}
}

// TestSharedSecretGuessesAreLimited: a client that keeps sending a wrong
// key to an api-key source is answered 429 with Retry-After before its
// key is checked, while other clients, and the same client on other
// sources, keep their own budgets; the budget refills with time, and
// accepted requests do not spend it.
func TestSharedSecretGuessesAreLimited(t *testing.T) {
	t.Parallel()
	const key = "letmein"
	srv := newIngestServer(t, sharedSecretSource("src_key", TypeAPIKey, key), sharedSecretSource("src_next", TypeAPIKey, "other-key"))
	source, next := srv.url+"/in/src_key", srv.url+"/in/src_next"
	attacker, neighbour, other := newSender(t, "127.0.0.2"), newSender(t, "127.0.0.2"), newSender(t, "127.0.0.3")

	// Requests without a key, or with a malformed one, guess nothing and
	// spend nothing.
	for i := range 50 {
		if status, _ := attacker.post(t, source, `{"n":0}`); status != http.StatusUnauthorized {
			t.Fatalf("request %d without a key: got %d, want 401", i+1, status)
		}
		if status, _ := attacker.post(t, source, `{"n":0}`, "Authorization", "Token x"); status != http.StatusUnauthorized {
			t.Fatalf("request %d with a malformed key: got %d, want 401", i+1, status)
		}
	}
	failures, wait := 0, 0
	for ; failures < 100; failures++ {
		status, retry := attacker.post(t, source, `{"n":1}`, "X-API-Key", "guess-"+strconv.Itoa(failures))
		if status == http.StatusUnauthorized {
			continue
		}
		if status != http.StatusTooManyRequests {
			t.Fatalf("guess %d: got %d, want 401 or 429", failures+1, status)
		}
		var err error
		if wait, err = strconv.Atoi(retry); err != nil || wait < 1 {
			t.Fatalf("429 after %d guesses: Retry-After %q, want whole seconds", failures, retry)
		}
		break
	}
	if failures < 3 || failures > 20 {
		t.Fatalf("wrong keys answered 401 before the limit: got %d, want a small burst (3 to 20)", failures)
	}
	if status, _ := neighbour.post(t, source, `{"n":2}`, "X-API-Key", key); status != http.StatusTooManyRequests {
		t.Errorf("right key from the limited client: got %d, want 429 (the key is not checked)", status)
	}
	if n := srv.publishedCount(); n != 0 {
		t.Errorf("published while limited: got %d, want none", n)
	}
	// Other clients, and the same client on another source, are not affected.
	if status, _ := other.post(t, source, `{"n":3}`, "X-API-Key", "typo"); status != http.StatusUnauthorized {
		t.Errorf("wrong key from another client: got %d, want 401", status)
	}
	if status, _ := other.post(t, source, `{"n":4}`, "X-API-Key", key); status != http.StatusOK {
		t.Errorf("right key from another client: got %d, want 200", status)
	}
	if status, _ := attacker.post(t, next, `{"n":5}`, "X-API-Key", "other-key"); status != http.StatusOK {
		t.Errorf("the limited client on another source: got %d, want 200", status)
	}

	// Once Retry-After has passed, one more attempt.
	srv.clock.Advance(time.Duration(wait) * time.Second)
	if status, _ := attacker.post(t, source, `{"n":6}`, "X-API-Key", "guess"); status != http.StatusUnauthorized {
		t.Errorf("guess after Retry-After: got %d, want 401", status)
	}
	if status, _ := attacker.post(t, source, `{"n":7}`, "X-API-Key", "guess"); status != http.StatusTooManyRequests {
		t.Errorf("second guess after Retry-After: got %d, want 429", status)
	}
	// The neighbour with the right key gets in as soon as there is budget,
	// and what it sends does not spend it.
	srv.clock.Advance(time.Duration(wait) * time.Second)
	for i := range 3 * failures {
		if status, _ := neighbour.post(t, source, `{"n":`+strconv.Itoa(100+i)+`}`, "X-API-Key", key); status != http.StatusOK {
			t.Fatalf("right key %d from the neighbour once the budget refilled: got %d, want 200", i+1, status)
		}
	}

	metrics, err := srv.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	limited := 0.0
	for _, f := range metrics {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if f.GetName() == "herald_inbound_refused_total" && l.GetName() == "reason" && l.GetValue() == reasonTooManyFailures {
					limited += m.GetCounter().GetValue()
				}
			}
		}
	}
	if limited < 3 {
		t.Errorf("herald_inbound_refused_total{reason=%q}: got %v, want the refusals counted", reasonTooManyFailures, limited)
	}
	if logs := srv.logs.String(); strings.Contains(logs, "guess") || strings.Contains(logs, key) {
		t.Errorf("logs contain a key: %q", logs)
	}
}

// limitedTypes are the presets whose failures spend a client's budget:
// those whose requests carry the secret itself, which a person may have
// chosen. The others sign with a secret and are never limited.
var limitedTypes = map[string]bool{TypeAPIKey: true, TypeBasicAuth: true, TypeGitLab: true}

// TestEveryPresetLimitsGuesses: for every preset whose requests carry the
// secret itself, a client that keeps sending wrong ones is answered 429,
// then even with the right one, while another client gets in.
func TestEveryPresetLimitsGuesses(t *testing.T) {
	t.Parallel()
	for _, r := range presetRequests(t) {
		if !limitedTypes[r.cfg.Type] {
			continue
		}
		t.Run(r.name, func(t *testing.T) {
			t.Parallel()
			srv := newIngestServer(t, r.source("src_1"))
			url := srv.url + "/in/src_1"
			guesser, other := newSender(t, "127.0.0.5"), newSender(t, "127.0.0.6")
			if status, _ := other.post(t, url, r.body, r.header(url, r.secret, r.body)...); status != http.StatusOK {
				t.Fatalf("right secret: got %d, want 200", status)
			}
			limited := false
			for i := 0; i < 100 && !limited; i++ {
				status, _ := guesser.post(t, url, r.body, r.header(url, r.wrong+strconv.Itoa(i), r.body)...)
				if status != http.StatusUnauthorized && status != http.StatusTooManyRequests {
					t.Fatalf("wrong secret %d: got %d, want 401 or 429", i+1, status)
				}
				limited = status == http.StatusTooManyRequests
			}
			if !limited {
				t.Fatalf("100 wrong secrets from one client: got no 429")
			}
			if status, _ := guesser.post(t, url, r.body, r.header(url, r.secret, r.body)...); status != http.StatusTooManyRequests {
				t.Errorf("right secret from the limited client: got %d, want 429 (the secret is not checked)", status)
			}
			if status, _ := other.post(t, url, r.body, r.header(url, r.secret, r.body)...); status != http.StatusOK {
				t.Errorf("right secret from another client: got %d, want 200", status)
			}
		})
	}
}

// TestSignedPresetsAreNeverLimited: providers send every customer's
// webhooks from a few shared addresses, so requests signed with another
// secret (a stale webhook, or anyone's own account pointed at this
// source's URL) come from the same address as the genuine ones. However
// many there are, a correctly signed request from that address is
// accepted.
func TestSignedPresetsAreNeverLimited(t *testing.T) {
	t.Parallel()
	for _, r := range presetRequests(t) {
		if limitedTypes[r.cfg.Type] {
			continue
		}
		t.Run(r.name, func(t *testing.T) {
			t.Parallel()
			srv := newIngestServer(t, r.source("src_1"))
			url := srv.url + "/in/src_1"
			provider := newSender(t, "127.0.0.9")
			for i := range 5 * authlimit.DefaultBurst {
				if status, retry := provider.post(t, url, r.body, r.header(url, r.wrong, r.body)...); status != http.StatusUnauthorized {
					t.Fatalf("request %d signed with another secret: got %d (Retry-After %q), want 401", i+1, status, retry)
				}
			}
			if status, retry := provider.post(t, url, r.body, r.header(url, r.secret, r.body)...); status != http.StatusOK {
				t.Errorf("correctly signed request from the same address: got %d (Retry-After %q), want 200", status, retry)
			}
		})
	}
}

// settleSignal wraps a handler so that it sends on settled once per
// request, when the handler first reads the body or returns, whichever
// comes first: then the request has been checked as far as it can be
// without its body.
func settleSignal(settled chan<- struct{}) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var once sync.Once
			settle := func() { once.Do(func() { settled <- struct{}{} }) }
			defer settle()
			r.Body = &readSignal{ReadCloser: r.Body, read: settle}
			next.ServeHTTP(w, r)
		})
	}
}

// readSignal calls read before each Read.
type readSignal struct {
	io.ReadCloser
	read func()
}

func (b *readSignal) Read(p []byte) (int, error) {
	b.read()
	return b.ReadCloser.Read(p)
}

// TestHeldBodiesBuildNoDebt: a client that opens many requests with wrong
// keys at once and holds back their bodies gets no more answers than its
// budget allows, and builds no debt: once the budget has refilled, a
// correct client on the same address gets in.
func TestHeldBodiesBuildNoDebt(t *testing.T) {
	t.Parallel()
	const n, body = 100, `{"n":1}`
	settled := make(chan struct{}, n)
	srv := newWrappedIngestServer(t, settleSignal(settled), sharedSecretSource("src_k", TypeAPIKey, "letmein"))
	conns := make([]net.Conn, n)
	for i := range conns {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.7")}}
		c, err := d.Dial("tcp", strings.TrimPrefix(srv.url, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		fmt.Fprintf(c, "POST /in/src_k HTTP/1.1\r\nHost: herald.test\r\nX-API-Key: guess-%d\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", i, len(body), body[:3])
		conns[i] = c
	}
	for range n {
		<-settled
	}
	answered := 0
	for i, c := range conns {
		if _, err := io.WriteString(c, body[3:]); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("request %d: %v", i+1, err)
		}
		_ = resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusUnauthorized:
			answered++
		case http.StatusTooManyRequests:
		default:
			t.Fatalf("request %d with a wrong key: got %d, want 401 or 429", i+1, resp.StatusCode)
		}
	}
	if answered > 2*authlimit.DefaultBurst {
		t.Errorf("wrong keys answered 401 of %d sent at once: got %d, want at most about the budget (%d)", n, answered, authlimit.DefaultBurst)
	}
	srv.clock.Advance(2 * authlimit.DefaultBurst * authlimit.DefaultEvery)
	if status, retry := newSender(t, "127.0.0.7").post(t, srv.url+"/in/src_k", `{"n":2}`, "X-API-Key", "letmein"); status != http.StatusOK {
		t.Errorf("right key from the same address once the budget refilled: got %d (Retry-After %s), want 200", status, retry)
	}
}

// TestRepeatedWrongSecretDoesNotLockOut: a sender repeating one wrong
// secret (a webhook left with an old token, sharing the provider's
// sending addresses with the genuine one) is refused each time but spends
// the budget once, so the genuine requests from the same address go
// through; distinct guesses from it are still limited.
func TestRepeatedWrongSecretDoesNotLockOut(t *testing.T) {
	t.Parallel()
	for _, r := range presetRequests(t) {
		if !limitedTypes[r.cfg.Type] {
			continue
		}
		t.Run(r.name, func(t *testing.T) {
			t.Parallel()
			srv := newIngestServer(t, r.source("src_1"))
			url := srv.url + "/in/src_1"
			pool := newSender(t, "127.0.0.7")
			for i := range 50 {
				if status, _ := pool.post(t, url, r.body, r.header(url, r.wrong+"stale", r.body)...); status != http.StatusUnauthorized {
					t.Fatalf("stale secret, request %d: got %d, want 401", i+1, status)
				}
			}
			if status, _ := pool.post(t, url, r.body, r.header(url, r.secret, r.body)...); status != http.StatusOK {
				t.Errorf("right secret after a stale one repeated 50 times from the same address: got %d, want 200", status)
			}
			limited := false
			for i := 0; i < 100 && !limited; i++ {
				status, _ := pool.post(t, url, r.body, r.header(url, r.wrong+strconv.Itoa(i), r.body)...)
				limited = status == http.StatusTooManyRequests
			}
			if !limited {
				t.Errorf("100 distinct wrong secrets after it: got no 429")
			}
		})
	}
}
