package ui

import (
	"crypto/rand"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/heraldhq/herald/internal/authlimit"
	"github.com/heraldhq/herald/internal/clientip"
	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

//go:embed templates/*.html static/*
var assets embed.FS

// Store is the storage the interface needs: the whole store contract,
// including its cross-application dashboard queries.
type Store = store.Store

// Engine is the part of the delivery engine that actions poke.
type Engine interface {
	// Wake makes the engine claim due deliveries now, after a retry or a
	// recover scheduled some.
	Wake()
	// InvalidateEndpoints drops the engine's cached endpoints of appID
	// after one was changed here.
	InvalidateEndpoints(appID string)
}

// Config configures New. Zero values are the documented defaults.
type Config struct {
	// Store holds everything shown. Required.
	Store Store
	// Engine is woken after retries and told about endpoint changes.
	// Required.
	Engine Engine
	// AdminToken is what an operator types to log in. Empty disables the
	// operator dashboard (the portal still works).
	AdminToken string
	// SessionSecret signs session cookies. Nodes behind one load balancer
	// must share it. Empty: 32 random bytes, so sessions end at restart.
	SessionSecret []byte
	// SessionTTL is how long an operator session lasts. Default 12 hours.
	SessionTTL time.Duration
	// SecureCookies marks session cookies Secure even on plain HTTP, for
	// Herald behind a TLS-terminating proxy. Cookies are always Secure on
	// requests that came over TLS.
	SecureCookies bool
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names
	// the client, for the login limit and its log. Empty: none, so every
	// client is the address it connects from and its headers are ignored,
	// and behind a proxy all clients share the proxy's login budget.
	TrustedProxies []netip.Prefix
	// LoginFailures limits failed logins per client. Share one with the
	// API, which takes the same admin token, so that a client has one
	// budget of guesses wherever it tries them. Nil: a limiter of its own
	// with authlimit's defaults (10 failures, then one a second).
	LoginFailures *authlimit.Limiter
	// RefreshInterval is how often live lists refresh in the browser.
	// Default 2 seconds.
	RefreshInterval time.Duration
	// Inbound shows the requests sources refused; nil shows none.
	Inbound Inbound
	// Events, when set, hears of endpoint changes.
	Events herald.EndpointEvents
	// Logger receives errors the user does not see. Default discards them.
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Server serves the dashboard and the portal.
type Server struct {
	store      Store
	engine     Engine
	events     herald.EndpointEvents
	inbound    Inbound
	adminToken string
	secret     []byte
	ttl        time.Duration
	refresh    time.Duration
	log        *slog.Logger
	now        func() time.Time
	pages      *pages
	static     http.Handler
	mux        *http.ServeMux
	patterns   []string // every registered route, in table order
	// logins limits login attempts per client, so the admin token cannot
	// be guessed at network speed and one client cannot lock out another.
	logins *authlimit.Limiter
	// proxies tell a client behind a trusted proxy from the proxy.
	proxies clientip.Proxies
	// secureCookies is Config.SecureCookies.
	secureCookies bool
	// adminBinding is adminKey(adminToken): what an operator session must
	// carry to be valid, so changing the token ends every session.
	adminBinding string
}

// New returns a Server for cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("ui: config: Store is required")
	}
	if cfg.Engine == nil {
		return nil, errors.New("ui: config: Engine is required")
	}
	s := &Server{
		store:         cfg.Store,
		engine:        cfg.Engine,
		events:        cfg.Events,
		inbound:       cfg.Inbound,
		adminToken:    cfg.AdminToken,
		secret:        cfg.SessionSecret,
		ttl:           cfg.SessionTTL,
		refresh:       cfg.RefreshInterval,
		log:           cfg.Logger,
		now:           cfg.Now,
		logins:        cfg.LoginFailures,
		proxies:       clientip.NewProxies(cfg.TrustedProxies),
		secureCookies: cfg.SecureCookies,
	}
	if s.events == nil {
		s.events = herald.NoEndpointEvents{}
	}
	if s.logins == nil {
		s.logins = authlimit.New(authlimit.Config{})
	}
	if len(s.secret) == 0 {
		s.secret = make([]byte, 32)
		if _, err := rand.Read(s.secret); err != nil {
			return nil, fmt.Errorf("ui: session secret: %w", err)
		}
	}
	if s.adminToken != "" {
		s.adminBinding = s.adminKey(s.adminToken)
	}
	if s.ttl <= 0 {
		s.ttl = 12 * time.Hour
	}
	if s.refresh <= 0 {
		s.refresh = 2 * time.Second
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	var err error
	if s.pages, err = parsePages(); err != nil {
		return nil, err
	}
	static, err := fs.Sub(assets, "static")
	if err != nil {
		return nil, fmt.Errorf("ui: static files: %w", err)
	}
	s.static = http.StripPrefix("/ui/static/", http.FileServerFS(static))
	s.mux = http.NewServeMux()
	s.routes()
	return s, nil
}

// Handler serves everything under /ui/ (and redirects /ui to /ui/). A
// request with a body must be a URL-encoded form, of limited size (see
// limitBody).
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
		if s.limitBody(w, r) {
			s.mux.ServeHTTP(w, r)
		}
	})
}
