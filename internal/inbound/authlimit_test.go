package inbound

import (
	"context"
	"encoding/base64"
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

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// stepClock is a clock a test moves by hand.
type stepClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *stepClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *stepClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

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
	clock     *stepClock
	logs      *lockedBuffer
	mu        sync.Mutex
	published int
}

func newIngestServer(t *testing.T, sources ...*store.Source) *ingestServer {
	t.Helper()
	s := &ingestServer{reg: prometheus.NewRegistry(), clock: &stepClock{t: t0}, logs: &lockedBuffer{}}
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
		Now:            s.clock.now,
		SourceCacheTTL: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
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
	srv.clock.add(time.Duration(wait) * time.Second)
	if status, _ := attacker.post(t, source, `{"n":6}`, "X-API-Key", "guess"); status != http.StatusUnauthorized {
		t.Errorf("guess after Retry-After: got %d, want 401", status)
	}
	if status, _ := attacker.post(t, source, `{"n":7}`, "X-API-Key", "guess"); status != http.StatusTooManyRequests {
		t.Errorf("second guess after Retry-After: got %d, want 429", status)
	}
	// The neighbour with the right key gets in as soon as there is budget,
	// and what it sends does not spend it.
	srv.clock.add(time.Duration(wait) * time.Second)
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

// TestEveryPresetLimitsGuesses: the limit holds for every preset, the
// shared-secret ones (basic-auth, gitlab) and the signed ones alike.
func TestEveryPresetLimitsGuesses(t *testing.T) {
	t.Parallel()
	basic := base64.StdEncoding.EncodeToString([]byte("user:wrong"))
	for _, tc := range []struct {
		typ, secret string
		header      []string
	}{
		{TypeBasicAuth, "user:pass", []string{"Authorization", "Basic " + basic}},
		{TypeGitLab, "gitlab-token", []string{"X-Gitlab-Token", "wrong"}},
		{TypeGitHub, "github-secret", []string{"X-Hub-Signature-256", "sha256=" + strings.Repeat("0", 64), "X-GitHub-Event", "push"}},
	} {
		srv := newIngestServer(t, sharedSecretSource("src_1", tc.typ, tc.secret))
		c := newSender(t, "127.0.0.5")
		limited := false
		for i := 0; i < 100 && !limited; i++ {
			status, _ := c.post(t, srv.url+"/in/src_1", `{"object_kind":"push"}`, tc.header...)
			if status != http.StatusUnauthorized && status != http.StatusTooManyRequests {
				t.Fatalf("%s: wrong credentials: got %d, want 401 or 429", tc.typ, status)
			}
			limited = status == http.StatusTooManyRequests
		}
		if !limited {
			t.Errorf("%s: 100 wrong credentials from one client: got no 429", tc.typ)
		}
	}
}
