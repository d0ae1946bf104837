package bench

import (
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Sink is a webhook receiver that counts requests and records when each
// webhook-id first arrived.
type Sink struct {
	URL string

	// Status decides the answer for a request to path; 200 when nil.
	Status func(path string) int

	count    atomic.Int64
	mu       sync.Mutex
	arrivals map[string]time.Time
	srv      *http.Server
	ln       net.Listener
}

// NewSink starts a sink on a free loopback port.
func NewSink() (*Sink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Sink{URL: "http://" + ln.Addr().String(), arrivals: make(map[string]time.Time, 1<<16), ln: ln}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go s.srv.Serve(ln)
	return s, nil
}

func (s *Sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	now := time.Now()
	code := http.StatusOK
	if s.Status != nil {
		code = s.Status(r.URL.Path)
	}
	if code/100 == 2 {
		id := r.Header.Get("webhook-id")
		s.mu.Lock()
		if _, ok := s.arrivals[id]; !ok {
			s.arrivals[id] = now
		}
		s.mu.Unlock()
		s.count.Add(1)
	}
	w.WriteHeader(code)
}

// Delivered returns the number of successful requests so far.
func (s *Sink) Delivered() int64 { return s.count.Load() }

// Arrival returns when id first arrived.
func (s *Sink) Arrival(id string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.arrivals[id]
	return t, ok
}

// Reset forgets what arrived.
func (s *Sink) Reset() {
	s.mu.Lock()
	s.arrivals = make(map[string]time.Time, 1<<16)
	s.mu.Unlock()
	s.count.Store(0)
}

// Close stops the sink.
func (s *Sink) Close() error { return s.srv.Close() }
