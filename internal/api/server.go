package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/internal/authlimit"
	"github.com/heraldhq/herald/internal/clientip"
	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// Publisher is the delivery engine as the API sees it.
type Publisher interface {
	// Publish fans msg out to its application's endpoints and returns once
	// the message and its deliveries are durably committed.
	Publish(ctx context.Context, msg *herald.Message) error
	// PublishTo is Publish restricted to one endpoint (send-example).
	PublishTo(ctx context.Context, msg *herald.Message, endpointID string) error
	// Wake makes the engine claim due deliveries now (after resend, recover).
	Wake()
	// InvalidateEndpoints drops cached endpoints of the application after
	// any change to them.
	InvalidateEndpoints(appID string)
	// InvalidateApplication drops the application's cached settings (its
	// ThrottleRate) after it changed.
	InvalidateApplication(appID string)
}

// Config configures a Server. Zero values are documented defaults.
type Config struct {
	// Store is where everything is kept. Required.
	Store store.Store
	// Publisher is the delivery engine. Required.
	Publisher Publisher
	// Events, when set, hears of endpoint changes.
	Events herald.EndpointEvents
	// AdminToken may do everything. Empty disables admin access by token.
	AdminToken string
	// PortalURL is the base of the URLs returned by app-portal-access, e.g.
	// "http://host/ui/portal". Empty means "/ui/portal".
	PortalURL string
	// PortalTokenTTL is how long an app-portal token lives; 0 means 7 days.
	PortalTokenTTL time.Duration
	// MaxBodyBytes bounds request bodies; 0 means 1 MiB.
	MaxBodyBytes int64
	// Logger receives errors the client does not see; nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Registry, when set, receives herald_http_requests_total and
	// herald_http_request_duration_seconds.
	Registry prometheus.Registerer
	// Listener, when set, serves herald listen sessions at
	// GET /api/v1/app/{app_id}/listen.
	Listener Listener
	// RateLimit is how many requests per second one token may make; over
	// it the API answers 429 with Retry-After. 0 means no limit.
	RateLimit float64
	// RateBurst is how many requests a token may make at once; 0 means
	// twice RateLimit.
	RateBurst int
	// AppCacheTTL is how long a looked-up application is reused by the
	// publish path; 0 means 2 seconds, negative disables the cache.
	AppCacheTTL time.Duration
	// AuthFailures limits failed authentications per client (see
	// authenticateLimited). Share the dashboard's, which takes the same
	// admin token. Nil: a limiter of its own with authlimit's defaults.
	AuthFailures *authlimit.Limiter
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names
	// the client, for the limit on failed authentications. Empty: none;
	// every client is the address it connects from.
	TrustedProxies []netip.Prefix
}

// Server is the HTTP API.
type Server struct {
	store      store.Store
	pub        Publisher
	events     herald.EndpointEvents
	adminToken string
	portalURL  string
	portalTTL  time.Duration
	maxBody    int64
	log        *slog.Logger
	now        func() time.Time
	metrics    *metrics
	apps       *appCache
	listener   Listener
	limits     *tokenLimits // nil: no per-token limit
	failures   *authlimit.Limiter
	proxies    clientip.Proxies
	mux        *http.ServeMux
	table      []route // every registered route, in table order
}

// New returns a Server for cfg.
func New(cfg Config) *Server {
	s := &Server{
		store:      cfg.Store,
		pub:        cfg.Publisher,
		adminToken: cfg.AdminToken,
		portalURL:  cfg.PortalURL,
		portalTTL:  cfg.PortalTokenTTL,
		maxBody:    cfg.MaxBodyBytes,
		log:        cfg.Logger,
		now:        cfg.Now,
		listener:   cfg.Listener,
		events:     cfg.Events,
	}
	if s.events == nil {
		s.events = herald.NoEndpointEvents{}
	}
	if s.portalURL == "" {
		s.portalURL = "/ui/portal"
	}
	if s.portalTTL <= 0 {
		s.portalTTL = 7 * 24 * time.Hour
	}
	if s.maxBody <= 0 {
		s.maxBody = 1 << 20
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	ttl := cfg.AppCacheTTL
	if ttl == 0 {
		ttl = 2 * time.Second
	}
	s.apps = newAppCache(ttl, s.now)
	s.limits = newTokenLimits(cfg.RateLimit, cfg.RateBurst)
	s.failures, s.proxies = cfg.AuthFailures, clientip.NewProxies(cfg.TrustedProxies)
	if s.failures == nil {
		s.failures = authlimit.New(authlimit.Config{})
	}
	s.metrics = newMetrics(cfg.Registry)
	s.mux = http.NewServeMux()
	s.routes()
	return s
}

// Handler returns the API's http.Handler. A path with a trailing slash is
// served like the same path without it.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; len(p) > 1 && strings.HasSuffix(p, "/") {
			r.URL.Path = strings.TrimRight(p, "/")
			if r.URL.Path == "" {
				r.URL.Path = "/"
			}
			if r.URL.RawPath != "" {
				r.URL.RawPath = strings.TrimRight(r.URL.RawPath, "/")
			}
		}
		if _, pattern := s.mux.Handler(r); pattern == "" {
			s.noRoute(w, r)
			return
		}
		s.mux.ServeHTTP(w, r)
	})
}

// noRoute answers a request no route matches with a JSON error: 405 when
// the path exists for other methods (with their Allow header), else 404.
func (s *Server) noRoute(w http.ResponseWriter, r *http.Request) {
	rec := &headerRecorder{header: make(http.Header)}
	s.mux.ServeHTTP(rec, r)
	err := herald.Errorf(herald.ENOTFOUND, "No route for %s %s", r.Method, r.URL.Path)
	if rec.status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", rec.header.Get("Allow"))
		b, _ := json.Marshal(errorBody{Code: "method_not_allowed", Detail: "Method " + r.Method + " is not allowed on " + r.URL.Path})
		writeRaw(w, http.StatusMethodNotAllowed, b)
		return
	}
	status, body := errorResponse(err)
	writeRaw(w, status, body)
}

// headerRecorder captures what the mux would answer, without a body.
type headerRecorder struct {
	header http.Header
	status int
}

func (h *headerRecorder) Header() http.Header         { return h.header }
func (h *headerRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (h *headerRecorder) WriteHeader(code int)        { h.status = code }
