package main

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/heraldhq/herald/internal/authlimit"
	"github.com/heraldhq/herald/internal/clientip"
)

// metricsGuard is who may read /metrics, whose labels name every source
// (every ingest URL).
type metricsGuard struct {
	// token is the bearer token required; empty lets anyone read them
	// (--metrics-addr without --metrics-token: a private listener).
	token string
	// scope is the budget of failures that wrong tokens spend: the admin
	// token's ("", shared with the API and the dashboard) when token is
	// the admin token, its own otherwise.
	scope    string
	failures *authlimit.Limiter
	proxies  clientip.Proxies
	now      func() time.Time
	log      *slog.Logger
}

// metricsToken returns the token /metrics takes, and the scope of the
// failures it counts: --metrics-token if set; otherwise none on
// --metrics-addr (a private listener) and the admin token on the public
// listener.
func metricsToken(cfg serveConfig, adminToken string) (token, scope string) {
	switch {
	case cfg.metricsToken != "":
		return cfg.metricsToken, "metrics"
	case cfg.metricsAddr != "":
		return "", ""
	}
	return adminToken, ""
}

// handler serves reg's metrics behind g. A wrong or missing token is
// answered 401, and a wrong one spends the client's budget of failures,
// as on the API; a client over it is answered 429 with Retry-After before
// its token is compared.
func (g metricsGuard) handler(reg *prometheus.Registry) http.Handler {
	metrics := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	if g.token == "" {
		return metrics
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := g.now()
		client := g.proxies.Client(r)
		key := authlimit.ClientKey(g.scope, client)
		if wait, ok := g.failures.Allow(key, now); !ok {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
			http.Error(w, "Too many failed authentications from this address", http.StatusTooManyRequests)
			return
		}
		scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		token = strings.TrimSpace(token)
		if !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare([]byte(token), []byte(g.token)) != 1 {
			if strings.EqualFold(scheme, "Bearer") && token != "" { // a guess; no token guesses nothing
				g.failures.Fail(key, token, now)
				if g.failures.Log(key, now) {
					g.log.Warn("metrics: failed authentication", "client", client, "remote", r.RemoteAddr)
				}
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="herald metrics"`)
			http.Error(w, "Unauthorized: send Authorization: Bearer <token>", http.StatusUnauthorized)
			return
		}
		metrics.ServeHTTP(w, r)
	})
}

// startMetrics serves h on ln, the --metrics-addr listener.
func (s *server) startMetrics(ln net.Listener, h http.Handler) {
	s.metrics, s.metricsAddr, s.metricsServed = newHTTPServer(h, s.cfg, s.logger), ln.Addr().String(), make(chan error, 1)
	go func() { s.metricsServed <- s.metrics.Serve(ln) }()
}

// stopMetrics stops the --metrics-addr listener, if there is one. Scrapes
// are quick: one still busy after stepTimeout is cut off.
func (s *server) stopMetrics() error {
	if s.metrics == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	if err := s.metrics.Shutdown(ctx); err != nil {
		_ = s.metrics.Close()
	}
	if err := <-s.metricsServed; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve metrics: %w", err)
	}
	return nil
}
